// CIFAR-style ResNet with basic blocks (He et al. 2016, the CIFAR variant used by RepDistiller; facts in
// docs/MODELS.md): depth 6n+2 = stem + 3 stages of n blocks (2 convs each) + the classifier.
// Stem conv3x3 s1 -> BN -> ReLU (no max-pool); stage 1 stride 1, stages 2 and 3 stride 2 in their first block;
// BasicBlock conv3x3 (stride s) -> BN -> ReLU -> conv3x3 -> BN, + shortcut, ReLU; the shortcut is identity
// unless the stride is not 1 or the channels change, then 1x1 conv (stride s, no bias) + BN. Head: global
// average pool (adaptive, so any input size works) -> Linear(width -> classes). Init: conv Kaiming-normal
// (fan_out, ReLU), BN 1/0. Presets (registry.h): resnet8/20/32 (widths 16,16,32,64), resnet8x4/32x4
// (32,64,128,256).
//
// FlexResNet8x4 is the same network with the depth fixed at 8 (one block per stage) and only the widths
// configurable: the student shape NEMOKD's K3 preset evolves.
#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"

namespace nemokd::models {

struct ResNetConfig {
  int depth = 20;                         // 6n + 2, n >= 1 (8, 14, 20, 32, 44, 56, 110, ...; at most 1202)
  std::vector<int> widths{16, 16, 32, 64};  // stem, stage 1, stage 2, stage 3; each 1..4096
  int blocks_per_stage() const { return (depth - 2) / 6; }
  void validate(const std::string& key = "resnet") const;  // throws ConfigError naming the key
};
nlohmann::json to_json(const ResNetConfig& c);
ResNetConfig resnet_config_from_json(const nlohmann::json& j, const std::string& path = "resnet");

struct FlexResNet8x4Config {
  std::vector<int> widths{32, 64, 128, 256};  // stem, stage 1, stage 2, stage 3 (the genome); each 1..4096
  void validate(const std::string& key = "flexresnet8x4") const;
  ResNetConfig resnet() const { return ResNetConfig{8, widths}; }
};
nlohmann::json to_json(const FlexResNet8x4Config& c);
FlexResNet8x4Config flexresnet8x4_config_from_json(const nlohmann::json& j, const std::string& path = "flexresnet8x4");

class ResNetImpl : public ClassifierImpl {
 public:
  ResNetImpl(const ResNetConfig& config, InputShape input, int classes);
  // Depth 8 with the given widths; describes itself as arch "flexresnet8x4".
  ResNetImpl(const FlexResNet8x4Config& config, InputShape input, int classes);
  torch::Tensor forward(torch::Tensor x) override;
  nlohmann::json describe() const override;
  Family family() const override { return flex8x4_ ? Family::flexresnet8x4 : Family::resnet; }
  InputShape input_shape() const override { return input_; }
  int classes() const override { return classes_; }
  std::vector<LayerSummary> layers() const override { return layers_; }
  const ResNetConfig& config() const { return config_; }

 private:
  void build();
  ResNetConfig config_;
  bool flex8x4_ = false;
  InputShape input_;
  int classes_;
  struct Parts;  // the registered layers (resnet.cpp), kept out of this header
  std::shared_ptr<Parts> parts_;
  std::vector<LayerSummary> layers_;
};

}  // namespace nemokd::models
