// Portable parts of the kernels: layouts, packing, and the scalar implementation of every kernel (the
// fallback on any x86-64, and a second opinion on the vector ones in the tests). Integer sums that may pass
// 2^31 in an intermediate step (int8 with shifted activations) are done in uint32: the final accumulator is
// exact modulo 2^32 and validate() guarantees it fits int32, so wrapping is harmless where signed overflow
// would be undefined.
#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

#include "core/error.h"
#include "engine/kernels.h"

namespace nemokd::engine::detail {

Layout Layout::make(Format f, const Operand& op, int64_t size) { return make_map(f, op, MapShape{size, 1, 1}, 0, 0); }

Layout Layout::make_map(Format f, const Operand& op, const MapShape& map, int64_t border, int32_t border_code) {
  Layout lo;
  lo.format = f;
  lo.op = op;
  lo.size = map.size();
  lo.map = map;
  lo.border = border;
  lo.border_code = border_code;
  const int64_t pixels = lo.pixels();
  if (f == Format::bytes) {
    lo.cslot = round_up(map.channels, 4);
    lo.pixel_bytes = lo.cslot;
    lo.stride = round_up(pixels * lo.cslot, 64);
    lo.byte_shift = op.encoding == Encoding::signed_int ? 128 : 0;
  } else {
    lo.planes = op.encoding == Encoding::bipolar ? 1 : op.bits;
    lo.cslot = ceil_div(map.channels, 32);
    lo.pixel_bytes = 4 * lo.cslot;
    lo.kwords = pixels * lo.cslot;
    lo.words = round_up(lo.kwords, 2);
    lo.stride = int64_t(lo.planes) * lo.words * 4;
  }
  lo.row_bytes = lo.padded_width() * lo.pixel_bytes;
  return lo;
}

int64_t Layout::element(int64_t k) const {
  const int64_t hw = map.height * map.width;
  const int64_t c = k / hw, r = k % hw, y = r / map.width, x = r % map.width;
  return element_at((y + border) * padded_width() + x + border, c);
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
  const int64_t e = lo.element(k);
  if (lo.format == Format::bytes) return int32_t(row[e]) - lo.byte_shift;
  const auto* words = reinterpret_cast<const uint32_t*>(row);
  uint32_t u = 0;
  for (int p = 0; p < lo.planes; ++p) u |= ((words[p * lo.words + e / 32] >> (e % 32)) & 1u) << p;
  if (lo.op.encoding == Encoding::signed_int && (u >> (lo.planes - 1)) & 1u) return int32_t(u) - (1 << lo.planes);
  return int32_t(u);
}

// Stores `code` at element `e` of a row (an index into the padded layout, see Layout::element).
static inline void store_at(const Layout& lo, uint8_t* row, int64_t e, int32_t code) {
  if (lo.format == Format::bytes) {
    row[e] = uint8_t(code + lo.byte_shift);
    return;
  }
  auto* words = reinterpret_cast<uint32_t*>(row);
  for (int p = 0; p < lo.planes; ++p) words[p * lo.words + e / 32] |= uint32_t((code >> p) & 1) << (e % 32);
}

void store_code(const Layout& lo, uint8_t* row, int64_t k, int32_t code) { store_at(lo, row, lo.element(k), code); }

// Border code of a conv's input map: the pad value's code where the encoding holds it, else the lowest code
// (and a per-item correction, see PackedLayer::corr).
int32_t border_code_of(const Operand& op, int32_t pad_value, bool* exact) {
  *exact = pad_value >= op.min_value() && pad_value <= op.max_value() &&
           (op.encoding != Encoding::bipolar || pad_value != 0);
  if (!*exact) return op.min_code();
  return op.encoding == Encoding::bipolar ? (pad_value > 0 ? 1 : 0) : pad_value;
}

Layout input_layout(Kind k, const PackedLayer& L) {
  const Format f = k == Kind::xnor || k == Kind::bitserial ? Format::planes : Format::bytes;
  if (L.op != LayerKind::conv) return Layout::make_map(f, L.in, L.in_map, 0, 0);
  bool exact = true;
  const int32_t code = border_code_of(L.in, L.pad_value, &exact);
  return Layout::make_map(f, L.in, L.in_map, L.padding, code);
}

namespace {

int32_t value_of_code(const Operand& o, int32_t code) { return o.encoding == Encoding::bipolar ? (code ? 1 : -1) : code; }

// The weights on the input layout's elements: wp[o][s * seg + e] for segment s (dense: one; conv: one per kernel
// row) and element e inside it. Conv: kernel position (dy, dx), channel c -> segment dy, element
// dx * slot + c. Dense: logical input k -> in_layout.element(k) (a flattened map keeps its pixel-major order).
void place_weights(PackedLayer& L) {
  const Layout& lo = L.in_layout;
  const int64_t seg = lo.format == Format::bytes ? L.seg_bytes : L.seg_words * 32;
  L.Kp = L.nseg * seg;
  L.wp.assign(size_t(L.N * L.Kp), 0);
  for (int64_t o = 0; o < L.N; ++o) {
    const int8_t* row = L.w.data() + o * L.K;
    int8_t* dst = L.wp.data() + o * L.Kp;
    if (L.op == LayerKind::conv) {
      const int64_t C = L.in_map.channels, k = L.ksize, slot = lo.slot_elements();
      for (int64_t c = 0; c < C; ++c)
        for (int64_t dy = 0; dy < k; ++dy)
          for (int64_t dx = 0; dx < k; ++dx) dst[dy * seg + dx * slot + c] = row[(c * k + dy) * k + dx];
    } else {
      for (int64_t kk = 0; kk < L.K; ++kk) dst[lo.element(kk)] = row[kk];
    }
  }
}

// Bit planes of the weights, lane-major per block: [blocks][planes][wwords][16]. One word of each plane is
// assembled in registers, 32 weights at a time (the LFC has 3 M weights; packing runs once per candidate).
void pack_weight_planes(PackedLayer& L, int nplanes) {
  const int64_t W = L.wwords;
  L.wbits = AlignedBuffer<uint32_t>(size_t(L.blocks * nplanes * W * kLanes));
  const bool bipolar = L.weight.encoding == Encoding::bipolar;
  for (int64_t o = 0; o < L.N; ++o) {
    const int8_t* row = L.wp.data() + o * L.Kp;
    uint32_t* dst = L.wbits.data() + (o / kLanes) * nplanes * W * kLanes + o % kLanes;
    for (int64_t w = 0; w < W; ++w) {
      uint32_t word[8] = {};
      for (int b = 0; b < 32; ++b) {
        const int8_t v = row[w * 32 + b];
        if (v == 0) continue;  // no weight here (zero weights exist only for non-bipolar encodings: bits 0)
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

// Conv with a correction: class of every item and the correction per (class, output).
void prepare_correction(PackedLayer& L) {
  L.item_class.clear();
  L.corr = {};
  if (L.op != LayerKind::conv || L.padding == 0) return;
  bool exact = true;
  border_code_of(L.in, L.pad_value, &exact);
  if (exact) return;
  const int64_t factor = int64_t(L.pad_value) - value_of_code(L.in, L.in_layout.border_code);
  const int64_t k = L.ksize, p = L.padding, H = L.in_map.height, W = L.in_map.width, C = L.in_map.channels;
  const int64_t Wp = L.in_layout.padded_width(), n = L.items();
  std::vector<std::array<int64_t, 4>> keys = {{0, 0, 0, 0}};
  L.item_class.assign(size_t(n), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t y = j / Wp, x = j % Wp;
    if (x >= L.out_map.width) continue;  // a discarded virtual position
    const std::array<int64_t, 4> key{std::max<int64_t>(0, p - y), std::max<int64_t>(0, y + k - p - H),
                                     std::max<int64_t>(0, p - x), std::max<int64_t>(0, x + k - p - W)};
    auto it = std::find(keys.begin(), keys.end(), key);
    if (it == keys.end()) it = keys.insert(keys.end(), key);
    L.item_class[size_t(j)] = uint16_t(it - keys.begin());
  }
  L.corr = AlignedBuffer<int32_t>(size_t(keys.size() * L.blocks * kLanes));
  for (size_t cls = 1; cls < keys.size(); ++cls) {
    const auto& [top, bottom, left, right] = keys[cls];
    for (int64_t o = 0; o < L.N; ++o) {
      int64_t sum = 0;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t dy = 0; dy < k; ++dy)
          for (int64_t dx = 0; dx < k; ++dx) {
            const bool border = dy < top || dy >= k - bottom || dx < left || dx >= k - right;
            if (border) sum += L.w[size_t(o * L.K + (c * k + dy) * k + dx)];
          }
      L.corr.data()[cls * L.blocks * kLanes + o] = int32_t(sum * factor);
    }
  }
}

// ---- scalar kernels ---------------------------------------------------------------------------------------
// Integer sums that may pass 2^31 in an intermediate step are done in uint32 (see the top of this file).

// The reference-like kernel: the placed weights times the byte-coded activations, segment by segment.
void kernel_scalar(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t*, int32_t* acc) {
  for (int i = 0; i < n; ++i) {
    const uint8_t* item = in + i * L.item_stride;
    for (int lane = 0; lane < kLanes; ++lane) {
      const int64_t o = block * kLanes + lane;
      uint32_t d = 0;
      if (o < L.N) {
        for (int64_t s = 0; s < L.nseg; ++s) {
          const int8_t* w = L.wp.data() + o * L.Kp + s * L.seg_bytes;
          const uint8_t* a = item + s * L.seg_stride;
          for (int64_t b = 0; b < L.seg_bytes; ++b) d += uint32_t(int32_t(w[b]) * int32_t(a[b]));
        }
        d = d * uint32_t(L.a_scale) + uint32_t(L.chan_const.data()[o]);
      }
      acc[i * kLanes + lane] = int32_t(d);
    }
  }
}

void kernel_int8_scalar(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t*, int32_t* acc) {
  const int64_t S4 = L.seg_bytes / 4;
  const int8_t* wb = L.w8.data() + block * (L.Kp / 4) * kLanes * 4;
  for (int i = 0; i < n; ++i) {
    const uint8_t* item = in + i * L.item_stride;
    uint32_t d[kLanes] = {};
    for (int64_t s = 0; s < L.nseg; ++s) {
      const uint8_t* a = item + s * L.seg_stride;
      const int8_t* ws = wb + s * S4 * kLanes * 4;
      for (int64_t k4 = 0; k4 < S4; ++k4)
        for (int lane = 0; lane < kLanes; ++lane)
          for (int j = 0; j < 4; ++j) d[lane] += uint32_t(int32_t(ws[(k4 * kLanes + lane) * 4 + j]) * a[k4 * 4 + j]);
    }
    for (int lane = 0; lane < kLanes; ++lane)
      acc[i * kLanes + lane] =
          int32_t(d[lane] * uint32_t(L.a_scale) + uint32_t(L.chan_const.data()[block * kLanes + lane]));
  }
}

void kernel_xnor_scalar(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t*, int32_t* acc) {
  const uint32_t* wb = L.wbits.data() + block * L.wwords * kLanes;
  for (int i = 0; i < n; ++i) {
    int32_t m[kLanes] = {};
    for (int64_t s = 0; s < L.nseg; ++s) {
      const auto* a = reinterpret_cast<const uint32_t*>(in + i * L.item_stride + s * L.seg_stride);
      const uint32_t* ws = wb + s * L.seg_words * kLanes;
      for (int64_t w = 0; w < L.seg_words; ++w)
        for (int lane = 0; lane < kLanes; ++lane) m[lane] += __builtin_popcount(ws[w * kLanes + lane] ^ a[w]);
    }
    // Bits without a value are 0 in both operands, so they never mismatch: dot = K - 2 * mismatches.
    for (int lane = 0; lane < kLanes; ++lane) acc[i * kLanes + lane] = int32_t(L.K) - 2 * m[lane];
  }
}

void kernel_bitserial_scalar(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t* term,
                             int32_t* acc) {
  const int64_t W = L.wwords, P = L.in_layout.words;
  const int nw = L.wexp.n, na = L.aexp.n;
  const uint32_t* wb = L.wbits.data() + block * nw * W * kLanes;
  for (int i = 0; i < n; ++i) {
    uint32_t d[kLanes] = {};
    for (int wi = 0; wi < nw; ++wi)
      for (int j = 0; j < na; ++j) {
        const uint32_t c = uint32_t(L.wexp.coef[wi] * L.aexp.coef[j]);
        for (int lane = 0; lane < kLanes; ++lane) {
          uint32_t p = 0;
          for (int64_t s = 0; s < L.nseg; ++s) {
            const auto* a = reinterpret_cast<const uint32_t*>(in + i * L.item_stride + s * L.seg_stride) + j * P;
            const uint32_t* ws = wb + (wi * W + s * L.seg_words) * kLanes;
            for (int64_t w = 0; w < L.seg_words; ++w) p += __builtin_popcount(ws[w * kLanes + lane] & a[w]);
          }
          d[lane] += c * p;
        }
      }
    for (int lane = 0; lane < kLanes; ++lane)
      acc[i * kLanes + lane] =
          int32_t(d[lane] + uint32_t(L.chan_const.data()[block * kLanes + lane]) + uint32_t(term[i]));
  }
}

// term[i] = offset_w * sum_j coef_j * popcount(activation plane j over item i's inputs). Inlined into a caller
// built with or without the popcnt instruction.
__attribute__((always_inline)) inline void prepare_bitserial_impl(const PackedLayer& L, const uint8_t* in, int n, int32_t* term) {
  const int64_t P = L.in_layout.words;
  for (int i = 0; i < n; ++i) {
    uint32_t t = 0;
    if (L.wexp.offset != 0)
      for (int j = 0; j < L.aexp.n; ++j) {
        uint32_t p = 0;
        for (int64_t s = 0; s < L.nseg; ++s) {
          const auto* a = reinterpret_cast<const uint32_t*>(in + i * L.item_stride + s * L.seg_stride) + j * P;
          for (int64_t w = 0; w < L.seg_words; ++w) p += uint32_t(__builtin_popcount(a[w]));
        }
        t += uint32_t(L.aexp.coef[j]) * p;
      }
    term[i] = int32_t(t * uint32_t(L.wexp.offset));
  }
}

__attribute__((target("popcnt"))) void prepare_bitserial_popcnt(const PackedLayer& L, const uint8_t* in, int n,
                                                                  int32_t* term) {
  prepare_bitserial_impl(L, in, n, term);
}
void prepare_bitserial_generic(const PackedLayer& L, const uint8_t* in, int n, int32_t* term) {
  prepare_bitserial_impl(L, in, n, term);
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

void epilogue_scalar(const PackedLayer& L, int64_t block, const int32_t* acc, int n, uint8_t* out) {
  const Layout& lo = L.out_layout;
  const int valid = int(std::min<int64_t>(kLanes, L.N - block * kLanes));
  for (int i = 0; i < n; ++i) {
    uint8_t* row = out + i * L.out_item_bytes;
    int32_t codes[kLanes] = {};
    for (int lane = 0; lane < valid; ++lane)
      codes[lane] = L.min_code + count_reached(L.thr_rows.data() + (block * kLanes + lane) * L.nthr, L.nthr,
                                               acc[i * kLanes + lane]);
    if (lo.format == Format::bytes) {
      for (int lane = 0; lane < valid; ++lane) row[block * kLanes + lane] = uint8_t(codes[lane] + lo.byte_shift);
    } else {
      for (int p = 0; p < lo.planes; ++p) {
        uint16_t m = 0;
        for (int lane = 0; lane < valid; ++lane) m |= uint16_t(((codes[lane] >> p) & 1) << lane);
        std::memcpy(row + p * L.out_plane_bytes + block * 2, &m, 2);
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
    // A vector (an MLP's input) is stored in order: element k is k. Layout::element's four divisions per pixel
    // made 8-bit MLP inputs cost 1.5 us per frame, 6x the whole network (experiments/engine/README.md).
    const bool in_order = lo.border == 0 && lo.map.height == 1 && lo.map.width == 1;
    for (int64_t c = 0, k = 0; k < P.size; ++c) {  // per channel: no division per pixel
      const int16_t* lut = P.lut[size_t(c)].data();
      if (in_order)
        for (int64_t end = k + P.ppc; k < end; ++k) store_at(lo, row, k, lut[px[k]]);
      else
        for (int64_t end = k + P.ppc; k < end; ++k) store_code(lo, row, k, lut[px[k]]);
    }
  }
}

void input_map(const PackedInput& P, const uint8_t* pixels, uint8_t* out) {
  const Layout& lo = P.layout;
  const int64_t C = P.map.channels, H = P.map.height, W = P.map.width, Wp = lo.padded_width(), b = lo.border;
  if (lo.format == Format::bytes) {
    for (int64_t c = 0; c < C; ++c) {
      const uint8_t* px = pixels + c * H * W;
      for (int64_t y = 0; y < H; ++y) {
        uint8_t* dst = out + ((y + b) * Wp + b) * lo.cslot + c;
        for (int64_t x = 0; x < W; ++x)
          dst[x * lo.cslot] =
              P.passthrough ? px[y * W + x] : uint8_t(P.lut[size_t(c)][px[y * W + x]] + lo.byte_shift);
      }
    }
    return;
  }
  // Planes: each pixel's words are assembled from its channels and stored whole (no stale bits).
  auto* words = reinterpret_cast<uint32_t*>(out);
  uint32_t acc[8 * 8] = {};  // up to 8 planes x 8 words per pixel at a time
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const int64_t pixel = (y + b) * Wp + x + b;
      for (int64_t w0 = 0; w0 < lo.cslot; w0 += 8) {
        const int64_t nw = std::min<int64_t>(8, lo.cslot - w0);
        std::fill_n(acc, 8 * 8, 0u);
        for (int64_t c = w0 * 32; c < std::min(C, (w0 + nw) * 32); ++c) {
          const int32_t code = P.passthrough ? pixels[(c * H + y) * W + x] : P.lut[size_t(c)][pixels[(c * H + y) * W + x]];
          for (int p = 0; p < lo.planes; ++p) acc[p * 8 + (c / 32 - w0)] |= uint32_t((code >> p) & 1) << (c % 32);
        }
        for (int p = 0; p < lo.planes; ++p)
          for (int64_t w = 0; w < nw; ++w) words[p * lo.words + pixel * lo.cslot + w0 + w] = acc[p * 8 + w];
      }
    }
}

void fill_border(const Layout& lo, uint8_t* frame) {
  if (lo.border == 0) return;
  const int64_t Hp = lo.map.height + 2 * lo.border, Wp = lo.padded_width(), C = lo.map.channels;
  auto* words = reinterpret_cast<uint32_t*>(frame);
  for (int64_t y = 0; y < Hp; ++y)
    for (int64_t x = 0; x < Wp; ++x) {
      const bool border = y < lo.border || y >= Hp - lo.border || x < lo.border || x >= Wp - lo.border;
      if (!border) continue;
      const int64_t pixel = y * Wp + x;
      for (int64_t c = 0; c < C; ++c) {
        const int64_t e = lo.element_at(pixel, c);
        if (lo.format == Format::bytes) {
          frame[e] = uint8_t(lo.border_code + lo.byte_shift);
        } else {
          for (int p = 0; p < lo.planes; ++p) {
            uint32_t& word = words[p * lo.words + e / 32];
            word = (word & ~(1u << (e % 32))) | (uint32_t((lo.border_code >> p) & 1) << (e % 32));
          }
        }
      }
    }
}

void maxpool_frame(const PackedLayer& L, const uint8_t* in, uint8_t* out) {
  const Layout &li = L.in_layout, &lo = L.out_layout;
  const int64_t k = L.ksize, st = L.stride, Ho = L.out_map.height, Wo = L.out_map.width;
  const int64_t Wi = li.padded_width(), Wop = lo.padded_width();
  if (li.format == Format::bytes) {
    // Stored bytes are ordered as the codes (signed codes are shifted by 128), so the max of the bytes is the
    // byte of the max code; slot bytes without a value stay 0.
    for (int64_t y = 0; y < Ho; ++y)
      for (int64_t x = 0; x < Wo; ++x) {
        uint8_t* dst = out + ((y + lo.border) * Wop + x + lo.border) * lo.cslot;
        const uint8_t* first = in + ((y * st) * Wi + x * st) * li.cslot;
        std::memcpy(dst, first, size_t(li.cslot));
        for (int64_t dy = 0; dy < k; ++dy)
          for (int64_t dx = 0; dx < k; ++dx) {
            const uint8_t* src = in + ((y * st + dy) * Wi + x * st + dx) * li.cslot;
            for (int64_t b = 0; b < li.cslot; ++b) dst[b] = std::max(dst[b], src[b]);
          }
      }
    return;
  }
  // Planes: a bit-sliced max, 32 channels at a time. From the top plane down, `gt`/`lt` mark the channels whose
  // candidate is already known to be larger/smaller than the current max (signed codes: the top bit is the
  // sign, so it compares the other way round).
  const auto* iw = reinterpret_cast<const uint32_t*>(in);
  auto* ow = reinterpret_cast<uint32_t*>(out);
  const int np = li.planes;
  const bool is_signed = li.op.encoding == Encoding::signed_int;
  uint32_t m[8];
  for (int64_t y = 0; y < Ho; ++y)
    for (int64_t x = 0; x < Wo; ++x)
      for (int64_t w = 0; w < li.cslot; ++w) {
        for (int p = 0; p < np; ++p) m[p] = iw[p * li.words + ((y * st) * Wi + x * st) * li.cslot + w];
        for (int64_t dy = 0; dy < k; ++dy)
          for (int64_t dx = 0; dx < k; ++dx) {
            const int64_t at = ((y * st + dy) * Wi + x * st + dx) * li.cslot + w;
            if (np == 1) {
              m[0] |= iw[at];
              continue;
            }
            uint32_t gt = 0, lt = 0;
            for (int p = np - 1; p >= 0; --p) {
              uint32_t a = iw[p * li.words + at], b = m[p];
              if (is_signed && p == np - 1) std::swap(a, b);
              const uint32_t open = ~(gt | lt);
              gt |= open & a & ~b;
              lt |= open & ~a & b;
            }
            for (int p = 0; p < np; ++p) m[p] = (m[p] & ~gt) | (iw[p * li.words + at] & gt);
          }
        const int64_t dst = ((y + lo.border) * Wop + x + lo.border) * lo.cslot + w;
        for (int p = 0; p < np; ++p) ow[p * lo.words + dst] = m[p];
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
  L.in_layout = input_layout(k, L);
  const Layout& lo = L.in_layout;
  if (L.op == LayerKind::conv) {
    L.nseg = L.ksize;
    L.seg_stride = lo.row_bytes;
    L.item_stride = lo.pixel_bytes;
    L.seg_bytes = L.ksize * lo.cslot;
    L.seg_words = L.ksize * lo.cslot;
  } else {
    L.nseg = 1;
    L.seg_stride = 0;
    L.item_stride = lo.stride;
    L.seg_bytes = lo.pixels() * lo.cslot;
    L.seg_words = lo.kwords;
  }
  if (lo.format == Format::bytes) L.seg_words = 0;
  else L.seg_bytes = 0;
  L.wwords = L.nseg * L.seg_words;
  place_weights(L);
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
    const int64_t K4 = L.Kp / 4, K2 = 2 * K4;  // AVX2 steps over 4 inputs (two pairs) at a time
    if (isa == IsaLevel::avx2) {
      L.w16 = AlignedBuffer<int16_t>(size_t(L.blocks * K2 * kLanes * 2));
      for (int64_t o = 0; o < L.N; ++o)
        for (int64_t kk = 0; kk < L.Kp; ++kk)
          L.w16.data()[(((o / kLanes) * K2 + kk / 2) * kLanes + o % kLanes) * 2 + kk % 2] = L.wp[o * L.Kp + kk];
    } else {
      L.w8 = AlignedBuffer<int8_t>(size_t(L.blocks * K4 * kLanes * 4));
      for (int64_t o = 0; o < L.N; ++o)
        for (int64_t kk = 0; kk < L.Kp; ++kk)
          L.w8.data()[(((o / kLanes) * K4 + kk / 4) * kLanes + o % kLanes) * 4 + kk % 4] = L.wp[o * L.Kp + kk];
    }
  }
  if (k == Kind::xnor) pack_weight_planes(L, 1);
  if (k == Kind::bitserial) {
    pack_weight_planes(L, L.wexp.n);
    // Constant part of sum_k (ow + sum_i cw_i w_ik)(oa + sum_j ca_j a_jk) that does not depend on the item.
    const int64_t W = L.wwords;
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
  prepare_correction(L);
  L.kernel = isa == IsaLevel::avx512 ? avx512_kernel(k, L) : isa == IsaLevel::avx2 ? avx2_kernel(k, L) : scalar_kernel(k, L);
  if (k == Kind::scalar) L.kernel = kernel_scalar;
}

void set_epilogue(PackedLayer& L) {
  if (L.is_output) {
    L.epilogue = nullptr;
    return;
  }
  L.out_item_bytes = L.op == LayerKind::conv ? L.out_layout.pixel_bytes : L.out_layout.stride;
  L.out_plane_bytes = L.out_layout.words * 4;
  // The AVX-512 epilogue compares level by level for few levels and binary-searches all lanes for many.
  L.epilogue = L.isa == IsaLevel::avx512 ? epilogue_avx512 : epilogue_scalar;
}

}  // namespace nemokd::engine::detail
