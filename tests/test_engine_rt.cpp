// Integer engine runtime: every kernel x ISA available on this CPU against the plain scalar reference, on
// random models of every weight x activation width (sizes chosen to exercise padding), plus the option
// errors, threading, the single-frame path and accumulators at the extremes of their range.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "engine/runtime.h"

using namespace nemokd;
using namespace nemokd::engine;

namespace {

using Rng = std::mt19937_64;

int64_t uniform(Rng& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

Operand weight_operand(int bits) { return bits == 1 ? Operand{Encoding::bipolar, 1} : Operand{Encoding::signed_int, bits}; }

// Ascending thresholds inside [lo, hi]: mostly near the typical accumulator values (`spread` around 0) so
// that codes vary, sometimes anywhere, sometimes exactly at the extremes.
std::vector<int64_t> ascending(Rng& rng, int n, int64_t lo, int64_t hi, int64_t spread) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (auto& v : t) {
    const int64_t r = uniform(rng, 0, 19);
    v = r == 0 ? lo : r == 1 ? hi : r < 5 ? uniform(rng, lo, hi) : std::clamp(uniform(rng, -spread, spread), lo, hi);
  }
  std::sort(t.begin(), t.end());
  return t;
}

Layer random_layer(Rng& rng, int64_t inputs, int64_t outputs, Operand in, Operand w, const Operand* out) {
  Layer l;
  l.inputs = inputs;
  l.outputs = outputs;
  l.input = in;
  l.weight = w;
  l.weights.resize(size_t(inputs * outputs));
  for (auto& v : l.weights)
    v = int8_t(w.encoding == Encoding::bipolar ? (uniform(rng, 0, 1) ? 1 : -1) : uniform(rng, w.min_value(), w.max_value()));
  const int64_t bound = l.accumulator_bound();
  if (out) {
    l.output = *out;
    const int per = out->levels() - 1;
    const int64_t typical = std::max<int64_t>(1, int64_t(std::sqrt(double(inputs))) * std::max(w.max_value(), 1) *
                                                     std::max(std::abs(in.min_value()), in.max_value()));
    for (int64_t o = 0; o < outputs; ++o)
      for (auto t : ascending(rng, per, -bound, bound + 1, typical)) l.thresholds.push_back(int32_t(t));
  } else {
    l.is_output = true;
    for (int64_t o = 0; o < outputs; ++o) {
      l.logit_scale.push_back(std::uniform_real_distribution<double>(-0.37, 0.41)(rng));
      l.logit_bias.push_back(std::uniform_real_distribution<double>(-3.0, 3.0)(rng));
    }
  }
  return l;
}

// Input stage -> `hidden` layers of activation `a` -> output layer. `passthrough`: u8 pixels into layer 0.
IntegerModel random_model(Rng& rng, int wbits, Operand a, bool passthrough, int hidden = 2) {
  IntegerModel m;
  m.input.channels = uniform(rng, 1, 3);
  m.input.pixels_per_channel = uniform(rng, 1, 100);
  if (m.input.size() % 64 == 0) ++m.input.pixels_per_channel;
  m.input.passthrough = passthrough;
  if (passthrough) {
    m.input.output = Operand{Encoding::unsigned_int, 8};
  } else {
    m.input.output = a;
    for (int64_t c = 0; c < m.input.channels; ++c)
      for (auto t : ascending(rng, a.levels() - 1, 0, 256, 256)) m.input.thresholds.push_back(uint16_t(std::abs(t)));
    for (int64_t c = 0; c < m.input.channels; ++c)
      std::sort(m.input.thresholds.begin() + c * (a.levels() - 1), m.input.thresholds.begin() + (c + 1) * (a.levels() - 1));
  }
  Operand prev = m.input.output;
  int64_t width = m.input.size();
  for (int i = 0; i < hidden; ++i) {
    const int64_t outs = uniform(rng, 1, 70);
    m.layers.push_back(random_layer(rng, width, outs, prev, weight_operand(wbits), &a));
    prev = a;
    width = outs;
  }
  m.layers.push_back(random_layer(rng, width, uniform(rng, 1, 20), prev, weight_operand(wbits), nullptr));
  m.source = "test";
  validate(m);
  return m;
}

std::vector<uint8_t> random_pixels(Rng& rng, const IntegerModel& m, int64_t frames) {
  std::vector<uint8_t> px(size_t(frames * m.input.size()));
  for (auto& p : px) p = uint8_t(uniform(rng, 0, 255));
  return px;
}

void expect_same(const Engine::Trace& want, const Engine::Trace& got, const std::string& what) {
  ASSERT_EQ(want.codes.size(), got.codes.size()) << what;
  for (size_t l = 0; l < want.codes.size(); ++l) ASSERT_EQ(want.codes[l], got.codes[l]) << what << " codes of layer " << l;
  ASSERT_EQ(want.output_acc, got.output_acc) << what;
  ASSERT_EQ(want.logits.size(), got.logits.size()) << what;
  for (size_t i = 0; i < want.logits.size(); ++i)
    ASSERT_EQ(std::memcmp(&want.logits[i], &got.logits[i], sizeof(float)), 0) << what << " logit " << i;
  ASSERT_EQ(want.predictions, got.predictions) << what;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (isa_supported(i)) v.push_back(i);
  return v;
}

bool applies_everywhere(KernelKind k, const IntegerModel& m) {
  for (const auto& l : m.layers)
    if (!kernel_applies(k, l.input, l.weight)) return false;
  return true;
}

// Every forced kernel that applies and auto, on every ISA here, against the reference.
void check_all_kernels(const IntegerModel& m, const std::vector<uint8_t>& px, int64_t frames, const std::string& what) {
  const auto want = reference_trace(m, px.data(), frames);
  for (Isa isa : available_isas())
    for (const std::string kernel : {"auto", "scalar", "xnor", "bitserial", "int8"}) {
      if (kernel != "auto" && !applies_everywhere(parse_kernel_kind(kernel), m)) continue;
      EngineOptions o;
      o.kernel = kernel;
      o.isa = to_string(isa);
      Engine e(m, o);
      expect_same(want, e.trace(px.data(), frames), what + " kernel " + kernel + " isa " + to_string(isa));
      if (::testing::Test::HasFatalFailure()) return;
    }
}

}  // namespace

TEST(EngineRuntime, NamesRoundTrip) {
  for (auto k : {KernelKind::scalar, KernelKind::xnor, KernelKind::bitserial, KernelKind::int8})
    EXPECT_EQ(parse_kernel_kind(to_string(k)), k);
  for (auto i : {Isa::scalar, Isa::avx2, Isa::avx512}) EXPECT_EQ(parse_isa(to_string(i)), i);
  EXPECT_THROW(parse_kernel_kind("fast"), ConfigError);
  EXPECT_THROW(parse_isa("sse2"), ConfigError);
  EXPECT_TRUE(isa_supported(detect_isa()));
}

// Every (W, A) in 1..8 x 1..8; activations bipolar for A = 1, else unsigned and signed; thresholded and
// pass-through input stages; 70 frames = one full tile and a partial one.
TEST(EngineRuntime, EveryWidthEveryKernelMatchesReference) {
  Rng rng(42);
  for (int wbits = 1; wbits <= 8; ++wbits)
    for (int abits = 1; abits <= 8; ++abits)
      for (Encoding enc : {Encoding::unsigned_int, Encoding::signed_int}) {
        if (abits == 1 && enc == Encoding::signed_int) continue;
        const Operand a = abits == 1 ? Operand{Encoding::bipolar, 1} : Operand{enc, abits};
        for (bool passthrough : {false, true}) {
          if (passthrough && (abits + wbits) % 3 != 0) continue;  // u8 inputs: a third of the cells suffices
          const IntegerModel m = random_model(rng, wbits, a, passthrough);
          const int64_t frames = 70;
          const auto px = random_pixels(rng, m, frames);
          check_all_kernels(m, px, frames,
                            "W" + std::to_string(wbits) + " A" + describe(a) + (passthrough ? " passthrough" : ""));
          if (HasFatalFailure()) return;
        }
      }
}

TEST(EngineRuntime, ForcingAKernelThatDoesNotApplyIsAConfigError) {
  Rng rng(1);
  const IntegerModel m = random_model(rng, 2, Operand{Encoding::unsigned_int, 2}, false);
  EngineOptions o;
  o.kernel = "xnor";
  try {
    Engine e(m, o);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0"), std::string::npos) << e.what();
  }
  const IntegerModel u8 = random_model(rng, 2, Operand{Encoding::unsigned_int, 2}, true);  // layer 0 reads u8
  o.kernel = "bitserial";
  EXPECT_THROW(Engine(u8, o), ConfigError);
  o.kernel = "scalar";
  EXPECT_NO_THROW(Engine(u8, o));
  o.kernel = "simd";
  EXPECT_THROW(Engine(u8, o), ConfigError);
  o.kernel = "auto";
  o.threads = 0;
  EXPECT_THROW(Engine(u8, o), ConfigError);
  o.threads = 1;
  o.isa = "neon";
  EXPECT_THROW(Engine(u8, o), ConfigError);
}

TEST(EngineRuntime, PlanExplainsItsChoice) {
  Rng rng(3);
  const Engine e(random_model(rng, 1, Operand{Encoding::bipolar, 1}, false), EngineOptions{});
  ASSERT_EQ(e.plan().size(), 3u);
  for (const auto& p : e.plan()) {
    EXPECT_FALSE(p.why.empty());
    EXPECT_NE(p.kernel, KernelKind::scalar);  // something faster always applies
  }
}

TEST(EngineRuntime, TwoThreadsGiveTheSameOutputAsOne) {
  Rng rng(7);
  for (int bits : {1, 2, 5}) {
    const Operand a = bits == 1 ? Operand{Encoding::bipolar, 1} : Operand{Encoding::unsigned_int, bits};
    const IntegerModel m = random_model(rng, bits, a, false);
    const int64_t frames = 1000;
    const auto px = random_pixels(rng, m, frames);
    EngineOptions o1, o2;
    o2.threads = 2;
    const Engine e1(m, o1), e2(m, o2);
    std::vector<int32_t> p1(frames), p2(frames);
    e1.predict(px.data(), frames, p1.data());
    e2.predict(px.data(), frames, p2.data());
    EXPECT_EQ(p1, p2);
    EXPECT_EQ(p2, reference_trace(m, px.data(), frames).predictions);
    expect_same(e1.trace(px.data(), frames), e2.trace(px.data(), frames), "threads");
  }
}

TEST(EngineRuntime, PredictOneEqualsPredict) {
  Rng rng(9);
  const IntegerModel m = random_model(rng, 2, Operand{Encoding::signed_int, 3}, false);
  const int64_t frames = 100;
  const auto px = random_pixels(rng, m, frames);
  const Engine e(m, EngineOptions{});
  std::vector<int32_t> batch(frames);
  e.predict(px.data(), frames, batch.data());
  for (int64_t f = 0; f < frames; ++f) {
    EXPECT_EQ(e.predict_one(px.data() + f * m.input.size()), batch[size_t(f)]) << f;
    EXPECT_EQ(reference_predict(m, px.data() + f * m.input.size()), batch[size_t(f)]) << f;
  }
}

// One hidden layer whose accumulator hits exactly +bound or -bound (all weights and all values at their
// maximum magnitude), with thresholds at -bound, bound and bound + 1; large K so that the int8 path's shifted
// activations (u = v + 128) overflow int32 on the way and only the modular arithmetic keeps it exact.
TEST(EngineRuntime, AccumulatorAtTheExtremesIsExact) {
  struct Case {
    int wbits;
    Operand a;
    int64_t inputs;
  };
  for (const Case& c : {Case{1, {Encoding::bipolar, 1}, 1000}, Case{2, {Encoding::signed_int, 2}, 333},
                        Case{4, {Encoding::unsigned_int, 4}, 999}, Case{8, {Encoding::unsigned_int, 8}, 66000},
                        Case{8, {Encoding::signed_int, 8}, 133000}}) {
    for (int sign : {+1, -1}) {
      IntegerModel m;
      m.input.channels = 1;
      m.input.pixels_per_channel = c.inputs;
      const bool u8 = c.a == Operand{Encoding::unsigned_int, 8};
      m.input.passthrough = u8;
      m.input.output = c.a;
      // Thresholds 0 everywhere: every pixel reaches every level -> the maximum code.
      if (!u8) m.input.thresholds.assign(size_t(c.a.levels() - 1), 0);
      const Operand w = weight_operand(c.wbits);
      Layer h;
      h.inputs = c.inputs;
      h.outputs = 3;
      h.input = c.a;
      h.weight = w;
      h.weights.assign(size_t(h.inputs * h.outputs), int8_t(sign * w.max_value()));
      h.output = Operand{Encoding::unsigned_int, 2};
      const int64_t bound = h.accumulator_bound();
      ASSERT_LT(bound, int64_t(INT32_MAX));
      for (int o = 0; o < 3; ++o)
        for (int64_t t : {-bound, bound, bound + 1}) h.thresholds.push_back(int32_t(t));
      Layer out;
      out.inputs = 3;
      out.outputs = 2;
      out.input = h.output;
      out.weight = w;
      out.weights = {int8_t(w.max_value()), int8_t(w.max_value()), int8_t(w.max_value()),
                     int8_t(-w.max_value()), int8_t(-w.max_value()), int8_t(-w.max_value())};
      if (w.encoding == Encoding::bipolar) out.weights = {1, 1, 1, -1, -1, -1};
      out.is_output = true;
      out.logit_scale = {1.0, 1.0};
      out.logit_bias = {0.0, 0.0};
      m.layers = {h, out};
      validate(m);
      std::vector<uint8_t> px(size_t(2 * c.inputs), 255);
      const auto want = reference_trace(m, px.data(), 2);
      // acc = sign * bound: reaches -bound always, bound only for +1, never bound + 1.
      const int32_t code = sign > 0 ? 2 : 1;
      for (int o = 0; o < 3; ++o) ASSERT_EQ(want.codes[0][size_t(o)], code);
      check_all_kernels(m, px, 2, "extreme W" + std::to_string(c.wbits) + " " + describe(c.a));
      if (HasFatalFailure()) return;
    }
  }
}

// Input thresholds of 256 are never reached, not even by pixel 255 (the vector input stages compare bytes, so
// 256 needs its own mask); 255 is reached by 255 only.
TEST(EngineRuntime, InputThreshold256IsNeverReached) {
  Rng rng(11);
  for (const Operand a : {Operand{Encoding::bipolar, 1}, Operand{Encoding::unsigned_int, 2}}) {
    IntegerModel m = random_model(rng, 1, a, false, 1);
    const int per = a.levels() - 1;
    for (int64_t c = 0; c < m.input.channels; ++c)
      for (int j = 0; j < per; ++j) m.input.thresholds[size_t(c * per + j)] = uint16_t(c % 2 == 0 ? 255 + (j == per - 1) : 256);
    validate(m);
    auto px = random_pixels(rng, m, 70);
    for (auto& p : px) p = p < 128 ? 255 : 254;
    check_all_kernels(m, px, 70, "threshold 256 " + describe(a));
    if (HasFatalFailure()) return;
  }
}

// ---- convolutional models ----------------------------------------------------------------------------------

namespace {

// A conv layer over `in` with random weights and thresholds (hidden: it produces `out` codes).
Layer random_conv(Rng& rng, const MapShape& in, int64_t channels, int64_t kernel, int64_t padding, int32_t pad_value,
                  Operand a, Operand w, Operand out) {
  Layer l = random_layer(rng, in.channels * kernel * kernel, channels, a, w, &out);
  l.kind = LayerKind::conv;
  l.in_map = in;
  l.kernel = kernel;
  l.padding = padding;
  l.pad_value = pad_value;
  // Thresholds again now that the bound includes the pad value.
  const int64_t bound = l.accumulator_bound();
  const int per = out.levels() - 1;
  const int64_t typical = std::max<int64_t>(1, int64_t(std::sqrt(double(l.inputs))) * std::max(w.max_value(), 1) *
                                                   std::max<int64_t>(std::abs(a.min_value()), a.max_value()));
  l.thresholds.clear();
  for (int64_t o = 0; o < channels; ++o)
    for (auto t : ascending(rng, per, -bound, bound + 1, typical)) l.thresholds.push_back(int32_t(t));
  return l;
}

Layer pass_layer(LayerKind kind, const MapShape& in, Operand op, int64_t kernel = 0, int64_t stride = 1) {
  Layer l;
  l.kind = kind;
  l.in_map = in;
  l.kernel = kernel;
  l.stride = stride;
  l.input = l.weight = l.output = op;
  return l;
}

// Input stage (C x H x W) -> conv -> [max-pool] -> conv -> [max-pool] -> flatten -> dense -> output. Sizes and
// channel counts straddle the 4-byte, 16-lane and 32-bit boundaries of the layouts; kernels 1 and 3; zero
// padding, a padded input whose pad value is a code (FINN's padded input: the lowest input value), and none.
IntegerModel random_cnn(Rng& rng, int wbits, Operand a, bool passthrough) {
  IntegerModel m;
  m.input.channels = uniform(rng, 1, 3);
  m.input.height = uniform(rng, 5, 9);
  m.input.width = uniform(rng, 5, 9);
  m.input.pixels_per_channel = m.input.height * m.input.width;
  m.input.passthrough = passthrough;
  const Operand in_op = passthrough ? Operand{Encoding::unsigned_int, 8} : a;
  m.input.output = in_op;
  if (!passthrough)
    for (int64_t c = 0; c < m.input.channels; ++c) {
      auto t = ascending(rng, a.levels() - 1, 0, 256, 256);
      for (auto v : t) m.input.thresholds.push_back(uint16_t(std::abs(v)));
      std::sort(m.input.thresholds.end() - (a.levels() - 1), m.input.thresholds.end());
    }
  const Operand w = weight_operand(wbits);
  MapShape cur = m.input.map();
  Operand prev = in_op;
  const int64_t widths[] = {uniform(rng, 1, 40), uniform(rng, 1, 70)};
  for (int i = 0; i < 2; ++i) {
    const int64_t k = uniform(rng, 0, 3) == 0 ? 1 : 3;
    int64_t pad = k == 3 ? uniform(rng, 0, 2) : 0;
    if (cur.height + 2 * pad < k || cur.width + 2 * pad < k) pad = 2;
    int32_t pad_value = 0;
    if (pad == 2) pad_value = prev.min_value();  // the padded input of FINN's CNV on small images
    if (pad > 0 && uniform(rng, 0, 3) == 0) pad_value = prev.max_value();
    Layer l = random_conv(rng, cur, widths[i], k, pad, pad_value, prev, w, a);
    cur = l.output_map(cur);
    m.layers.push_back(std::move(l));
    prev = a;
    if (cur.height >= 2 && cur.width >= 2 && uniform(rng, 0, 2) > 0) {
      const int64_t pk = uniform(rng, 0, 3) == 0 && cur.height >= 3 && cur.width >= 3 ? 3 : 2;
      Layer p = pass_layer(LayerKind::maxpool, cur, a, pk, uniform(rng, 1, 2));
      cur = p.output_map(cur);
      m.layers.push_back(std::move(p));
    }
  }
  m.layers.push_back(pass_layer(LayerKind::flatten, cur, a));
  m.layers.push_back(random_layer(rng, cur.size(), uniform(rng, 1, 40), a, w, &a));
  m.layers.push_back(random_layer(rng, m.layers.back().outputs, uniform(rng, 2, 12), a, w, nullptr));
  m.source = "test cnn";
  validate(m);
  return m;
}

}  // namespace

// Every (W, A) in 1..8 x 1..8 on random CNNs (conv, max-pool, flatten, dense), every kernel x ISA against the
// reference; 11 frames = one tile and a partial one.
TEST(EngineRuntime, ConvolutionalModelsEveryWidthEveryKernelMatchReference) {
  Rng rng(4242);
  for (int wbits = 1; wbits <= 8; ++wbits)
    for (int abits = 1; abits <= 8; ++abits)
      for (Encoding enc : {Encoding::unsigned_int, Encoding::signed_int}) {
        if (abits == 1 && enc == Encoding::signed_int) continue;
        if (abits > 1 && (wbits + abits + int(enc)) % 2 == 0) continue;  // one encoding per cell suffices
        const Operand a = abits == 1 ? Operand{Encoding::bipolar, 1} : Operand{enc, abits};
        const bool passthrough = (abits + wbits) % 5 == 0;
        const IntegerModel m = random_cnn(rng, wbits, a, passthrough);
        const int64_t frames = 11;
        const auto px = random_pixels(rng, m, frames);
        check_all_kernels(m, px, frames, "CNN W" + std::to_string(wbits) + " A" + describe(a));
        if (HasFatalFailure()) return;
      }
}

// Zero padding of bipolar values: the layouts cannot hold a 0, so the border holds -1 and each border-touching
// output gets a correction; a 1-bit padded conv on every kernel, and its reference value checked by hand.
TEST(EngineRuntime, BipolarZeroPaddingIsExact) {
  Rng rng(77);
  const Operand b{Encoding::bipolar, 1};
  IntegerModel m;
  m.input.channels = 1;
  m.input.height = 3;
  m.input.width = 3;
  m.input.pixels_per_channel = 9;
  m.input.passthrough = false;
  m.input.output = b;
  m.input.thresholds = {128};
  Layer conv = random_conv(rng, m.input.map(), 17, 3, 1, 0, b, b, b);
  std::fill(conv.weights.begin(), conv.weights.end(), int8_t(1));
  conv.thresholds[0] = 5;  // channel 0: a corner (4 inputs of +1, 5 zeros: acc 4) stays 0, the centre (9) is 1
  conv.thresholds[1] = 4;  // channel 1: the corner reaches 4 (with -1 instead of 0 padding it would be -1)
  Layer flat = pass_layer(LayerKind::flatten, conv.output_map(m.input.map()), b);
  Layer out = random_layer(rng, flat.in_map.size(), 3, b, b, nullptr);
  m.layers = {conv, flat, out};
  validate(m);
  std::vector<uint8_t> px(9, 255);  // every input +1
  const auto want = reference_trace(m, px.data(), 1);
  EXPECT_EQ(want.codes[0][0], 0);      // channel 0, corner
  EXPECT_EQ(want.codes[0][4], 1);      // channel 0, centre
  EXPECT_EQ(want.codes[0][9 + 0], 1);  // channel 1, corner
  EXPECT_EQ(want.codes[0][9 + 1], 1);  // channel 1, edge (6 inputs)
  check_all_kernels(m, px, 1, "bipolar zero padding");
  for (int f = 0; f < 4; ++f) {
    auto rnd = random_pixels(rng, m, 9);
    check_all_kernels(m, rnd, 9, "bipolar zero padding, random");
    if (HasFatalFailure()) return;
  }
}

TEST(EngineRuntime, ConvolutionalPlanNamesEveryLayer) {
  Rng rng(5);
  const IntegerModel m = random_cnn(rng, 1, Operand{Encoding::bipolar, 1}, false);
  const Engine e(m, EngineOptions{});
  ASSERT_EQ(e.plan().size(), m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    EXPECT_FALSE(e.plan()[i].why.empty()) << i;
    if (m.layers[i].kind == LayerKind::conv) {
      EXPECT_NE(e.plan()[i].kernel, KernelKind::scalar) << e.plan()[i].why;  // something faster always applies
      EXPECT_NE(e.plan()[i].why.find("measured"), std::string::npos) << e.plan()[i].why;
    }
  }
}
