// Multi-layer perceptron over flattened images: [Linear -> BatchNorm -> activation -> dropout] per hidden
// layer, then a Linear classifier. The float baseline of Route Q (TFC/SFC/LFC topologies).
#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"

namespace nemokd::models {

struct MlpConfig {
  std::vector<int> hidden{256, 256, 256};
  bool batchnorm = true;
  double dropout = 0.0;
  std::string activation = "relu";  // relu | tanh | hardtanh

  void validate(const std::string& key_prefix = "mlp") const;  // throws ConfigError naming the key
};
nlohmann::json to_json(const MlpConfig& c);
MlpConfig mlp_config_from_json(const nlohmann::json& j, const std::string& path = "mlp");

// Named topologies of the FINN reference MLPs: tfc (64 x3), sfc (256 x3), lfc (1024 x3).
std::vector<int> mlp_preset_widths(const std::string& name);  // throws ConfigError for unknown names

class MlpImpl : public ClassifierImpl {
 public:
  MlpImpl(const MlpConfig& config, InputShape input, int classes);
  torch::Tensor forward(torch::Tensor x) override;
  nlohmann::json describe() const override;

 private:
  MlpConfig config_;
  InputShape input_;
  int classes_;
  torch::nn::Sequential body_{nullptr};
};

}  // namespace nemokd::models
