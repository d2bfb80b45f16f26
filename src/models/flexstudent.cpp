#include "models/flexstudent.h"

#include <fmt/format.h>
#include <torch/nn.h>

#include "core/error.h"
#include "core/json_config.h"
#include "models/layer_table.h"

namespace nemokd::models {

void FlexStudentConfig::validate(const std::string& key) const {
  if (conv_layers() > kMaxConvLayers)
    throw ConfigError(fmt::format("{}.conv_channels: {} conv layers, at most {}", key, conv_layers(), kMaxConvLayers));
  detail::check_widths(key + ".conv_channels", conv_channels, -1, 4096, "");
  if (!pool.empty() && pool.size() != conv_channels.size())
    throw ConfigError(fmt::format("{}.pool: {} entries for {} conv layers (or \"auto\")", key, pool.size(),
                                  conv_channels.size()));
  if (static_cast<int>(fc_widths.size()) > kMaxHiddenFc)
    throw ConfigError(fmt::format("{}.fc_widths: {} hidden FC layers, at most {}", key, fc_widths.size(), kMaxHiddenFc));
  detail::check_widths(key + ".fc_widths", fc_widths, -1, 65536, "");
  check_range(key + ".dropout", dropout, 0.0, 0.95);
}

std::vector<bool> FlexStudentConfig::resolved_pool(InputShape input, const std::string& key) const {
  std::vector<bool> out;
  int h = input.height, w = input.width;
  for (int i = 0; i < conv_layers(); ++i) {  // conv3x3 pad 1 keeps the map size
    bool p;
    if (pool.empty()) {
      p = h >= 4 && w >= 4;
    } else {
      p = pool[i];
      if (p && (h < 2 || w < 2)) {
        int fits = 0;
        for (int a = input.height, b = input.width; a >= 2 && b >= 2; a /= 2, b /= 2) ++fits;
        throw ConfigError(fmt::format(
            "{}.pool[{}]: conv layer {} ends on a {}x{} map, too small for a 2x2 max-pool (input {} allows at most "
            "{} pooled conv layers)",
            key, i, i + 1, h, w, input.str(), fits));
      }
    }
    if (p) {
      h /= 2;
      w /= 2;
    }
    out.push_back(p);
  }
  return out;
}

nlohmann::json to_json(const FlexStudentConfig& c) {
  nlohmann::json pool = "auto";
  if (!c.pool.empty()) {
    pool = nlohmann::json::array();
    for (bool p : c.pool) pool.push_back(p);
  }
  return {{"conv_channels", c.conv_channels}, {"pool", pool}, {"fc_widths", c.fc_widths}, {"dropout", c.dropout}};
}

FlexStudentConfig flexstudent_config_from_json(const nlohmann::json& j, const std::string& path) {
  FlexStudentConfig c;
  JsonReader r(j, path);
  r.get("conv_channels", c.conv_channels).get("fc_widths", c.fc_widths).get("dropout", c.dropout);
  const nlohmann::json* pool = r.child("pool");
  r.finish();
  const std::string pk = r.key_path("pool");
  if (pool) {
    if (pool->is_string()) {
      if (pool->get<std::string>() != "auto")
        throw ConfigError(fmt::format("{}: '{}' is not \"auto\", true, false or a list of booleans", pk,
                                      pool->get<std::string>()));
    } else if (pool->is_boolean()) {
      c.pool.assign(c.conv_channels.size(), pool->get<bool>());
    } else if (pool->is_array()) {
      for (size_t i = 0; i < pool->size(); ++i) {
        if (!(*pool)[i].is_boolean())
          throw ConfigError(fmt::format("{}[{}]: expected true or false, got {}", pk, i, (*pool)[i].dump()));
        c.pool.push_back((*pool)[i].get<bool>());
      }
    } else {
      throw ConfigError(fmt::format("{}: expected \"auto\", true, false or a list of booleans, got {}", pk,
                                    pool->dump()));
    }
  }
  c.validate(path);
  return c;
}

struct FlexStudentImpl::Parts {
  std::vector<torch::nn::Conv2d> convs;
  std::vector<torch::nn::BatchNorm2d> conv_bns;
  std::vector<torch::nn::MaxPool2d> pools;  // null where a block has no pool
  std::vector<torch::nn::Linear> fcs;       // hidden FC layers
  std::vector<torch::nn::BatchNorm1d> fc_bns;
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear classifier{nullptr};
};

FlexStudentImpl::FlexStudentImpl(const FlexStudentConfig& config, InputShape input, int classes)
    : config_(config), input_(input), classes_(classes) {
  config_.validate("flexstudent");
  if (classes < 2) throw ConfigError(fmt::format("classes: {} (need >= 2)", classes));
  const auto pooled = config_.resolved_pool(input, "flexstudent");
  parts_ = std::make_shared<Parts>();
  auto& p = *parts_;
  detail::LayerTable t;
  detail::Map x{input.channels, input.height, input.width};
  for (int i = 0; i < config_.conv_layers(); ++i) {
    p.convs.push_back(register_module(fmt::format("conv{}", i + 1), t.conv(x, config_.conv_channels[i], 3, 1)));
    p.conv_bns.push_back(register_module(fmt::format("conv{}_bn", i + 1), t.bn(x)));
    p.pools.push_back(pooled[i] ? register_module(fmt::format("conv{}_pool", i + 1), t.max_pool(x))
                                : torch::nn::MaxPool2d(nullptr));
  }
  int64_t features = x.c * x.h * x.w;
  for (size_t j = 0; j < config_.fc_widths.size(); ++j) {
    p.fcs.push_back(register_module(fmt::format("fc{}", j + 1), t.linear(features, config_.fc_widths[j], false)));
    p.fc_bns.push_back(register_module(fmt::format("fc{}_bn", j + 1), t.bn1d(features)));
  }
  if (config_.dropout > 0) p.dropout = register_module("dropout", torch::nn::Dropout(config_.dropout));
  p.classifier = register_module("classifier", t.linear(features, classes, true));
  detail::init_conv_bn(*this);
  layers_ = t.rows(*this);
}

torch::Tensor FlexStudentImpl::forward(torch::Tensor x) {
  auto& p = *parts_;
  for (size_t i = 0; i < p.convs.size(); ++i) {
    x = torch::relu(p.conv_bns[i]->forward(p.convs[i]->forward(x)));
    if (p.pools[i]) x = p.pools[i]->forward(x);
  }
  x = x.flatten(1);
  for (size_t j = 0; j < p.fcs.size(); ++j) {
    x = torch::relu(p.fc_bns[j]->forward(p.fcs[j]->forward(x)));
    if (p.dropout) x = p.dropout->forward(x);
  }
  return p.classifier->forward(x);
}

nlohmann::json FlexStudentImpl::describe() const {
  return {{"arch", "flexstudent"},
          {"flexstudent", to_json(config_)},
          {"input", input_.str()},
          {"classes", classes_},
          {"parameters", parameter_count(*this)},
          {"macs", macs()}};
}

}  // namespace nemokd::models
