// Which dataset a run uses and how it is sliced, as a JSON-serialisable struct (part of every run config).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "data/dataset.h"

namespace nemokd::data {

struct DataConfig {
  std::string name = "mnist";
  LoadOptions load;
};
nlohmann::json to_json(const DataConfig& c);
DataConfig data_config_from_json(const nlohmann::json& j, const std::string& path = "dataset");
void validate(const DataConfig& c, const std::string& path = "dataset");

}  // namespace nemokd::data
