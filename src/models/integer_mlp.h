// The integer view of a quantized MLP — what FINN's streamlined hardware computes, and what the MLP itself
// computes in eval mode. Each layer multiplies integer input values by integer weight values into an exact
// accumulator (float32 while the bound is below 2^24, else float64: every partial sum is an integer the
// format represents exactly, whatever the summation order), then maps the accumulator per output channel
// through one fixed sequence of double operations — pre = acc * scale, pre = pre + shift (scale folds the
// input and weight scales and BatchNorm, shift folds BatchNorm and bias), then the activation quantizer — to
// the next layer's integer codes. Because that map is a monotone function of an integer, the integer engine
// can replace it by thresholds found with this very function, which is what makes the two bit-exact.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "quant/layers.h"
#include "quant/quantizer.h"

namespace nemokd::models {

class MlpImpl;
struct MlpConfig;

// A model family with quantizers of its own (an imported QONNX graph: any QONNX rounding mode, FINN's
// MultiThreshold, input mappings such as 2x - 1) supplies its code maps; the built-in ones below (round half up,
// the MLP's activation kinds, "u8"/"signed" inputs) are then unused. A map must be monotone in `value` for each
// channel — non-decreasing for the input map; for a hidden layer in the direction of the sign of that channel's
// IntegerLayer::scale (0: constant) — which is what lets the engine replace it by thresholds.
class CodeMap {
 public:
  virtual ~CodeMap() = default;
  // Input map: the first layer's code for a value of image channel `channel`. Hidden layer map: the next code of
  // output channel `channel` for the (exact, integer) accumulator `value`.
  virtual int32_t code(int64_t channel, double value) const = 0;
};

struct IntegerLayer {
  torch::Tensor weight_values;  // float [out, in]: integer weight values (bipolar: -1 / +1)
  torch::Tensor scale, shift;   // double [out] (CPU): pre-activation = acc * scale + shift
  quant::Levels input_levels;   // what the layer reads (codes; bipolar codes 0/1 are values -1/+1)
  quant::Levels weight_levels;  // bits and encoding of the weights (per-channel scales are folded into `scale`)
  bool is_output = false;
  quant::ActKind act_kind = quant::ActKind::relu;  // hidden layers: the activation quantizer
  quant::Levels output_levels;                     // hidden layers
  int64_t accumulator_bound = 0;                   // max |acc| = in * max|w| * max|value|
  std::shared_ptr<const CodeMap> code_map;         // hidden layers of a family with its own quantizers
};

struct IntegerMlp {
  std::string input_mode;     // "u8" (pixel codes 0..255), "signed" (the input quantizer's codes), or "map"
  quant::Levels input_levels;
  std::vector<IntegerLayer> layers;  // hidden layers, then the output layer
  std::shared_ptr<const CodeMap> input_map;  // input_mode "map": code of a value of an image channel
  int64_t input_channels = 1;                // image channels (features are channel-major)
};

// Empty when the MLP computes in integers in eval mode; otherwise why not (float input, a 32-bit layer,
// not quantized).
std::string integer_exact_blocker(const MlpConfig& config);
// The integer view of the current parameters; throws ConfigError with the blocker when there is none.
IntegerMlp integer_view(const MlpImpl& mlp);

// Value of each code (bipolar: 2c - 1, otherwise c), as float.
torch::Tensor code_values(const torch::Tensor& codes, const quant::Levels& levels);
// First layer codes (int32 [N, features]) from the normalised images exactly as the loader produced them.
torch::Tensor input_codes(const IntegerMlp& mlp, const torch::Tensor& x);
// The same for values given per image channel: row c of x [channels, K] holds values of channel c.
torch::Tensor channel_input_codes(const IntegerMlp& mlp, const torch::Tensor& x);
// Hidden layer: accumulators [N, out] (float or double, exact integers) -> codes (int32 [N, out], CPU).
torch::Tensor hidden_codes(const IntegerLayer& layer, const torch::Tensor& acc);
// Output layer: accumulators [N, out] -> logits float(acc * scale + shift) (float [N, out], CPU).
torch::Tensor output_logits(const IntegerLayer& layer, const torch::Tensor& acc);
// Accumulators of one layer for integer input codes (exact; int32 [N, out] result on CPU).
torch::Tensor accumulate(const IntegerLayer& layer, const torch::Tensor& input_codes);

// What a bit-exactness check compares: codes after every hidden layer, the output accumulators, logits.
struct IntegerTrace {
  std::vector<torch::Tensor> codes;  // int32 [N, out] per hidden layer
  torch::Tensor output_acc;          // int32 [N, classes]
  torch::Tensor logits;              // float [N, classes]
};
// The whole forward pass in integers; logits on the CPU.
torch::Tensor integer_forward(const IntegerMlp& mlp, const torch::Tensor& x, IntegerTrace* trace = nullptr);

}  // namespace nemokd::models
