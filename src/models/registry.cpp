#include "models/registry.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::models {

const std::vector<ArchInfo>& architectures() {
  static const std::vector<ArchInfo> list = {
      {"mlp", "multi-layer perceptron on flattened pixels (hidden widths, BatchNorm, dropout, activation)"},
  };
  return list;
}

nlohmann::json to_json(const ModelConfig& c) {
  nlohmann::json j = {{"arch", c.arch}};
  if (c.arch == "mlp") j["mlp"] = to_json(c.mlp);
  return j;
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  JsonReader r(j, path);
  r.get("arch", c.arch);
  std::vector<std::string> names;
  for (const auto& a : architectures()) names.push_back(a.name);
  check_one_of(r.key_path("arch"), c.arch, names);
  if (c.arch == "mlp") {
    if (const auto* m = r.child("mlp")) c.mlp = mlp_config_from_json(*m, r.key_path("mlp"));
  }
  r.finish();
  return c;
}

Classifier build_model(const ModelConfig& config, InputShape input, int classes) {
  if (config.arch == "mlp") return std::make_shared<MlpImpl>(config.mlp, input, classes);
  throw ConfigError(fmt::format("model.arch: unknown architecture '{}'", config.arch));
}

}  // namespace nemokd::models
