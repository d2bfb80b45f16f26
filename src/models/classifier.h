// The interface every nemokd model implements: images [B, C, H, W] in, logits [B, classes] out. The Trainer,
// distillation and latency probes work on this, never on a concrete architecture.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "models/family.h"

namespace nemokd::models {

struct InputShape {
  int channels = 1, height = 28, width = 28;
  int64_t numel() const { return int64_t(channels) * height * width; }
  std::string str() const;  // "1x28x28"
  static InputShape parse(const std::string& text);  // "3x32x32"; throws ConfigError
};

// One row of a model's per-layer summary, counted for ONE input image of the shape the model was built for.
// MAC convention (multiply-accumulates): conv = Cout * (Cin / groups) * k * k * Hout * Wout; linear = in * out;
// nothing else counts (biases, BatchNorm, activations, pooling, residual adds, flatten are 0). This reproduces
// the params/MACs table of docs/MODELS.md (architectures of RepDistiller's models, https://github.com/HobbitLong/RepDistiller/tree/master/models).
struct LayerSummary {
  std::string name;             // registered module path (its state_dict prefix), e.g. "layer2.0.shortcut.0"
  std::string kind;             // conv | dwconv | linear | bn | act | maxpool | avgpool
  std::string detail;           // e.g. "3x3 s2 32->64", "2048->256"
  std::vector<int64_t> output;  // per-image output shape: {C, H, W} or {features}
  int64_t parameters = 0;       // this module's own parameters
  int64_t macs = 0;
};
nlohmann::json to_json(const LayerSummary& layer);

class ClassifierImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // The JSON description this model was built from (arch + its config), stored with every checkpoint.
  virtual nlohmann::json describe() const = 0;
  // The family it belongs to, the image shape it was built for and its class count (forward() maps
  // [N, input_shape()] to [N, classes()]).
  virtual Family family() const = 0;
  virtual InputShape input_shape() const = 0;
  virtual int classes() const = 0;
  // Per-layer summary in forward order (every module with parameters appears; rows' parameters sum to
  // parameter_count). Empty when a model cannot tell (e.g. one loaded from elsewhere).
  virtual std::vector<LayerSummary> layers() const { return {}; }
  // MACs for one image: the sum over layers(); -1 when layers() is empty.
  int64_t macs() const;
};
using Classifier = std::shared_ptr<ClassifierImpl>;

int64_t parameter_count(const torch::nn::Module& module);

}  // namespace nemokd::models
