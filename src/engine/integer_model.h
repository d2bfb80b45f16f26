// The integer model: what FINN's dataflow hardware computes, as plain data (no torch). Produced from a
// trained quantized MLP or CNN by engine/build.h (BatchNorm and activation quantizers folded into integer
// thresholds, weights as integer values), stored in a .nqe file (engine/model_file.h), executed by
// engine/runtime.h. Every number here is exact: given the same pixels, every kernel must produce the same
// output codes as the scalar reference, and the reference the same as the QAT model in eval mode.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nemokd::engine {

// How integer values of an operand (activation or weight) are encoded.
enum class Encoding : uint8_t {
  bipolar = 0,       // 1 bit: bit 1 -> +1, bit 0 -> -1
  unsigned_int = 1,  // codes 0 .. 2^bits - 1, value = code
  signed_int = 2,    // narrow signed codes -(2^(bits-1) - 1) .. 2^(bits-1) - 1, value = code
};
const char* to_string(Encoding e);

struct Operand {
  Encoding encoding = Encoding::unsigned_int;
  int bits = 8;  // 1..8 (bipolar: 1)

  int32_t min_value() const;  // bipolar -1, unsigned 0, signed -(2^(bits-1) - 1)
  int32_t max_value() const;  // bipolar +1, unsigned 2^bits - 1, signed 2^(bits-1) - 1
  int32_t min_code() const;   // bipolar 0 (code = bit), otherwise min_value()
  int32_t levels() const;     // number of distinct values
  bool operator==(const Operand& o) const { return encoding == o.encoding && bits == o.bits; }
  bool operator!=(const Operand& o) const { return !(*this == o); }
};
std::string describe(const Operand& o);  // e.g. "bipolar", "u2", "s4"

// A per-frame feature map: channels x height x width, flattened in that order (NCHW without the batch, as torch
// flattens). A vector of n values is the map n x 1 x 1.
struct MapShape {
  int64_t channels = 0, height = 1, width = 1;
  int64_t size() const { return channels * height * width; }
  bool operator==(const MapShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
  bool operator!=(const MapShape& o) const { return !(*this == o); }
};
std::string describe(const MapShape& s);  // "64x28x28"

// First stage: uint8 pixels (frame layout: channels x height x width, CHW flattened) to the first
// layer's input values. Either the pixel itself (`passthrough`, operand u8), or the input quantizer as
// thresholds on the pixel: code = output.min_code() + #{ j : pixel >= thresholds[c][j] } with
// output.levels() - 1 ascending thresholds per channel, each in 0..256 (256 = never reached).
struct InputStage {
  int64_t channels = 1;
  int64_t pixels_per_channel = 784;  // height * width
  int64_t height = 0, width = 0;     // the image; 0 x 0: a row of pixels_per_channel (MLPs; version-1 files)
  bool passthrough = true;
  Operand output{Encoding::unsigned_int, 8};
  std::vector<uint16_t> thresholds;  // [channels][output.levels() - 1]; empty when passthrough
  int64_t size() const { return channels * pixels_per_channel; }
  MapShape map() const { return height ? MapShape{channels, height, width} : MapShape{channels, 1, pixels_per_channel}; }
};

// The layer kinds. Dense and conv layers multiply integer values by integer weights into exact int32
// accumulators and threshold them; max-pool and flatten move codes without changing them.
enum class LayerKind : uint8_t {
  dense = 0,    // fully connected: acc[o] = sum_i weight[o][i] * value[i] over the previous stage flattened
  conv = 1,     // 2-D convolution, square kernel, stride 1
  maxpool = 2,  // max over square windows of codes (codes are ordered as their values)
  flatten = 3,  // map -> vector (C x H x W order); no computation
};
const char* to_string(LayerKind k);

// One layer. Dense: acc[o] = sum_i weight[o][i] * value[i] (int32, exact), `inputs` values read (the previous
// stage flattened). Conv over the map `in_map` (C x H x W): acc[o][y][x] = sum_{c,dy,dx} weight[o][c][dy][dx] *
// value[c][y + dy - padding][x + dx - padding], where positions outside the map have the value `pad_value`
// (0 for zero padding; FINN's padded input uses the value of a black pixel); `inputs` = C * kernel^2 (the
// fan-in), `outputs` = output channels, output map outputs x (H + 2 padding - kernel + 1) x (W + ...).
// Hidden dense and conv layers map each accumulator to the next code with thresholds per output channel:
// code = output.min_code() + #{ j : acc >= thresholds[o][j] } (ascending per row; output.levels() - 1 of
// them). The output layer (dense, last) has no thresholds: its logits are
// float(double(acc) * logit_scale[o] + logit_bias[o]) (multiply, then add, each rounded: no fused
// multiply-add), and the prediction is the first index of the largest logit.
// Max-pool: out[c][y][x] = max over the kernel x kernel window at (y * stride, x * stride) of in_map (floor:
// windows that do not fit are dropped). Flatten: the map as a vector. Both have inputs = outputs = 0, no
// weights, and input = output = weight operand = the previous stage's operand.
struct Layer {
  LayerKind kind = LayerKind::dense;
  int64_t inputs = 0, outputs = 0;
  MapShape in_map;                 // conv, maxpool, flatten: the map read (= the previous stage's output)
  int64_t kernel = 0, stride = 1;  // conv: kernel (stride 1); maxpool: window and stride
  int64_t padding = 0;             // conv
  int32_t pad_value = 0;           // conv: value of the positions outside the map
  Operand input;                   // encoding of the values read (= the previous stage's output operand)
  Operand weight;                  // encoding of the weight values
  std::vector<int8_t> weights;     // [outputs][inputs] values (conv: [outputs][C][kernel][kernel]); bipolar: -1/+1;
                                   // negative BN scales folded in
  bool is_output = false;
  Operand output;                  // hidden layers: the code produced
  std::vector<int32_t> thresholds; // hidden: [outputs][output.levels() - 1]
  std::vector<double> logit_scale, logit_bias;  // output layer: [outputs]

  bool has_weights() const { return kind == LayerKind::dense || kind == LayerKind::conv; }
  // Shape of what this layer produces, given the shape it reads (dense: outputs x 1 x 1).
  MapShape output_map(const MapShape& input) const;
  // Largest |acc| any input can produce (inputs * max|w| * max|value|, the pad value included): the
  // accumulator range.
  int64_t accumulator_bound() const;
};

struct IntegerModel {
  InputStage input;
  std::vector<Layer> layers;  // hidden layers, then exactly one output layer (dense)
  std::string source;         // free text: where it came from (run dir, arch, bits); stored in the file
  int64_t classes() const { return layers.empty() ? 0 : layers.back().outputs; }
};

// Checks every invariant above (sizes and map shapes, operand chain, value ranges, thresholds ascending and
// within the accumulator range +- 1, bound fits int32, a flatten between a map layer and a dense one); throws
// nemokd::DataError naming the layer and the defect.
void validate(const IntegerModel& m);

}  // namespace nemokd::engine
