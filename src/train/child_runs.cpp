#include "train/child_runs.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/process.h"

namespace nemokd::train {
namespace fs = std::filesystem;

std::string ChildOutcome::describe() const {
  if (signal) return fmt::format("killed by signal {}", signal);
  return fmt::format("exit code {}{}{}", exit_code, log_tail.empty() ? "" : ": ", log_tail);
}

namespace {
nlohmann::json comparable(nlohmann::json config) {
  config.erase("threads");
  config.erase("blas_threads");
  return config;
}
}  // namespace

bool read_finished_record(const std::string& dir, const nlohmann::json& expected, RunRecord& out) {
  const auto path = fs::path(dir) / "run.json";
  if (!fs::exists(path)) return false;
  RunRecord rec;
  try {
    rec = RunRecord::from_json(read_json_file(path.string()));
  } catch (const Error&) {
    return false;
  }
  if (rec.status != "completed" && rec.status != "diverged") return false;
  if (comparable(rec.config) != comparable(expected))
    throw ConfigError(fmt::format("{}: holds a run with a different configuration; use a new --out", dir));
  out = std::move(rec);
  return true;
}

std::string tail_of_file(const std::string& path, size_t max_chars) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const auto nl = text.find_last_of('\n');
  std::string last = nl == std::string::npos ? text : text.substr(nl + 1);
  return last.size() > max_chars ? last.substr(last.size() - max_chars) : last;
}

void run_children(const std::vector<ChildRun>& runs, int jobs, const std::string& executable,
                  const std::function<void(size_t, const ChildOutcome&)>& on_done) {
  // argv[0] names the binary for humans; what runs is this very program (kSameProgram) unless the caller
  // chose another one, so rebuilding nemokd during a long batch cannot change or break its remaining runs.
  const std::string exe = executable.empty() ? self_executable() : executable;
  const std::string exec_path = executable.empty() ? std::string(kSameProgram) : executable;
  std::map<int, size_t> running;  // pid -> index
  size_t next = 0;
  while (next < runs.size() || !running.empty()) {
    while (next < runs.size() && int(running.size()) < std::max(1, jobs)) {
      const size_t i = next++;
      const fs::path dir(runs[i].dir);
      fs::create_directories(dir);
      write_json_file((dir / "request.json").string(), runs[i].request.to_json());
      auto child = spawn_process({exe, "run", (dir / "request.json").string(), "--out", dir.string(), "--resume",
                                  "--quiet", "--json"},
                                 (dir / "stdout.json").string(), (dir / "log.txt").string(), exec_path);
      running[child.pid] = i;
    }
    auto ex = wait_any_child();
    auto it = running.find(ex.pid);
    if (it == running.end()) continue;
    const size_t i = it->second;
    running.erase(it);
    ChildOutcome o;
    o.exit_code = ex.exit_code;
    o.signal = ex.signal;
    o.log_tail = tail_of_file((fs::path(runs[i].dir) / "log.txt").string(), 300);
    on_done(i, o);
  }
}

}  // namespace nemokd::train
