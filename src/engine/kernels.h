// Internal to the engine runtime: the packed form of a layer, the activation layouts between layers, and the
// kernel entry points (one per kernel x ISA). Not part of the public API (engine/runtime.h is); torch-free.
//
// One idea runs through every kernel: a vector lane is an *output channel*. A block of kLanes = 16 outputs is
// one 512-bit register of int32 accumulators; the activations of one item are broadcast, a group of inputs at
// a time (a 32-bit word of packed bits, or 4 bytes). That way no kernel ever needs a horizontal sum, the
// threshold compare of a block gives a 16-bit mask that *is* the next layer's packed bits, and the weights of
// a block (a few KiB) stay in L1 while all items stream past them.
//
// An *item* is what one accumulator row belongs to: a frame for a dense layer, an output pixel for a
// convolution. Its inputs are `nseg` contiguous segments of the input layout (dense: one segment, the whole
// vector; conv: one per kernel row, each `kernel` neighbouring pixels with all their channels), and consecutive
// items sit `item_stride` bytes apart (dense: one frame; conv: one pixel). A convolution thus runs the very
// kernels of a dense layer, only with other strides: output pixel (y, x) reads the window whose top-left
// corner is padded input pixel (y, x), so the output pixels of a row — and, counting `kernel - 1` discarded
// "virtual" positions per row, of the whole map — are items at a constant stride.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "engine/integer_model.h"

namespace nemokd::engine::detail {

// Four packed int8 values as one 32-bit word (for broadcasts), without an unaligned or type-punned read.
inline int32_t load32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

constexpr int kLanes = 16;  // outputs per block = int32 lanes of a 512-bit register
constexpr int kTile = 64;   // frames per tile: a tile's activations stay in L1/L2

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// 64-byte aligned, zero-initialised, fixed-size buffer (vector<T> cannot promise the alignment).
template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) : n_(n) {
    if (n == 0) return;
    const size_t bytes = size_t(round_up(int64_t(n * sizeof(T)), 64));
    p_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
    if (!p_) throw std::bad_alloc();
    std::fill_n(reinterpret_cast<unsigned char*>(p_.get()), bytes, 0);
  }
  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> p_;
  size_t n_ = 0;
};

// How one stage's values are laid out per frame in a buffer. Every stage is a map C x H x W (a vector of n
// values: n x 1 x 1) stored pixel by pixel, row by row, with a border of `border` pixels on every side (the
// padding of the convolution that reads it, holding `border_code`); each pixel keeps its C channels in a slot.
// The code-to-storage rule is the same for every format: `code` is the stage's output code (bipolar 0/1,
// unsigned value, signed value).
//   bytes:  one byte per value, u = code + byte_shift (signed: +128 so that it is a u8 for vpdpbusd); a slot
//           is round_up(C, 4) bytes; frame stride round_up(pixels * slot, 64) bytes.
//   planes: `planes` bit planes (bit p of the code's two's complement), each the whole padded map with
//           ceil(C / 32) uint32 words per pixel (channel c = bit c % 32 of word c / 32); the plane stride
//           `words` is even so that 64-bit stores never cross into the next plane.
// Slot bits and bytes beyond C are zero (XNOR and popcount terms rely on it; weights are zero there).
// A vector's layout is the one dense layers always had: byte k = value k, or bit k of each plane.
enum class Format : uint8_t { bytes, planes };

struct Layout {
  Format format = Format::bytes;
  Operand op;              // encoding of the values stored
  int64_t size = 0;        // values per frame (C * H * W)
  MapShape map;            // C x H x W (a vector: size x 1 x 1)
  int64_t border = 0;      // pixels of padding around the map
  int32_t border_code = 0; // code stored in the border pixels
  int64_t cslot = 0;       // per pixel: bytes (bytes) or uint32 words per plane (planes)
  int64_t pixel_bytes = 0; // bytes between horizontally neighbouring pixels (within a plane)
  int64_t row_bytes = 0;   // bytes between vertically neighbouring pixels
  int planes = 0;          // planes format
  int64_t words = 0;       // planes: uint32 per plane (the plane stride; even)
  int64_t kwords = 0;      // planes: uint32 of a plane that hold the padded map; kernels stop there
  int64_t stride = 0;      // bytes per frame
  int byte_shift = 0;      // bytes format: stored byte = code + byte_shift

  static Layout make(Format f, const Operand& op, int64_t size);  // a vector
  static Layout make_map(Format f, const Operand& op, const MapShape& map, int64_t border, int32_t border_code);
  int64_t padded_width() const { return map.width + 2 * border; }
  int64_t pixels() const { return (map.height + 2 * border) * padded_width(); }
  int64_t slot_elements() const { return format == Format::bytes ? cslot : cslot * 32; }
  // Element (byte, or bit within a plane) holding logical value k = (c * H + y) * W + x.
  int64_t element(int64_t k) const;
  // Element of channel c at padded pixel index `pixel`.
  int64_t element_at(int64_t pixel, int64_t c) const { return pixel * slot_elements() + c; }
};

// Value of an operand as an affine function of its bits: value = offset + sum_i coef[i] * bit_i.
// Bipolar: -1 + 2b; unsigned: sum 2^i b_i; signed (two's complement of `bits`): -2^(n-1) b_(n-1) + sum 2^i b_i.
struct BitExpansion {
  int n = 0;
  int32_t offset = 0;
  int32_t coef[8] = {};
  static BitExpansion of(const Operand& o);
};

enum class Kind : uint8_t { scalar, xnor, bitserial, int8 };
enum class IsaLevel : uint8_t { scalar, avx2, avx512 };

struct PackedLayer;
// Accumulators of `n` items for output block `block`: acc[i * kLanes + lane] (true int32 values). `in` is the
// first item's first segment; `term` holds one per-item term (bit-serial, see PrepareFn).
using KernelFn = void (*)(const PackedLayer& L, const uint8_t* in, int n, int64_t block, const int32_t* term,
                          int32_t* acc);
// Per-item terms a bit-serial kernel needs once per layer input: offset_w * sum_j coef_j popcount(plane j of the
// item's inputs).
using PrepareFn = void (*)(const PackedLayer& L, const uint8_t* in, int n, int32_t* term);
// Hidden layers: accumulators of `n` items of one block -> codes -> the next layer's layout, item i written at
// out + i * L.out_item_bytes.
using EpilogueFn = void (*)(const PackedLayer& L, int64_t block, const int32_t* acc, int n, uint8_t* out);

struct PackedLayer {
  LayerKind op = LayerKind::dense;
  int64_t K = 0, N = 0, blocks = 0;  // inputs (fan-in), outputs (channels), ceil(N / 16)
  Operand in, weight, out;
  bool is_output = false;
  MapShape in_map;                   // the map read (dense: its input, a vector or the flattened map)
  MapShape out_map;                  // what it produces
  int64_t ksize = 1, stride = 1, padding = 0;  // conv: kernel size, padding; max-pool: window, stride
  int32_t pad_value = 0;
  Layout in_layout, out_layout;      // out_layout: hidden layers only

  // Item geometry (see the top of this file).
  int64_t nseg = 1;         // segments per item
  int64_t seg_stride = 0;   // bytes between the segments of an item
  int64_t item_stride = 0;  // bytes between consecutive items
  int64_t seg_bytes = 0;    // bytes format: bytes per segment (a multiple of 4)
  int64_t seg_words = 0;    // planes format: uint32 per segment and plane
  int64_t wwords = 0;       // planes format: weight words per plane = nseg * seg_words
  int64_t out_item_bytes = 0, out_plane_bytes = 0;  // where the epilogue writes item i / plane p

  // Plain weights [N][K] (the model's order) and the same placed on the input layout's elements, per
  // segment: wp [N][Kp] with zeros where the layout has no value (the scalar kernel reads it; every packing
  // starts from it).
  std::vector<int8_t> w, wp;
  int64_t Kp = 0;
  // xnor: [blocks][wwords][16] bits (1 = +1). bitserial: [blocks][wplanes][wwords][16].
  AlignedBuffer<uint32_t> wbits;
  BitExpansion wexp, aexp;
  AlignedBuffer<int32_t> chan_const;   // bitserial: K*ow*oa + oa*sum_i cw_i*popcount(w_i); int8: a_off*sum(w)
  // int8: VNNI order [blocks][Kp/4][16][4] s8; AVX2 order [blocks][Kp/2][16][2] s16.
  AlignedBuffer<int8_t> w8;
  AlignedBuffer<int16_t> w16;
  int32_t a_scale = 1, a_off = 0;     // bytes layout: value = a_scale * u + a_off
  // Thresholds: rows [N][nthr] (scalar paths) and transposed [blocks][nthr][16] (vector paths; padded
  // lanes hold INT32_MAX so they never count).
  int nthr = 0;
  std::vector<int32_t> thr_rows;
  AlignedBuffer<int32_t> thr_t;
  int32_t min_code = 0;
  std::vector<double> logit_scale, logit_bias;
  // Conv whose pad value the input encoding cannot hold (zero padding of bipolar values): the border holds
  // min_code, and item i gets corr[item_class[i]][o] = sum over its border positions of w * (pad_value -
  // value(min_code)) added. Class 0 = no border position, no correction.
  std::vector<uint16_t> item_class;
  AlignedBuffer<int32_t> corr;  // [classes][blocks * 16]

  Kind kind = Kind::scalar;
  IsaLevel isa = IsaLevel::scalar;
  KernelFn kernel = nullptr;
  PrepareFn prepare = nullptr;
  EpilogueFn epilogue = nullptr;

  int64_t items() const { return op == LayerKind::conv ? (out_map.height - 1) * in_layout.padded_width() + out_map.width : 0; }
};

// Input stage in runtime form.
struct PackedInput {
  int64_t size = 0, ppc = 0;
  MapShape map;
  bool passthrough = true;
  Operand out;
  int nthr = 0;
  int32_t min_code = 0;
  std::vector<std::vector<int16_t>> lut;  // [channel][pixel] -> code
  // Vector path (nthr <= 15): per-pixel thresholds clamped to 255 [nthr][round_up(size,64)] and the pixels
  // whose threshold is 256 (never reached) as 64-bit masks [nthr][blocks64].
  AlignedBuffer<uint8_t> thr8;
  std::vector<uint64_t> never;
  Layout layout;
  IsaLevel isa = IsaLevel::scalar;
};
// A tile of frames into a vector layout.
using InputFn = void (*)(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out);

// Which kernels exist for a layer's operands, and packing for a (kernel, ISA) pair.
bool kernel_applies(Kind k, const Operand& in, const Operand& w);
// The layout a kernel reads for this layer (the previous stage writes it).
Layout input_layout(Kind k, const PackedLayer& L);
void pack_layer(PackedLayer& L, Kind k, IsaLevel isa);  // fills the weights that kernel needs, sets fn pointers
void set_epilogue(PackedLayer& L);                       // after out_layout is known

// Entry points per ISA (kernels_scalar.cpp, kernels_avx2.cpp, kernels_avx512.cpp).
KernelFn scalar_kernel(Kind k, const PackedLayer& L);
KernelFn avx2_kernel(Kind k, const PackedLayer& L);
KernelFn avx512_kernel(Kind k, const PackedLayer& L);
PrepareFn scalar_prepare();
void epilogue_scalar(const PackedLayer& L, int64_t block, const int32_t* acc, int n, uint8_t* out);
void epilogue_avx512(const PackedLayer& L, int64_t block, const int32_t* acc, int n, uint8_t* out);
void input_scalar(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out);
void input_avx512(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out);
void input_avx2(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out);
// One frame into a map layout (P.layout with its border; the border is left as it is).
void input_map(const PackedInput& P, const uint8_t* pixels, uint8_t* out);
// Max-pool of one frame: L.in_layout -> L.out_layout (interior pixels), on the stored codes.
void maxpool_frame(const PackedLayer& L, const uint8_t* in, uint8_t* out);
// Writes the border pixels of a map buffer (once per buffer: the stages only ever write interior pixels).
void fill_border(const Layout& lo, uint8_t* frame);

// Code <-> layout helpers (scalar; the trace path).
int32_t load_code(const Layout& lo, const uint8_t* row, int64_t k);
void store_code(const Layout& lo, uint8_t* row, int64_t k, int32_t code);  // planes: row must start zeroed

}  // namespace nemokd::engine::detail
