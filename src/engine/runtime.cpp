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
  for (const auto& l : m.layers)
    if (!l.is_output) t.codes.emplace_back(size_t(frames * l.outputs));
  t.output_acc.resize(size_t(frames * classes));
  t.logits.resize(size_t(frames * classes));
  t.predictions.resize(size_t(frames));
  const InputStage& in = m.input;
  std::vector<int32_t> values(size_t(in.size())), next;
  for (int64_t f = 0; f < frames; ++f) {
    const uint8_t* px = pixels + f * in.size();
    values.assign(size_t(in.size()), 0);
    const int per = in.passthrough ? 0 : in.output.levels() - 1;
    for (int64_t k = 0; k < in.size(); ++k) {
      if (in.passthrough) {
        values[k] = px[k];
        continue;
      }
      const int64_t c = k / in.pixels_per_channel;
      int32_t code = in.output.min_code();
      for (int j = 0; j < per; ++j) code += px[k] >= in.thresholds[c * per + j];
      values[k] = value_of_code(in.output, code);
    }
    size_t hidden = 0;
    for (const Layer& l : m.layers) {
      next.assign(size_t(l.outputs), 0);
      for (int64_t o = 0; o < l.outputs; ++o) {
        int64_t acc = 0;
        for (int64_t k = 0; k < l.inputs; ++k) acc += int64_t(l.weights[o * l.inputs + k]) * values[k];
        const auto acc32 = int32_t(acc);  // exact: validate() bounds |acc| below 2^31
        if (l.is_output) {
          t.output_acc[f * classes + o] = acc32;
          t.logits[f * classes + o] = logit_of(acc32, l.logit_scale[o], l.logit_bias[o]);
        } else {
          const int per_o = l.output.levels() - 1;
          int32_t code = l.output.min_code();
          for (int j = 0; j < per_o; ++j) code += acc32 >= l.thresholds[o * per_o + j];
          t.codes[hidden][f * l.outputs + o] = code;
          next[o] = value_of_code(l.output, code);
        }
      }
      if (!l.is_output) ++hidden;
      values.swap(next);
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

// Per-thread buffers, allocated once: one buffer per stage (so that padding written once stays zero), the
// accumulators of one block, the bit-serial per-frame terms, the output layer's accumulators.
struct Scratch {
  std::vector<AlignedBuffer<uint8_t>> stage;
  AlignedBuffer<int32_t> acc, frame_term, out_acc;
};

}  // namespace

// ---- engine ----------------------------------------------------------------------------------------------------

struct Engine::Impl {
  IntegerModel model;
  EngineOptions options;
  std::vector<LayerPlan> plan;
  PackedInput input;
  detail::InputFn input_fn = detail::input_scalar;
  std::vector<PackedLayer> layers;
  std::unique_ptr<ThreadPool> pool;
  mutable std::vector<Scratch> scratch;  // one per worker
  mutable Scratch one;                   // predict_one
  mutable std::mutex batch_mutex, one_mutex;

  Scratch make_scratch() const {
    Scratch s;
    for (const auto& L : layers) s.stage.emplace_back(size_t(kTile * L.in_layout.stride));
    s.acc = AlignedBuffer<int32_t>(size_t(kTile * kLanes));
    s.frame_term = AlignedBuffer<int32_t>(size_t(kTile));
    s.out_acc = AlignedBuffer<int32_t>(size_t(kTile * layers.back().blocks * kLanes));
    return s;
  }

  // One tile of up to kTile frames through every stage. With `tr`, also writes the trace of frames f0...
  void run_tile(Scratch& s, const uint8_t* pixels, int nf, int32_t* predictions, Trace* tr, int64_t f0) const {
    input_fn(input, pixels, nf, s.stage[0].data());
    size_t hidden = 0;
    for (size_t l = 0; l < layers.size(); ++l) {
      const PackedLayer& L = layers[l];
      const uint8_t* in = s.stage[l].data();
      if (L.prepare) L.prepare(L, in, nf, s.frame_term.data());
      if (L.is_output) {
        for (int64_t b = 0; b < L.blocks; ++b)
          L.kernel(L, in, nf, b, s.frame_term.data(), s.out_acc.data() + b * kTile * kLanes);
        break;
      }
      uint8_t* out = s.stage[l + 1].data();
      for (int64_t b = 0; b < L.blocks; ++b) {
        L.kernel(L, in, nf, b, s.frame_term.data(), s.acc.data());
        L.epilogue(L, b, s.acc.data(), nf, out);
      }
      if (tr) {
        const Layout& lo = L.out_layout;
        for (int f = 0; f < nf; ++f)
          for (int64_t o = 0; o < L.N; ++o)
            tr->codes[hidden][(f0 + f) * L.N + o] = detail::load_code(lo, out + f * lo.stride, o);
        ++hidden;
      }
    }
    const PackedLayer& O = layers.back();
    for (int f = 0; f < nf; ++f) {
      int32_t best = 0;
      float best_logit = 0;
      for (int64_t o = 0; o < O.N; ++o) {
        const int32_t acc = s.out_acc.data()[((o / kLanes) * kTile + f) * kLanes + o % kLanes];
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
    const int64_t tiles = detail::ceil_div(frames, kTile);
    auto fn = [&](int worker, int64_t t) {
      const int64_t f0 = t * kTile;
      per_tile(scratch[size_t(worker)], f0, int(std::min<int64_t>(kTile, frames - f0)));
    };
    pool->run(tiles, fn);
  }

  double measure_ns_per_frame(const PackedLayer& L) const;
  void plan_layers(Kind forced, bool auto_kernel, Isa isa);
};

double Engine::Impl::measure_ns_per_frame(const PackedLayer& L) const {
  // A synthetic tile in the layer's input layout; the content does not change the work done.
  constexpr int kFrames = 32;
  AlignedBuffer<uint8_t> in(size_t(kFrames * L.in_layout.stride));
  std::mt19937 rng(1);
  for (size_t i = 0; i < in.size(); ++i) in.data()[i] = uint8_t(rng() & 0x55);
  AlignedBuffer<uint8_t> out(size_t(kFrames * std::max<int64_t>(L.out_layout.stride, 64)));
  AlignedBuffer<int32_t> acc(size_t(kFrames * kLanes));
  AlignedBuffer<int32_t> ft{size_t(kFrames)};
  auto once = [&] {
    if (L.prepare) L.prepare(L, in.data(), kFrames, ft.data());
    for (int64_t b = 0; b < L.blocks; ++b) {
      L.kernel(L, in.data(), kFrames, b, ft.data(), acc.data());
      if (L.epilogue) L.epilogue(L, b, acc.data(), kFrames, out.data());
    }
  };
  once();  // warm caches
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    best = std::min(best, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  return best / kFrames;
}

// Plans from the output layer backwards: a layer's output layout is the next layer's input layout, which is
// therefore known when the layer is timed.
void Engine::Impl::plan_layers(Kind forced, bool auto_kernel, Isa isa) {
  plan.assign(layers.size(), LayerPlan{});
  for (size_t i = 0; i < layers.size() && !auto_kernel; ++i)  // report the first layer it does not fit
    if (!detail::kernel_applies(forced, layers[i].in, layers[i].weight))
      throw ConfigError(fmt::format("kernel: '{}' does not apply to layer {} ({} weights x {} inputs)",
                                    to_string(to_kernel_kind(forced)), i, describe(layers[i].weight),
                                    describe(layers[i].in)));
  for (size_t i = layers.size(); i-- > 0;) {
    PackedLayer& L = layers[i];
    if (!L.is_output) L.out_layout = layers[i + 1].in_layout;
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

  for (const Layer& l : model.layers) {
    PackedLayer L;
    L.K = l.inputs;
    L.N = l.outputs;
    L.blocks = detail::ceil_div(l.outputs, kLanes);
    L.in = l.input;
    L.weight = l.weight;
    L.is_output = l.is_output;
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
    I.layers.push_back(std::move(L));
  }
  I.plan_layers(forced, auto_kernel, isa);

  const InputStage& in = model.input;
  PackedInput& P = I.input;
  P.size = in.size();
  P.ppc = in.pixels_per_channel;
  P.passthrough = in.passthrough;
  P.out = in.output;
  P.layout = I.layers[0].in_layout;
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
    if (P.nthr <= 15) {
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
  for (const auto& L : I.layers)
    if (!L.is_output) t.codes.emplace_back(size_t(std::max<int64_t>(frames, 0) * L.N));
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
