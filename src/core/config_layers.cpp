#include "core/config_layers.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd {
namespace {

// Objects in `target` that `patch` moves to another "arch" are emptied first, so merge_patch fills them afresh.
void reset_changed_families(nlohmann::json& target, const nlohmann::json& patch) {
  if (!target.is_object() || !patch.is_object()) return;
  const auto arch = patch.find("arch");
  if (arch != patch.end() && target.contains("arch") && target["arch"] != *arch) {
    target = nlohmann::json::object();
    return;
  }
  for (const auto& [key, value] : patch.items())
    if (value.is_object() && target.contains(key)) reset_changed_families(target[key], value);
}

}  // namespace

void merge_layer(nlohmann::json& target, const nlohmann::json& patch) {
  if (patch.is_null()) return;  // no layer (RFC 7386 would make the whole document null)
  reset_changed_families(target, patch);
  target.merge_patch(patch);
}

nlohmann::json layer_config(nlohmann::json base, const std::string& config_file, const nlohmann::json& flags) {
  if (!config_file.empty()) {
    const auto file = read_json_file(config_file);
    if (!file.is_object())
      throw ConfigError(fmt::format("--config: {} holds {}, not a JSON object of settings", config_file,
                                    file.type_name()));
    merge_layer(base, file);
  }
  merge_layer(base, flags);
  return base;
}

}  // namespace nemokd
