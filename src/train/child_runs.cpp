#include "train/child_runs.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/process.h"
#include "dist/cluster.h"

namespace nemokd::train {
namespace fs = std::filesystem;

std::string ChildOutcome::describe() const {
  const std::string where = host.empty() ? "" : fmt::format(" (rank {} on {})", rank, host);
  if (signal) return fmt::format("killed by signal {}{}", signal, where);
  return fmt::format("exit code {}{}{}{}", exit_code, where, log_tail.empty() ? "" : ": ", log_tail);
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

namespace {
constexpr const char* kChildRunTask = "child_run";

std::vector<std::string> child_argv(const std::string& exe, const fs::path& dir) {
  return {exe, "run", (dir / "request.json").string(), "--out", dir.string(), "--resume", "--quiet", "--json"};
}

ChildOutcome outcome_of(const ChildExit& ex, const fs::path& dir) {
  ChildOutcome o;
  o.exit_code = ex.exit_code;
  o.signal = ex.signal;
  o.log_tail = tail_of_file((dir / "log.txt").string(), 300);
  return o;
}

void run_children_distributed(dist::Cluster& cluster, const std::vector<ChildRun>& runs,
                              const std::string& executable,
                              const std::function<void(size_t, const ChildOutcome&)>& on_done) {
  std::vector<dist::Task> tasks;
  for (const auto& run : runs) {
    const fs::path dir(run.dir);
    fs::create_directories(dir);
    write_json_file((dir / "request.json").string(), run.request.to_json());
    tasks.push_back({kChildRunTask, {{"dir", fs::absolute(dir).string()}, {"executable", executable}}, dist::kAnyRank});
  }
  cluster.run(tasks, [&](size_t i, const dist::TaskResult& r) {
    ChildOutcome o;
    o.exit_code = r.value.at("exit_code");
    o.signal = r.value.at("signal");
    o.log_tail = r.value.at("log_tail");
    o.rank = r.rank;
    o.host = r.host;
    spdlog::debug("{}: {} on rank {} ({}) in {:.1f} s", runs[i].dir, o.signal || o.exit_code ? "failed" : "done",
                  r.rank, r.host, r.seconds);
    on_done(i, o);
  });
}
}  // namespace

std::string parallelism(int jobs, int threads) {
  if (const auto* cluster = dist::Cluster::current())
    return fmt::format("one per rank on {} MPI rank(s)", cluster->working_ranks());
  return fmt::format("{} at a time ({} threads each)", jobs, threads);
}

void register_child_run_task() {
  dist::register_handler(kChildRunTask, [](const nlohmann::json& payload, const dist::RankInfo& self) {
    const fs::path dir(payload.at("dir").get<std::string>());
    if (!fs::exists(dir / "request.json"))
      throw Error(fmt::format("cannot see {}: run folders must be on a filesystem shared by every rank "
                              "(choose --out there)",
                              (dir / "request.json").string()));
    const std::string executable = payload.value("executable", std::string());
    const std::string exe = executable.empty() ? self_executable() : executable;
    auto argv = child_argv(exe, dir);
    // This rank's share of its machine; thread counts change no result (read_finished_record ignores them).
    argv.insert(argv.end(), {"--threads", std::to_string(self.threads)});
    auto child = spawn_process(argv, (dir / "stdout.json").string(), (dir / "log.txt").string(),
                               executable.empty() ? std::string(kSameProgram) : executable);
    const auto o = outcome_of(wait_child(child.pid), dir);
    return nlohmann::json{{"exit_code", o.exit_code}, {"signal", o.signal}, {"log_tail", o.log_tail}};
  });
}

void run_children(const std::vector<ChildRun>& runs, int jobs, const std::string& executable,
                  const std::function<void(size_t, const ChildOutcome&)>& on_done) {
  if (auto* cluster = dist::Cluster::current()) {
    run_children_distributed(*cluster, runs, executable, on_done);
    return;
  }
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
      auto child = spawn_process(child_argv(exe, dir), (dir / "stdout.json").string(), (dir / "log.txt").string(),
                                 exec_path);
      running[child.pid] = i;
    }
    auto ex = wait_any_child();
    auto it = running.find(ex.pid);
    if (it == running.end()) continue;
    const size_t i = it->second;
    running.erase(it);
    on_done(i, outcome_of(ex, fs::path(runs[i].dir)));
  }
}

}  // namespace nemokd::train
