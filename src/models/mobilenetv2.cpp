#include "models/mobilenetv2.h"

#include <array>

#include <fmt/format.h>
#include <torch/nn.h>

#include "core/error.h"
#include "core/json_config.h"
#include "models/layer_table.h"

namespace nemokd::models {
namespace {

struct StageSpec {
  int t, c, n, s;
};
constexpr std::array<StageSpec, 7> kStages{{
    {1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}}};
constexpr int kStem = 32, kHead = 1280;

int scaled(int c, double width) { return static_cast<int>(c * width); }

class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(detail::LayerTable& t, detail::Map& x, int64_t out, int64_t stride, int64_t expansion)
      : residual_(stride == 1 && x.c == out) {
    const int64_t hidden = x.c * expansion;
    expand_ = register_module("expand", t.conv(x, hidden, 1, 1));
    bn1_ = register_module("bn1", t.bn(x));
    dw_ = register_module("dw", t.conv(x, hidden, 3, stride, /*groups=*/hidden));
    bn2_ = register_module("bn2", t.bn(x));
    project_ = register_module("project", t.conv(x, out, 1, 1));
    bn3_ = register_module("bn3", t.bn(x));
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = torch::relu(bn1_->forward(expand_->forward(x)));
    y = torch::relu(bn2_->forward(dw_->forward(y)));
    y = bn3_->forward(project_->forward(y));
    return residual_ ? x + y : y;
  }

 private:
  bool residual_;
  torch::nn::Conv2d expand_{nullptr}, dw_{nullptr}, project_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
};
TORCH_MODULE(InvertedResidual);

}  // namespace

void MobileNetV2Config::validate(const std::string& key) const {
  // The narrowest layer is 16 * width channels (stage 0): it must keep at least one.
  check_range(key + ".width", width, 1.0 / 16, 4.0);
}

nlohmann::json to_json(const MobileNetV2Config& c) { return {{"width", c.width}}; }

MobileNetV2Config mobilenetv2_config_from_json(const nlohmann::json& j, const std::string& path) {
  MobileNetV2Config c;
  JsonReader r(j, path);
  r.get("width", c.width);
  r.finish();
  c.validate(path);
  return c;
}

struct MobileNetV2Impl::Parts {
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential blocks{nullptr};
  torch::nn::AdaptiveAvgPool2d pool{nullptr};
  torch::nn::Linear classifier{nullptr};
};

MobileNetV2Impl::MobileNetV2Impl(const MobileNetV2Config& config, InputShape input, int classes)
    : config_(config), input_(input), classes_(classes) {
  config_.validate("mobilenetv2");
  if (classes < 2) throw ConfigError(fmt::format("classes: {} (need >= 2)", classes));
  parts_ = std::make_shared<Parts>();
  auto& p = *parts_;
  const double w = config_.width;
  detail::LayerTable t;
  detail::Map x{input.channels, input.height, input.width};
  p.conv1 = register_module("conv1", t.conv(x, scaled(kStem, w), 3, 2));
  p.bn1 = register_module("bn1", t.bn(x));
  torch::nn::Sequential blocks;
  for (const auto& s : kStages)
    for (int i = 0; i < s.n; ++i) blocks->push_back(InvertedResidual(t, x, scaled(s.c, w), i == 0 ? s.s : 1, s.t));
  p.blocks = register_module("blocks", blocks);
  p.conv2 = register_module("conv2", t.conv(x, w > 1.0 ? scaled(kHead, w) : kHead, 1, 1));
  p.bn2 = register_module("bn2", t.bn(x));
  p.pool = register_module("avgpool", t.global_pool(x));
  int64_t features = x.c;
  p.classifier = register_module("classifier", t.linear(features, classes, true));
  detail::init_conv_bn(*this);
  {
    torch::NoGradGuard no_grad;
    torch::nn::init::normal_(p.classifier->weight, 0.0, 0.01);
    p.classifier->bias.zero_();
  }
  layers_ = t.rows(*this);
}

torch::Tensor MobileNetV2Impl::forward(torch::Tensor x) {
  auto& p = *parts_;
  x = torch::relu(p.bn1->forward(p.conv1->forward(x)));
  x = p.blocks->forward(x);
  x = torch::relu(p.bn2->forward(p.conv2->forward(x)));
  return p.classifier->forward(p.pool->forward(x).flatten(1));
}

nlohmann::json MobileNetV2Impl::describe() const {
  return {{"arch", "mobilenetv2"},
          {"mobilenetv2", to_json(config_)},
          {"input", input_.str()},
          {"classes", classes_},
          {"parameters", parameter_count(*this)},
          {"macs", macs()}};
}

}  // namespace nemokd::models
