#include "quant/quantizer.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"

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

// The forward value is computed on detached data and attached with the x + (q - x).detach() trick, whose
// gradient is exactly that of the clamped input: 1 inside [lo, hi], 0 outside.
torch::Tensor fake_quant_finn(const torch::Tensor& x, int bits) {
  if (bits == kFloatBits) return x;
  if (bits == 1) return fake_quant_sign(x);
  const double step = std::ldexp(1.0, -(bits - 2));
  const double limit = 2.0 - step;
  auto clipped = torch::clamp(x, -limit, limit);
  // floor(x/step + 1/2) * step; step is a power of two, so the division and product are exact in float.
  auto q = round_half_up(clipped.detach() * (1.0 / step)) * step;
  return clipped + (q - clipped.detach());
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

torch::Tensor fake_quant_sign(const torch::Tensor& x) {
  auto clipped = torch::clamp(x, -1.0, 1.0);
  auto q = torch::where(x.detach() >= 0, torch::ones({}, x.options()), -torch::ones({}, x.options()));
  return clipped + (q - clipped.detach());
}

torch::Tensor fake_quant_uniform(const torch::Tensor& x, double lo, double hi, int64_t steps) {
  auto clipped = torch::clamp(x, lo, hi);
  const double step = (hi - lo) / double(steps);
  torch::Tensor q;
  if (lo == -hi && steps % 2 == 0) {
    // Symmetric levels (signed narrow activations): code = round_half_up(x / step) directly, one rounding
    // fewer than going through x - lo; the two differ by the integer steps/2 in exact arithmetic.
    q = round_half_up(clipped.detach() * (1.0 / step)) * step;
  } else {
    q = round_half_up((clipped.detach() - lo) * (1.0 / step)) * step + lo;
  }
  return clipped + (q - clipped.detach());
}

}  // namespace nemokd::quant
