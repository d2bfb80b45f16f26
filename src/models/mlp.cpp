#include "models/mlp.h"

#include <fmt/format.h>
#include <torch/nn.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::models {

std::string InputShape::str() const { return fmt::format("{}x{}x{}", channels, height, width); }

InputShape InputShape::parse(const std::string& text) {
  InputShape s;
  char x1 = 0, x2 = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c%d%n", &s.channels, &x1, &s.height, &x2, &s.width, &consumed) != 5 ||
      x1 != 'x' || x2 != 'x' || consumed != static_cast<int>(text.size()) || s.channels <= 0 || s.height <= 0 ||
      s.width <= 0)
    throw ConfigError(fmt::format("input: '{}' is not a shape like 1x28x28", text));
  return s;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

void MlpConfig::validate(const std::string& key) const {
  if (hidden.empty()) throw ConfigError(key + ".hidden: at least one hidden layer is needed");
  for (int w : hidden)
    if (w <= 0 || w > 65536) throw ConfigError(fmt::format("{}.hidden: width {} is out of range [1, 65536]", key, w));
  check_range(key + ".dropout", dropout, 0.0, 0.95);
  check_one_of(key + ".activation", activation, {"relu", "tanh", "hardtanh"});
}

nlohmann::json to_json(const MlpConfig& c) {
  return {{"hidden", c.hidden}, {"batchnorm", c.batchnorm}, {"dropout", c.dropout}, {"activation", c.activation}};
}

MlpConfig mlp_config_from_json(const nlohmann::json& j, const std::string& path) {
  MlpConfig c;
  JsonReader r(j, path);
  r.get("hidden", c.hidden).get("batchnorm", c.batchnorm).get("dropout", c.dropout).get("activation", c.activation);
  r.finish();
  c.validate(path);
  return c;
}

std::vector<int> mlp_preset_widths(const std::string& name) {
  if (name == "tfc") return {64, 64, 64};
  if (name == "sfc") return {256, 256, 256};
  if (name == "lfc") return {1024, 1024, 1024};
  throw ConfigError(fmt::format("preset: '{}' is not one of tfc, sfc, lfc", name));
}

MlpImpl::MlpImpl(const MlpConfig& config, InputShape input, int classes)
    : config_(config), input_(input), classes_(classes) {
  config_.validate();
  if (classes < 2) throw ConfigError(fmt::format("classes: {} (need >= 2)", classes));
  torch::nn::Sequential seq;
  int64_t in = input.numel();
  for (int width : config_.hidden) {
    // Without BatchNorm the linear layer needs its own bias; with it the bias would be redundant.
    seq->push_back(torch::nn::Linear(torch::nn::LinearOptions(in, width).bias(!config_.batchnorm)));
    if (config_.batchnorm) seq->push_back(torch::nn::BatchNorm1d(width));
    if (config_.activation == "relu")
      seq->push_back(torch::nn::ReLU());
    else if (config_.activation == "tanh")
      seq->push_back(torch::nn::Tanh());
    else
      seq->push_back(torch::nn::Hardtanh());
    if (config_.dropout > 0) seq->push_back(torch::nn::Dropout(config_.dropout));
    in = width;
  }
  seq->push_back(torch::nn::Linear(in, classes));
  body_ = register_module("body", seq);
}

torch::Tensor MlpImpl::forward(torch::Tensor x) { return body_->forward(x.flatten(1)); }

nlohmann::json MlpImpl::describe() const {
  return {{"arch", "mlp"},
          {"mlp", to_json(config_)},
          {"input", input_.str()},
          {"classes", classes_},
          {"parameters", parameter_count(*this)}};
}

}  // namespace nemokd::models
