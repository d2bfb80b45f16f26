// Scale-out over MPI ranks. A search, sweep or grid is launched with `mpirun -np N nemokd ...` (or `srun`);
// every rank runs the same program. Rank 0 (the root) runs the command itself — pagmo's NSGA-II, the SQLite
// state, the sweep table — and hands independent tasks (a training run folder to execute, a latency to measure)
// to the other ranks, one task per rank at a time, the next one to whichever rank finishes first, so one slow
// candidate never holds the others back. Worker ranks do nothing but serve tasks until the root stops them.
//
// Tasks are JSON in, JSON out, dispatched by kind to handlers that the areas above register (train: "child_run",
// search: "latency"), so this area depends on nothing but core and MPI. Waiting is done by polling with short
// sleeps instead of MPI's busy-waiting receive: an idle rank must not take a core from the trainings beside it
// or from a latency measurement on the same machine.
//
// Built without MPI (NEMOKD_WITH_MPI off), there is never a cluster, and a launch by mpirun is refused with a
// clear error instead of running N independent copies of the command.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nemokd::dist {

// Where a task may run.
constexpr int kAnyRank = -1;

struct Task {
  std::string kind;            // a registered handler
  nlohmann::json payload;
  int rank = kAnyRank;         // kAnyRank, or the one rank that must run it (e.g. the latency-measurement rank)
};

struct TaskResult {
  nlohmann::json value;        // the handler's answer
  int rank = 0;                // who ran it
  std::string host;            // that rank's host name
  double seconds = 0;          // wall time of the handler on that rank
};

// What a handler knows about the rank it runs on.
struct RankInfo {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // among the ranks on the same machine
  int cores = 1;                       // online cores of the machine
  std::string host;
  int threads = 1;                     // torch threads this rank's tasks should use (see Options::threads)
};
nlohmann::json to_json(const RankInfo& r);

using Handler = std::function<nlohmann::json(const nlohmann::json& payload, const RankInfo& self)>;

// Handlers are registered by kind, once per process, before the worker loop starts (apps/nemokd/main.cpp).
void register_handler(const std::string& kind, Handler handler);

// Runs one task in this process with its registered handler (what a single process does with the tasks a cluster
// would hand out): the result says rank 0 and this host.
TaskResult run_here(const Task& task);

struct Options {
  bool root_works = false;  // the root also runs tasks (in a thread) when it has nothing else to do
  int threads = 0;          // torch threads per task; 0 = the machine's cores / the working ranks on it
};

class Cluster {
 public:
  // The cluster this process belongs to, or null when it runs alone (not under MPI, or a single rank).
  static Cluster* current();

  virtual ~Cluster() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const std::vector<RankInfo>& ranks() const = 0;  // every rank, as seen at start-up (root only)
  virtual void set_options(const Options& options) = 0;
  virtual const Options& options() const = 0;
  // Ranks that run tasks of kind kAnyRank: the workers, plus the root when root_works.
  virtual int working_ranks() const = 0;

  // Root only: runs every task somewhere and calls on_done(index, result) on the root as each one ends, in
  // completion order. A handler's exception on any rank becomes an Error here naming the rank and host (the
  // whole call then stops; results still in flight are discarded by the next call). Pinned tasks wait for their
  // rank; a pinned rank that does not exist is a ConfigError.
  virtual void run(const std::vector<Task>& tasks,
                   const std::function<void(size_t index, const TaskResult& result)>& on_done) = 0;
};

// Start-up and shutdown of MPI for a process (one object in main). When the environment shows an MPI launch
// (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK, SLURM with MPI) MPI is initialised; with more than one rank a Cluster
// exists. On a worker rank, serve() runs the task loop and returns when the root ends; on the root it returns
// immediately.
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  bool is_worker() const;
  int serve();  // worker ranks: the task loop; exit code of the process
  // Root: ends the job with this exit code (workers still inside a task are aborted with it, see cluster.cpp);
  // then MPI is finalised. Returns the exit code. Idempotent; the destructor calls finish(0).
  int finish(int exit_code);
};

// True when this build can run under MPI.
bool built_with_mpi();
// True when the environment says this process was started by mpirun/srun as one of several ranks.
bool launched_by_mpi();

// The GPU a rank should use when the scheduler did not bind one (CUDA_VISIBLE_DEVICES unset): local rank modulo
// the machine's GPUs; -1 when there are none.
int gpu_for_local_rank(int local_rank, int gpus);

}  // namespace nemokd::dist
