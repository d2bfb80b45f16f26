#include "quant/quantizer.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "quant/kernels.h"

namespace nemokd::quant {

void check_bits(const std::string& key, int bits) {
  if ((bits < 1 || bits > 8) && bits != kFloatBits)
    throw ConfigError(fmt::format("{}: {} bits is not supported (use 1..8, or 32 for float)", key, bits));
}

double Levels::value(int64_t c) const {
  if (bipolar) return (c ? 1.0 : -1.0) * scale;
  return double(c) * scale;
}

int64_t Levels::code(double x) const {
  if (bipolar) return x >= 0 ? 1 : 0;
  const double c = std::floor(x / scale + 0.5);
  return static_cast<int64_t>(std::min<double>(std::max<double>(c, double(min_code)), double(max_code)));
}

std::vector<double> Levels::values() const {
  std::vector<double> v;
  for (int64_t c = min_code; c <= max_code; ++c) v.push_back(value(c));
  return v;
}

nlohmann::json Levels::to_json() const {
  return {{"bits", bits},         {"bipolar", bipolar},   {"signed", is_signed}, {"narrow", narrow},
          {"min_code", min_code}, {"max_code", max_code}, {"scale", scale},      {"count", count()}};
}

namespace {
Levels signed_narrow(int bits, double scale) {
  Levels l;
  l.bits = bits;
  l.is_signed = true;
  l.narrow = true;
  l.max_code = (int64_t(1) << (bits - 1)) - 1;
  l.min_code = -l.max_code;
  l.scale = scale;
  return l;
}
Levels bipolar_levels() {
  Levels l;
  l.bits = 1;
  l.bipolar = true;
  l.is_signed = true;
  l.narrow = false;
  l.min_code = 0;
  l.max_code = 1;
  l.scale = 1.0;
  return l;
}
void require_quantized(const char* what, int bits) {
  if (bits < 1 || bits > 8) throw ConfigError(fmt::format("{}: {} bits has no levels (use 1..8)", what, bits));
}
}  // namespace

Levels finn_weight_levels(int bits) {
  require_quantized("weight bits", bits);
  if (bits == 1) return bipolar_levels();
  return signed_narrow(bits, std::ldexp(1.0, -(bits - 2)));
}

Levels scaled_weight_levels(int bits, double scale) {
  require_quantized("weight bits", bits);
  if (!(scale > 0)) throw ConfigError(fmt::format("weight scale: must be > 0 (got {})", scale));
  if (bits == 1) {
    auto l = bipolar_levels();
    l.scale = scale;
    return l;
  }
  return signed_narrow(bits, scale);
}

Levels signed_activation_levels(int bits) {
  require_quantized("activation bits", bits);
  if (bits == 1) return bipolar_levels();
  return signed_narrow(bits, 1.0 / double((int64_t(1) << (bits - 1)) - 1));
}

Levels unsigned_activation_levels(int bits, double max_value) {
  require_quantized("activation bits", bits);
  if (!(max_value > 0)) throw ConfigError(fmt::format("activation range: must be > 0 (got {})", max_value));
  Levels l;
  l.bits = bits;
  l.is_signed = false;
  l.narrow = false;
  l.min_code = 0;
  l.max_code = (int64_t(1) << bits) - 1;
  l.scale = max_value / double(l.max_code);
  return l;
}

namespace {
// floor(y + 1/2) computed so that it is exact: in float32, y + 0.5 can itself round up (y = 0.49999997 gives
// exactly 1.0), putting values just below a threshold on the upper level. floor(y) and y - floor(y) are exact,
// so comparing the fraction with 1/2 decides the tie rule without any intermediate rounding.
torch::Tensor round_half_up(const torch::Tensor& y) {
  auto f = torch::floor(y);
  return f + (y - f >= 0.5).to(y.scalar_type());
}
}  // namespace

namespace {

// Uniform fake quantization as one autograd function. Forward: clamp to [lo, hi], code = round half up of
// (x / step) for symmetric grids (or (x - lo) / step), value = code * step (+ lo) — returned exactly (the
// x + (q - x).detach() idiom can be off by an ulp). Backward: the clipped straight-through estimator, gradient
// passed where lo <= x <= hi. On CPU both directions are single fused passes over the data, which is what
// keeps QAT close to float training speed (weights are re-quantized every step); other devices use tensor ops
// with identical arithmetic.
struct UniformGrid {
  float lo, hi, step, inv_step;
  bool symmetric;  // lo == -hi with an even number of steps: codes from x / step directly
  bool sign;       // bipolar: x >= 0 -> +1 else -1 (lo = -1, hi = 1 for the gradient window)
};

class UniformQuantFunction : public torch::autograd::Function<UniformQuantFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double lo, double hi,
                               int64_t steps, bool sign) {
    UniformGrid g = make_grid(lo, hi, steps, sign);
    ctx->save_for_backward({x});
    ctx->saved_data["lo"] = double(g.lo);
    ctx->saved_data["hi"] = double(g.hi);
    if (x.device().is_cpu() && x.scalar_type() == torch::kFloat) {
      auto xc = x.contiguous();
      auto out = torch::empty_like(xc);
      const float* in = xc.data_ptr<float>();
      float* o = out.data_ptr<float>();
      const kernels::Grid kg{g.lo, g.hi, g.step, g.inv_step, g.symmetric ? 0.0f : g.lo};
      at::parallel_for(0, xc.numel(), 1 << 14, [&](int64_t b, int64_t e) {
        if (g.sign)
          kernels::quantize_sign(in + b, o + b, e - b);
        else
          kernels::quantize_uniform(in + b, o + b, e - b, kg);
      });
      return out;
    }
    return tensor_ops_forward(x, g);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto x = ctx->get_saved_variables()[0];
    const float lo = float(ctx->saved_data["lo"].toDouble()), hi = float(ctx->saved_data["hi"].toDouble());
    const auto& g = grad_out[0];
    torch::Tensor grad;
    if (x.device().is_cpu() && x.scalar_type() == torch::kFloat && g.scalar_type() == torch::kFloat) {
      auto xc = x.contiguous();
      auto gc = g.contiguous();
      grad = torch::empty_like(xc);
      const float* xp = xc.data_ptr<float>();
      const float* gp = gc.data_ptr<float>();
      float* op = grad.data_ptr<float>();
      at::parallel_for(0, xc.numel(), 1 << 14,
                       [&](int64_t b, int64_t e) { kernels::ste_mask(xp + b, gp + b, op + b, e - b, lo, hi); });
    } else {
      grad = g * torch::logical_and(x >= lo, x <= hi).to(g.scalar_type());
    }
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

 private:
  static UniformGrid make_grid(double lo, double hi, int64_t steps, bool sign) {
    UniformGrid g;
    g.lo = float(lo);
    g.hi = float(hi);
    const double step = sign ? 2.0 : (hi - lo) / double(steps);
    g.step = float(step);
    g.inv_step = float(1.0 / step);
    g.symmetric = lo == -hi && steps % 2 == 0;
    g.sign = sign;
    return g;
  }

  static torch::Tensor tensor_ops_forward(const torch::Tensor& x, const UniformGrid& g) {
    torch::NoGradGuard no_grad;
    if (g.sign) return torch::where(x >= 0, torch::ones({}, x.options()), -torch::ones({}, x.options()));
    auto v = torch::clamp(x, g.lo, g.hi);
    auto y = g.symmetric ? v * g.inv_step : (v - g.lo) * g.inv_step;
    auto code = round_half_up(y);
    return g.symmetric ? code * g.step : code * g.step + g.lo;
  }
};

}  // namespace

torch::Tensor fake_quant_finn(const torch::Tensor& x, int bits) {
  if (bits == kFloatBits) return x;
  if (bits == 1) return fake_quant_sign(x);
  // Levels k * 2^-(n-2) for |k| <= 2^(n-1) - 1: a symmetric grid on +-(2 - step) with 2 (2^(n-1) - 1) steps.
  const int64_t max_code = (int64_t(1) << (bits - 1)) - 1;
  const double limit = double(max_code) * std::ldexp(1.0, -(bits - 2));
  return UniformQuantFunction::apply(x, -limit, limit, 2 * max_code, false);
}

torch::Tensor fake_quant_scaled(const torch::Tensor& x, int bits, const torch::Tensor& scale) {
  if (bits == kFloatBits) return x;
  if (bits == 1) return fake_quant_sign(x) * scale;
  const double max_code = double((int64_t(1) << (bits - 1)) - 1);
  // Codes are computed from x / scale; the gradient reaches x (STE inside the range) and, when the scale is
  // learned, the scale through value = code * scale (LSQ-style).
  auto v = x / scale;
  auto clipped = torch::clamp(v, -max_code, max_code);
  auto code = round_half_up(clipped.detach());
  return (clipped + (code - clipped.detach())) * scale;
}

torch::Tensor fake_quant_sign(const torch::Tensor& x) { return UniformQuantFunction::apply(x, -1.0, 1.0, 2, true); }

torch::Tensor fake_quant_uniform(const torch::Tensor& x, double lo, double hi, int64_t steps) {
  if (!(hi > lo) || steps < 1) throw ConfigError(fmt::format("uniform quantizer: bad grid [{}, {}] / {}", lo, hi, steps));
  return UniformQuantFunction::apply(x, lo, hi, steps, false);
}

}  // namespace nemokd::quant
