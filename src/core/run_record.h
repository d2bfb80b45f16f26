// run.json: the record every run leaves in its output folder — the full resolved config (enough to re-run
// it with `nemokd run run.json`), versions, seed, timings, status and results.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nemokd {

// Where a run stands. In run.json it is the lower-case name ("completed"); inside the process it is this enum.
enum class RunStatus { requested, running, completed, diverged, failed };
const char* to_string(RunStatus s);
// Throws ConfigError naming `key` for a name that is not a status.
RunStatus parse_run_status(const std::string& text, const std::string& key = "status");
// A run that ended with a result (completed, or diverged: the loss became NaN/Inf and the record says so).
inline bool finished(RunStatus s) { return s == RunStatus::completed || s == RunStatus::diverged; }

struct RunRecord {
  std::string command;                 // "train", ... (the subcommand that re-runs it)
  nlohmann::json config;               // resolved config of that command
  std::vector<std::string> argv;       // the command line as typed
  std::string status = "running";      // running | completed | diverged | failed
  std::string message;                 // failure reason when not completed
  nlohmann::json results = nlohmann::json::object();
  nlohmann::json timings = nlohmann::json::object();

  nlohmann::json to_json() const;  // adds versions, host info and timestamps
  static RunRecord from_json(const nlohmann::json& j);
  // Writes DIR/run.json atomically (creates DIR).
  void write(const std::string& dir) const;
};

// Versions of nemokd and its main dependencies, for the record.
nlohmann::json version_info();
// "nemokd 0.1.0 (git describe)", for --version and doctor.
std::string version_string();

// The process command line (argv), set once by main() and recorded in every run.json.
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

// UTC timestamp, ISO 8601.
std::string utc_now();

// Seconds since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace nemokd
