#include "engine/runtime.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "engine/kernels.h"

namespace nemokd::engine {

using detail::AlignedBuffer;
using detail::Format;
using detail::IsaLevel;
using detail::Kind;
using detail::kLanes;
using detail::kTile;
using detail::Layout;
using detail::PackedInput;
using detail::PackedLayer;

// ---- names and CPU features ----------------------------------------------------------------------------------

const char* to_string(KernelKind k) {
  switch (k) {
    case KernelKind::scalar: return "scalar";
    case KernelKind::xnor: return "xnor";
    case KernelKind::bitserial: return "bitserial";
    case KernelKind::int8: return "int8";
  }
  return "?";
}

KernelKind parse_kernel_kind(const std::string& s) {
  for (auto k : {KernelKind::scalar, KernelKind::xnor, KernelKind::bitserial, KernelKind::int8})
    if (s == to_string(k)) return k;
  throw ConfigError(fmt::format("kernel: unknown kernel '{}' (expected auto, scalar, xnor, bitserial or int8)", s));
}

const char* to_string(Isa i) {
  switch (i) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

Isa parse_isa(const std::string& s) {
  for (auto i : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (s == to_string(i)) return i;
  throw ConfigError(fmt::format("isa: unknown instruction set '{}' (expected auto, scalar, avx2 or avx512)", s));
}

bool isa_supported(Isa i) {
  __builtin_cpu_init();
  switch (i) {
    case Isa::scalar: return true;
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("avx512vpopcntdq");
  }
  return false;
}

Isa detect_isa() {
  return isa_supported(Isa::avx512) ? Isa::avx512 : isa_supported(Isa::avx2) ? Isa::avx2 : Isa::scalar;
}

namespace {

Kind to_kind(KernelKind k) { return static_cast<Kind>(static_cast<int>(k)); }
KernelKind to_kernel_kind(Kind k) { return static_cast<KernelKind>(static_cast<int>(k)); }
IsaLevel to_level(Isa i) { return static_cast<IsaLevel>(static_cast<int>(i)); }

int32_t value_of_code(const Operand& o, int32_t code) {
  return o.encoding == Encoding::bipolar ? (code ? 1 : -1) : code;
}

// The output layer's definition: multiply, then add, each rounded (this file is built with -ffp-contract=off
// so that no fused multiply-add changes the last bit).
inline float logit_of(int32_t acc, double scale, double bias) {
  const double product = double(acc) * scale;
  return float(product + bias);
}

}  // namespace

bool kernel_applies(KernelKind k, const Operand& input, const Operand& weight) {
  return detail::kernel_applies(to_kind(k), input, weight);
}

// ---- reference -----------------------------------------------------------------------------------------------

Engine::Trace reference_trace(const IntegerModel& m, const uint8_t* pixels, int64_t frames) {
  validate(m);
  Engine::Trace t;
  const int64_t classes = m.classes();
  MapShape shape = m.input.map();
  for (const auto& l : m.layers) {
    shape = l.output_map(l.kind == LayerKind::dense ? shape : l.in_map);
    if (!l.is_output && l.kind != LayerKind::flatten) t.codes.emplace_back(size_t(frames * shape.size()));
  }
  t.output_acc.resize(size_t(frames * classes));
  t.logits.resize(size_t(frames * classes));
  t.predictions.resize(size_t(frames));
  const InputStage& in = m.input;
  std::vector<int32_t> codes(size_t(in.size())), next;  // codes of the current stage, in C x H x W order
  for (int64_t f = 0; f < frames; ++f) {
    const uint8_t* px = pixels + f * in.size();
    const int per = in.passthrough ? 0 : in.output.levels() - 1;
    codes.assign(size_t(in.size()), 0);
    for (int64_t k = 0; k < in.size(); ++k) {
      if (in.passthrough) {
        codes[k] = px[k];
        continue;
      }
      const int64_t c = k / in.pixels_per_channel;
      int32_t code = in.output.min_code();
      for (int j = 0; j < per; ++j) code += px[k] >= in.thresholds[c * per + j];
      codes[k] = code;
    }
    Operand op = in.output;
    MapShape cur = in.map();
    size_t hidden = 0;
    for (const Layer& l : m.layers) {
      auto threshold = [&](int64_t o, int32_t acc) {
        const int per_o = l.output.levels() - 1;
        int32_t code = l.output.min_code();
        for (int j = 0; j < per_o; ++j) code += acc >= l.thresholds[o * per_o + j];
        return code;
      };
      if (l.kind == LayerKind::flatten) {
        cur = l.output_map(cur);
        continue;
      }
      const MapShape out = l.output_map(l.kind == LayerKind::dense ? cur : l.in_map);
      next.assign(size_t(out.size()), 0);
      if (l.kind == LayerKind::dense) {
        for (int64_t o = 0; o < l.outputs; ++o) {
          int64_t acc = 0;
          for (int64_t k = 0; k < l.inputs; ++k) acc += int64_t(l.weights[o * l.inputs + k]) * value_of_code(op, codes[k]);
          const auto acc32 = int32_t(acc);  // exact: validate() bounds |acc| below 2^31
          if (l.is_output) {
            t.output_acc[f * classes + o] = acc32;
            t.logits[f * classes + o] = logit_of(acc32, l.logit_scale[o], l.logit_bias[o]);
          } else {
            next[o] = threshold(o, acc32);
          }
        }
      } else if (l.kind == LayerKind::conv) {
        const int64_t C = cur.channels, H = cur.height, W = cur.width, k = l.kernel, p = l.padding;
        for (int64_t o = 0; o < out.channels; ++o)
          for (int64_t y = 0; y < out.height; ++y)
            for (int64_t x = 0; x < out.width; ++x) {
              int64_t acc = 0;
              for (int64_t c = 0; c < C; ++c)
                for (int64_t dy = 0; dy < k; ++dy)
                  for (int64_t dx = 0; dx < k; ++dx) {
                    const int64_t yy = y + dy - p, xx = x + dx - p;
                    const int32_t v = yy < 0 || yy >= H || xx < 0 || xx >= W ? l.pad_value
                                                                              : value_of_code(op, codes[(c * H + yy) * W + xx]);
                    acc += int64_t(l.weights[o * l.inputs + (c * k + dy) * k + dx]) * v;
                  }
              next[(o * out.height + y) * out.width + x] = threshold(o, int32_t(acc));
            }
      } else {  // max-pool: codes are ordered as their values
        for (int64_t c = 0; c < out.channels; ++c)
          for (int64_t y = 0; y < out.height; ++y)
            for (int64_t x = 0; x < out.width; ++x) {
              int32_t best = INT32_MIN;
              for (int64_t dy = 0; dy < l.kernel; ++dy)
                for (int64_t dx = 0; dx < l.kernel; ++dx)
                  best = std::max(best, codes[(c * cur.height + y * l.stride + dy) * cur.width + x * l.stride + dx]);
              next[(c * out.height + y) * out.width + x] = best;
            }
      }
      if (l.is_output) break;
      std::copy(next.begin(), next.end(), t.codes[hidden++].begin() + f * out.size());
      codes.swap(next);
      op = l.output;
      cur = out;
    }
    const float* lg = t.logits.data() + f * classes;
    int32_t best = 0;
    for (int64_t o = 1; o < classes; ++o)
      if (lg[o] > lg[best]) best = int32_t(o);
    t.predictions[f] = best;
  }
  return t;
}

int32_t reference_predict(const IntegerModel& m, const uint8_t* pixels) {
  return reference_trace(m, pixels, 1).predictions[0];
}

// ---- thread pool -----------------------------------------------------------------------------------------------

namespace {

// `workers - 1` persistent threads plus the caller: exactly `workers` threads run tasks, none oversubscribes.
// Tasks (frame tiles) are handed out by an atomic counter, so an unlucky slow thread does not hold the batch.
class ThreadPool {
 public:
  explicit ThreadPool(int workers) {
    for (int i = 1; i < workers; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return int(threads_.size()) + 1; }

  // Runs fn(worker, task) for task in [0, tasks); returns when all are done.
  template <typename Fn>
  void run(int64_t tasks, Fn& fn) {
    if (threads_.empty() || tasks <= 1) {
      for (int64_t t = 0; t < tasks; ++t) fn(0, t);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(m_);
      call_ = [](void* ctx, int w, int64_t t) { (*static_cast<Fn*>(ctx))(w, t); };
      ctx_ = &fn;
      tasks_ = tasks;
      next_.store(0);
      busy_ = int(threads_.size());
      ++generation_;
    }
    wake_.notify_all();
    work(0);
    std::unique_lock<std::mutex> lock(m_);
    done_.wait(lock, [this] { return busy_ == 0; });
  }

 private:
  void work(int w) {
    for (int64_t t = next_.fetch_add(1); t < tasks_; t = next_.fetch_add(1)) call_(ctx_, w, t);
  }
  void loop(int w) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(m_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work(w);
      std::lock_guard<std::mutex> lock(m_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable wake_, done_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  int busy_ = 0;
  void (*call_)(void*, int, int64_t) = nullptr;
  void* ctx_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> next_{0};
};

// Per-thread buffers, allocated once: one buffer per stage (so that padding and borders written once stay), the
// accumulators of one block, the bit-serial per-item terms, the output layer's accumulators. Stages that a conv
// or max-pool reads hold one frame (the feature part runs frame by frame); the others a tile of frames.
struct Scratch {
  std::vector<AlignedBuffer<uint8_t>> stage;
  AlignedBuffer<int32_t> acc, term, out_acc;
};

constexpr int64_t kChunkItems = 128;  // conv items per kernel call: the block's accumulators stay in L1
constexpr int kMapTile = 8;           // frames per tile for models with conv layers (each frame is a lot of work)

// One frame through a conv layer: `in` in L.in_layout (with its border), codes into `out` (L.out_layout).
void run_conv(const PackedLayer& L, const uint8_t* in, uint8_t* out, int32_t* acc, int32_t* term) {
  const int64_t Wp = L.in_layout.padded_width(), Ho = L.out_map.height, Wo = L.out_map.width;
  const Layout& lo = L.out_layout;
  const int64_t Wop = lo.padded_width();
  if (L.prepare) L.prepare(L, in, int(L.items()), term);
  const int64_t rows = std::max<int64_t>(1, kChunkItems / Wp);
  const bool corr = !L.item_class.empty();
  for (int64_t b = 0; b < L.blocks; ++b)
    for (int64_t y0 = 0; y0 < Ho; y0 += rows) {
      const int64_t y1 = std::min(Ho, y0 + rows), j0 = y0 * Wp, n = (y1 - 1 - y0) * Wp + Wo;
      L.kernel(L, in + j0 * L.item_stride, int(n), b, term + j0, acc);
      if (corr) {
        const int32_t* c = L.corr.data() + b * kLanes;
        for (int64_t i = 0; i < n; ++i)
          if (const int cls = L.item_class[size_t(j0 + i)])
            for (int lane = 0; lane < kLanes; ++lane) acc[i * kLanes + lane] += c[cls * L.blocks * kLanes + lane];
      }
      for (int64_t y = y0; y < y1; ++y)
        L.epilogue(L, b, acc + (y - y0) * Wp * kLanes, int(Wo),
                   out + ((y + lo.border) * Wop + lo.border) * lo.pixel_bytes);
    }
}

// Logical codes (C x H x W order) of one frame's stage, from its layout.
void read_codes(const Layout& lo, const uint8_t* frame, int32_t* codes) {
  for (int64_t k = 0; k < lo.size; ++k) codes[k] = detail::load_code(lo, frame, k);
}

}  // namespace

// ---- engine ----------------------------------------------------------------------------------------------------

struct Engine::Impl {
  IntegerModel model;
  EngineOptions options;
  std::vector<LayerPlan> plan;
  PackedInput input;
  detail::InputFn input_fn = detail::input_scalar;
  std::vector<PackedLayer> layers;
  std::vector<size_t> reader;     // per layer: the index of the layer that reads its output (flatten skipped)
  std::vector<int> trace_slot;    // per layer: index in Trace::codes, or -1 (output layer, flatten)
  size_t first_dense = 0;         // layers before it (conv, max-pool) run frame by frame
  size_t input_reader = 0;        // the layer whose buffer the input stage fills
  bool maps = false;              // the model starts with conv/max-pool layers
  int tile = kTile;
  std::unique_ptr<ThreadPool> pool;
  mutable std::vector<Scratch> scratch;  // one per worker
  mutable Scratch one;                   // predict_one
  mutable std::mutex batch_mutex, one_mutex;

  bool frame_stage(size_t i) const { return maps && i < first_dense; }

  Scratch make_scratch() const {
    Scratch s;
    int64_t items = tile;
    for (size_t i = 0; i < layers.size(); ++i) {
      const auto& L = layers[i];
      if (L.op == LayerKind::flatten) {
        s.stage.emplace_back();
        continue;
      }
      if (frame_stage(i)) {
        s.stage.emplace_back(size_t(L.in_layout.stride));
        detail::fill_border(L.in_layout, s.stage.back().data());
      } else {
        s.stage.emplace_back(size_t(tile * L.in_layout.stride));
      }
      if (L.op == LayerKind::conv) items = std::max(items, L.items());
    }
    s.acc = AlignedBuffer<int32_t>(size_t(std::max<int64_t>(tile, kChunkItems + 64) * kLanes));
    s.term = AlignedBuffer<int32_t>(size_t(items));
    s.out_acc = AlignedBuffer<int32_t>(size_t(tile * layers.back().blocks * kLanes));
    return s;
  }

  // Where layer i writes frame f's output (f: the frame within the tile).
  uint8_t* output_of(Scratch& s, size_t i, int f) const {
    const size_t r = reader[i];
    return s.stage[r].data() + (frame_stage(r) ? 0 : f * layers[r].in_layout.stride);
  }

  // One tile of up to `tile` frames through every stage. With `tr`, also writes the trace of frames f0...
  void run_tile(Scratch& s, const uint8_t* pixels, int nf, int32_t* predictions, Trace* tr, int64_t f0) const {
    if (!maps) {
      input_fn(input, pixels, nf, s.stage[input_reader].data());
    } else {
      for (int f = 0; f < nf; ++f) {
        detail::input_map(input, pixels + f * input.size, s.stage[0].data());
        for (size_t i = 0; i < first_dense; ++i) {
          const PackedLayer& L = layers[i];
          if (L.op == LayerKind::flatten) continue;
          uint8_t* out = output_of(s, i, f);
          if (L.op == LayerKind::conv)
            run_conv(L, s.stage[i].data(), out, s.acc.data(), s.term.data());
          else
            detail::maxpool_frame(L, s.stage[i].data(), out);
          if (tr) read_codes(L.out_layout, out, tr->codes[size_t(trace_slot[i])].data() + (f0 + f) * L.out_map.size());
        }
      }
    }
    for (size_t l = first_dense; l < layers.size(); ++l) {
      const PackedLayer& L = layers[l];
      if (L.op == LayerKind::flatten) continue;
      const uint8_t* in = s.stage[l].data();
      if (L.prepare) L.prepare(L, in, nf, s.term.data());
      if (L.is_output) {
        for (int64_t b = 0; b < L.blocks; ++b)
          L.kernel(L, in, nf, b, s.term.data(), s.out_acc.data() + b * tile * kLanes);
        break;
      }
      uint8_t* out = output_of(s, l, 0);
      for (int64_t b = 0; b < L.blocks; ++b) {
        L.kernel(L, in, nf, b, s.term.data(), s.acc.data());
        L.epilogue(L, b, s.acc.data(), nf, out);
      }
      if (tr) {
        const Layout& lo = L.out_layout;
        for (int f = 0; f < nf; ++f)
          for (int64_t o = 0; o < L.N; ++o)
            tr->codes[size_t(trace_slot[l])][(f0 + f) * L.N + o] = detail::load_code(lo, out + f * lo.stride, o);
      }
    }
    const PackedLayer& O = layers.back();
    for (int f = 0; f < nf; ++f) {
      int32_t best = 0;
      float best_logit = 0;
      for (int64_t o = 0; o < O.N; ++o) {
        const int32_t acc = s.out_acc.data()[((o / kLanes) * tile + f) * kLanes + o % kLanes];
        const float lg = logit_of(acc, O.logit_scale[o], O.logit_bias[o]);
        if (o == 0 || lg > best_logit) best = int32_t(o), best_logit = lg;  // first index of the maximum
        if (tr) {
          tr->output_acc[(f0 + f) * O.N + o] = acc;
          tr->logits[(f0 + f) * O.N + o] = lg;
        }
      }
      predictions[f] = best;
    }
  }

  template <typename PerTile>
  void for_tiles(int64_t frames, PerTile&& per_tile) const {
    const int64_t tiles = detail::ceil_div(frames, tile);
    auto fn = [&](int worker, int64_t t) {
      const int64_t f0 = t * tile;
      per_tile(scratch[size_t(worker)], f0, int(std::min<int64_t>(tile, frames - f0)));
    };
    pool->run(tiles, fn);
  }

  double measure_ns_per_frame(const PackedLayer& L) const;
  void plan_layers(Kind forced, bool auto_kernel, Isa isa);
};

namespace {
template <typename Fn>
double best_of_3_ns(Fn&& once) {
  once();  // warm caches
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    best = std::min(best, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}
}  // namespace

double Engine::Impl::measure_ns_per_frame(const PackedLayer& L) const {
  // Synthetic input in the layer's input layout; the content does not change the work done.
  std::mt19937 rng(1);
  if (L.op == LayerKind::conv) {
    AlignedBuffer<uint8_t> in(size_t(L.in_layout.stride)), out(size_t(std::max<int64_t>(L.out_layout.stride, 64)));
    for (size_t i = 0; i < in.size(); ++i) in.data()[i] = uint8_t(rng() & 0x55);
    AlignedBuffer<int32_t> acc(size_t((kChunkItems + 64) * kLanes)), term(size_t(L.items()));
    return best_of_3_ns([&] { run_conv(L, in.data(), out.data(), acc.data(), term.data()); });
  }
  constexpr int kFrames = 32;
  AlignedBuffer<uint8_t> in(size_t(kFrames * L.in_layout.stride));
  for (size_t i = 0; i < in.size(); ++i) in.data()[i] = uint8_t(rng() & 0x55);
  AlignedBuffer<uint8_t> out(size_t(kFrames * std::max<int64_t>(L.out_layout.stride, 64)));
  AlignedBuffer<int32_t> acc(size_t(kFrames * kLanes));
  AlignedBuffer<int32_t> ft{size_t(kFrames)};
  return best_of_3_ns([&] {
           if (L.prepare) L.prepare(L, in.data(), kFrames, ft.data());
           for (int64_t b = 0; b < L.blocks; ++b) {
             L.kernel(L, in.data(), kFrames, b, ft.data(), acc.data());
             if (L.epilogue) L.epilogue(L, b, acc.data(), kFrames, out.data());
           }
         }) /
         kFrames;
}

// Plans from the output layer backwards: a layer's output layout is the next layer's input layout, which is
// therefore known when the layer is timed. Max-pool keeps the format its reader wants; flatten is no layer at
// run time (the dense layer after it reads the map).
void Engine::Impl::plan_layers(Kind forced, bool auto_kernel, Isa isa) {
  plan.assign(layers.size(), LayerPlan{});
  for (size_t i = 0; i < layers.size() && !auto_kernel; ++i)  // report the first layer it does not fit
    if (layers[i].op == LayerKind::dense || layers[i].op == LayerKind::conv)
      if (!detail::kernel_applies(forced, layers[i].in, layers[i].weight))
        throw ConfigError(fmt::format("kernel: '{}' does not apply to layer {} ({} {} weights x {} inputs)",
                                      to_string(to_kernel_kind(forced)), i, to_string(layers[i].op),
                                      describe(layers[i].weight), describe(layers[i].in)));
  for (size_t i = layers.size(); i-- > 0;) {
    PackedLayer& L = layers[i];
    if (!L.is_output) L.out_layout = layers[reader[i]].in_layout;
    if (L.op == LayerKind::flatten) {
      L.in_layout = L.out_layout;
      plan[i] = LayerPlan{KernelKind::scalar, Isa::scalar, "no computation (the next layer reads the map)"};
      continue;
    }
    if (L.op == LayerKind::maxpool) {
      L.in_layout = Layout::make_map(L.out_layout.format, L.in, L.in_map, 0, 0);
      plan[i] = LayerPlan{KernelKind::scalar, Isa::scalar,
                          fmt::format("max-pool on stored codes ({})",
                                      L.out_layout.format == detail::Format::bytes ? "bytes" : "bit-sliced planes")};
      continue;
    }
    auto finish = [&](Kind k, std::string why) {
      const IsaLevel level = k == Kind::scalar ? IsaLevel::scalar : to_level(isa);
      detail::pack_layer(L, k, level);
      detail::set_epilogue(L);
      plan[i] = LayerPlan{to_kernel_kind(k), k == Kind::scalar ? Isa::scalar : isa, std::move(why)};
    };
    if (!auto_kernel) {
      finish(forced, "forced");
      continue;
    }
    // The usual winner goes last: when it wins, its packing is kept rather than redone.
    std::vector<std::pair<Kind, double>> timed;
    for (Kind k : {Kind::int8, Kind::bitserial, Kind::xnor}) {
      if (!detail::kernel_applies(k, L.in, L.weight)) continue;
      detail::pack_layer(L, k, to_level(isa));
      detail::set_epilogue(L);
      timed.emplace_back(k, measure_ns_per_frame(L));
    }
    const Kind last = timed.back().first;
    std::stable_sort(timed.begin(), timed.end(), [](auto& a, auto& b) { return a.second < b.second; });
    std::string why = timed.size() == 1 ? fmt::format("only applicable kernel ({:.1f} ns/frame)", timed[0].second)
                                        : fmt::format("measured {:.1f} ns/frame vs", timed[0].second);
    for (size_t j = 1; j < timed.size(); ++j)
      why += fmt::format("{} {} {:.1f}", j > 1 ? "," : "", to_string(to_kernel_kind(timed[j].first)), timed[j].second);
    if (timed[0].first == last) {
      plan[i] = LayerPlan{to_kernel_kind(last), isa, std::move(why)};
    } else {
      finish(timed[0].first, std::move(why));
    }
  }
}

Engine::Engine(IntegerModel model, EngineOptions options) : impl_(std::make_unique<Impl>()) {
  validate(model);
  Impl& I = *impl_;
  if (options.threads < 1 || options.threads > 1024)
    throw ConfigError(fmt::format("threads: {} is outside 1..1024", options.threads));
  const Isa isa = options.isa == "auto" ? detect_isa() : parse_isa(options.isa);
  if (!isa_supported(isa)) throw ConfigError(fmt::format("isa: this CPU does not support {}", to_string(isa)));
  const bool auto_kernel = options.kernel == "auto";
  const Kind forced = auto_kernel ? Kind::scalar : to_kind(parse_kernel_kind(options.kernel));

  I.maps = model.layers.front().kind == LayerKind::conv || model.layers.front().kind == LayerKind::maxpool;
  I.tile = I.maps ? kMapTile : kTile;
  MapShape cur = model.input.map();
  bool from_map_layer = false;  // the current map came out of a conv/max-pool layer (a dense layer reads it as a map)
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const Layer& l = model.layers[i];
    PackedLayer L;
    L.op = l.kind;
    L.in = l.input;
    L.weight = l.weight;
    L.is_output = l.is_output;
    if (l.kind == LayerKind::dense) {
      L.in_map = from_map_layer ? cur : MapShape{cur.size(), 1, 1};
      from_map_layer = false;
    } else {
      L.in_map = l.in_map;
      if (l.kind != LayerKind::flatten) from_map_layer = true;
    }
    L.out_map = l.output_map(L.in_map);
    if (l.kind == LayerKind::flatten) L.out_map = L.in_map;  // read as a map by the dense layer after it
    L.ksize = l.kernel;
    L.stride = l.stride;
    L.padding = l.padding;
    L.pad_value = l.pad_value;
    if (l.has_weights()) {
      L.K = l.inputs;
      L.N = l.outputs;
      L.blocks = detail::ceil_div(l.outputs, kLanes);
      L.w = l.weights;
      if (l.is_output) {
        L.logit_scale = l.logit_scale;
        L.logit_bias = l.logit_bias;
      } else {
        L.out = l.output;
        L.min_code = l.output.min_code();
        L.nthr = l.output.levels() - 1;
        L.thr_rows = l.thresholds;
        L.thr_t = AlignedBuffer<int32_t>(size_t(L.blocks * L.nthr * kLanes));
        for (int64_t o = 0; o < L.blocks * kLanes; ++o)
          for (int j = 0; j < L.nthr; ++j)
            L.thr_t.data()[((o / kLanes) * L.nthr + j) * kLanes + o % kLanes] =
                o < L.N ? l.thresholds[size_t(o * L.nthr + j)] : INT32_MAX;
      }
    } else {
      L.out = l.output;
    }
    cur = L.out_map;
    if (I.maps && I.first_dense == i && (l.kind == LayerKind::conv || l.kind == LayerKind::maxpool)) I.first_dense = i + 1;
    I.layers.push_back(std::move(L));
  }
  if (!I.maps) I.first_dense = 0;
  I.reader.assign(I.layers.size(), 0);
  I.trace_slot.assign(I.layers.size(), -1);
  int slots = 0;
  for (size_t i = 0; i < I.layers.size(); ++i) {
    size_t r = i + 1;
    while (r < I.layers.size() && I.layers[r].op == LayerKind::flatten) ++r;
    I.reader[i] = r < I.layers.size() ? r : i;
    if (!I.layers[i].is_output && I.layers[i].op != LayerKind::flatten) I.trace_slot[i] = slots++;
  }
  I.input_reader = I.layers[0].op == LayerKind::flatten ? I.reader[0] : 0;
  I.plan_layers(forced, auto_kernel, isa);

  const InputStage& in = model.input;
  PackedInput& P = I.input;
  P.size = in.size();
  P.ppc = in.pixels_per_channel;
  P.map = in.map();
  P.passthrough = in.passthrough;
  P.out = in.output;
  P.layout = I.layers[I.input_reader].in_layout;
  if (!in.passthrough) {
    P.nthr = in.output.levels() - 1;
    P.min_code = in.output.min_code();
    P.lut.assign(size_t(in.channels), std::vector<int16_t>(256));
    for (int64_t c = 0; c < in.channels; ++c)
      for (int px = 0; px < 256; ++px) {
        int32_t code = P.min_code;
        for (int j = 0; j < P.nthr; ++j) code += px >= in.thresholds[size_t(c * P.nthr + j)];
        P.lut[size_t(c)][size_t(px)] = int16_t(code);
      }
    if (P.nthr <= 15 && !I.maps) {
      const int64_t nb = detail::ceil_div(P.size, 64);
      P.thr8 = AlignedBuffer<uint8_t>(size_t(P.nthr * nb * 64));
      P.never.assign(size_t(P.nthr * nb), 0);
      for (int j = 0; j < P.nthr; ++j)
        for (int64_t k = 0; k < P.size; ++k) {
          const uint16_t t = in.thresholds[size_t((k / P.ppc) * P.nthr + j)];
          P.thr8.data()[j * nb * 64 + k] = uint8_t(std::min<uint16_t>(t, 255));
          if (t > 255) P.never[size_t(j * nb + k / 64)] |= uint64_t(1) << (k % 64);
        }
    }
  }
  P.isa = to_level(isa);
  I.input_fn = isa == Isa::avx512 ? detail::input_avx512 : isa == Isa::avx2 ? detail::input_avx2 : detail::input_scalar;

  I.model = std::move(model);
  I.options = options;
  I.pool = std::make_unique<ThreadPool>(options.threads);
  for (int t = 0; t < options.threads; ++t) I.scratch.push_back(I.make_scratch());
  I.one = I.make_scratch();
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

const std::vector<LayerPlan>& Engine::plan() const { return impl_->plan; }
const IntegerModel& Engine::model() const { return impl_->model; }
const EngineOptions& Engine::options() const { return impl_->options; }

void Engine::predict(const uint8_t* pixels, int64_t frames, int32_t* predictions) const {
  if (frames <= 0) return;
  const Impl& I = *impl_;
  std::lock_guard<std::mutex> lock(I.batch_mutex);
  const int64_t stride = I.input.size;
  I.for_tiles(frames, [&](Scratch& s, int64_t f0, int nf) {
    I.run_tile(s, pixels + f0 * stride, nf, predictions + f0, nullptr, f0);
  });
}

int32_t Engine::predict_one(const uint8_t* pixels) const {
  const Impl& I = *impl_;
  std::lock_guard<std::mutex> lock(I.one_mutex);
  int32_t p = 0;
  I.run_tile(I.one, pixels, 1, &p, nullptr, 0);
  return p;
}

Engine::Trace Engine::trace(const uint8_t* pixels, int64_t frames) const {
  const Impl& I = *impl_;
  Trace t;
  for (size_t i = 0; i < I.layers.size(); ++i)
    if (I.trace_slot[i] >= 0) t.codes.emplace_back(size_t(std::max<int64_t>(frames, 0) * I.layers[i].out_map.size()));
  const int64_t classes = I.layers.back().N;
  t.output_acc.resize(size_t(std::max<int64_t>(frames, 0) * classes));
  t.logits.resize(t.output_acc.size());
  t.predictions.resize(size_t(std::max<int64_t>(frames, 0)));
  if (frames <= 0) return t;
  std::lock_guard<std::mutex> lock(I.batch_mutex);
  const int64_t stride = I.input.size;
  I.for_tiles(frames, [&](Scratch& s, int64_t f0, int nf) {
    I.run_tile(s, pixels + f0 * stride, nf, t.predictions.data() + f0, &t, f0);
  });
  return t;
}

}  // namespace nemokd::engine
