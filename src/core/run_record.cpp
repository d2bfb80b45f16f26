#include "core/run_record.h"

#include <ctime>
#include <filesystem>

#include <fmt/format.h>
#include <torch/version.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/version.h"

namespace nemokd {
namespace {
std::vector<std::string> g_argv;
}

void set_command_line(int argc, char** argv) { g_argv.assign(argv, argv + argc); }
const std::vector<std::string>& command_line() { return g_argv; }

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string version_string() { return fmt::format("nemokd {} ({})", NEMOKD_VERSION, NEMOKD_GIT_DESCRIBE); }

nlohmann::json version_info() {
  return {{"nemokd", NEMOKD_VERSION},
          {"git", NEMOKD_GIT_DESCRIBE},
          {"torch", TORCH_VERSION},
          {"compiler", fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__)}};
}

const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::requested: return "requested";
    case RunStatus::running: return "running";
    case RunStatus::completed: return "completed";
    case RunStatus::diverged: return "diverged";
    case RunStatus::failed: return "failed";
  }
  return "failed";
}

RunStatus parse_run_status(const std::string& text, const std::string& key) {
  for (auto s : {RunStatus::requested, RunStatus::running, RunStatus::completed, RunStatus::diverged, RunStatus::failed})
    if (text == to_string(s)) return s;
  throw ConfigError(fmt::format("{}: '{}' is not a run status (requested, running, completed, diverged, failed)", key,
                                text));
}

nlohmann::json RunRecord::to_json() const {
  return {{"nemokd_run", 1},
          {"command", command},
          {"config", config},
          {"argv", argv},
          {"status", status},
          {"message", message},
          {"results", results},
          {"timings", timings},
          {"versions", version_info()},
          {"written_at", utc_now()}};
}

RunRecord RunRecord::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("nemokd_run"))
    throw ConfigError("run record: not a nemokd run.json (no 'nemokd_run' key)");
  RunRecord r;
  if (!j.contains("command") || !j.at("command").is_string())
    throw ConfigError("run record: 'command' missing or not a string");
  r.command = j.at("command").get<std::string>();
  if (!j.contains("config") || !j.at("config").is_object())
    throw ConfigError("run record: 'config' missing or not an object");
  r.config = j.at("config");
  r.status = "unknown";
  r.results = r.timings = nlohmann::json::object();
  if (j.contains("argv")) detail::strict_get(j.at("argv"), "run record: argv", r.argv);
  if (j.contains("status")) detail::strict_get(j.at("status"), "run record: status", r.status);
  if (j.contains("message")) detail::strict_get(j.at("message"), "run record: message", r.message);
  for (const char* key : {"results", "timings"}) {
    if (!j.contains(key)) continue;
    if (!j.at(key).is_object()) throw ConfigError(fmt::format("run record: '{}' is not an object", key));
    (std::string(key) == "results" ? r.results : r.timings) = j.at(key);
  }
  return r;
}

void RunRecord::write(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  write_json_file((std::filesystem::path(dir) / "run.json").string(), to_json());
}

}  // namespace nemokd
