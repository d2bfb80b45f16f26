// Quantized layers for quantization-aware training: weights are kept in float and quantized on the fly in
// every forward pass (straight-through gradients), activations are saturating functions rounded to uniform
// levels. Each layer can report the Levels it uses, so downstream tools (integer engine, cost model,
// export) read the same definition the training used.
#pragma once
#include <string>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any_module_holder.h>
#include <torch/nn/pimpl.h>

#include "quant/quantizer.h"

namespace nemokd::quant {

enum class WeightScheme { finn, scaled };
enum class ScaleGranularity { tensor, channel };

struct WeightQuantConfig {
  int bits = kFloatBits;
  WeightScheme scheme = WeightScheme::finn;
  ScaleGranularity granularity = ScaleGranularity::channel;  // scaled scheme only
  bool learned_scale = false;                                // scaled scheme: scale is a parameter
  void validate(const std::string& key) const;
};
nlohmann::json to_json(const WeightQuantConfig& c);
WeightQuantConfig weight_quant_from_json(const nlohmann::json& j, const std::string& path);
std::string to_string(WeightScheme s);
WeightScheme parse_weight_scheme(const std::string& s);  // "finn" | "scaled"

enum class ActKind { tanh, hardtanh, relu };
struct ActQuantConfig {
  int bits = kFloatBits;
  ActKind kind = ActKind::tanh;
  double relu_max = 1.0;       // ReLU: upper end of the unsigned range
  bool learned_range = false;  // ReLU: relu_max is a parameter (PACT-style)
  void validate(const std::string& key) const;
};
std::string to_string(ActKind k);
ActKind parse_act_kind(const std::string& s);  // "tanh" | "hardtanh" | "relu"

// What quantized linear and convolution layers share: a float latent weight quantized in every forward
// pass, optional bias, and (scaled scheme with learned scale) a scale parameter.
class QuantWeightLayer : public torch::nn::Module {
 public:
  torch::Tensor quantized_weight() const;  // what the forward pass multiplies with
  // Integer codes of the quantized weight (int64, the weight's shape) and the level description per output
  // channel (one entry for the finn scheme / a per-tensor scale).
  torch::Tensor weight_codes() const;
  std::vector<Levels> weight_levels() const;
  const WeightQuantConfig& config() const { return config_; }

  torch::Tensor weight, bias, scale;

 protected:
  QuantWeightLayer(std::vector<int64_t> weight_shape, int64_t fan_in, WeightQuantConfig config, bool with_bias);

 private:
  torch::Tensor current_scale() const;  // scaled scheme: broadcastable to the weight, per channel or tensor
  WeightQuantConfig config_;
};

// Linear layer with quantized weights (no bias by default: BatchNorm follows in the quantized MLPs).
class QuantLinearImpl : public QuantWeightLayer {
 public:
  QuantLinearImpl(int64_t in, int64_t out, WeightQuantConfig config, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(QuantLinear);

// 2-D convolution with quantized weights (for quantized CNNs).
class QuantConv2dImpl : public QuantWeightLayer {
 public:
  QuantConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, WeightQuantConfig config,
                  bool bias);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t stride_, padding_;
};
TORCH_MODULE(QuantConv2d);

// Saturating activation followed by rounding to uniform levels (32 bits: the plain activation).
class QuantActivationImpl : public torch::nn::Module {
 public:
  explicit QuantActivationImpl(ActQuantConfig config);
  torch::Tensor forward(const torch::Tensor& x);
  Levels levels() const;  // throws for 32 bits
  const ActQuantConfig& config() const { return config_; }
  torch::Tensor relu_max;  // learned range (ReLU, learned_range), else undefined

 private:
  ActQuantConfig config_;
};
TORCH_MODULE(QuantActivation);

}  // namespace nemokd::quant
