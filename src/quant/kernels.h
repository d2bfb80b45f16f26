// Plain loops over float arrays for fake quantization on CPU (no torch here: measurable, vectorisable).
#pragma once
#include <cstdint>

namespace nemokd::quant::kernels {

// Uniform grid: clamp to [lo, hi]; y = (v - offset) / step; code = floor(y) + (frac(y) >= 1/2);
// out = code * step + offset. offset = 0 for symmetric grids (codes taken from v / step directly), lo otherwise.
struct Grid {
  float lo, hi, step, inv_step, offset;
};
void quantize_uniform(const float* in, float* out, int64_t n, const Grid& g);
// out = in >= 0 ? +1 : -1
void quantize_sign(const float* in, float* out, int64_t n);
// Straight-through gradient: out = (lo <= x <= hi) ? grad : 0
void ste_mask(const float* x, const float* grad, float* out, int64_t n, float lo, float hi);

}  // namespace nemokd::quant::kernels
