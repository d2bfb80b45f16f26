#include "models/integer_mlp.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/mlp.h"

namespace nemokd::models {

namespace {

constexpr int64_t kFloatExactBound = int64_t(1) << 24;  // every integer up to 2^24 is a float32

int64_t max_abs_value(const quant::Levels& l) {
  if (l.bipolar) return 1;
  return std::max(std::abs(l.min_code), std::abs(l.max_code));
}

// Round half up, exactly: floor(y) and y - floor(y) are exact in double, so the tie rule needs no y + 0.5
// (which can round up by itself). Saturates to [lo, hi] first so the cast never overflows.
int32_t round_half_up_clamped(double y, int64_t lo, int64_t hi) {
  if (!(y > double(lo) - 1.0)) return int32_t(lo);  // also NaN: there is none unless BN statistics are NaN
  if (y > double(hi) + 1.0) return int32_t(hi);
  const double f = std::floor(y);
  const int64_t c = int64_t(f) + (y - f >= 0.5 ? 1 : 0);
  return int32_t(std::min(std::max(c, lo), hi));
}

// The activation quantizer as a function of the pre-activation (double), returning the code.
int32_t activation_code(double z, quant::ActKind kind, const quant::Levels& l) {
  if (l.bipolar) return z >= 0 ? 1 : 0;  // sign; sign(tanh(z)) == sign(z)
  const double y = (kind == quant::ActKind::tanh ? std::tanh(z) : z) / l.scale;
  return round_half_up_clamped(y, l.min_code, l.max_code);
}

torch::Tensor cpu_double(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kDouble).contiguous();
}

}  // namespace

std::string integer_exact_blocker(const MlpConfig& c) {
  if (!c.quantized) return "the MLP is not quantized";
  if (c.quant.input == "float") return "its input is float (train with --input u8 or --input signed)";
  for (int b : c.quant.weight_bits)
    if (b == quant::kFloatBits) return "a layer has float (32-bit) weights";
  for (int b : c.quant.act_bits)
    if (b == quant::kFloatBits) return "a layer has float (32-bit) activations";
  return "";
}

IntegerMlp integer_view(const MlpImpl& mlp) {
  const auto& config = mlp.config();
  if (auto why = integer_exact_blocker(config); !why.empty())
    throw ConfigError(fmt::format("integer model: not available because {}", why));
  torch::NoGradGuard no_grad;
  const auto& q = mlp.quant_layers();
  IntegerMlp out;
  out.input_mode = q.input->mode();
  out.input_levels = q.input->levels();
  quant::Levels in_levels = out.input_levels;
  for (size_t i = 0; i < q.linears.size(); ++i) {
    const auto& linear = q.linears[i];
    IntegerLayer L;
    L.is_output = i + 1 == q.linears.size();
    L.input_levels = in_levels;
    const auto w_levels = linear->weight_levels();
    L.weight_levels = w_levels[0];
    auto codes = linear->weight_codes();  // int64 [out, in]
    L.weight_values = code_values(codes, L.weight_levels).to(linear->weight.device());
    const int64_t outs = codes.size(0), ins = codes.size(1);
    L.accumulator_bound = ins * max_abs_value(L.weight_levels) * max_abs_value(in_levels);

    // BatchNorm (eval) as a per-channel affine a * x + b, in double from the float parameters.
    auto a = torch::ones({outs}, torch::kDouble), b = torch::zeros({outs}, torch::kDouble);
    if (config.batchnorm) {
      const auto& bn = q.norms[i];
      a = cpu_double(bn->weight) / torch::sqrt(cpu_double(bn->running_var) + bn->options.eps());
      b = cpu_double(bn->bias) - cpu_double(bn->running_mean) * a;
    }
    if (linear->bias.defined()) b = b + cpu_double(linear->bias) * a;
    auto input_weight_scale = torch::empty({outs}, torch::kDouble);
    auto* s = input_weight_scale.data_ptr<double>();
    for (int64_t o = 0; o < outs; ++o) s[o] = in_levels.scale * w_levels[w_levels.size() == 1 ? 0 : o].scale;
    L.scale = (input_weight_scale * a).contiguous();
    L.shift = b.contiguous();
    if (!L.is_output) {
      const auto& act = q.acts[i];
      L.act_kind = act->config().kind;
      L.output_levels = act->levels();
      in_levels = L.output_levels;
    }
    out.layers.push_back(std::move(L));
  }
  return out;
}

torch::Tensor code_values(const torch::Tensor& codes, const quant::Levels& levels) {
  auto v = codes.to(torch::kFloat);
  return levels.bipolar ? v * 2 - 1 : v;
}

namespace {
// Codes of x [rows, features] where feature f belongs to image channel channel_of(f).
torch::Tensor map_codes(const IntegerMlp& mlp, const torch::Tensor& x, int64_t features_per_channel) {
  auto xd = cpu_double(x);
  auto out = torch::empty(xd.sizes(), torch::kInt32);
  const double* in = xd.data_ptr<double>();
  int32_t* o = out.data_ptr<int32_t>();
  const int64_t rows = xd.size(0), features = xd.size(1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t f = 0; f < features; ++f)
      o[r * features + f] = mlp.input_map->code(f / features_per_channel, in[r * features + f]);
  return out;
}
}  // namespace

torch::Tensor channel_input_codes(const IntegerMlp& mlp, const torch::Tensor& x) {
  if (!mlp.input_map) return input_codes(mlp, x);  // the built-in input modes treat every value alike
  auto xd = cpu_double(x);
  auto out = torch::empty(xd.sizes(), torch::kInt32);
  const double* in = xd.data_ptr<double>();
  int32_t* o = out.data_ptr<int32_t>();
  const int64_t k = xd.size(1);
  for (int64_t c = 0; c < xd.size(0); ++c)
    for (int64_t j = 0; j < k; ++j) o[c * k + j] = mlp.input_map->code(c, in[c * k + j]);
  return out;
}

torch::Tensor input_codes(const IntegerMlp& mlp, const torch::Tensor& x) {
  if (mlp.input_map) {
    const auto flat = x.flatten(1);
    const int64_t features = flat.size(1);
    if (mlp.input_channels < 1 || features % mlp.input_channels != 0)
      throw Error(fmt::format("input_codes: {} features do not split into {} channels", features, mlp.input_channels));
    return map_codes(mlp, flat, features / mlp.input_channels);
  }
  auto xd = cpu_double(x.flatten(1));
  auto out = torch::empty(xd.sizes(), torch::kInt32);
  const double* in = xd.data_ptr<double>();
  int32_t* o = out.data_ptr<int32_t>();
  const int64_t n = xd.numel();
  const quant::Levels& l = mlp.input_levels;
  if (mlp.input_mode == "u8") {
    // Unit-normalised pixels p/255: the code is the pixel again.
    for (int64_t k = 0; k < n; ++k) o[k] = round_half_up_clamped(in[k] * 255.0, 0, 255);
  } else {
    for (int64_t k = 0; k < n; ++k)
      o[k] = l.bipolar ? (in[k] >= 0 ? 1 : 0) : round_half_up_clamped(in[k] / l.scale, l.min_code, l.max_code);
  }
  return out;
}

torch::Tensor accumulate(const IntegerLayer& layer, const torch::Tensor& codes) {
  const auto& w = layer.weight_values;
  auto values = code_values(codes, layer.input_levels).to(w.device());
  torch::Tensor acc;
  if (layer.accumulator_bound < kFloatExactBound)
    acc = torch::matmul(values, w.t());
  else
    acc = torch::matmul(values.to(torch::kDouble), w.to(torch::kDouble).t());
  return acc.to(torch::kCPU).to(torch::kInt32);
}

torch::Tensor hidden_codes(const IntegerLayer& layer, const torch::Tensor& acc) {
  auto a = cpu_double(acc);
  const int64_t outs = layer.scale.numel();
  if (a.dim() != 2 || a.size(1) != outs)
    throw Error(fmt::format("hidden_codes: accumulators with {} columns do not match {} outputs", a.dim() == 2 ? a.size(1) : -1, outs));
  auto out = torch::empty(a.sizes(), torch::kInt32);
  const double* ap = a.data_ptr<double>();
  const double* scale = layer.scale.data_ptr<double>();
  const double* shift = layer.shift.data_ptr<double>();
  int32_t* o = out.data_ptr<int32_t>();
  for (int64_t r = 0; r < a.size(0); ++r)
    for (int64_t c = 0; c < outs; ++c) {
      if (layer.code_map) {
        o[r * outs + c] = layer.code_map->code(c, ap[r * outs + c]);
        continue;
      }
      double z = ap[r * outs + c] * scale[c];
      z = z + shift[c];
      o[r * outs + c] = activation_code(z, layer.act_kind, layer.output_levels);
    }
  return out;
}

torch::Tensor output_logits(const IntegerLayer& layer, const torch::Tensor& acc) {
  auto a = cpu_double(acc);
  const int64_t outs = layer.scale.numel();
  if (a.dim() != 2 || a.size(1) != outs)
    throw Error(fmt::format("output_logits: accumulators with {} columns do not match {} outputs", a.dim() == 2 ? a.size(1) : -1, outs));
  auto out = torch::empty(a.sizes(), torch::kFloat);
  const double* ap = a.data_ptr<double>();
  const double* scale = layer.scale.data_ptr<double>();
  const double* shift = layer.shift.data_ptr<double>();
  float* o = out.data_ptr<float>();
  for (int64_t r = 0; r < a.size(0); ++r)
    for (int64_t c = 0; c < outs; ++c) {
      double z = ap[r * outs + c] * scale[c];
      z = z + shift[c];
      o[r * outs + c] = static_cast<float>(z);
    }
  return out;
}

torch::Tensor integer_forward(const IntegerMlp& mlp, const torch::Tensor& x, IntegerTrace* trace) {
  torch::NoGradGuard no_grad;
  auto codes = input_codes(mlp, x);
  torch::Tensor logits;
  for (const auto& layer : mlp.layers) {
    auto acc = accumulate(layer, codes);
    if (layer.is_output) {
      logits = output_logits(layer, acc);
      if (trace) {
        trace->output_acc = acc;
        trace->logits = logits;
      }
    } else {
      codes = hidden_codes(layer, acc);
      if (trace) trace->codes.push_back(codes);
    }
  }
  return logits;
}

}  // namespace nemokd::models
