#include "models/integer_net.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/integer_mlp.h"
#include "models/mlp.h"
#include "models/qcnn.h"

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

torch::Tensor cpu_double(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kDouble).contiguous(); }

}  // namespace

std::string integer_exact_blocker(const ClassifierImpl& model) {
  if (const auto* mlp = dynamic_cast<const MlpImpl*>(&model)) return integer_exact_blocker(mlp->config());
  if (const auto* cnn = dynamic_cast<const QCnnImpl*>(&model)) return cnn->integer_exact_blocker();
  const auto d = model.describe();
  return fmt::format("it is a '{}' model (integer views exist for quantized MLPs and CNNs: mlp with quant, cnv, "
                     "qflexstudent)",
                     d.value("arch", std::string("?")));
}

IntegerNet integer_view(const ClassifierImpl& model) {
  if (const auto* mlp = dynamic_cast<const MlpImpl*>(&model)) return integer_view(*mlp);
  if (const auto* cnn = dynamic_cast<const QCnnImpl*>(&model)) return integer_view(*cnn);
  throw ConfigError(fmt::format("integer model: not available because {}", integer_exact_blocker(model)));
}

torch::Tensor code_values(const torch::Tensor& codes, const quant::Levels& levels) {
  auto v = codes.to(torch::kFloat);
  return levels.bipolar ? v * 2 - 1 : v;
}

torch::Tensor input_codes(const IntegerNet& net, const torch::Tensor& x) {
  auto xd = cpu_double(x);
  auto out = torch::empty(xd.sizes(), torch::kInt32);
  const double* in = xd.data_ptr<double>();
  int32_t* o = out.data_ptr<int32_t>();
  const int64_t n = xd.numel();
  const quant::Levels& l = net.input_levels;
  if (net.input_mode == "u8") {
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
  const bool exact_float = layer.accumulator_bound < kFloatExactBound;
  const auto dtype = exact_float ? torch::kFloat : torch::kDouble;
  if (layer.op == IntegerOp::dense) {
    auto values = code_values(codes.flatten(1), layer.input_levels).to(w.device());
    return torch::matmul(values.to(dtype), w.to(dtype).t()).to(torch::kCPU).to(torch::kInt32);
  }
  if (layer.op != IntegerOp::conv) throw Error(fmt::format("accumulate: {} has no weights", layer.name));
  // Convolution as im2col + matrix product: a GEMM sums integers exactly in any order (below 2^24 in float32),
  // which a fast convolution algorithm (Winograd, FFT) would not promise. In chunks of frames to bound memory.
  const int64_t k = layer.kernel, p = layer.padding, out_ch = w.size(0);
  auto w2 = w.reshape({out_ch, -1}).to(dtype);
  std::vector<torch::Tensor> parts;
  const int64_t n = codes.size(0), H = codes.size(2) + 2 * p, W = codes.size(3) + 2 * p;
  const int64_t Ho = H - k + 1, Wo = W - k + 1;
  const int64_t per_frame = w2.size(1) * Ho * Wo * (exact_float ? 4 : 8);
  const int64_t chunk = std::max<int64_t>(1, (int64_t(64) << 20) / std::max<int64_t>(per_frame, 1));
  for (int64_t b = 0; b < n; b += chunk) {
    auto values = code_values(codes.slice(0, b, std::min(n, b + chunk)), layer.input_levels).to(w.device()).to(dtype);
    if (p > 0) values = torch::constant_pad_nd(values, {p, p, p, p}, double(layer.pad_value));
    auto cols = torch::nn::functional::unfold(values, torch::nn::functional::UnfoldFuncOptions({k, k}));  // [n, Ck^2, L]
    auto acc = torch::matmul(w2, cols);  // [n, out, L]
    parts.push_back(acc.reshape({acc.size(0), out_ch, Ho, Wo}).to(torch::kCPU).to(torch::kInt32));
  }
  return torch::cat(parts, 0);
}

torch::Tensor hidden_codes(const IntegerLayer& layer, const torch::Tensor& acc) {
  // [N, C] or [N, C, H, W]: channel c of row n is `inner` contiguous values (1 for dense layers).
  auto a = cpu_double(acc);
  const int64_t outs = layer.scale.numel();
  if ((a.dim() != 2 && a.dim() != 4) || a.size(1) != outs)
    throw Error(fmt::format("hidden_codes: accumulators with {} channels do not match {} outputs",
                            a.dim() >= 2 ? a.size(1) : -1, outs));
  const int64_t inner = a.dim() == 4 ? a.size(2) * a.size(3) : 1;
  auto out = torch::empty(a.sizes(), torch::kInt32);
  const double* ap = a.data_ptr<double>();
  const double* scale = layer.scale.data_ptr<double>();
  const double* shift = layer.shift.data_ptr<double>();
  int32_t* o = out.data_ptr<int32_t>();
  at::parallel_for(0, a.size(0) * outs, std::max<int64_t>(1, 4096 / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r % outs;
      for (int64_t i = r * inner; i < (r + 1) * inner; ++i) {
        double z = ap[i] * scale[c];
        z = z + shift[c];
        o[i] = activation_code(z, layer.act_kind, layer.output_levels);
      }
    }
  });
  return out;
}

torch::Tensor output_logits(const IntegerLayer& layer, const torch::Tensor& acc) {
  auto a = cpu_double(acc);
  const int64_t outs = layer.scale.numel();
  if (a.dim() != 2 || a.size(1) != outs)
    throw Error(fmt::format("output_logits: accumulators with {} columns do not match {} outputs",
                            a.dim() == 2 ? a.size(1) : -1, outs));
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

torch::Tensor max_pool_codes(const IntegerLayer& layer, const torch::Tensor& codes) {
  // Codes are small integers: exact in float, and ordered as their values (bipolar 0 < 1 is -1 < +1).
  auto pooled = torch::max_pool2d(codes.to(torch::kFloat), {layer.kernel, layer.kernel}, {layer.stride, layer.stride});
  return pooled.to(torch::kInt32).contiguous();
}

torch::Tensor integer_forward(const IntegerNet& net, const torch::Tensor& x, IntegerTrace* trace) {
  torch::NoGradGuard no_grad;
  auto codes = input_codes(net, x);
  torch::Tensor logits;
  for (const auto& layer : net.layers) {
    switch (layer.op) {
      case IntegerOp::flatten: codes = codes.flatten(1); continue;
      case IntegerOp::maxpool: codes = max_pool_codes(layer, codes); break;
      case IntegerOp::dense:
      case IntegerOp::conv: {
        auto acc = accumulate(layer, codes);
        if (layer.is_output) {
          logits = output_logits(layer, acc);
          if (trace) {
            trace->output_acc = acc;
            trace->logits = logits;
          }
          return logits;
        }
        codes = hidden_codes(layer, acc);
        break;
      }
    }
    if (trace) trace->codes.push_back(codes.flatten(1).contiguous());
  }
  throw Error("integer model: the network has no output layer");
}

namespace detail {

void set_input(IntegerNet& net, const std::string& mode, const quant::Levels& levels, InputShape input) {
  net.input_mode = mode;
  net.input_levels = levels;
  net.input = input;
}

IntegerLayer weighted_layer(IntegerOp op, const std::string& name, const quant::QuantWeightLayer& weights,
                            const quant::Levels& in_levels, const torch::Tensor& bn_weight, const torch::Tensor& bn_bias,
                            const torch::Tensor& bn_mean, const torch::Tensor& bn_var, double bn_eps) {
  IntegerLayer L;
  L.op = op;
  L.name = name;
  L.input_levels = in_levels;
  const auto w_levels = weights.weight_levels();
  L.weight_levels = w_levels[0];
  auto codes = weights.weight_codes();  // int64, the weight's shape
  L.weight_values = code_values(codes, L.weight_levels).to(weights.weight.device());
  const int64_t outs = codes.size(0), fan_in = codes.numel() / outs;
  L.accumulator_bound = fan_in * max_abs_value(L.weight_levels) * max_abs_value(in_levels);
  // BatchNorm (eval) as a per-channel affine a * x + b, in double from the float parameters.
  auto a = torch::ones({outs}, torch::kDouble), b = torch::zeros({outs}, torch::kDouble);
  if (bn_mean.defined()) {
    a = cpu_double(bn_weight) / torch::sqrt(cpu_double(bn_var) + bn_eps);
    b = cpu_double(bn_bias) - cpu_double(bn_mean) * a;
  }
  if (weights.bias.defined()) b = b + cpu_double(weights.bias) * a;
  auto input_weight_scale = torch::empty({outs}, torch::kDouble);
  auto* s = input_weight_scale.data_ptr<double>();
  for (int64_t o = 0; o < outs; ++o) s[o] = in_levels.scale * w_levels[w_levels.size() == 1 ? 0 : o].scale;
  L.scale = (input_weight_scale * a).contiguous();
  L.shift = b.contiguous();
  return L;
}

void set_activation(IntegerLayer& layer, const quant::QuantActivationImpl& act) {
  layer.act_kind = act.config().kind;
  layer.output_levels = act.levels();
}

}  // namespace detail

}  // namespace nemokd::models
