// The integer model: what FINN's dataflow hardware computes, as plain data (no torch). Produced from a
// trained quantized MLP by engine/build.h (BatchNorm and activation quantizers folded into integer
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

// First stage: uint8 pixels (frame layout: channels x pixels_per_channel, CHW flattened) to the first
// layer's input values. Either the pixel itself (`passthrough`, operand u8), or the input quantizer as
// thresholds on the pixel: code = output.min_code() + #{ j : pixel >= thresholds[c][j] } with
// output.levels() - 1 ascending thresholds per channel, each in 0..256 (256 = never reached).
struct InputStage {
  int64_t channels = 1;
  int64_t pixels_per_channel = 784;
  bool passthrough = true;
  Operand output{Encoding::unsigned_int, 8};
  std::vector<uint16_t> thresholds;  // [channels][output.levels() - 1]; empty when passthrough
  int64_t size() const { return channels * pixels_per_channel; }
};

// One fully connected layer: acc[o] = sum_i weight[o][i] * value[i] (int32, exact). Hidden layers map the
// accumulator to the next code with thresholds: code = output.min_code() + #{ j : acc >= thresholds[o][j] }
// (ascending per row; output.levels() - 1 of them). The output layer has no thresholds: its logits are
// float(double(acc) * logit_scale[o] + logit_bias[o]) (multiply, then add, each rounded: no fused
// multiply-add), and the prediction is the first index of the largest logit.
struct Layer {
  int64_t inputs = 0, outputs = 0;
  Operand input;                   // encoding of the values read (= the previous stage's output operand)
  Operand weight;                  // encoding of the weight values
  std::vector<int8_t> weights;     // [outputs][inputs] values (bipolar: -1 / +1); negative BN scales folded in
  bool is_output = false;
  Operand output;                  // hidden layers: the code produced
  std::vector<int32_t> thresholds; // hidden: [outputs][output.levels() - 1]
  std::vector<double> logit_scale, logit_bias;  // output layer: [outputs]

  // Largest |acc| any input can produce (inputs * max|w| * max|value|): the accumulator range.
  int64_t accumulator_bound() const;
};

struct IntegerModel {
  InputStage input;
  std::vector<Layer> layers;  // hidden layers, then exactly one output layer
  std::string source;         // free text: where it came from (run dir, arch, bits); stored in the file
  int64_t classes() const { return layers.empty() ? 0 : layers.back().outputs; }
};

// Checks every invariant above (sizes, operand chain, value ranges, thresholds ascending and within the
// accumulator range +- 1, bound fits int32); throws nemokd::DataError naming the layer and the defect.
void validate(const IntegerModel& m);

}  // namespace nemokd::engine
