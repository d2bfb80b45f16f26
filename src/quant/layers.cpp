#include "quant/layers.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::quant {

std::string to_string(WeightScheme s) { return s == WeightScheme::finn ? "finn" : "scaled"; }
WeightScheme parse_weight_scheme(const std::string& s) {
  if (s == "finn") return WeightScheme::finn;
  if (s == "scaled") return WeightScheme::scaled;
  throw ConfigError(fmt::format("weight scheme: '{}' is not one of finn, scaled", s));
}
std::string to_string(ActKind k) {
  switch (k) {
    case ActKind::tanh: return "tanh";
    case ActKind::hardtanh: return "hardtanh";
    case ActKind::relu: return "relu";
  }
  return "?";
}
ActKind parse_act_kind(const std::string& s) {
  if (s == "tanh") return ActKind::tanh;
  if (s == "hardtanh") return ActKind::hardtanh;
  if (s == "relu") return ActKind::relu;
  throw ConfigError(fmt::format("activation: '{}' is not one of tanh, hardtanh, relu", s));
}

void WeightQuantConfig::validate(const std::string& key) const { check_bits(key + ".bits", bits); }

nlohmann::json to_json(const WeightQuantConfig& c) {
  return {{"bits", c.bits},
          {"scheme", to_string(c.scheme)},
          {"granularity", c.granularity == ScaleGranularity::channel ? "channel" : "tensor"},
          {"learned_scale", c.learned_scale}};
}

WeightQuantConfig weight_quant_from_json(const nlohmann::json& j, const std::string& path) {
  WeightQuantConfig c;
  JsonReader r(j, path);
  std::string scheme = to_string(c.scheme), gran = "channel";
  r.get("bits", c.bits).get("scheme", scheme).get("granularity", gran).get("learned_scale", c.learned_scale);
  r.finish();
  c.scheme = parse_weight_scheme(scheme);
  check_one_of(r.key_path("granularity"), gran, {"tensor", "channel"});
  c.granularity = gran == "tensor" ? ScaleGranularity::tensor : ScaleGranularity::channel;
  c.validate(path);
  return c;
}

void ActQuantConfig::validate(const std::string& key) const {
  check_bits(key + ".bits", bits);
  if (kind == ActKind::relu) check_range(key + ".relu_max", relu_max, 1e-3, 1e3);
}

namespace {
// Latent weights start uniform in [-1, 1], as the FINN/Brevitas reference QAT models do: with BatchNorm
// after every layer only their pattern matters, and small Kaiming-scale weights would all round to zero
// on the coarse FINN fixed-point grids (step 1 at 2 bits).
void init_quant_weight(torch::Tensor& w, const WeightQuantConfig& c, int64_t fan_in) {
  torch::NoGradGuard g;
  if (c.bits == kFloatBits) {
    const double bound = 1.0 / std::sqrt(double(fan_in));
    w.uniform_(-bound, bound);
  } else {
    w.uniform_(-1.0, 1.0);
  }
}

// Max-abs statistic per output channel (or per tensor), detached: the scaled-integer scheme's scale is
// max|W| / max_code, recomputed each step (Brevitas' stats-based scaling).
torch::Tensor max_abs_scale(const torch::Tensor& w, const WeightQuantConfig& c) {
  const int bits = c.bits;
  const double denom = bits == 1 ? 1.0 : double((int64_t(1) << (bits - 1)) - 1);
  auto flat = w.detach().flatten(1).abs();
  torch::Tensor m = c.granularity == ScaleGranularity::channel ? std::get<0>(flat.max(1)) : flat.max().reshape({1});
  if (bits == 1) m = c.granularity == ScaleGranularity::channel ? flat.mean(1) : flat.mean().reshape({1});
  return torch::clamp_min(m / denom, 1e-8);
}

std::vector<int64_t> scale_shape(const torch::Tensor& w, const WeightQuantConfig& c) {
  std::vector<int64_t> shape(w.dim(), 1);
  if (c.granularity == ScaleGranularity::channel) shape[0] = w.size(0);
  return shape;
}

torch::Tensor quantize_weight(const torch::Tensor& w, const WeightQuantConfig& c, const torch::Tensor& scale) {
  if (c.bits == kFloatBits) return w;
  if (c.scheme == WeightScheme::finn) return fake_quant_finn(w, c.bits);
  return fake_quant_scaled(w, c.bits, scale);
}
}  // namespace

QuantWeightLayer::QuantWeightLayer(std::vector<int64_t> shape, int64_t fan_in, WeightQuantConfig config,
                                   bool with_bias)
    : config_(config) {
  config_.validate("weight");
  weight = register_parameter("weight", torch::empty(shape));
  init_quant_weight(weight, config_, fan_in);
  if (with_bias) bias = register_parameter("bias", torch::zeros({shape[0]}));
  if (config_.scheme == WeightScheme::scaled && config_.learned_scale && config_.bits != kFloatBits) {
    scale = register_parameter("scale", max_abs_scale(weight, config_).reshape(scale_shape(weight, config_)));
  }
}

torch::Tensor QuantWeightLayer::current_scale() const {
  if (scale.defined()) return scale.abs() + 1e-8;
  return max_abs_scale(weight, config_).reshape(scale_shape(weight, config_));
}

torch::Tensor QuantWeightLayer::quantized_weight() const {
  const bool scaled = config_.scheme == WeightScheme::scaled && config_.bits != kFloatBits;
  return quantize_weight(weight, config_, scaled ? current_scale() : torch::Tensor());
}

std::vector<Levels> QuantWeightLayer::weight_levels() const {
  if (config_.bits == kFloatBits) throw ConfigError("weight levels: a float (32-bit) layer has no levels");
  if (config_.scheme == WeightScheme::finn) return {finn_weight_levels(config_.bits)};
  auto s = current_scale().detach().to(torch::kCPU).to(torch::kDouble).flatten();
  std::vector<Levels> out;
  for (int64_t i = 0; i < s.numel(); ++i) out.push_back(scaled_weight_levels(config_.bits, s[i].item<double>()));
  return out;
}

torch::Tensor QuantWeightLayer::weight_codes() const {
  torch::NoGradGuard g;
  auto levels = weight_levels();
  auto q = quantized_weight().to(torch::kCPU).to(torch::kDouble).flatten(1).contiguous();
  auto out = torch::empty(q.sizes(), torch::kInt64);
  auto qa = q.accessor<double, 2>();
  auto oa = out.accessor<int64_t, 2>();
  for (int64_t r = 0; r < q.size(0); ++r) {
    const Levels& l = levels.size() == 1 ? levels[0] : levels[r];
    for (int64_t c = 0; c < q.size(1); ++c) oa[r][c] = l.code(qa[r][c]);
  }
  return out.view(weight.sizes());
}

QuantLinearImpl::QuantLinearImpl(int64_t in, int64_t out, WeightQuantConfig config, bool with_bias)
    : QuantWeightLayer({out, in}, in, config, with_bias) {}

torch::Tensor QuantLinearImpl::forward(const torch::Tensor& x) {
  return torch::nn::functional::linear(x, quantized_weight(), bias);
}

QuantConv2dImpl::QuantConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                                 WeightQuantConfig config, bool with_bias)
    : QuantWeightLayer({out, in, kernel, kernel}, in * kernel * kernel, config, with_bias),
      stride_(stride),
      padding_(padding) {}

torch::Tensor QuantConv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, quantized_weight(), bias, stride_, padding_);
}

QuantActivationImpl::QuantActivationImpl(ActQuantConfig config) : config_(config) {
  config_.validate("activation");
  if (config_.kind == ActKind::relu && config_.bits == 1)
    throw ConfigError("activation: 1-bit ReLU is not meaningful; use tanh/hardtanh (1 bit = sign)");
  if (config_.kind == ActKind::relu && config_.learned_range && config_.bits != kFloatBits)
    relu_max = register_parameter("relu_max", torch::full({1}, config_.relu_max));
}

Levels QuantActivationImpl::levels() const {
  if (config_.bits == kFloatBits) throw ConfigError("activation levels: a float (32-bit) activation has no levels");
  if (config_.kind == ActKind::relu) {
    const double top = relu_max.defined() ? (relu_max.detach().abs() + 1e-3).item<double>() : config_.relu_max;
    return unsigned_activation_levels(config_.bits, top);
  }
  return signed_activation_levels(config_.bits);
}

torch::Tensor QuantActivationImpl::forward(const torch::Tensor& x) {
  const int bits = config_.bits;
  switch (config_.kind) {
    case ActKind::tanh: {
      if (bits == kFloatBits) return torch::tanh(x);
      if (bits == 1) return fake_quant_sign(x);  // sign(tanh(x)) == sign(x)
      return fake_quant_uniform(torch::tanh(x), -1.0, 1.0, (int64_t(1) << bits) - 2);
    }
    case ActKind::hardtanh: {
      if (bits == kFloatBits) return torch::hardtanh(x);
      if (bits == 1) return fake_quant_sign(x);
      return fake_quant_uniform(x, -1.0, 1.0, (int64_t(1) << bits) - 2);
    }
    case ActKind::relu: {
      if (bits == kFloatBits) return torch::relu(x);
      if (bits == 1) throw ConfigError("activation: 1-bit ReLU is not meaningful; use tanh/hardtanh (sign)");
      const int64_t steps = (int64_t(1) << bits) - 1;
      if (!relu_max.defined()) return fake_quant_uniform(x, 0.0, config_.relu_max, steps);
      // Learned range (PACT): clip at a trainable top; its gradient comes from the saturated inputs.
      auto top = relu_max.abs() + 1e-3;
      auto clipped = torch::minimum(torch::relu(x), top);
      auto step = top.detach() / double(steps);
      auto q = torch::floor(clipped.detach() / step);
      q = (q + (clipped.detach() / step - q >= 0.5).to(q.scalar_type())) * step;
      return clipped + (q - clipped.detach());
    }
  }
  return x;
}

}  // namespace nemokd::quant
