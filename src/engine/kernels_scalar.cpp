// Portable parts of the kernels: layouts, packing, and the scalar implementation of every kernel (the
// fallback on any x86-64, and a second opinion on the vector ones in the tests). Integer sums that may pass
// 2^31 in an intermediate step (int8 with shifted activations) are done in uint32: the final accumulator is
// exact modulo 2^32 and validate() guarantees it fits int32, so wrapping is harmless where signed overflow
// would be undefined.
#include <algorithm>
#include <climits>
#include <cstring>

#include "core/error.h"
#include "engine/kernels.h"

namespace nemokd::engine::detail {

Layout Layout::make(Format f, const Operand& op, int64_t size) {
  Layout lo;
  lo.format = f;
  lo.op = op;
  lo.size = size;
  if (f == Format::bytes) {
    lo.stride = round_up(size, 64);
    lo.byte_shift = op.encoding == Encoding::signed_int ? 128 : 0;
  } else {
    lo.planes = op.encoding == Encoding::bipolar ? 1 : op.bits;
    lo.kwords = ceil_div(size, 32);
    lo.words = round_up(lo.kwords, 2);
    lo.stride = int64_t(lo.planes) * lo.words * 4;
  }
  return lo;
}

BitExpansion BitExpansion::of(const Operand& o) {
  BitExpansion e;
  if (o.encoding == Encoding::bipolar) {
    e.n = 1;
    e.offset = -1;
    e.coef[0] = 2;
    return e;
  }
  e.n = o.bits;
  for (int i = 0; i < o.bits; ++i) e.coef[i] = int32_t(1) << i;
  if (o.encoding == Encoding::signed_int) e.coef[o.bits - 1] = -e.coef[o.bits - 1];
  return e;
}

bool kernel_applies(Kind k, const Operand& in, const Operand& w) {
  switch (k) {
    case Kind::scalar:
    case Kind::int8: return true;  // every operand fits u8 activations x s8 weights
    case Kind::xnor: return in.encoding == Encoding::bipolar && w.encoding == Encoding::bipolar;
    case Kind::bitserial: return in.bits <= 4 && w.bits <= 4;
  }
  return false;
}

int32_t load_code(const Layout& lo, const uint8_t* row, int64_t k) {
  if (lo.format == Format::bytes) return int32_t(row[k]) - lo.byte_shift;
  const auto* words = reinterpret_cast<const uint32_t*>(row);
  uint32_t u = 0;
  for (int p = 0; p < lo.planes; ++p) u |= ((words[p * lo.words + k / 32] >> (k % 32)) & 1u) << p;
  if (lo.op.encoding == Encoding::signed_int && (u >> (lo.planes - 1)) & 1u) return int32_t(u) - (1 << lo.planes);
  return int32_t(u);
}

void store_code(const Layout& lo, uint8_t* row, int64_t k, int32_t code) {
  if (lo.format == Format::bytes) {
    row[k] = uint8_t(code + lo.byte_shift);
    return;
  }
  auto* words = reinterpret_cast<uint32_t*>(row);
  for (int p = 0; p < lo.planes; ++p) words[p * lo.words + k / 32] |= uint32_t((code >> p) & 1) << (k % 32);
}

namespace {

// Activation layout a kernel reads.
Layout input_layout(Kind k, const Operand& in, int64_t K) {
  return Layout::make(k == Kind::xnor || k == Kind::bitserial ? Format::planes : Format::bytes, in, K);
}

// Bit planes of the weights, lane-major per block: [blocks][planes][words][16]. One word of each plane is
// assembled in registers, 32 weights at a time (the LFC has 3 M weights; packing runs once per candidate).
void pack_weight_planes(PackedLayer& L, int nplanes) {
  const int64_t W = L.in_layout.words;
  L.wbits = AlignedBuffer<uint32_t>(size_t(L.blocks * nplanes * W * kLanes));
  const bool bipolar = L.weight.encoding == Encoding::bipolar;
  for (int64_t o = 0; o < L.N; ++o) {
    const int8_t* row = L.w.data() + o * L.K;
    uint32_t* dst = L.wbits.data() + (o / kLanes) * nplanes * W * kLanes + o % kLanes;
    for (int64_t w = 0; w * 32 < L.K; ++w) {
      uint32_t word[8] = {};
      const int n = int(std::min<int64_t>(32, L.K - w * 32));
      for (int b = 0; b < n; ++b) {
        const int8_t v = row[w * 32 + b];
        const uint32_t bits = bipolar ? uint32_t(v > 0) : uint32_t(uint8_t(v));  // two's complement
        for (int p = 0; p < nplanes; ++p) word[p] |= ((bits >> p) & 1u) << b;
      }
      for (int p = 0; p < nplanes; ++p) dst[(p * W + w) * kLanes] = word[p];
    }
  }
}

std::vector<int64_t> weight_row_sums(const PackedLayer& L) {
  std::vector<int64_t> s(size_t(L.N), 0);
  for (int64_t o = 0; o < L.N; ++o)
    for (int64_t k = 0; k < L.K; ++k) s[o] += L.w[o * L.K + k];
  return s;
}

// ---- scalar kernels ---------------------------------------------------------------------------------------

// The reference-like kernel: plain row-major weights times the byte-coded activations.
void kernel_scalar(const PackedLayer& L, const uint8_t* in, int nf, int64_t block, const int32_t*, int32_t* acc) {
  for (int f = 0; f < nf; ++f) {
    const uint8_t* a = in + f * L.in_layout.stride;
    for (int lane = 0; lane < kLanes; ++lane) {
      const int64_t o = block * kLanes + lane;
      uint32_t d = 0;
      if (o < L.N) {
        const int8_t* w = L.w.data() + o * L.K;
        for (int64_t k = 0; k < L.K; ++k) d += uint32_t(int32_t(w[k]) * int32_t(a[k]));
        d = d * uint32_t(L.a_scale) + uint32_t(L.chan_const.data()[o]);
      }
      acc[f * kLanes + lane] = int32_t(d);
    }
  }
}

void kernel_int8_scalar(const PackedLayer& L, const uint8_t* in, int nf, int64_t block, const int32_t*,
                        int32_t* acc) {
  const int64_t K4 = ceil_div(L.K, 4);
  const int8_t* wb = L.w8.data() + block * K4 * kLanes * 4;
  for (int f = 0; f < nf; ++f) {
    const uint8_t* a = in + f * L.in_layout.stride;
    uint32_t d[kLanes] = {};
    for (int64_t k4 = 0; k4 < K4; ++k4)
      for (int lane = 0; lane < kLanes; ++lane)
        for (int j = 0; j < 4; ++j) d[lane] += uint32_t(int32_t(wb[(k4 * kLanes + lane) * 4 + j]) * a[k4 * 4 + j]);
    for (int lane = 0; lane < kLanes; ++lane)
      acc[f * kLanes + lane] =
          int32_t(d[lane] * uint32_t(L.a_scale) + uint32_t(L.chan_const.data()[block * kLanes + lane]));
  }
}

void kernel_xnor_scalar(const PackedLayer& L, const uint8_t* in, int nf, int64_t block, const int32_t*,
                        int32_t* acc) {
  const int64_t W = L.in_layout.words;
  const uint32_t* wb = L.wbits.data() + block * W * kLanes;
  for (int f = 0; f < nf; ++f) {
    const auto* a = reinterpret_cast<const uint32_t*>(in + f * L.in_layout.stride);
    int32_t m[kLanes] = {};
    for (int64_t w = 0; w < L.in_layout.kwords; ++w)
      for (int lane = 0; lane < kLanes; ++lane) m[lane] += __builtin_popcount(wb[w * kLanes + lane] ^ a[w]);
    // Padding bits are 0 in both operands, so they never mismatch: dot = K - 2 * mismatches.
    for (int lane = 0; lane < kLanes; ++lane) acc[f * kLanes + lane] = int32_t(L.K) - 2 * m[lane];
  }
}

void kernel_bitserial_scalar(const PackedLayer& L, const uint8_t* in, int nf, int64_t block,
                             const int32_t* frame_term, int32_t* acc) {
  const int64_t W = L.in_layout.words;
  const int nw = L.wexp.n, na = L.aexp.n;
  const uint32_t* wb = L.wbits.data() + block * nw * W * kLanes;
  for (int f = 0; f < nf; ++f) {
    const auto* a = reinterpret_cast<const uint32_t*>(in + f * L.in_layout.stride);
    uint32_t d[kLanes] = {};
    for (int i = 0; i < nw; ++i)
      for (int j = 0; j < na; ++j) {
        const uint32_t c = uint32_t(L.wexp.coef[i] * L.aexp.coef[j]);
        for (int lane = 0; lane < kLanes; ++lane) {
          uint32_t p = 0;
          for (int64_t w = 0; w < L.in_layout.kwords; ++w)
            p += __builtin_popcount(wb[(i * W + w) * kLanes + lane] & a[j * W + w]);
          d[lane] += c * p;
        }
      }
    for (int lane = 0; lane < kLanes; ++lane)
      acc[f * kLanes + lane] =
          int32_t(d[lane] + uint32_t(L.chan_const.data()[block * kLanes + lane]) + uint32_t(frame_term[f]));
  }
}

__attribute__((target("popcnt"))) void prepare_bitserial_popcnt(const PackedLayer& L, const uint8_t* in, int nf,
                                                                  int32_t* frame_term) {
  const int64_t W = L.in_layout.words;
  for (int f = 0; f < nf; ++f) {
    const auto* a = reinterpret_cast<const uint64_t*>(in + f * L.in_layout.stride);
    uint32_t t = 0;
    for (int j = 0; j < L.aexp.n; ++j) {
      uint32_t p = 0;
      for (int64_t w = 0; w < W / 2; ++w) p += uint32_t(__builtin_popcountll(a[j * (W / 2) + w]));
      t += uint32_t(L.aexp.coef[j]) * p;
    }
    frame_term[f] = int32_t(t * uint32_t(L.wexp.offset));
  }
}

void prepare_bitserial_generic(const PackedLayer& L, const uint8_t* in, int nf, int32_t* frame_term) {
  const int64_t W = L.in_layout.words;
  for (int f = 0; f < nf; ++f) {
    const auto* a = reinterpret_cast<const uint32_t*>(in + f * L.in_layout.stride);
    uint32_t t = 0;
    for (int j = 0; j < L.aexp.n; ++j) {
      uint32_t p = 0;
      for (int64_t w = 0; w < W; ++w) p += uint32_t(__builtin_popcount(a[j * W + w]));
      t += uint32_t(L.aexp.coef[j]) * p;
    }
    frame_term[f] = int32_t(t * uint32_t(L.wexp.offset));
  }
}

// Number of thresholds <= acc in an ascending row: a linear count for few levels, otherwise a branch-free
// binary search (the comparison result selects the next base, no data-dependent branch).
inline int32_t count_reached(const int32_t* t, int n, int32_t acc) {
  if (n <= 15) {
    int32_t c = 0;
    for (int j = 0; j < n; ++j) c += acc >= t[j];
    return c;
  }
  const int32_t* base = t;
  int len = n;
  while (len > 1) {
    const int half = len / 2;
    base = base[half - 1] <= acc ? base + half : base;
    len -= half;
  }
  return int32_t(base - t) + (*base <= acc);
}

}  // namespace

void epilogue_scalar(const PackedLayer& L, int64_t block, const int32_t* acc, int nf, uint8_t* out) {
  const Layout& lo = L.out_layout;
  const int valid = int(std::min<int64_t>(kLanes, L.N - block * kLanes));
  for (int f = 0; f < nf; ++f) {
    uint8_t* row = out + f * lo.stride;
    int32_t codes[kLanes] = {};
    for (int lane = 0; lane < valid; ++lane)
      codes[lane] = L.min_code + count_reached(L.thr_rows.data() + (block * kLanes + lane) * L.nthr, L.nthr,
                                               acc[f * kLanes + lane]);
    if (lo.format == Format::bytes) {
      for (int lane = 0; lane < valid; ++lane) row[block * kLanes + lane] = uint8_t(codes[lane] + lo.byte_shift);
    } else {
      auto* half_words = reinterpret_cast<uint16_t*>(row);
      for (int p = 0; p < lo.planes; ++p) {
        uint16_t m = 0;
        for (int lane = 0; lane < valid; ++lane) m |= uint16_t(((codes[lane] >> p) & 1) << lane);
        half_words[p * lo.words * 2 + block] = m;
      }
    }
  }
}

void input_scalar(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out) {
  const Layout& lo = P.layout;
  for (int f = 0; f < nf; ++f) {
    const uint8_t* px = pixels + f * P.size;
    uint8_t* row = out + f * lo.stride;
    if (P.passthrough) {
      std::memcpy(row, px, size_t(P.size));
      continue;
    }
    if (lo.format == Format::planes) std::memset(row, 0, size_t(lo.stride));
    for (int64_t c = 0, k = 0; k < P.size; ++c) {  // per channel: no division per pixel
      const int16_t* lut = P.lut[size_t(c)].data();
      for (int64_t end = k + P.ppc; k < end; ++k) store_code(lo, row, k, lut[px[k]]);
    }
  }
}

PrepareFn scalar_prepare() {
  return __builtin_cpu_supports("popcnt") ? prepare_bitserial_popcnt : prepare_bitserial_generic;
}

KernelFn scalar_kernel(Kind k, const PackedLayer&) {
  switch (k) {
    case Kind::scalar: return kernel_scalar;
    case Kind::int8: return kernel_int8_scalar;
    case Kind::xnor: return kernel_xnor_scalar;
    case Kind::bitserial: return kernel_bitserial_scalar;
  }
  return nullptr;
}

void pack_layer(PackedLayer& L, Kind k, IsaLevel isa) {
  L.kind = k;
  L.isa = isa;
  L.in_layout = input_layout(k, L.in, L.K);
  L.wbits = {};
  L.w8 = {};
  L.w16 = {};
  L.chan_const = AlignedBuffer<int32_t>(size_t(L.blocks * kLanes));
  L.prepare = nullptr;
  L.wexp = BitExpansion::of(L.weight);
  L.aexp = BitExpansion::of(L.in);
  if (k == Kind::scalar || k == Kind::int8) {
    // Byte-coded activations: value = a_scale * u + a_off, so acc = a_scale * sum(w u) + a_off * sum(w).
    L.a_scale = L.in.encoding == Encoding::bipolar ? 2 : 1;
    L.a_off = L.in.encoding == Encoding::bipolar ? -1 : L.in.encoding == Encoding::signed_int ? -128 : 0;
    const auto sums = weight_row_sums(L);
    for (int64_t o = 0; o < L.N; ++o) L.chan_const.data()[o] = int32_t(uint32_t(L.a_off) * uint32_t(sums[o]));
  }
  if (k == Kind::int8) {
    const int64_t K4 = ceil_div(L.K, 4), K2 = 2 * K4;  // AVX2 steps over 4 inputs (two pairs) at a time
    if (isa == IsaLevel::avx2) {
      L.w16 = AlignedBuffer<int16_t>(size_t(L.blocks * K2 * kLanes * 2));
      for (int64_t o = 0; o < L.N; ++o)
        for (int64_t kk = 0; kk < L.K; ++kk)
          L.w16.data()[(((o / kLanes) * K2 + kk / 2) * kLanes + o % kLanes) * 2 + kk % 2] = L.w[o * L.K + kk];
    } else {
      L.w8 = AlignedBuffer<int8_t>(size_t(L.blocks * K4 * kLanes * 4));
      for (int64_t o = 0; o < L.N; ++o)
        for (int64_t kk = 0; kk < L.K; ++kk)
          L.w8.data()[(((o / kLanes) * K4 + kk / 4) * kLanes + o % kLanes) * 4 + kk % 4] = L.w[o * L.K + kk];
    }
  }
  if (k == Kind::xnor) pack_weight_planes(L, 1);
  if (k == Kind::bitserial) {
    pack_weight_planes(L, L.wexp.n);
    // Constant part of sum_k (ow + sum_i cw_i w_ik)(oa + sum_j ca_j a_jk) that does not depend on the frame.
    const int64_t W = L.in_layout.words;
    for (int64_t o = 0; o < L.N; ++o) {
      uint32_t c = uint32_t(L.K) * uint32_t(L.wexp.offset * L.aexp.offset);
      for (int i = 0; i < L.wexp.n; ++i) {
        uint32_t p = 0;
        for (int64_t w = 0; w < W; ++w)
          p += __builtin_popcount(L.wbits.data()[(((o / kLanes) * L.wexp.n + i) * W + w) * kLanes + o % kLanes]);
        c += uint32_t(L.aexp.offset) * uint32_t(L.wexp.coef[i]) * p;
      }
      L.chan_const.data()[o] = int32_t(c);
    }
    L.prepare = scalar_prepare();
  }
  L.kernel = isa == IsaLevel::avx512 ? avx512_kernel(k, L) : isa == IsaLevel::avx2 ? avx2_kernel(k, L) : scalar_kernel(k, L);
  if (k == Kind::scalar) L.kernel = kernel_scalar;
}

void set_epilogue(PackedLayer& L) {
  if (L.is_output) {
    L.epilogue = nullptr;
    return;
  }
  // The vector epilogue counts thresholds linearly; for many levels the scalar binary search is cheaper.
  L.epilogue = L.isa == IsaLevel::avx512 && L.nthr <= 15 ? epilogue_avx512 : epilogue_scalar;
}

}  // namespace nemokd::engine::detail
