#include "models/resnet.h"

#include <fmt/format.h>
#include <torch/nn.h>

#include "core/error.h"
#include "core/json_config.h"
#include "models/layer_table.h"

namespace nemokd::models {

void ResNetConfig::validate(const std::string& key) const {
  if (depth < 8 || depth > 1202 || (depth - 2) % 6 != 0)
    throw ConfigError(fmt::format("{}.depth: {} is not 6n+2 with 1 <= n <= 200 (8, 14, 20, 32, 44, 56, 110, ...)",
                                  key, depth));
  detail::check_widths(key + ".widths", widths, 4, 4096, "stem, stage 1, stage 2, stage 3");
}

nlohmann::json to_json(const ResNetConfig& c) { return {{"depth", c.depth}, {"widths", c.widths}}; }

ResNetConfig resnet_config_from_json(const nlohmann::json& j, const std::string& path) {
  ResNetConfig c;
  JsonReader r(j, path);
  r.get("depth", c.depth).get("widths", c.widths);
  r.finish();
  c.validate(path);
  return c;
}

void FlexResNet8x4Config::validate(const std::string& key) const {
  detail::check_widths(key + ".widths", widths, 4, 4096, "stem, stage 1, stage 2, stage 3");
}

nlohmann::json to_json(const FlexResNet8x4Config& c) { return {{"widths", c.widths}}; }

FlexResNet8x4Config flexresnet8x4_config_from_json(const nlohmann::json& j, const std::string& path) {
  FlexResNet8x4Config c;
  JsonReader r(j, path);
  r.get("widths", c.widths);
  r.finish();
  c.validate(path);
  return c;
}

namespace {

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(detail::LayerTable& t, detail::Map& x, int64_t out, int64_t stride) {
    const detail::Map in = x;
    conv1_ = register_module("conv1", t.conv(x, out, 3, stride));
    bn1_ = register_module("bn1", t.bn(x));
    conv2_ = register_module("conv2", t.conv(x, out, 3, 1));
    bn2_ = register_module("bn2", t.bn(x));
    if (stride != 1 || in.c != out) {  // projection shortcut
      detail::Map s = in;
      torch::nn::Sequential shortcut;
      shortcut->push_back(t.conv(s, out, 1, stride));
      shortcut->push_back(t.bn(s));
      shortcut_ = register_module("shortcut", shortcut);
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    return torch::relu(y + (shortcut_ ? shortcut_->forward(x) : x));
  }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(BasicBlock);

}  // namespace

struct ResNetImpl::Parts {
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> stages;
  torch::nn::AdaptiveAvgPool2d pool{nullptr};
  torch::nn::Linear fc{nullptr};
};

ResNetImpl::ResNetImpl(const ResNetConfig& config, InputShape input, int classes)
    : config_(config), input_(input), classes_(classes) {
  config_.validate("resnet");
  build();
}

ResNetImpl::ResNetImpl(const FlexResNet8x4Config& config, InputShape input, int classes)
    : config_(config.resnet()), flex8x4_(true), input_(input), classes_(classes) {
  config.validate("flexresnet8x4");
  build();
}

void ResNetImpl::build() {
  if (classes_ < 2) throw ConfigError(fmt::format("classes: {} (need >= 2)", classes_));
  parts_ = std::make_shared<Parts>();
  auto& p = *parts_;
  detail::LayerTable t;
  detail::Map x{input_.channels, input_.height, input_.width};
  p.conv1 = register_module("conv1", t.conv(x, config_.widths[0], 3, 1));
  p.bn1 = register_module("bn1", t.bn(x));
  for (int stage = 0; stage < 3; ++stage) {
    torch::nn::Sequential seq;
    for (int b = 0; b < config_.blocks_per_stage(); ++b)
      seq->push_back(BasicBlock(t, x, config_.widths[stage + 1], stage > 0 && b == 0 ? 2 : 1));
    p.stages.push_back(register_module(fmt::format("layer{}", stage + 1), seq));
  }
  p.pool = register_module("avgpool", t.global_pool(x));
  int64_t features = x.c;
  p.fc = register_module("fc", t.linear(features, classes_, true));
  detail::init_conv_bn(*this);
  layers_ = t.rows(*this);
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  auto& p = *parts_;
  x = torch::relu(p.bn1->forward(p.conv1->forward(x)));
  for (auto& s : p.stages) x = s->forward(x);
  return p.fc->forward(p.pool->forward(x).flatten(1));
}

nlohmann::json ResNetImpl::describe() const {
  const std::string arch = flex8x4_ ? "flexresnet8x4" : "resnet";
  return {{"arch", arch},
          {arch, flex8x4_ ? to_json(FlexResNet8x4Config{config_.widths}) : to_json(config_)},
          {"input", input_.str()},
          {"classes", classes_},
          {"parameters", parameter_count(*this)},
          {"macs", macs()}};
}

}  // namespace nemokd::models
