#include "campaign/run_kinds.h"

#include <fmt/format.h>

#include "core/error.h"
#include "kd/kd_run.h"

namespace nemokd::campaign {

const std::vector<RunKind>& run_kinds() {
  static const std::vector<RunKind> kinds = {
      {"train", "train",
       [](const nlohmann::json& j) { return train::identity(train::train_run_config_from_json(j)); },
       [](const nlohmann::json& j, int threads, const train::RunContext& ctx) {
         auto c = train::train_run_config_from_json(j);
         if (threads >= 0) c.threads = threads;
         return train::run_training(c, ctx);
       }},
      {"kd train", "kd-train", [](const nlohmann::json& j) { return kd::identity(kd::kd_run_config_from_json(j)); },
       [](const nlohmann::json& j, int threads, const train::RunContext& ctx) {
         auto c = kd::kd_run_config_from_json(j);
         if (threads >= 0) c.base.threads = threads;
         return kd::run_kd(c, ctx);
       }},
  };
  return kinds;
}

const RunKind& run_kind(const std::string& command, const std::string& where) {
  for (const auto& k : run_kinds())
    if (command == k.command) return k;
  throw ConfigError(fmt::format("{}: command '{}' cannot be re-run by this version", where, command));
}

}  // namespace nemokd::campaign
