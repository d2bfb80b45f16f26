#include "dist/cluster.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

#ifdef NEMOKD_WITH_MPI
#include <mpi.h>
#endif

namespace nemokd::dist {
namespace {

std::map<std::string, Handler>& handlers() {
  static std::map<std::string, Handler> h;
  return h;
}

Cluster*& current_cluster() {
  static Cluster* c = nullptr;
  return c;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// Set in the environment of every process a rank starts (training runs): they are not ranks themselves, even
// though they inherit mpirun's variables.
constexpr const char* kChildMarker = "NEMOKD_MPI_CHILD";

int env_int(const char* name) {
  const char* v = env(name);
  return v ? std::atoi(v) : 0;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

int online_cores() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? int(n) : 1;
}

// GPUs the NVIDIA driver lists, read without initialising CUDA (CUDA_VISIBLE_DEVICES must be set before that).
int driver_gpus() {
  std::error_code ec;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    (void)e;
    ++n;
  }
  return ec ? 0 : n;
}

// Binds this rank to one GPU by its local rank, unless the scheduler already did (srun --gpus-per-task, or the
// user's own CUDA_VISIBLE_DEVICES). The training runs a rank starts inherit it: their "cuda" is that GPU.
void bind_gpu(int local_rank) {
  if (env("CUDA_VISIBLE_DEVICES")) return;
  const int gpu = gpu_for_local_rank(local_rank, driver_gpus());
  if (gpu < 0) return;
  ::setenv("CUDA_VISIBLE_DEVICES", std::to_string(gpu).c_str(), 1);
}

}  // namespace

nlohmann::json to_json(const RankInfo& r) {
  return {{"rank", r.rank},   {"size", r.size},   {"local_rank", r.local_rank}, {"local_size", r.local_size},
          {"cores", r.cores}, {"host", r.host},   {"threads", r.threads}};
}

void register_handler(const std::string& kind, Handler handler) { handlers()[kind] = std::move(handler); }

Cluster* Cluster::current() { return current_cluster(); }

int gpu_for_local_rank(int local_rank, int gpus) { return gpus > 0 ? local_rank % gpus : -1; }

bool launched_by_mpi() {
  if (env(kChildMarker)) return false;
  // OpenMPI's mpirun, MPICH/Hydra and srun --mpi=pmi2, srun --mpi=pmix.
  return env("OMPI_COMM_WORLD_SIZE") || env("PMI_SIZE") || env("PMIX_RANK");
}

namespace {
// The number of ranks the launcher announced (0 when it does not say).
[[maybe_unused]] int announced_size() {
  if (int n = env_int("OMPI_COMM_WORLD_SIZE")) return n;
  if (int n = env_int("PMI_SIZE")) return n;
  return env_int("SLURM_NTASKS");
}

// Runs one task with the registered handler (on any rank).
nlohmann::json run_handler(const std::string& kind, const nlohmann::json& payload, const RankInfo& self) {
  auto it = handlers().find(kind);
  if (it == handlers().end()) throw Error(fmt::format("no handler for task kind '{}' on this rank", kind));
  return it->second(payload, self);
}

}  // namespace

TaskResult run_here(const Task& task) {
  RankInfo self;
  self.host = host_name();
  self.cores = online_cores();
  self.threads = self.cores;
  const auto t0 = std::chrono::steady_clock::now();
  TaskResult r;
  r.value = run_handler(task.kind, task.payload, self);
  r.rank = 0;
  r.host = self.host;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {
// Polling with short sleeps: 1 ms after activity, backing off to 20 ms when idle.
class Backoff {
 public:
  void reset() { ms_ = 1; }
  void wait() {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms_));
    ms_ = std::min(ms_ * 2, 20);
  }

 private:
  int ms_ = 1;
};
}  // namespace

#ifdef NEMOKD_WITH_MPI
namespace {

constexpr int kTagHello = 101, kTagTask = 102, kTagResult = 103, kTagStop = 104;

void send_text(const std::string& text, int dest, int tag) {
  MPI_Send(text.data(), int(text.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD);
}

std::string receive_text(const MPI_Status& probed) {
  int count = 0;
  MPI_Get_count(&probed, MPI_CHAR, &count);
  std::string text(size_t(count), '\0');
  MPI_Recv(text.data(), count, MPI_CHAR, probed.MPI_SOURCE, probed.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return text;
}

class MpiCluster : public Cluster {
 public:
  MpiCluster() {
    MPI_Comm_rank(MPI_COMM_WORLD, &self_.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &self_.size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, self_.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &self_.local_rank);
    MPI_Comm_size(local, &self_.local_size);
    MPI_Comm_free(&local);
    self_.host = host_name();
    self_.cores = online_cores();
    self_.threads = 1;
    bind_gpu(self_.local_rank);
    // The root learns every rank's machine (for thread counts and for messages that name a host).
    if (self_.rank == 0) {
      ranks_.assign(size_t(self_.size), RankInfo{});
      ranks_[0] = self_;
      for (int i = 1; i < self_.size; ++i) {
        MPI_Status st;
        MPI_Probe(MPI_ANY_SOURCE, kTagHello, MPI_COMM_WORLD, &st);
        auto j = nlohmann::json::parse(receive_text(st));
        RankInfo r;
        r.rank = j.at("rank");
        r.size = j.at("size");
        r.local_rank = j.at("local_rank");
        r.local_size = j.at("local_size");
        r.cores = j.at("cores");
        r.host = j.at("host");
        ranks_.at(size_t(r.rank)) = r;
      }
      in_flight_.assign(size_t(self_.size), 0);
      set_options(Options{});
    } else {
      send_text(to_json(self_).dump(), 0, kTagHello);
    }
  }

  int rank() const override { return self_.rank; }
  int size() const override { return self_.size; }
  const std::vector<RankInfo>& ranks() const override { return ranks_; }
  const Options& options() const override { return options_; }

  void set_options(const Options& options) override {
    if (options.threads < 0) throw ConfigError(fmt::format("MPI threads per rank: {} (0 = automatic)", options.threads));
    options_ = options;
    // Threads per rank: the cores of its machine shared by the ranks there that run tasks.
    std::map<std::string, int> working_on_host;
    for (const auto& r : ranks_)
      if (r.rank != 0 || options_.root_works) ++working_on_host[r.host];
    for (auto& r : ranks_)
      r.threads = options_.threads > 0 ? options_.threads
                                       : std::max(1, r.cores / std::max(1, working_on_host[r.host]));
  }

  int working_ranks() const override { return self_.size - 1 + (options_.root_works ? 1 : 0); }

  void run(const std::vector<Task>& tasks,
           const std::function<void(size_t, const TaskResult&)>& on_done) override {
    if (self_.rank != 0) throw Error("dist: only rank 0 hands out tasks");
    std::deque<size_t> any;
    std::vector<std::deque<size_t>> pinned(size_t(self_.size));
    for (size_t i = 0; i < tasks.size(); ++i) {
      const int r = tasks[i].rank;
      if (r == kAnyRank) {
        any.push_back(i);
      } else if (r < 0 || r >= self_.size) {
        throw ConfigError(fmt::format("task '{}' is meant for rank {}, but this job has ranks 0..{}", tasks[i].kind, r,
                                      self_.size - 1));
      } else {
        pinned[size_t(r)].push_back(i);
      }
    }
    if (!any.empty() && working_ranks() == 0)
      throw ConfigError("no rank runs tasks: start more than one rank or let rank 0 work too");

    std::map<uint64_t, size_t> mine;  // task id -> index, for this call's tasks in flight
    size_t remaining = tasks.size();
    std::future<nlohmann::json> root_job;
    size_t root_index = 0;
    std::chrono::steady_clock::time_point root_start;
    Backoff backoff;
    auto next_for = [&](int r, bool may_take_any) -> long {
      auto& p = pinned[size_t(r)];
      if (!p.empty()) {
        const size_t i = p.front();
        p.pop_front();
        return long(i);
      }
      if (may_take_any && !any.empty()) {
        const size_t i = any.front();
        any.pop_front();
        return long(i);
      }
      return -1;
    };
    while (remaining > 0) {
      bool progressed = false;
      // Hand out work to every free worker rank.
      for (int r = 1; r < self_.size; ++r) {
        if (in_flight_[size_t(r)] != 0) continue;
        const long i = next_for(r, true);
        if (i < 0) continue;
        const uint64_t id = ++next_id_;
        in_flight_[size_t(r)] = id;
        mine[id] = size_t(i);
        const auto& t = tasks[size_t(i)];
        send_text(nlohmann::json{{"id", id}, {"kind", t.kind}, {"payload", t.payload},
                                 {"threads", ranks_[size_t(r)].threads}}
                      .dump(),
                  r, kTagTask);
        progressed = true;
      }
      // The root's own share runs in a thread, so this loop keeps serving the others meanwhile.
      if (!root_job.valid()) {
        const long i = next_for(0, options_.root_works);
        if (i >= 0) {
          root_index = size_t(i);
          root_start = std::chrono::steady_clock::now();
          RankInfo self = ranks_[0];
          const Task t = tasks[root_index];
          root_job = std::async(std::launch::async, [t, self] { return run_handler(t.kind, t.payload, self); });
          progressed = true;
        }
      }
      // Results from the workers.
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, kTagResult, MPI_COMM_WORLD, &flag, &st);
      if (flag) {
        const int r = st.MPI_SOURCE;
        auto reply = nlohmann::json::parse(receive_text(st));
        const uint64_t id = reply.at("id");
        if (in_flight_[size_t(r)] == id) in_flight_[size_t(r)] = 0;
        auto it = mine.find(id);
        progressed = true;
        if (it != mine.end()) {  // otherwise: the result of a task whose call ended early; dropped
          const size_t i = it->second;
          mine.erase(it);
          if (!reply.value("ok", false))
            throw Error(fmt::format("rank {} on {}: {} task failed: {}", r, ranks_[size_t(r)].host, tasks[i].kind,
                                    reply.value("error", std::string("unknown error"))));
          TaskResult res;
          res.value = reply.at("value");
          res.rank = r;
          res.host = ranks_[size_t(r)].host;
          res.seconds = reply.value("seconds", 0.0);
          --remaining;
          on_done(i, res);
        }
      }
      if (root_job.valid() &&
          root_job.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        TaskResult res;
        try {
          res.value = root_job.get();
        } catch (const std::exception& e) {
          throw Error(fmt::format("rank 0 on {}: {} task failed: {}", ranks_[0].host, tasks[root_index].kind, e.what()));
        }
        res.rank = 0;
        res.host = ranks_[0].host;
        res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - root_start).count();
        --remaining;
        progressed = true;
        on_done(root_index, res);
      }
      if (progressed)
        backoff.reset();
      else
        backoff.wait();
    }
  }

  // Worker ranks: serve tasks until the root says stop.
  int serve() {
    Backoff backoff;
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
      if (!flag) {
        backoff.wait();
        continue;
      }
      backoff.reset();
      const std::string text = receive_text(st);
      if (st.MPI_TAG == kTagStop) return 0;
      if (st.MPI_TAG != kTagTask) continue;
      const auto task = nlohmann::json::parse(text);
      nlohmann::json reply = {{"id", task.at("id")}};
      self_.threads = task.value("threads", 1);
      const auto t0 = std::chrono::steady_clock::now();
      try {
        reply["value"] = run_handler(task.at("kind"), task.at("payload"), self_);
        reply["ok"] = true;
      } catch (const std::exception& e) {
        reply["ok"] = false;
        reply["error"] = e.what();
      }
      reply["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      send_text(reply.dump(), 0, kTagResult);
    }
  }

  // Root: workers still in a task when the command ends (an error, a stop) cannot hear "stop" until their task is
  // over, which may be a long training: the job is aborted instead, which ends their children too.
  int finish(int exit_code) {
    bool busy = false;
    for (int r = 1; r < self_.size; ++r) busy = busy || in_flight_[size_t(r)] != 0;
    if (busy) {
      spdlog::error("stopping the MPI job while ranks are still working (their finished work is saved; --resume "
                    "continues)");
      MPI_Abort(MPI_COMM_WORLD, exit_code ? exit_code : 1);
    }
    for (int r = 1; r < self_.size; ++r) send_text("stop", r, kTagStop);
    return exit_code;
  }

 private:
  RankInfo self_;
  std::vector<RankInfo> ranks_;
  Options options_;
  std::vector<uint64_t> in_flight_;  // per rank: id of the task it is running, 0 = free
  uint64_t next_id_ = 0;
};

std::unique_ptr<MpiCluster>& the_cluster() {
  static std::unique_ptr<MpiCluster> c;
  return c;
}
bool& mpi_started() {
  static bool s = false;
  return s;
}

}  // namespace

bool built_with_mpi() { return true; }

Session::Session(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  MPI_Init(&argc, &argv);
  mpi_started() = true;
  // Whatever a rank starts (training runs) is not a rank.
  ::setenv(kChildMarker, "1", 1);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) return;
  the_cluster() = std::make_unique<MpiCluster>();
  current_cluster() = the_cluster().get();
}

bool Session::is_worker() const { return the_cluster() && the_cluster()->rank() != 0; }

int Session::serve() { return is_worker() ? the_cluster()->serve() : 0; }

int Session::finish(int exit_code) {
  if (the_cluster() && the_cluster()->rank() == 0) exit_code = the_cluster()->finish(exit_code);
  current_cluster() = nullptr;
  the_cluster().reset();
  if (mpi_started()) {
    MPI_Finalize();
    mpi_started() = false;
  }
  return exit_code;
}

Session::~Session() { finish(0); }

#else  // built without MPI

bool built_with_mpi() { return false; }

Session::Session(int&, char**&) {
  if (launched_by_mpi() && announced_size() > 1)
    throw ConfigError(fmt::format("started as one of {} MPI ranks, but this nemokd was built without MPI "
                                  "(NEMOKD_WITH_MPI=OFF or no libopenmpi-dev at configure time): every rank would "
                                  "run the whole command. Rebuild with MPI or start a single process.",
                                  announced_size()));
}
bool Session::is_worker() const { return false; }
int Session::serve() { return 0; }
int Session::finish(int exit_code) { return exit_code; }
Session::~Session() = default;

#endif

}  // namespace nemokd::dist
