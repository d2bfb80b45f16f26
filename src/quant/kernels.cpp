#include "quant/kernels.h"

// Compiled without the torch precompiled header and with -fno-trapping-math (see src/CMakeLists.txt): the
// selects below only if-convert, and so vectorise, when float compares may not trap. Each kernel has an AVX2
// clone (vroundps floor, 8 lanes) picked at load time, and a baseline SSE2 version.
namespace nemokd::quant::kernels {

__attribute__((target_clones("avx2", "default"))) void quantize_uniform(const float* __restrict in,
                                                                        float* __restrict out, int64_t n,
                                                                        const Grid& grid) {
  const float lo = grid.lo, hi = grid.hi, step = grid.step, inv = grid.inv_step, offset = grid.offset;
  for (int64_t i = 0; i < n; ++i) {
    float v = in[i] < lo ? lo : in[i];
    v = v > hi ? hi : v;
    const float y = (v - offset) * inv;
    const float f = __builtin_floorf(y);
    // Round half up without forming y + 0.5 (which can itself round up just below a threshold).
    const float code = y - f >= 0.5f ? f + 1.0f : f;
    out[i] = code * step + offset;
  }
}

__attribute__((target_clones("avx2", "default"))) void quantize_sign(const float* __restrict in,
                                                                     float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = in[i] >= 0.0f ? 1.0f : -1.0f;
}

__attribute__((target_clones("avx2", "default"))) void ste_mask(const float* __restrict x,
                                                                const float* __restrict grad,
                                                                float* __restrict out, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] >= lo && x[i] <= hi) ? grad[i] : 0.0f;
}

}  // namespace nemokd::quant::kernels
