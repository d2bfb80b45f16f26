// Multi-layer perceptron over flattened images: [Linear -> BatchNorm -> activation -> dropout] per hidden
// layer, then a Linear classifier. The float baseline of Route Q (TFC/SFC/LFC topologies).
#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"
#include "quant/layers.h"

namespace nemokd::models {

// Quantization of an MLP (absent = float). Bits are per layer after resolution: weight_bits has one entry
// per linear layer (hidden layers, then the output layer), act_bits one per hidden activation.
struct MlpQuantConfig {
  std::vector<int> weight_bits;
  std::vector<int> act_bits;
  quant::WeightScheme scheme = quant::WeightScheme::finn;
  quant::ScaleGranularity granularity = quant::ScaleGranularity::channel;
  bool learned_scale = false;
  double relu_max = 1.0;
  bool learned_range = false;
  // Input: "float" (as normalised), "u8" (8-bit pixels, exact with unit normalisation), "signed" (pixels
  // mapped to [-1, 1], then quantized to input_bits; 1 = binarised) — FINN's reference input mapping.
  std::string input = "float";
  int input_bits = 8;
};
nlohmann::json to_json(const MlpQuantConfig& q);
MlpQuantConfig mlp_quant_config_from_json(const nlohmann::json& j, const std::string& path);
// Shared by every quantized family (MLP, CNNs): `weighted` layers with weights, `activations` quantized
// activations, all of kind `activation`. Throws ConfigError naming `key`.weight_bits etc.
void validate_quant(const MlpQuantConfig& q, size_t weighted, size_t activations, const std::string& activation,
                    const std::string& key);
// One value for every layer, or one per layer (lengths are checked by validate_quant).
void expand_bits(MlpQuantConfig& q, const std::vector<int>& weight_bits, const std::vector<int>& act_bits,
                 size_t weighted, size_t activations);
// The data normalisation an input mode expects ("" = any): u8 -> "unit", signed -> "signed".
std::string required_normalization(const MlpQuantConfig& q);

struct MlpConfig {
  std::vector<int> hidden{256, 256, 256};
  bool batchnorm = true;
  double dropout = 0.0;
  std::string activation = "relu";  // relu | tanh | hardtanh
  bool quantized = false;           // true: `quant` applies (QuantLinear/QuantActivation layers)
  MlpQuantConfig quant;

  void validate(const std::string& key_prefix = "mlp") const;  // throws ConfigError naming the key
  // Expands a single value to every layer; checks list lengths against the topology.
  void set_bits(const std::vector<int>& weight_bits, const std::vector<int>& act_bits);
  // The data normalisation the input mode expects ("" = any).
  std::string required_normalization() const;
};
nlohmann::json to_json(const MlpConfig& c);
MlpConfig mlp_config_from_json(const nlohmann::json& j, const std::string& path = "mlp");

// Named topologies of the FINN reference MLPs: tfc (64 x3), sfc (256 x3), lfc (1024 x3).
std::vector<int> mlp_preset_widths(const std::string& name);  // throws ConfigError for unknown names

// Input quantizer of a quantized MLP (identity for "float" and "u8").
class InputQuantImpl : public torch::nn::Module {
 public:
  InputQuantImpl(std::string mode, int bits) : mode_(std::move(mode)), bits_(bits) {}
  torch::Tensor forward(const torch::Tensor& x);
  const std::string& mode() const { return mode_; }
  int bits() const { return bits_; }
  quant::Levels levels() const;  // "signed": its levels; "u8": 256 unsigned levels of 1/255

 private:
  std::string mode_;
  int bits_;
};
TORCH_MODULE(InputQuant);

class MlpImpl : public ClassifierImpl {
 public:
  MlpImpl(const MlpConfig& config, InputShape input, int classes);
  // Training mode: fake quantization (float arithmetic, straight-through gradients). Eval mode of a
  // quantized MLP with quantized input: the integer view (models/integer_mlp.h), exact like the hardware.
  torch::Tensor forward(torch::Tensor x) override;
  // The fake-quant arithmetic in any mode (quantized MLPs only): equal to the integer view up to the
  // float rounding of sums that land exactly on a quantizer threshold.
  torch::Tensor forward_fake_quant(torch::Tensor x);
  nlohmann::json describe() const override;
  // Linear layers count in * out MACs (hidden layers and the classifier); BatchNorm/activations count 0.
  std::vector<LayerSummary> layers() const override { return layers_; }
  const MlpConfig& config() const { return config_; }
  Family family() const override { return Family::mlp; }
  InputShape input_shape() const override { return input_; }
  int classes() const override { return classes_; }

  // Structured access for the tools that read a trained quantized MLP (integer engine, cost model, export).
  // Layer i: linears[i] -> norms[i] (if batchnorm) -> acts[i] (hidden layers only).
  struct QuantLayers {
    InputQuant input{nullptr};
    std::vector<quant::QuantLinear> linears;
    std::vector<torch::nn::BatchNorm1d> norms;
    std::vector<quant::QuantActivation> acts;
  };
  const QuantLayers& quant_layers() const { return q_; }

 private:
  MlpConfig config_;
  InputShape input_;
  int classes_;
  torch::nn::Sequential body_{nullptr};  // float MLP
  QuantLayers q_;                        // quantized MLP
  bool integer_exact_ = false;           // eval mode runs the integer view (models/integer_mlp.h)
  std::vector<torch::nn::Dropout> dropouts_;
  std::vector<LayerSummary> layers_;
};

}  // namespace nemokd::models
