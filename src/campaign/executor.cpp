#include "campaign/executor.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/process.h"
#include "core/runtime.h"

namespace nemokd::campaign {
namespace fs = std::filesystem;

std::string ChildOutcome::describe() const {
  const std::string where = host.empty() ? "" : fmt::format(" (rank {} on {})", rank, host);
  if (signal) return fmt::format("killed by signal {}{}", signal, where);
  return fmt::format("exit code {}{}{}{}", exit_code, where, log_tail.empty() ? "" : ": ", log_tail);
}

std::string tail_of_file(const std::string& path, size_t max_chars) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const auto nl = text.find_last_of('\n');
  std::string last = nl == std::string::npos ? text : text.substr(nl + 1);
  return last.size() > max_chars ? last.substr(last.size() - max_chars) : last;
}

void write_request(const ChildJob& job) {
  const fs::path dir(job.dir);
  fs::create_directories(dir);
  write_json_file((dir / "request.json").string(), job.request.to_json());
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

// Child processes on this machine, `jobs` at a time, one dynamic batch.
class LocalExecutor : public Executor {
 public:
  LocalExecutor(int jobs, std::string executable) : jobs_(std::max(1, jobs)), executable_(std::move(executable)) {}

  std::string describe(int threads) const override {
    return fmt::format("{} at a time ({} threads each)", jobs_, threads);
  }
  void check_device(const std::string& device) const override { nemokd::check_device(device); }
  bool distributed() const override { return false; }
  int ranks() const override { return 1; }

  void run(const std::vector<ChildJob>& jobs, const OnChildDone& on_done) override {
    // argv[0] names the binary for humans; what runs is this very program (kSameProgram) unless the caller chose
    // another one, so rebuilding nemokd during a long batch cannot change or break its remaining runs.
    const std::string exe = executable_.empty() ? self_executable() : executable_;
    const std::string exec_path = executable_.empty() ? std::string(kSameProgram) : executable_;
    std::map<int, size_t> running;  // pid -> index
    std::map<int, std::chrono::steady_clock::time_point> started;  // pid -> spawn time
    size_t next = 0;
    while (next < jobs.size() || !running.empty()) {
      while (next < jobs.size() && int(running.size()) < jobs_) {
        const size_t i = next++;
        write_request(jobs[i]);
        const fs::path dir(jobs[i].dir);
        auto child = spawn_process(child_argv(exe, dir), (dir / "stdout.json").string(), (dir / "log.txt").string(),
                                   exec_path);
        running[child.pid] = i;
        started[child.pid] = std::chrono::steady_clock::now();
      }
      auto ex = wait_any_child();
      auto it = running.find(ex.pid);
      if (it == running.end()) continue;
      const size_t i = it->second;
      running.erase(it);
      auto outcome = outcome_of(ex, fs::path(jobs[i].dir));
      outcome.wall_seconds = seconds_since(started[ex.pid]);
      started.erase(ex.pid);
      on_done(i, outcome);
    }
  }

  void run_tasks(const std::vector<dist::Task>& tasks, const OnTaskDone& on_done) override {
    for (size_t i = 0; i < tasks.size(); ++i) on_done(i, dist::run_here(tasks[i]));
  }

 private:
  int jobs_;
  std::string executable_;
};

// Rank 0 of an MPI job: children and tasks go to the ranks (dist::Cluster::run), the next to whichever is free.
class MpiExecutor : public Executor {
 public:
  MpiExecutor(dist::Cluster& cluster, std::string executable)
      : cluster_(cluster), executable_(std::move(executable)) {}

  std::string describe(int) const override {
    return fmt::format("one per rank on {} MPI rank(s)", cluster_.working_ranks());
  }
  void check_device(const std::string&) const override {}  // the ranks that train own the devices
  bool distributed() const override { return true; }
  int ranks() const override { return cluster_.size(); }

  void run(const std::vector<ChildJob>& jobs, const OnChildDone& on_done) override {
    std::vector<dist::Task> tasks;
    for (const auto& job : jobs) {
      write_request(job);
      tasks.push_back({kChildRunTask,
                       {{"dir", fs::absolute(job.dir).string()}, {"executable", executable_}},
                       dist::kAnyRank});
    }
    cluster_.run(tasks, [&](size_t i, const dist::TaskResult& r) {
      ChildOutcome o;
      o.exit_code = r.value.at("exit_code");
      o.signal = r.value.at("signal");
      o.log_tail = r.value.at("log_tail");
      o.rank = r.rank;
      o.host = r.host;
      o.wall_seconds = r.seconds;
      spdlog::debug("{}: {} on rank {} ({}) in {:.1f} s", jobs[i].dir, o.signal || o.exit_code ? "failed" : "done",
                    r.rank, r.host, r.seconds);
      on_done(i, o);
    });
  }

  void run_tasks(const std::vector<dist::Task>& tasks, const OnTaskDone& on_done) override {
    cluster_.run(tasks, on_done);
  }

 private:
  dist::Cluster& cluster_;
  std::string executable_;
};

}  // namespace

const char* to_string(ExecutorKind kind) { return kind == ExecutorKind::warm ? "warm" : "process"; }

ExecutorKind parse_executor_kind(const std::string& text, const std::string& where) {
  for (auto k : {ExecutorKind::process, ExecutorKind::warm})
    if (text == to_string(k)) return k;
  throw ConfigError(fmt::format("{}: '{}' is not an executor (process or warm)", where, text));
}

std::shared_ptr<Executor> make_executor(const ExecutorOptions& o) {
  auto* cluster = dist::Cluster::current();
  if (!cluster) {
    if (o.mpi_given)
      spdlog::warn("--mpi-* flags: ignored, this is a single process (start it with mpirun or srun to distribute)");
    if (o.kind == ExecutorKind::warm) return make_warm_executor(o.jobs, o.executable);
    return std::make_shared<LocalExecutor>(o.jobs, o.executable);
  }
  if (o.kind == ExecutorKind::warm)
    spdlog::warn("--executor warm: ignored under MPI (each rank starts its own child process per run)");
  cluster->set_options(o.mpi);
  if (o.jobs_given)
    spdlog::warn("--jobs: ignored under MPI (each rank trains one run at a time; --mpi-threads sizes them)");
  if (o.announce) {
    std::map<std::string, int> per_host;
    for (const auto& r : cluster->ranks()) ++per_host[r.host];
    spdlog::info("MPI: {} ranks on {} machine(s); {} train{}; threads per rank {}", cluster->size(), per_host.size(),
                 cluster->working_ranks(), o.mpi.root_works ? " (rank 0 included)" : "",
                 o.mpi.threads > 0 ? std::to_string(o.mpi.threads) : "automatic");
  }
  return std::make_shared<MpiExecutor>(*cluster, o.executable);
}

void register_tasks() {
  dist::register_handler(kChildRunTask, [](const nlohmann::json& payload, const dist::RankInfo& self) {
    const fs::path dir(payload.at("dir").get<std::string>());
    if (!fs::exists(dir / "request.json"))
      throw Error(fmt::format("cannot see {}: run folders must be on a filesystem shared by every rank "
                              "(choose --out there)",
                              (dir / "request.json").string()));
    const std::string executable = payload.value("executable", std::string());
    const std::string exe = executable.empty() ? self_executable() : executable;
    auto argv = child_argv(exe, dir);
    // This rank's share of its machine; thread counts change no result (they are not part of a run's identity).
    argv.insert(argv.end(), {"--threads", std::to_string(self.threads)});
    auto child = spawn_process(argv, (dir / "stdout.json").string(), (dir / "log.txt").string(),
                               executable.empty() ? std::string(kSameProgram) : executable);
    const auto o = outcome_of(wait_child(child.pid), dir);
    return nlohmann::json{{"exit_code", o.exit_code}, {"signal", o.signal}, {"log_tail", o.log_tail}};
  });
}

}  // namespace nemokd::campaign
