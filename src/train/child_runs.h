// Many runs as child processes: each is `nemokd run DIR/request.json --out DIR --resume --quiet --json`, up to
// `jobs` at a time, so one crashing or killed run never takes the others down, and a killed batch resumes
// each run from its own checkpoint. Used by W x A sweeps, the distillation grid and the evolution.
//
// Under MPI (dist/cluster.h) the same batch is spread over the ranks instead: rank 0 writes each request.json and
// hands the folder to whichever rank is free; that rank starts the child there with its own thread count (and its
// own GPU). `jobs` is then ignored: every rank runs one training at a time. Run folders must be on a filesystem all
// ranks share.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/run_record.h"

namespace nemokd::train {

struct ChildRun {
  std::string dir;     // the run's output folder (request.json, run.json, log.txt, stdout.json)
  RunRecord request;   // command + config to run (written to dir/request.json)
};

struct ChildOutcome {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string describe() const;  // "exit code 1: <last log line>" / "killed by signal 9"
  std::string log_tail;          // last line of log.txt
  int rank = 0;                  // the MPI rank that ran it (0 without MPI)
  std::string host;              // and its machine (empty without MPI)
};

// Runs every child, `jobs` at a time; `on_done(i, outcome)` is called in the parent as each one ends.
// `executable` empty = this very program (immune to a rebuild of the binary while the batch runs).
void run_children(const std::vector<ChildRun>& runs, int jobs, const std::string& executable,
                  const std::function<void(size_t index, const ChildOutcome& outcome)>& on_done);

// How a batch will run, for logs: "2 at a time (1 threads each)", or under MPI "one per rank on 2 MPI ranks".
std::string parallelism(int jobs, int threads);

// Registers the "child_run" task with dist (call once per process before serving tasks).
void register_child_run_task();

// The record of a finished run (completed or diverged) in dir, if its config equals `expected` (threads
// aside: they change no result). false when there is none or it is torn (the run is then redone, resuming
// its checkpoint); ConfigError when the folder holds a run with a different config.
bool read_finished_record(const std::string& dir, const nlohmann::json& expected, RunRecord& out);

// Last line of a text file, at most max_chars (for failure messages).
std::string tail_of_file(const std::string& path, size_t max_chars);

}  // namespace nemokd::train
