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
// Per 32 inputs x 16 outputs x item: one broadcast-xor, one vpopcntd, one add. S: item stride in words.
template <int FB>
NEMOKD_AVX512_INLINE void xnor_items(const PackedLayer& L, const uint32_t* wb, const uint8_t* in, int64_t S,
                                     int32_t* acc) {
  __m512i c[FB];
  #pragma GCC unroll 16
  for (int i = 0; i < FB; ++i) c[i] = _mm512_setzero_si512();
  for (int64_t s = 0; s < L.nseg; ++s) {
    const auto* a = reinterpret_cast<const uint32_t*>(in + s * L.seg_stride);
    const uint32_t* ws = wb + s * L.seg_words * kLanes;
    for (int64_t w = 0; w < L.seg_words; ++w) {
      const __m512i wv = _mm512_load_si512(ws + w * kLanes);
      #pragma GCC unroll 16
      for (int i = 0; i < FB; ++i)
        c[i] = _mm512_add_epi32(c[i], _mm512_popcnt_epi32(_mm512_xor_si512(wv, _mm512_set1_epi32(int32_t(a[i * S + w])))));
    }
  }
  const __m512i k = _mm512_set1_epi32(int32_t(L.K));
  #pragma GCC unroll 16
  for (int i = 0; i < FB; ++i) _mm512_store_si512(acc + i * kLanes, _mm512_sub_epi32(k, _mm512_add_epi32(c[i], c[i])));
}

NEMOKD_AVX512 void kernel_xnor(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t*,
                               int32_t* acc) {
  const int64_t S = L.item_stride / 4;
  const uint32_t* wb = L.wbits.data() + block * L.wwords * kLanes;
  int i = 0;
  for (; i + 8 <= n; i += 8) xnor_items<8>(L, wb, in + i * L.item_stride, S, acc + i * kLanes);
  for (; i < n; ++i) xnor_items<1>(L, wb, in + i * L.item_stride, S, acc + i * kLanes);
}

// ---- int8: VNNI vpdpbusd (u8 activations x s8 weights -> int32, non-saturating) -----------------------------
template <int FB>
NEMOKD_AVX512_INLINE void int8_items(const PackedLayer& L, const int8_t* wb, const uint8_t* in, int64_t S,
                                     __m512i scale, __m512i bias, int32_t* acc) {
  __m512i c[FB];
  #pragma GCC unroll 16
  for (int i = 0; i < FB; ++i) c[i] = _mm512_setzero_si512();
  const int64_t S4 = L.seg_bytes / 4;
  for (int64_t s = 0; s < L.nseg; ++s) {
    const uint8_t* a = in + s * L.seg_stride;
    const int8_t* ws = wb + s * S4 * 64;
    for (int64_t k4 = 0; k4 < S4; ++k4) {
      const __m512i wv = _mm512_load_si512(ws + k4 * 64);
      #pragma GCC unroll 16
      for (int i = 0; i < FB; ++i)
        c[i] = _mm512_dpbusd_epi32(c[i], _mm512_set1_epi32(load32(a + i * S + 4 * k4)), wv);
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < FB; ++i)
    _mm512_store_si512(acc + i * kLanes, _mm512_add_epi32(_mm512_mullo_epi32(c[i], scale), bias));
}

NEMOKD_AVX512 void kernel_int8(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t*,
                               int32_t* acc) {
  const int64_t S = L.item_stride;
  const int8_t* wb = L.w8.data() + block * (L.Kp / 4) * 64;
  const __m512i scale = _mm512_set1_epi32(L.a_scale);
  const __m512i bias = _mm512_load_si512(L.chan_const.data() + block * kLanes);
  int i = 0;
  for (; i + 8 <= n; i += 8) int8_items<8>(L, wb, in + i * S, S, scale, bias, acc + i * kLanes);
  for (; i < n; ++i) int8_items<1>(L, wb, in + i * S, S, scale, bias, acc + i * kLanes);
}

// ---- bit-serial: AND + popcount per (weight plane, activation plane) ----------------------------------------
template <int NW, int NA, int FB>
NEMOKD_AVX512_INLINE void bitserial_items(const PackedLayer& L, const uint32_t* wb, const uint8_t* in, int64_t S,
                                          const int32_t* term, __m512i cconst, int32_t* acc) {
  const int64_t W = L.wwords, P = L.in_layout.words;  // weight plane stride, activation plane stride (words)
  __m512i p[FB][NW][NA];
  #pragma GCC unroll 16
  for (int f = 0; f < FB; ++f)
    #pragma GCC unroll 16
    for (int i = 0; i < NW; ++i)
      #pragma GCC unroll 16
      for (int j = 0; j < NA; ++j) p[f][i][j] = _mm512_setzero_si512();
  for (int64_t s = 0; s < L.nseg; ++s) {
    const auto* a = reinterpret_cast<const uint32_t*>(in + s * L.seg_stride);
    const uint32_t* ws = wb + s * L.seg_words * kLanes;
    for (int64_t w = 0; w < L.seg_words; ++w) {
      __m512i wv[NW];
      #pragma GCC unroll 16
      for (int i = 0; i < NW; ++i) wv[i] = _mm512_load_si512(ws + (i * W + w) * kLanes);
      #pragma GCC unroll 16
      for (int f = 0; f < FB; ++f)
        #pragma GCC unroll 16
        for (int j = 0; j < NA; ++j) {
          const __m512i ab = _mm512_set1_epi32(int32_t(a[f * S + j * P + w]));
          #pragma GCC unroll 16
          for (int i = 0; i < NW; ++i)
            p[f][i][j] = _mm512_add_epi32(p[f][i][j], _mm512_popcnt_epi32(_mm512_and_si512(wv[i], ab)));
        }
    }
  }
  #pragma GCC unroll 16
  for (int f = 0; f < FB; ++f) {
    __m512i d = _mm512_add_epi32(cconst, _mm512_set1_epi32(term[f]));
    #pragma GCC unroll 16
    for (int i = 0; i < NW; ++i)
      #pragma GCC unroll 16
      for (int j = 0; j < NA; ++j)
        d = _mm512_add_epi32(d, _mm512_mullo_epi32(p[f][i][j], _mm512_set1_epi32(L.wexp.coef[i] * L.aexp.coef[j])));
    _mm512_store_si512(acc + f * kLanes, d);
  }
}

template <int NW, int NA>
NEMOKD_AVX512 void kernel_bitserial(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t* term,
                                    int32_t* acc) {
  constexpr int FB = NW * NA >= 8 ? 1 : 8 / (NW * NA);  // about 8 independent accumulators
  const int64_t S = L.item_stride / 4;
  const uint32_t* wb = L.wbits.data() + block * NW * L.wwords * kLanes;
  const __m512i cconst = _mm512_load_si512(L.chan_const.data() + block * kLanes);
  int i = 0;
  for (; i + FB <= n; i += FB)
    bitserial_items<NW, NA, FB>(L, wb, in + i * L.item_stride, S, term + i, cconst, acc + i * kLanes);
  for (; i < n; ++i) bitserial_items<NW, NA, 1>(L, wb, in + i * L.item_stride, S, term + i, cconst, acc + i * kLanes);
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
NEMOKD_AVX512 void epilogue_avx512(const PackedLayer& L, int64_t block, const int32_t* acc, int n, uint8_t* out) {
  const Layout& lo = L.out_layout;
  const int valid = int(std::min<int64_t>(kLanes, L.N - block * kLanes));
  const __mmask16 vmask = __mmask16((1u << valid) - 1);
  const int32_t* T = L.thr_t.data() + block * L.nthr * kLanes;
  const __m512i one = _mm512_set1_epi32(1), base = _mm512_set1_epi32(L.min_code);
  if (lo.format == Format::planes && L.nthr == 1 && L.min_code == 0) {
    // Binary output (the XNOR case): the compare mask is the packed next-layer word.
    const __m512i t0 = _mm512_load_si512(T);
    for (int f = 0; f < n; ++f) {
      const __mmask16 m = _mm512_cmpge_epi32_mask(_mm512_load_si512(acc + f * kLanes), t0) & vmask;
      std::memcpy(out + f * L.out_item_bytes + block * 2, &m, 2);
    }
    return;
  }
  // Thresholds are stored [level][lane] (16 lanes per level), ascending per lane.
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int f = 0; f < n; ++f) {
    const __m512i a = _mm512_load_si512(acc + f * kLanes);
    __m512i cnt = base;
    if (L.nthr <= 15) {  // few levels: one compare per level
      for (int j = 0; j < L.nthr; ++j)
        cnt = _mm512_mask_add_epi32(cnt, _mm512_cmpge_epi32_mask(a, _mm512_load_si512(T + j * kLanes)), cnt, one);
    } else {
      // Many levels (A > 4): a branch-free binary search in all 16 lanes at once, ceil(log2(nthr)) + 1 gathers
      // instead of nthr compares (the scalar epilogue did it lane by lane at 20-30 ns per output).
      __m512i b = _mm512_setzero_si512();
      for (int len = L.nthr; len > 1;) {
        const int half = len / 2;
        const __m512i idx = _mm512_add_epi32(
            _mm512_slli_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(half - 1)), 4), lane);
        const __mmask16 up = _mm512_cmple_epi32_mask(_mm512_i32gather_epi32(idx, T, 4), a);
        b = _mm512_mask_add_epi32(b, up, b, _mm512_set1_epi32(half));
        len -= half;
      }
      const __m512i last = _mm512_i32gather_epi32(_mm512_add_epi32(_mm512_slli_epi32(b, 4), lane), T, 4);
      cnt = _mm512_add_epi32(_mm512_add_epi32(base, b),
                             _mm512_maskz_mov_epi32(_mm512_cmple_epi32_mask(last, a), one));
    }
    uint8_t* row = out + f * L.out_item_bytes;
    if (lo.format == Format::bytes) {
      _mm512_mask_cvtepi32_storeu_epi8(row + block * kLanes, vmask,
                                       _mm512_add_epi32(cnt, _mm512_set1_epi32(lo.byte_shift)));
    } else {
      for (int p = 0; p < lo.planes; ++p) {
        const __mmask16 m = _mm512_test_epi32_mask(cnt, _mm512_set1_epi32(1 << p)) & vmask;
        std::memcpy(row + p * L.out_plane_bytes + block * 2, &m, 2);
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
