#include "data/config.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::data {

nlohmann::json to_json(const DataConfig& c) {
  return {{"name", c.name},
          {"from", c.load.from_dir},
          {"train_limit", c.load.train_limit},
          {"test_limit", c.load.test_limit},
          {"val_size", c.load.val_size},
          {"val_limit", c.load.val_limit},
          {"fetch_missing", c.load.fetch_missing}};
}

void validate(const DataConfig& c, const std::string& path) {
  dataset_spec(c.name);  // throws for unknown names
  if (c.load.train_limit < 0) throw ConfigError(path + ".train_limit: must be >= 0 (0 = all)");
  if (c.load.test_limit < 0) throw ConfigError(path + ".test_limit: must be >= 0 (0 = all)");
  if (c.load.val_limit < 0) throw ConfigError(path + ".val_limit: must be >= 0 (0 = all)");
  if (c.load.val_size < -1) throw ConfigError(path + ".val_size: must be >= 0, or -1 for the dataset's default");
}

DataConfig data_config_from_json(const nlohmann::json& j, const std::string& path) {
  DataConfig c;
  JsonReader r(j, path);
  r.get("name", c.name).get("from", c.load.from_dir).get("train_limit", c.load.train_limit);
  r.get("test_limit", c.load.test_limit).get("val_size", c.load.val_size).get("val_limit", c.load.val_limit);
  r.get("fetch_missing", c.load.fetch_missing);
  r.finish();
  validate(c, path);
  return c;
}

}  // namespace nemokd::data
