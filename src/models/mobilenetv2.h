// MobileNetV2 for small images (Sandler et al. 2018, the CIFAR variant used by RepDistiller; facts in
// docs/MODELS.md). Stem conv3x3 stride 2 -> BN -> ReLU; seven stages of inverted residual blocks
// (t, c, n, s) = (1,16,1,1) (6,24,2,1) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1), channels
// int(c * width) with no rounding to multiples of 8; head conv1x1 -> 1280 (int(1280 * width) when width > 1)
// -> BN -> ReLU; global average pool -> Linear(-> classes). Block: 1x1 expand (kept even when t = 1) -> BN ->
// ReLU -> 3x3 depthwise (stride s) -> BN -> ReLU -> 1x1 projection -> BN, + input when stride 1 and the
// channels match. Plain ReLU (not ReLU6). Width 0.5 is the reference "MobileNetV2" (812,836 parameters and
// 6.52M MACs with a CIFAR-100 head). Init: conv Kaiming-normal (fan_out, ReLU), BN 1/0, Linear N(0, 0.01), 0.
#pragma once
#include <nlohmann/json.hpp>

#include "models/classifier.h"

namespace nemokd::models {

struct MobileNetV2Config {
  double width = 0.5;  // channel multiplier, [1/16, 4]
  void validate(const std::string& key = "mobilenetv2") const;
};
nlohmann::json to_json(const MobileNetV2Config& c);
MobileNetV2Config mobilenetv2_config_from_json(const nlohmann::json& j, const std::string& path = "mobilenetv2");

class MobileNetV2Impl : public ClassifierImpl {
 public:
  MobileNetV2Impl(const MobileNetV2Config& config, InputShape input, int classes);
  torch::Tensor forward(torch::Tensor x) override;
  nlohmann::json describe() const override;
  Family family() const override { return Family::mobilenetv2; }
  InputShape input_shape() const override { return input_; }
  int classes() const override { return classes_; }
  std::vector<LayerSummary> layers() const override { return layers_; }
  const MobileNetV2Config& config() const { return config_; }

 private:
  MobileNetV2Config config_;
  InputShape input_;
  int classes_;
  struct Parts;  // the registered layers (mobilenetv2.cpp)
  std::shared_ptr<Parts> parts_;
  std::vector<LayerSummary> layers_;
};

}  // namespace nemokd::models
