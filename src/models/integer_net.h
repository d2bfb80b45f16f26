// The integer view of a quantized network (MLP or CNN) — what FINN's streamlined hardware computes, and what the
// quantized models themselves compute in eval mode. Each dense or conv layer multiplies integer input values by
// integer weight values into an exact accumulator (float32 while the bound is below 2^24, else float64: every
// partial sum is an integer the format represents exactly, whatever the summation order), then maps the
// accumulator per output channel through one fixed sequence of double operations — pre = acc * scale,
// pre = pre + shift (scale folds the input and weight scales and BatchNorm, shift folds BatchNorm and bias),
// then the activation quantizer — to the next layer's integer codes. Max-pool takes the largest code of each
// window (codes are ordered as their values), flatten reorders nothing (C x H x W order). Because the
// per-channel map is a monotone function of an integer, the integer engine can replace it by thresholds found
// with this very function, which is what makes the two bit-exact.
#pragma once
#include <string>
#include <vector>

#include <torch/types.h>

#include "models/classifier.h"
#include "quant/layers.h"
#include "quant/quantizer.h"

namespace nemokd::models {

enum class IntegerOp { dense, conv, maxpool, flatten };

struct IntegerLayer {
  IntegerOp op = IntegerOp::dense;
  std::string name;             // the model's module name (for messages)
  torch::Tensor weight_values;  // dense: float [out, in]; conv: float [out, C, k, k]: integer values (bipolar -1/+1)
  torch::Tensor scale, shift;   // double [out] (CPU): pre-activation = acc * scale + shift
  quant::Levels input_levels;   // what the layer reads (codes; bipolar codes 0/1 are values -1/+1)
  quant::Levels weight_levels;  // bits and encoding of the weights (per-channel scales are folded into `scale`)
  bool is_output = false;
  quant::ActKind act_kind = quant::ActKind::relu;  // hidden layers: the activation quantizer
  quant::Levels output_levels;                     // hidden layers; max-pool and flatten: = input_levels
  int64_t accumulator_bound = 0;                   // max |acc| = fan-in * max|w| * max|value| (pad value included)
  // conv: square kernel, stride 1, `padding` positions on each side holding the integer value `pad_value` (0:
  // zero padding; a padded input holds its lowest value). max-pool: `kernel` x `kernel` windows, `stride`.
  int64_t kernel = 0, stride = 1, padding = 0, pad_value = 0;
  InputShape in_shape{0, 1, 1};  // conv, max-pool, flatten: the map read
};

struct IntegerNet {
  std::string input_mode;  // "u8" (pixel codes 0..255) or "signed" (the input quantizer's codes)
  quant::Levels input_levels;
  InputShape input;        // the image the model reads
  std::vector<IntegerLayer> layers;  // hidden layers, then the output layer (dense)
};

// Empty when `model` (a quantized MLP or CNN) computes in integers in eval mode; otherwise why not, naming the
// layer (float input, a 32-bit layer, not a quantized model).
std::string integer_exact_blocker(const ClassifierImpl& model);
// The integer view of the current parameters of a quantized MLP or CNN; ConfigError with the blocker if none.
IntegerNet integer_view(const ClassifierImpl& model);

// Value of each code (bipolar: 2c - 1, otherwise c), as float.
torch::Tensor code_values(const torch::Tensor& codes, const quant::Levels& levels);
// First layer codes (int32, the shape of x) from the normalised images exactly as the loader produced them.
torch::Tensor input_codes(const IntegerNet& net, const torch::Tensor& x);
// Hidden dense/conv layer: accumulators [N, out] or [N, out, H, W] (exact integers) -> codes (int32, same shape).
torch::Tensor hidden_codes(const IntegerLayer& layer, const torch::Tensor& acc);
// Output layer: accumulators [N, out] -> logits float(acc * scale + shift) (float [N, out], CPU).
torch::Tensor output_logits(const IntegerLayer& layer, const torch::Tensor& acc);
// Accumulators of a dense or conv layer for integer input codes (exact; int32 on CPU: [N, out] or [N, out, H, W]).
torch::Tensor accumulate(const IntegerLayer& layer, const torch::Tensor& input_codes);
// Max-pool of codes [N, C, H, W].
torch::Tensor max_pool_codes(const IntegerLayer& layer, const torch::Tensor& codes);

// What a bit-exactness check compares: codes after every hidden layer (conv, max-pool, dense; not flatten), the
// output accumulators, logits.
struct IntegerTrace {
  std::vector<torch::Tensor> codes;  // int32 [N, size] per hidden layer (maps flattened C x H x W)
  torch::Tensor output_acc;          // int32 [N, classes]
  torch::Tensor logits;              // float [N, classes]
};
// The whole forward pass in integers; logits on the CPU.
torch::Tensor integer_forward(const IntegerNet& net, const torch::Tensor& x, IntegerTrace* trace = nullptr);

namespace detail {
// Building blocks of the integer views (integer_mlp.cpp, qcnn.cpp).
// The first layer's input description from an input quantizer mode ("u8" or "signed") and its levels.
void set_input(IntegerNet& net, const std::string& mode, const quant::Levels& levels, InputShape input);
// A dense or conv layer from its quantized weights: weight values, weight levels, the accumulator bound, and the
// per-channel affine acc * (in_scale * w_scale[o]) * a[o] + b[o] with a, b from BatchNorm (eval; absent = identity)
// and the bias folded in. `bn_*` may be undefined tensors when there is no BatchNorm.
IntegerLayer weighted_layer(IntegerOp op, const std::string& name, const quant::QuantWeightLayer& weights,
                            const quant::Levels& in_levels, const torch::Tensor& bn_weight, const torch::Tensor& bn_bias,
                            const torch::Tensor& bn_mean, const torch::Tensor& bn_var, double bn_eps);
// Hidden layer: the activation quantizer after it.
void set_activation(IntegerLayer& layer, const quant::QuantActivationImpl& act);
}  // namespace detail

}  // namespace nemokd::models
