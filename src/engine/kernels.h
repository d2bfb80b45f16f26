// Internal to the engine runtime: the packed form of a layer, the activation layouts between layers, and the
// kernel entry points (one per kernel x ISA). Not part of the public API (engine/runtime.h is); torch-free.
//
// One idea runs through every kernel: a vector lane is an *output channel*. A block of kLanes = 16 outputs is
// one 512-bit register of int32 accumulators; the activations of one frame are broadcast, a group of inputs at
// a time (a 32-bit word of packed bits, or 4 bytes). That way no kernel ever needs a horizontal sum, the
// threshold compare of a block gives a 16-bit mask that *is* the next layer's packed bits, and the weights of
// a block (a few KiB) stay in L1 while all frames of a tile stream past them.
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

// How one stage's values are laid out per frame in a tile buffer. The code-to-storage rule is the same for
// every format: `code` is the stage's output code (bipolar 0/1, unsigned value, signed value).
//   bytes:  one byte per value, u = code + byte_shift (signed: +128 so that it is a u8 for vpdpbusd);
//           row = round_up(size, 64) bytes, zero beyond `size`.
//   planes: `planes` bit planes of `words` uint32 each (bit k of plane p = bit p of the code's two's
//           complement); words is even so that 64-bit stores never cross into the next plane. Bits beyond
//           `size` are zero (XNOR and popcount terms rely on it).
enum class Format : uint8_t { bytes, planes };

struct Layout {
  Format format = Format::bytes;
  Operand op;            // encoding of the values stored
  int64_t size = 0;      // values per frame
  int planes = 0;        // planes format
  int64_t words = 0;     // uint32 per plane (the plane stride)
  int64_t kwords = 0;    // uint32 that hold values: ceil(size / 32); kernels stop there, the rest is zero
  int64_t stride = 0;    // bytes per frame
  int byte_shift = 0;    // bytes format: stored byte = code + byte_shift

  static Layout make(Format f, const Operand& op, int64_t size);
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
// Accumulators of `nf` frames for output block `block`: acc[f * kLanes + lane] (true int32 values).
using KernelFn = void (*)(const PackedLayer& L, const uint8_t* in, int nf, int64_t block, const int32_t* frame_term,
                          int32_t* acc);
// Per-frame terms a kernel needs once per layer input (bit-serial: offset_w * sum_j coef_j popcount(plane_j)).
using PrepareFn = void (*)(const PackedLayer& L, const uint8_t* in, int nf, int32_t* frame_term);
// Hidden layers: accumulators of one block -> codes -> the next layer's layout.
using EpilogueFn = void (*)(const PackedLayer& L, int64_t block, const int32_t* acc, int nf, uint8_t* out);

struct PackedLayer {
  int64_t K = 0, N = 0, blocks = 0;  // inputs, outputs, ceil(N / 16)
  Operand in, weight, out;
  bool is_output = false;
  Layout in_layout, out_layout;  // out_layout: hidden layers only

  // Plain weights [N][K] (the scalar kernel and the reference of everything else).
  std::vector<int8_t> w;
  // xnor: [blocks][words][16] bits (1 = +1). bitserial: [blocks][wplanes][words][16].
  AlignedBuffer<uint32_t> wbits;
  BitExpansion wexp, aexp;
  AlignedBuffer<int32_t> chan_const;   // bitserial: K*ow*oa + oa*sum_i cw_i*popcount(w_i); int8: a_off*sum(w)
  // int8: VNNI order [blocks][K4][16][4] s8; AVX2 order [blocks][K2][16][2] s16.
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

  Kind kind = Kind::scalar;
  IsaLevel isa = IsaLevel::scalar;
  KernelFn kernel = nullptr;
  PrepareFn prepare = nullptr;
  EpilogueFn epilogue = nullptr;
};

// Input stage in runtime form.
struct PackedInput {
  int64_t size = 0, ppc = 0;
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
using InputFn = void (*)(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out);

// Which kernels exist for a layer's operands, and packing for a (kernel, ISA) pair.
bool kernel_applies(Kind k, const Operand& in, const Operand& w);
void pack_layer(PackedLayer& L, Kind k, IsaLevel isa);  // fills the weights that kernel needs, sets fn pointers
void set_epilogue(PackedLayer& L);                       // after out_layout is known

// Entry points per ISA (kernels_scalar.cpp, kernels_avx2.cpp, kernels_avx512.cpp).
KernelFn scalar_kernel(Kind k, const PackedLayer& L);
KernelFn avx2_kernel(Kind k, const PackedLayer& L);
KernelFn avx512_kernel(Kind k, const PackedLayer& L);
PrepareFn scalar_prepare();
void epilogue_scalar(const PackedLayer& L, int64_t block, const int32_t* acc, int nf, uint8_t* out);
void epilogue_avx512(const PackedLayer& L, int64_t block, const int32_t* acc, int nf, uint8_t* out);
void input_scalar(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out);
void input_avx512(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out);
void input_avx2(const PackedInput& P, const uint8_t* pixels, int nf, uint8_t* out);

// Code <-> layout helpers (scalar; the trace path and the scalar input stage).
int32_t load_code(const Layout& lo, const uint8_t* row, int64_t k);
void store_code(const Layout& lo, uint8_t* row, int64_t k, int32_t code);  // planes: row must start zeroed

}  // namespace nemokd::engine::detail
