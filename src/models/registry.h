// Model descriptions: a named architecture plus its config struct, serialisable to JSON, from which the
// model is built for a given input shape and class count. Later areas add architectures here.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"
#include "models/mlp.h"

namespace nemokd::models {

struct ModelConfig {
  std::string arch = "mlp";  // see architectures()
  MlpConfig mlp;             // used when arch == "mlp"
};
nlohmann::json to_json(const ModelConfig& c);
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& path = "model");

struct ArchInfo {
  std::string name, description;
};
const std::vector<ArchInfo>& architectures();

// Builds the model (on CPU); throws ConfigError for an unknown arch or invalid config.
Classifier build_model(const ModelConfig& config, InputShape input, int classes);

}  // namespace nemokd::models
