// AVX2 kernels for CPUs without AVX-512: a block of 16 outputs is two 256-bit registers. AVX2 has no vector
// popcount, so it is the nibble lookup (vpshufb) into byte counts, summed in bytes for up to 31 words (31 * 8
// < 256) and only then widened to the int32 lanes. The int8 path avoids vpmaddubsw (it saturates at int16):
// activations are zero-extended to 16 bits by a byte shuffle and multiplied with vpmaddwd, whose pair sums
// (<= 2 * 255 * 127) cannot overflow.
#include <immintrin.h>

#include <cstring>

#include "engine/kernels.h"

#define NEMOKD_AVX2 __attribute__((target("avx2,fma,popcnt")))
#define NEMOKD_AVX2_INLINE __attribute__((target("avx2,fma,popcnt"), always_inline)) inline

namespace nemokd::engine::detail {
namespace {

NEMOKD_AVX2_INLINE __m256i popcount_bytes(__m256i v) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low)),
                         _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
}

// Byte counts (each <= 255) -> sums per 32-bit lane.
NEMOKD_AVX2_INLINE __m256i widen_counts(__m256i c8) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(c8, _mm256_set1_epi8(1)), _mm256_set1_epi16(1));
}

constexpr int64_t kByteChunk = 31;

// Adds sum_w popcount(op(weights[w], a[w])) to both halves of a block; op = xor (XNOR) or and (bit-serial).
template <bool kXor>
NEMOKD_AVX2_INLINE void popcount_dot_add(const uint32_t* wb, const uint32_t* a, int64_t W, __m256i& lo, __m256i& hi) {
  for (int64_t w0 = 0; w0 < W; w0 += kByteChunk) {
    const int64_t w1 = std::min(W, w0 + kByteChunk);
    __m256i b0 = _mm256_setzero_si256(), b1 = _mm256_setzero_si256();
    for (int64_t w = w0; w < w1; ++w) {
      const __m256i ab = _mm256_set1_epi32(int32_t(a[w]));
      const __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + w * kLanes));
      const __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + w * kLanes + 8));
      b0 = _mm256_add_epi8(b0, popcount_bytes(kXor ? _mm256_xor_si256(x0, ab) : _mm256_and_si256(x0, ab)));
      b1 = _mm256_add_epi8(b1, popcount_bytes(kXor ? _mm256_xor_si256(x1, ab) : _mm256_and_si256(x1, ab)));
    }
    lo = _mm256_add_epi32(lo, widen_counts(b0));
    hi = _mm256_add_epi32(hi, widen_counts(b1));
  }
}

// The same over the segments of item `item` (weights of plane `wplane`, activations of plane `aplane`).
template <bool kXor>
NEMOKD_AVX2_INLINE void item_popcounts(const PackedLayer& L, const uint32_t* wb, const uint8_t* item, int64_t aplane,
                                       __m256i& lo, __m256i& hi) {
  lo = hi = _mm256_setzero_si256();
  for (int64_t s = 0; s < L.nseg; ++s)
    popcount_dot_add<kXor>(wb + s * L.seg_words * kLanes,
                           reinterpret_cast<const uint32_t*>(item + s * L.seg_stride) + aplane * L.in_layout.words,
                           L.seg_words, lo, hi);
}

NEMOKD_AVX2 void kernel_xnor(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t*,
                             int32_t* acc) {
  const uint32_t* wb = L.wbits.data() + block * L.wwords * kLanes;
  const __m256i k = _mm256_set1_epi32(int32_t(L.K));
  for (int f = 0; f < n; ++f) {
    __m256i lo, hi;
    item_popcounts<true>(L, wb, in + f * L.item_stride, 0, lo, hi);
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + f * kLanes), _mm256_sub_epi32(k, _mm256_slli_epi32(lo, 1)));
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + f * kLanes + 8), _mm256_sub_epi32(k, _mm256_slli_epi32(hi, 1)));
  }
}

NEMOKD_AVX2 void kernel_bitserial(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t* term,
                                  int32_t* acc) {
  const int64_t W = L.wwords;
  const int nw = L.wexp.n, na = L.aexp.n;
  const uint32_t* wb = L.wbits.data() + block * nw * W * kLanes;
  const __m256i c0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(L.chan_const.data() + block * kLanes));
  const __m256i c1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(L.chan_const.data() + block * kLanes + 8));
  for (int f = 0; f < n; ++f) {
    const __m256i ft = _mm256_set1_epi32(term[f]);
    __m256i d0 = _mm256_add_epi32(c0, ft), d1 = _mm256_add_epi32(c1, ft);
    for (int i = 0; i < nw; ++i)
      for (int j = 0; j < na; ++j) {
        __m256i lo, hi;
        item_popcounts<false>(L, wb + i * W * kLanes, in + f * L.item_stride, j, lo, hi);
        const __m256i c = _mm256_set1_epi32(L.wexp.coef[i] * L.aexp.coef[j]);
        d0 = _mm256_add_epi32(d0, _mm256_mullo_epi32(lo, c));
        d1 = _mm256_add_epi32(d1, _mm256_mullo_epi32(hi, c));
      }
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + f * kLanes), d0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + f * kLanes + 8), d1);
  }
}

// Weights [blocks][Kp/2][16][2] int16; per 4 activations: two pairs, each pair zero-extended into every 32-bit
// lane as (u_k, u_k+1) int16 by one byte shuffle of the broadcast.
NEMOKD_AVX2 void kernel_int8(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t*,
                             int32_t* acc) {
  const int64_t S4 = L.seg_bytes / 4;
  const int16_t* wb = L.w16.data() + block * (L.Kp / 4) * 2 * kLanes * 2;
  const __m256i pair0 = _mm256_setr_epi8(0, -1, 1, -1, 0, -1, 1, -1, 0, -1, 1, -1, 0, -1, 1, -1, 0, -1, 1, -1, 0, -1,
                                         1, -1, 0, -1, 1, -1, 0, -1, 1, -1);
  const __m256i pair1 = _mm256_setr_epi8(2, -1, 3, -1, 2, -1, 3, -1, 2, -1, 3, -1, 2, -1, 3, -1, 2, -1, 3, -1, 2, -1,
                                         3, -1, 2, -1, 3, -1, 2, -1, 3, -1);
  const __m256i scale = _mm256_set1_epi32(L.a_scale);
  const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(L.chan_const.data() + block * kLanes));
  const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(L.chan_const.data() + block * kLanes + 8));
  for (int f = 0; f < n; ++f) {
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    for (int64_t s = 0; s < L.nseg; ++s) {
      const uint8_t* a = in + f * L.item_stride + s * L.seg_stride;
      const int16_t* ws = wb + s * S4 * 2 * kLanes * 2;
      for (int64_t k4 = 0; k4 < S4; ++k4) {
        const __m256i bc = _mm256_set1_epi32(load32(a + 4 * k4));
        const __m256i p0 = _mm256_shuffle_epi8(bc, pair0), p1 = _mm256_shuffle_epi8(bc, pair1);
        const auto* w = reinterpret_cast<const __m256i*>(ws + k4 * 2 * kLanes * 2);  // 2 pairs x 16 lanes
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(p0, _mm256_load_si256(w + 0)));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(p0, _mm256_load_si256(w + 1)));
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(p1, _mm256_load_si256(w + 2)));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(p1, _mm256_load_si256(w + 3)));
      }
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + f * kLanes), _mm256_add_epi32(_mm256_mullo_epi32(lo, scale), b0));
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + f * kLanes + 8),
                       _mm256_add_epi32(_mm256_mullo_epi32(hi, scale), b1));
  }
}

}  // namespace

// Input thresholds on 32 pixels at once: pixel >= t as max(pixel, t) == pixel (AVX2 has no unsigned byte
// compare); the byte masks (-1) are subtracted from the code; movemask of the code's bit p (moved to the top
// of each byte by a 16-bit shift) is the packed 32-bit word of plane p. The last partial chunk is scalar.
NEMOKD_AVX2 void input_avx2(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out) {
  if (P.passthrough || P.nthr > 15) {
    input_scalar(P, pixels, nf, out);
    return;
  }
  const Layout& lo = P.layout;
  const int64_t nb = ceil_div(P.size, 64), row64 = nb * 64, full = P.size / 32;
  const __m256i base = _mm256_set1_epi8(char(P.min_code)), shift = _mm256_set1_epi8(char(lo.byte_shift));
  for (int f = 0; f < nf; ++f) {
    const uint8_t* px = pixels + f * P.size;
    uint8_t* row = out + f * lo.stride;
    auto* words = reinterpret_cast<uint32_t*>(row);
    if (lo.format == Format::planes) std::memset(row, 0, size_t(lo.stride));
    for (int64_t c = 0; c < full; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(px + c * 32));
      __m256i code = base;
      for (int j = 0; j < P.nthr; ++j) {
        const __m256i t = _mm256_load_si256(reinterpret_cast<const __m256i*>(P.thr8.data() + j * row64 + c * 32));
        const auto never = uint32_t(P.never[size_t(j * nb + c / 2)] >> (32 * (c % 2)));
        // Pixels whose threshold is 256 must not count: clear their byte masks.
        const __m256i ge = _mm256_cmpeq_epi8(_mm256_max_epu8(v, t), v);
        code = _mm256_sub_epi8(code, ge);
        if (never) {  // rare (thresholds of 256): undo those pixels one by one
          for (int b = 0; b < 32; ++b)
            if ((never >> b) & 1u) {
              alignas(32) uint8_t tmp[32];
              _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), code);
              tmp[b] = uint8_t(tmp[b] - (px[c * 32 + b] >= 255 ? 1 : 0));
              code = _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
            }
        }
      }
      if (lo.format == Format::bytes) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + c * 32), _mm256_add_epi8(code, shift));
      } else {
        for (int p = 0; p < lo.planes; ++p)
          words[p * lo.words + c] = uint32_t(_mm256_movemask_epi8(_mm256_slli_epi16(code, 7 - p)));
      }
    }
    for (int64_t k = full * 32; k < P.size; ++k) store_code(lo, row, k, P.lut[size_t(k / P.ppc)][px[k]]);
  }
}

KernelFn avx2_kernel(Kind k, const PackedLayer&) {
  switch (k) {
    case Kind::xnor: return kernel_xnor;
    case Kind::int8: return kernel_int8;
    case Kind::bitserial: return kernel_bitserial;
    case Kind::scalar: return nullptr;
  }
  return nullptr;
}

}  // namespace nemokd::engine::detail
