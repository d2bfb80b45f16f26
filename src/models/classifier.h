// The interface every nemokd model implements: images [B, C, H, W] in, logits [B, classes] out. The Trainer,
// distillation and latency probes work on this, never on a concrete architecture.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

namespace nemokd::models {

struct InputShape {
  int channels = 1, height = 28, width = 28;
  int64_t numel() const { return int64_t(channels) * height * width; }
  std::string str() const;  // "1x28x28"
  static InputShape parse(const std::string& text);  // "3x32x32"; throws ConfigError
};

class ClassifierImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // The JSON description this model was built from (arch + its config), stored with every checkpoint.
  virtual nlohmann::json describe() const = 0;
};
using Classifier = std::shared_ptr<ClassifierImpl>;

int64_t parameter_count(const torch::nn::Module& module);

}  // namespace nemokd::models
