#include "engine/build.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/integer_mlp.h"
#include "models/integer_net.h"

namespace nemokd::engine {

namespace {

Operand operand_of(const quant::Levels& l) {
  if (l.bipolar) return {Encoding::bipolar, 1};
  if (l.is_signed) {
    if (!l.narrow || l.min_code != -l.max_code)
      throw ConfigError(fmt::format("integer model: signed levels {}..{} are not narrow-range", l.min_code, l.max_code));
    return {Encoding::signed_int, l.bits};
  }
  return {Encoding::unsigned_int, l.bits};
}

// The input quantizer on each possible pixel value, through the loader's mapping: thresholds on pixels.
InputStage input_stage(const models::IntegerNet& view, const data::PixelAffine& affine, int64_t channels,
                       int64_t pixels_per_channel) {
  InputStage st;
  st.channels = channels;
  st.pixels_per_channel = pixels_per_channel;
  st.output = operand_of(view.input_levels);
  if (int64_t(affine.scale.size()) != channels)
    throw ConfigError(fmt::format("integer model: pixel mapping has {} channels, the input {}", affine.scale.size(),
                                  channels));
  // codes[c][p]: the first layer's input code for pixel value p in channel c, as the model computes it.
  auto x = torch::empty({channels, 256}, torch::kFloat);
  for (int64_t c = 0; c < channels; ++c)
    for (int p = 0; p < 256; ++p) x[c][p] = affine.apply(uint8_t(p), c);
  auto codes = models::input_codes(view, x);  // int32 [channels, 256]
  const int32_t* code = codes.data_ptr<int32_t>();

  bool identity = st.output == Operand{Encoding::unsigned_int, 8};
  for (int64_t k = 0; identity && k < codes.numel(); ++k) identity = code[k] == k % 256;
  if (identity) {
    st.passthrough = true;
    return st;
  }
  st.passthrough = false;
  const int32_t levels = st.output.levels(), min_code = st.output.min_code();
  for (int64_t c = 0; c < channels; ++c) {
    const int32_t* row = code + c * 256;
    for (int p = 1; p < 256; ++p)
      if (row[p] < row[p - 1])
        throw ConfigError(fmt::format("integer model: the input mapping of channel {} is not monotone in the pixel", c));
    for (int32_t j = 1; j < levels; ++j) {
      int p = 0;
      while (p < 256 && row[p] < min_code + j) ++p;
      st.thresholds.push_back(uint16_t(p));  // 256: level never reached
    }
  }
  return st;
}

// Smallest acc in [-bound, bound] with code(sign * acc) >= min_code + j, for every (j, channel) at once
// (bound + 1 where there is none). code() is the model's own map, monotone in acc once the sign faces up.
std::vector<int32_t> find_thresholds(const models::IntegerLayer& layer, const std::vector<int64_t>& sign,
                                     int64_t bound) {
  const int64_t outs = layer.scale.numel();
  const int32_t steps = Operand(operand_of(layer.output_levels)).levels() - 1;
  const int32_t min_code = operand_of(layer.output_levels).min_code();
  auto lo = torch::full({steps, outs}, double(-bound - 1), torch::kDouble);  // code(lo) < target (virtually)
  auto hi = torch::full({steps, outs}, double(bound + 1), torch::kDouble);   // code(hi) >= target (virtually)
  auto target = (torch::arange(1, steps + 1, torch::kDouble) + min_code).unsqueeze(1).expand({steps, outs});
  auto sign_t = torch::tensor(sign, torch::kInt64).to(torch::kDouble).unsqueeze(0);
  while (true) {
    auto open = (hi - lo) > 1;
    if (!open.any().item<bool>()) break;
    auto mid = torch::floor((lo + hi) / 2);  // exact: |values| < 2^31
    auto codes = models::hidden_codes(layer, mid * sign_t).to(torch::kDouble);
    auto reached = codes >= target;
    hi = torch::where(open & reached, mid, hi);
    lo = torch::where(open & ~reached, mid, lo);
  }
  // Row-major [outs][steps] as the integer model stores them.
  auto t = hi.t().contiguous().to(torch::kInt64);
  std::vector<int32_t> out(size_t(t.numel()));
  const int64_t* p = t.data_ptr<int64_t>();
  for (size_t k = 0; k < out.size(); ++k) out[k] = int32_t(p[k]);
  return out;
}

}  // namespace

IntegerModel build_integer_model(const models::IntegerNet& view, const data::PixelAffine& affine,
                                 const std::string& source, BuildStats* stats) {
  torch::NoGradGuard no_grad;
  IntegerModel m;
  m.source = source;
  m.input = input_stage(view, affine, view.input.channels, int64_t(view.input.height) * view.input.width);
  m.input.height = view.input.height;
  m.input.width = view.input.width;
  BuildStats local;
  MapShape map = m.input.map();
  for (const auto& lv : view.layers) {
    Layer L;
    if (lv.op == models::IntegerOp::maxpool || lv.op == models::IntegerOp::flatten) {
      L.kind = lv.op == models::IntegerOp::maxpool ? LayerKind::maxpool : LayerKind::flatten;
      L.in_map = map;
      if (L.kind == LayerKind::maxpool) {
        L.kernel = lv.kernel;
        L.stride = lv.stride;
      }
      L.input = L.weight = L.output = operand_of(lv.input_levels);
      map = L.output_map(map);
      m.layers.push_back(std::move(L));
      continue;
    }
    const bool conv = lv.op == models::IntegerOp::conv;
    auto w = lv.weight_values.to(torch::kCPU).reshape({lv.weight_values.size(0), -1}).contiguous();
    L.outputs = w.size(0);
    L.inputs = w.size(1);
    if (conv) {
      L.kind = LayerKind::conv;
      L.in_map = map;
      L.kernel = lv.kernel;
      L.padding = lv.padding;
      L.pad_value = int32_t(lv.pad_value);
    }
    L.input = operand_of(lv.input_levels);
    L.weight = operand_of(lv.weight_levels);
    L.is_output = lv.is_output;
    const double* scale = lv.scale.data_ptr<double>();
    std::vector<int64_t> sign(size_t(L.outputs), 1);
    if (!L.is_output)
      for (int64_t o = 0; o < L.outputs; ++o) {
        if (scale[o] < 0) {
          sign[size_t(o)] = -1;
          ++local.flipped_channels;
        } else if (scale[o] == 0) {
          ++local.constant_channels;
        }
      }
    const float* wp = w.data_ptr<float>();
    L.weights.resize(size_t(L.outputs * L.inputs));
    for (int64_t o = 0; o < L.outputs; ++o)
      for (int64_t i = 0; i < L.inputs; ++i)
        L.weights[size_t(o * L.inputs + i)] = int8_t(float(sign[size_t(o)]) * wp[o * L.inputs + i]);
    if (L.accumulator_bound() != lv.accumulator_bound)
      throw Error(fmt::format("integer model: {}: accumulator bounds disagree ({} vs {})", lv.name,
                              L.accumulator_bound(), lv.accumulator_bound));
    if (L.is_output) {
      const double* shift = lv.shift.data_ptr<double>();
      L.logit_scale.assign(scale, scale + L.outputs);
      L.logit_bias.assign(shift, shift + L.outputs);
    } else {
      L.output = operand_of(lv.output_levels);
      L.thresholds = find_thresholds(lv, sign, L.accumulator_bound());
    }
    map = L.output_map(conv ? L.in_map : map);
    m.layers.push_back(std::move(L));
  }
  validate(m);
  if (stats) *stats = local;
  return m;
}

IntegerModel build_integer_model(const models::ClassifierImpl& model, const data::PixelAffine& affine,
                                 const std::string& source, BuildStats* stats) {
  return build_integer_model(models::integer_view(model), affine, source, stats);
}

IntegerModel build_integer_model(const models::MlpImpl& mlp, const data::PixelAffine& affine, int64_t channels,
                                 int64_t pixels_per_channel, const std::string& source, BuildStats* stats) {
  auto view = models::integer_view(mlp);
  view.input = models::InputShape{int(channels), 1, int(pixels_per_channel)};
  auto m = build_integer_model(view, affine, source, stats);
  m.input.height = m.input.width = 0;  // a row of pixels, as the MLP reads them
  return m;
}

}  // namespace nemokd::engine
