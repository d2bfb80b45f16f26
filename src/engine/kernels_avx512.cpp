// AVX-512 kernels (F, BW, VL, VNNI, VPOPCNTDQ). Every function carries its own target attribute, so this
// file is compiled for baseline x86-64 like the rest and only runs after __builtin_cpu_supports said yes
// (runtime.cpp). Lane = output channel (see kernels.h): the activations are broadcast, 32 bits at a time.
#include <immintrin.h>

#include <cstring>

#include "engine/kernels.h"

#define NEMOKD_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vpopcntdq")))
#define NEMOKD_AVX512_INLINE \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vpopcntdq"), always_inline)) inline

namespace nemokd::engine::detail {
namespace {

// ---- XNOR + popcount ----------------------------------------------------------------------------------------
// Per 32 inputs x 16 outputs x frame: one broadcast-xor, one vpopcntd, one add.
template <int FB>
NEMOKD_AVX512_INLINE void xnor_frames(const uint32_t* wb, int64_t W, const uint32_t* a, int64_t S, int32_t K,
                                      int32_t* acc) {  // W: words holding values
  __m512i c[FB];
  for (int i = 0; i < FB; ++i) c[i] = _mm512_setzero_si512();
  for (int64_t w = 0; w < W; ++w) {
    const __m512i wv = _mm512_load_si512(wb + w * kLanes);
    for (int i = 0; i < FB; ++i)
      c[i] = _mm512_add_epi32(c[i], _mm512_popcnt_epi32(_mm512_xor_si512(wv, _mm512_set1_epi32(int32_t(a[i * S + w])))));
  }
  const __m512i k = _mm512_set1_epi32(K);
  for (int i = 0; i < FB; ++i) _mm512_store_si512(acc + i * kLanes, _mm512_sub_epi32(k, _mm512_add_epi32(c[i], c[i])));
}

NEMOKD_AVX512 void kernel_xnor(const PackedLayer& L, const uint8_t* in, int nf, int64_t block, const int32_t*,
                               int32_t* acc) {
  const int64_t W = L.in_layout.kwords, S = L.in_layout.stride / 4;
  const uint32_t* wb = L.wbits.data() + block * L.in_layout.words * kLanes;
  const auto* a = reinterpret_cast<const uint32_t*>(in);
  int f = 0;
  for (; f + 8 <= nf; f += 8) xnor_frames<8>(wb, W, a + f * S, S, int32_t(L.K), acc + f * kLanes);
  for (; f < nf; ++f) xnor_frames<1>(wb, W, a + f * S, S, int32_t(L.K), acc + f * kLanes);
}

// ---- int8: VNNI vpdpbusd (u8 activations x s8 weights -> int32, non-saturating) -----------------------------
template <int FB>
NEMOKD_AVX512_INLINE void int8_frames(const int8_t* wb, int64_t K4, const uint8_t* a, int64_t S, __m512i scale,
                                      __m512i bias, int32_t* acc) {
  __m512i c[FB];
  for (int i = 0; i < FB; ++i) c[i] = _mm512_setzero_si512();
  for (int64_t k4 = 0; k4 < K4; ++k4) {
    const __m512i wv = _mm512_load_si512(wb + k4 * 64);
    for (int i = 0; i < FB; ++i)
      c[i] = _mm512_dpbusd_epi32(c[i], _mm512_set1_epi32(load32(a + i * S + 4 * k4)), wv);
  }
  for (int i = 0; i < FB; ++i)
    _mm512_store_si512(acc + i * kLanes, _mm512_add_epi32(_mm512_mullo_epi32(c[i], scale), bias));
}

NEMOKD_AVX512 void kernel_int8(const PackedLayer& L, const uint8_t* in, int nf, int64_t block, const int32_t*,
                               int32_t* acc) {
  const int64_t K4 = ceil_div(L.K, 4), S = L.in_layout.stride;
  const int8_t* wb = L.w8.data() + block * K4 * 64;
  const __m512i scale = _mm512_set1_epi32(L.a_scale);
  const __m512i bias = _mm512_load_si512(L.chan_const.data() + block * kLanes);
  int f = 0;
  for (; f + 8 <= nf; f += 8) int8_frames<8>(wb, K4, in + f * S, S, scale, bias, acc + f * kLanes);
  for (; f < nf; ++f) int8_frames<1>(wb, K4, in + f * S, S, scale, bias, acc + f * kLanes);
}

// ---- bit-serial: AND + popcount per (weight plane, activation plane) ----------------------------------------
template <int NW, int NA, int FB>
NEMOKD_AVX512_INLINE void bitserial_frames(const PackedLayer& L, const uint32_t* wb, int64_t W, const uint32_t* a,
                                           int64_t S, const int32_t* frame_term, __m512i cconst, int32_t* acc) {
  const int64_t KW = L.in_layout.kwords;  // W is the plane stride
  __m512i p[FB][NW][NA];
  for (int f = 0; f < FB; ++f)
    for (int i = 0; i < NW; ++i)
      for (int j = 0; j < NA; ++j) p[f][i][j] = _mm512_setzero_si512();
  for (int64_t w = 0; w < KW; ++w) {
    __m512i wv[NW];
    for (int i = 0; i < NW; ++i) wv[i] = _mm512_load_si512(wb + (i * W + w) * kLanes);
    for (int f = 0; f < FB; ++f)
      for (int j = 0; j < NA; ++j) {
        const __m512i ab = _mm512_set1_epi32(int32_t(a[f * S + j * W + w]));
        for (int i = 0; i < NW; ++i)
          p[f][i][j] = _mm512_add_epi32(p[f][i][j], _mm512_popcnt_epi32(_mm512_and_si512(wv[i], ab)));
      }
  }
  for (int f = 0; f < FB; ++f) {
    __m512i d = _mm512_add_epi32(cconst, _mm512_set1_epi32(frame_term[f]));
    for (int i = 0; i < NW; ++i)
      for (int j = 0; j < NA; ++j)
        d = _mm512_add_epi32(d, _mm512_mullo_epi32(p[f][i][j], _mm512_set1_epi32(L.wexp.coef[i] * L.aexp.coef[j])));
    _mm512_store_si512(acc + f * kLanes, d);
  }
}

template <int NW, int NA>
NEMOKD_AVX512 void kernel_bitserial(const PackedLayer& L, const uint8_t* in, int nf, int64_t block,
                                    const int32_t* frame_term, int32_t* acc) {
  constexpr int FB = NW * NA >= 8 ? 1 : 8 / (NW * NA);  // about 8 independent accumulators
  const int64_t W = L.in_layout.words, S = L.in_layout.stride / 4;
  const uint32_t* wb = L.wbits.data() + block * NW * W * kLanes;
  const auto* a = reinterpret_cast<const uint32_t*>(in);
  const __m512i cconst = _mm512_load_si512(L.chan_const.data() + block * kLanes);
  int f = 0;
  for (; f + FB <= nf; f += FB)
    bitserial_frames<NW, NA, FB>(L, wb, W, a + f * S, S, frame_term + f, cconst, acc + f * kLanes);
  for (; f < nf; ++f) bitserial_frames<NW, NA, 1>(L, wb, W, a + f * S, S, frame_term + f, cconst, acc + f * kLanes);
}

template <int NW>
KernelFn bitserial_for(int na) {
  switch (na) {
    case 1: return kernel_bitserial<NW, 1>;
    case 2: return kernel_bitserial<NW, 2>;
    case 3: return kernel_bitserial<NW, 3>;
    case 4: return kernel_bitserial<NW, 4>;
  }
  return nullptr;
}

}  // namespace

KernelFn avx512_kernel(Kind k, const PackedLayer& L) {
  switch (k) {
    case Kind::xnor: return kernel_xnor;
    case Kind::int8: return kernel_int8;
    case Kind::bitserial:
      switch (L.wexp.n) {
        case 1: return bitserial_for<1>(L.aexp.n);
        case 2: return bitserial_for<2>(L.aexp.n);
        case 3: return bitserial_for<3>(L.aexp.n);
        case 4: return bitserial_for<4>(L.aexp.n);
      }
      return nullptr;
    case Kind::scalar: return nullptr;
  }
  return nullptr;
}

// Thresholds as 16-lane compares: the count of reached thresholds is the code offset; its bits are the next
// layer's planes (a 16-bit mask per plane = 16 packed activations), or its bytes after a narrowing store.
NEMOKD_AVX512 void epilogue_avx512(const PackedLayer& L, int64_t block, const int32_t* acc, int nf, uint8_t* out) {
  const Layout& lo = L.out_layout;
  const int valid = int(std::min<int64_t>(kLanes, L.N - block * kLanes));
  const __mmask16 vmask = __mmask16((1u << valid) - 1);
  const int32_t* T = L.thr_t.data() + block * L.nthr * kLanes;
  const __m512i one = _mm512_set1_epi32(1), base = _mm512_set1_epi32(L.min_code);
  if (lo.format == Format::planes && L.nthr == 1 && L.min_code == 0) {
    // Binary output (the XNOR case): the compare mask is the packed next-layer word.
    const __m512i t0 = _mm512_load_si512(T);
    for (int f = 0; f < nf; ++f) {
      const __mmask16 m = _mm512_cmpge_epi32_mask(_mm512_load_si512(acc + f * kLanes), t0) & vmask;
      std::memcpy(out + f * lo.stride + block * 2, &m, 2);
    }
    return;
  }
  for (int f = 0; f < nf; ++f) {
    const __m512i a = _mm512_load_si512(acc + f * kLanes);
    __m512i cnt = base;
    for (int j = 0; j < L.nthr; ++j)
      cnt = _mm512_mask_add_epi32(cnt, _mm512_cmpge_epi32_mask(a, _mm512_load_si512(T + j * kLanes)), cnt, one);
    uint8_t* row = out + f * lo.stride;
    if (lo.format == Format::bytes) {
      _mm512_mask_cvtepi32_storeu_epi8(row + block * kLanes, vmask,
                                       _mm512_add_epi32(cnt, _mm512_set1_epi32(lo.byte_shift)));
    } else {
      for (int p = 0; p < lo.planes; ++p) {
        const __mmask16 m = _mm512_test_epi32_mask(cnt, _mm512_set1_epi32(1 << p)) & vmask;
        std::memcpy(row + p * lo.words * 4 + block * 2, &m, 2);
      }
    }
  }
}

// Input thresholds on 64 pixels at once: each threshold level is one unsigned byte compare; the count of
// levels reached is the code offset.
NEMOKD_AVX512 void input_avx512(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out) {
  if (P.passthrough || P.nthr > 15) {
    input_scalar(P, pixels, nf, out);
    return;
  }
  const Layout& lo = P.layout;
  const int64_t nb = ceil_div(P.size, 64), row64 = nb * 64;
  const __m512i one = _mm512_set1_epi8(1), base = _mm512_set1_epi8(char(P.min_code));
  const __m512i shift = _mm512_set1_epi8(char(lo.byte_shift));
  const bool binary = lo.format == Format::planes && P.nthr == 1 && P.min_code == 0;
  for (int f = 0; f < nf; ++f) {
    const uint8_t* px = pixels + f * P.size;
    uint8_t* row = out + f * lo.stride;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t n = std::min<int64_t>(64, P.size - b * 64);
      const __mmask64 tail = n == 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1;
      const __m512i v = _mm512_maskz_loadu_epi8(tail, px + b * 64);
      if (binary) {  // one threshold, codes 0/1: the compare mask is the packed word
        const __mmask64 m =
            _mm512_cmpge_epu8_mask(v, _mm512_load_si512(P.thr8.data() + b * 64)) & ~P.never[size_t(b)] & tail;
        std::memcpy(row + b * 8, &m, 8);
        continue;
      }
      __m512i code = base;
      for (int j = 0; j < P.nthr; ++j) {
        const __mmask64 m = _mm512_cmpge_epu8_mask(v, _mm512_load_si512(P.thr8.data() + j * row64 + b * 64)) &
                            ~P.never[size_t(j * nb + b)];
        code = _mm512_mask_add_epi8(code, m, code, one);
      }
      if (lo.format == Format::bytes) {
        _mm512_mask_storeu_epi8(row + b * 64, tail, _mm512_add_epi8(code, shift));
      } else {
        for (int p = 0; p < lo.planes; ++p) {
          const __mmask64 m = _mm512_test_epi8_mask(code, _mm512_set1_epi8(char(1 << p))) & tail;
          std::memcpy(row + p * lo.words * 4 + b * 8, &m, 8);
        }
      }
    }
  }
}

}  // namespace nemokd::engine::detail
