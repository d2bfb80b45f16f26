// Internal to src/models (include from .cpp files only: it pulls in torch/nn.h). Creates the standard layers
// of the CNNs while following the feature-map shape, and records each layer's output shape, parameters and
// MACs (convention in classifier.h); rows() then lists them under the names the model registered them with.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <torch/nn.h>

#include "core/error.h"
#include "models/classifier.h"

namespace nemokd::models::detail {

// Per-image feature-map shape.
struct Map {
  int64_t c = 0, h = 0, w = 0;
  std::vector<int64_t> dims() const { return {c, h, w}; }
  std::string str() const { return fmt::format("{}x{}x{}", c, h, w); }
};

inline int64_t own_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters(/*recurse=*/false)) n += p.numel();
  return n;
}

class LayerTable {
 public:
  // Square conv, padding k/2, no bias unless asked; x becomes the output map.
  torch::nn::Conv2d conv(Map& x, int64_t out, int64_t k, int64_t stride, int64_t groups = 1, bool bias = false) {
    auto m = torch::nn::Conv2d(
        torch::nn::Conv2dOptions(x.c, out, k).stride(stride).padding(k / 2).groups(groups).bias(bias));
    const Map y{out, (x.h + 2 * (k / 2) - k) / stride + 1, (x.w + 2 * (k / 2) - k) / stride + 1};
    const bool depthwise = groups > 1 && groups == x.c && groups == out;
    std::string detail = fmt::format("{}x{} s{} {}->{}", k, k, stride, x.c, out);
    if (groups > 1 && !depthwise) detail += fmt::format(" g{}", groups);
    record(*m, depthwise ? "dwconv" : "conv", detail, y.dims(), out * (x.c / groups) * k * k * y.h * y.w);
    x = y;
    return m;
  }
  torch::nn::BatchNorm2d bn(const Map& x) {
    auto m = torch::nn::BatchNorm2d(x.c);
    record(*m, "bn", "", x.dims(), 0);
    return m;
  }
  // 2x2 max-pool, stride 2 (floor).
  torch::nn::MaxPool2d max_pool(Map& x) {
    auto m = torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2));
    x = Map{x.c, x.h / 2, x.w / 2};
    record(*m, "maxpool", "2x2", x.dims(), 0);
    return m;
  }
  // Average over the whole map (any input size) -> C x 1 x 1.
  torch::nn::AdaptiveAvgPool2d global_pool(Map& x) {
    auto m = torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1));
    record(*m, "avgpool", fmt::format("{}x{} -> 1x1", x.h, x.w), {x.c, 1, 1}, 0);
    x = Map{x.c, 1, 1};
    return m;
  }
  torch::nn::Linear linear(int64_t& features, int64_t out, bool bias) {
    auto m = torch::nn::Linear(torch::nn::LinearOptions(features, out).bias(bias));
    record(*m, "linear", fmt::format("{}->{}", features, out), {out}, features * out);
    features = out;
    return m;
  }
  torch::nn::BatchNorm1d bn1d(int64_t features) {
    auto m = torch::nn::BatchNorm1d(features);
    record(*m, "bn", "", {features}, 0);
    return m;
  }

  // Any other module (its own parameters are read from it).
  void record(const torch::nn::Module& m, std::string kind, std::string detail, std::vector<int64_t> output,
              int64_t macs) {
    LayerSummary row;
    row.kind = std::move(kind);
    row.detail = std::move(detail);
    row.output = std::move(output);
    row.parameters = own_parameters(m);
    row.macs = macs;
    info_[&m] = std::move(row);
  }

  // The recorded layers in registration order (= forward order for nemokd's models), named by their path
  // under `root`. Call once every module is registered (works inside the root's constructor).
  std::vector<LayerSummary> rows(const torch::nn::Module& root) const {
    std::vector<LayerSummary> out;
    for (const auto& item : root.named_modules("", /*include_self=*/false)) {
      auto it = info_.find(item.value().get());
      if (it == info_.end()) continue;
      out.push_back(it->second);
      out.back().name = item.key();
    }
    if (out.size() != info_.size())
      throw Error(fmt::format("model summary: {} of {} recorded layers are not registered", info_.size() - out.size(),
                              info_.size()));
    return out;
  }

 private:
  std::unordered_map<const torch::nn::Module*, LayerSummary> info_;
};

// Kaiming-normal (fan_out, ReLU) for every conv weight; BatchNorm weight 1, bias 0 (the CIFAR ResNet /
// MobileNetV2 reference init).
inline void init_conv_bn(torch::nn::Module& root) {
  torch::NoGradGuard no_grad;
  for (const auto& m : root.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
}

// A list of channel counts: `count` entries (or 1..max_count when count < 0), each in [1, max_width].
inline void check_widths(const std::string& key, const std::vector<int>& widths, int count, int max_width,
                         const std::string& what) {
  if (count >= 0 && static_cast<int>(widths.size()) != count)
    throw ConfigError(fmt::format("{}: needs {} entries ({}), got {}", key, count, what, widths.size()));
  for (size_t i = 0; i < widths.size(); ++i)
    if (widths[i] < 1 || widths[i] > max_width)
      throw ConfigError(fmt::format("{}[{}]: {} is out of range [1, {}]", key, i, widths[i], max_width));
}

}  // namespace nemokd::models::detail
