// Quantizers: how a float becomes one of a finite set of levels, described once (Levels) and used
// everywhere — quantization-aware training (fake-quant ops with straight-through gradients here), and
// later the integer engine, the FPGA cost model and QONNX export, which all read Levels.
//
// Every quantized value is code * scale with an integer code in [min_code, max_code] (bipolar 1-bit:
// codes {0, 1} meaning {-1, +1}). Ties round half up, floor(x/scale + 1/2): the rule hardware thresholds
// implement (level k is reached when the input is >= its threshold).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

namespace nemokd::quant {

constexpr int kFloatBits = 32;  // "32 bits" = no quantization (float passthrough)

// Throws ConfigError unless bits is in 1..8 or 32, naming `key`.
void check_bits(const std::string& key, int bits);

struct Levels {
  int bits = 2;
  bool bipolar = false;   // 1-bit sign: code 0 -> -1, code 1 -> +1 (times scale)
  bool is_signed = true;  // codes may be negative
  bool narrow = true;     // signed narrow range: -(2^(n-1)-1) .. 2^(n-1)-1 (symmetric, 2^n - 1 levels)
  int64_t min_code = -1, max_code = 1;
  double scale = 1.0;     // value = code * scale (bipolar: (2 code - 1) * scale)

  int64_t count() const { return max_code - min_code + 1; }
  double value(int64_t code) const;    // code -> value
  int64_t code(double x) const;        // value -> code of the quantized x (round half up, saturate)
  double quantize(double x) const { return value(code(x)); }
  std::vector<double> values() const;  // all levels, ascending
  nlohmann::json to_json() const;
};

// The paper's FINN fixed-point weights: n = 1 sign {-1, +1}; n >= 2 step 2^-(n-2), clamp +-(2 - step).
Levels finn_weight_levels(int bits);
// Signed narrow integer levels at a given scale (scaled-integer weights; per tensor or per channel).
Levels scaled_weight_levels(int bits, double scale);
// Activations: n = 1 bipolar sign; n >= 2 signed narrow levels on [-1, 1] (scale 1/(2^(n-1)-1)) for
// tanh/hard-tanh, or unsigned levels on [0, max] (scale max/(2^n-1)) for ReLU.
Levels signed_activation_levels(int bits);
Levels unsigned_activation_levels(int bits, double max_value);

// ---- fake quantization on tensors (training), straight-through estimator ----
// Forward: the quantized value. Backward: gradient 1 where the input lies inside the clipping range, 0
// outside (so saturated inputs stop receiving gradient).

// FINN fixed-point weights, bits 1..8 (32 = identity).
torch::Tensor fake_quant_finn(const torch::Tensor& x, int bits);
// Signed narrow integer with a per-tensor or per-output-channel scale (shape broadcastable to x, e.g.
// [out, 1]); the scale may require grad (learned scale, gradient as in LSQ). 1 bit: sign(x) * scale with the
// XNOR-Net convention (gradient `scale` for |x| <= 1, 0 outside).
torch::Tensor fake_quant_scaled(const torch::Tensor& x, int bits, const torch::Tensor& scale);
// 1-bit sign (x >= 0 -> +1): STE clipped at |x| <= 1.
torch::Tensor fake_quant_sign(const torch::Tensor& x);
// Uniform levels on [lo, hi] with `steps` intervals (levels lo + k (hi-lo)/steps), round half up; used for
// signed activations (lo = -1, hi = 1, steps = 2^n - 2) and unsigned ones (lo = 0, hi = max, steps = 2^n - 1).
torch::Tensor fake_quant_uniform(const torch::Tensor& x, double lo, double hi, int64_t steps);

}  // namespace nemokd::quant
