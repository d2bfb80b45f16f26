// Who runs a campaign's child runs, and where. A campaign (a W x A sweep, the (alpha, T) grid, the evolution) hands
// its whole batch of child runs to an Executor, the way pagmo hands a whole population to a batch fitness evaluator
// (pagmo::bfe / thread_bfe); the executor owns the parallelism: how many run at once, where each one runs, which
// machine checks the training device, and where follow-up tasks (a latency measurement) go.
//
// A child run is a folder with a request.json (a RunRecord whose command and config say what to run); running it
// leaves run.json (and model.pt) there, exactly what `nemokd run DIR/request.json --out DIR --resume` leaves. A crash
// of one child never takes the others down, and a killed batch resumes each child from its own checkpoint.
//
// Executors today:
//  - local (make_executor without MPI): each child is `nemokd run ...` in its own process, `jobs` at a time, as one
//    dynamic batch: the next child starts as soon as any running one ends (never chunks that wait for their slowest
//    member).
//  - MPI (the process is rank 0 of `mpirun -np N nemokd ...`, dist/cluster.h): rank 0 writes each request.json and hands
//    the folder to whichever rank is free; that rank starts the child with its own threads (and its own GPU). Run
//    folders must be on a filesystem all ranks share.
//  - warm (--executor warm, campaign/warm_executor.cpp): `jobs` long-lived hidden `nemokd worker` processes take one
//    child folder after another over a socket and run it in-process (campaign/run_kinds.h), leaving the same files
//    and the same run.json as `nemokd run` would, so no campaign changes; what it saves is a process start per child.
//    A worker that dies fails its child (as a crashed `nemokd run` would) and a fresh one takes the rest.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/run_record.h"
#include "dist/cluster.h"

namespace nemokd::campaign {

struct ChildJob {
  std::string dir;    // the run's output folder (request.json, run.json, log.txt, stdout.json)
  RunRecord request;  // command + config to run (written to dir/request.json)
};

struct ChildOutcome {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string log_tail;  // last line of log.txt
  int rank = 0;          // the MPI rank that ran it (0 without MPI)
  std::string host;      // and its machine (empty without MPI)
  double wall_seconds = 0;  // spawn -> reap of the child (or request -> answer of a warm worker; MPI: the task's)
  std::string describe() const;  // "exit code 1: <last log line>" / "killed by signal 9"
};

using OnChildDone = std::function<void(size_t index, const ChildOutcome& outcome)>;
using OnTaskDone = std::function<void(size_t index, const dist::TaskResult& result)>;

class Executor {
 public:
  virtual ~Executor() = default;

  // How a batch will run, for logs: "2 at a time (1 threads each)", "one per rank on 2 MPI rank(s)".
  virtual std::string describe(int threads_per_run) const = 0;
  // Before anything is written: can the trainings use `device` where they will run? Locally the device must exist
  // on this machine (ConfigError otherwise); MPI ranks own their devices, so nothing is checked here.
  virtual void check_device(const std::string& device) const = 0;
  // True when the child runs happen on other MPI ranks (then this process only coordinates).
  virtual bool distributed() const = 0;
  // Ranks of the job, 1 when local. A task may be pinned to one of them (run_tasks).
  virtual int ranks() const = 0;

  // Runs every child (the caller has skipped the finished ones); on_done(i, outcome) is called in the calling
  // thread as each one ends, in completion order.
  virtual void run(const std::vector<ChildJob>& jobs, const OnChildDone& on_done) = 0;

  // Runs JSON tasks by kind (dist/cluster.h; e.g. "latency") on the ranks they name; locally each runs here, in
  // order. on_done(i, result) in the calling thread.
  virtual void run_tasks(const std::vector<dist::Task>& tasks, const OnTaskDone& on_done) = 0;
};

// How local child runs are started: a process per child, or warm workers (see above). MPI ranks ignore it.
enum class ExecutorKind { process, warm };
const char* to_string(ExecutorKind kind);
ExecutorKind parse_executor_kind(const std::string& text, const std::string& where);  // ConfigError naming `where`

struct ExecutorOptions {
  ExecutorOptions(int jobs = 1, std::string executable = "", ExecutorKind kind = ExecutorKind::process)
      : jobs(jobs), executable(std::move(executable)), kind(kind) {}
  int jobs;                // local: child runs at a time
  std::string executable;  // nemokd binary for the children (empty: this very program)
  ExecutorKind kind;
  // Under MPI: whether rank 0 trains too and the threads per rank (--mpi-root-works, --mpi-threads).
  dist::Options mpi;
  // What the user typed, for the warnings about flags that do not apply (--jobs under MPI, --mpi-* alone).
  bool jobs_given = false, mpi_given = false;
  bool announce = true;  // log the MPI layout once (commands); false for quiet look-ups (doctor)
};

// The executor for this process: MPI when it is rank 0 of an MPI job, else local. The one place that asks dist
// whether a cluster exists; it also hands the MPI options to the cluster.
std::shared_ptr<Executor> make_executor(const ExecutorOptions& options);

// The warm executor itself (make_executor chooses it for ExecutorKind::warm without MPI).
std::shared_ptr<Executor> make_warm_executor(int jobs, std::string executable);
// The hidden `nemokd worker`: serves the warm executor's requests arriving on socket `fd` until it closes; returns 0.
int serve_worker(int fd);

// Registers the "child_run" task with dist, so any rank can run a child (call once per process, before serving).
void register_tasks();

// Creates the job's folder and writes its request.json (what every executor does before a child runs).
void write_request(const ChildJob& job);

// Last line of a text file, at most max_chars (for failure messages).
std::string tail_of_file(const std::string& path, size_t max_chars);

}  // namespace nemokd::campaign
