// One resumable campaign of child runs: what a W x A sweep (campaign/sweep.h), the (alpha, T) grid
// (campaign/kd_grid.h) and the NEMOKD evolution (search/evolve.h) share, written once.
//  - a resume guard: an output folder holding a campaign is refused without --resume, and resumed only with the
//    same identity() of its config (each config type defines identity() next to its to_json: the fields that change
//    no result, or may grow on a resume, are left out; a stored config is parsed first, so a field added since it
//    was written takes its default instead of breaking the comparison);
//  - a Batch of child runs: each finished child (run.json completed or diverged, with the same identity) is read
//    back instead of retrained; the rest go to an Executor (campaign/executor.h) as one batch, with a progress line
//    and an ETA as each ends;
//  - one typed RunSummary of a finished run (status, accuracies, parameters, time) instead of a parser per campaign.
// A new kind of campaign (e.g. a joint architecture + bit-width search) is a config with identity(), a list of
// ChildRuns and its own results table: see docs/ARCHITECTURE.md.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "campaign/executor.h"
#include "core/run_record.h"

namespace nemokd::campaign {

// A finished run read back from its run.json (what every campaign reports of its children).
struct RunSummary {
  RunStatus status = RunStatus::requested;  // requested until the child has run (failed when it left no record)
  std::string message;
  int64_t parameters = 0;
  std::map<int, double> test_accuracy_at;           // epoch -> test accuracy, for the epochs evaluated on test
  double test_accuracy = NAN, val_accuracy = NAN;   // after the last epoch
  double train_seconds = 0;
  static RunSummary from_record(const RunRecord& record);
};

// A results table's status column: empty for a child not run yet, else the status's name.
std::string status_column(const RunSummary& run);

// The finished run (completed or diverged) in `dir` if it is `request`'s run: same command and the same identity of
// the config (campaign/run_kinds.h). nullopt when there is none or its record is torn (the child is then redone,
// resuming its checkpoint); ConfigError when the folder holds a different run.
std::optional<RunSummary> read_finished(const std::string& dir, const RunRecord& request);

// The child runs of a campaign.
struct ChildRun {
  std::string name;   // in progress lines: "w2a2", "a0.5-t4", an architecture
  std::string dir;    // its run folder
  RunRecord request;  // command + config ("requested")
  // Relative cost of running it (any unit; 0 = unknown). A batch hands the costliest children out first (longest
  // processing time first), so the longest run does not start last and leave the other slots idle at the end.
  double cost_hint = 0;
};

struct ChildResult {
  RunSummary run;
  bool reused = false;   // finished before this invocation: read back, not run
  bool ran = false;      // run in this invocation
  ChildOutcome outcome;  // of the child process, when it ran
};

class Batch {
 public:
  // `label` starts the progress lines ("sweep", "kd grid"); progress = false: no lines.
  Batch(std::string label, bool progress) : label_(std::move(label)), progress_(progress) {}

  // Adds a child; a finished one is read back now (result(i).reused). Returns its index.
  size_t add(ChildRun child);
  size_t size() const { return children_.size(); }
  size_t reused() const;
  size_t pending() const { return pending_.size(); }
  int failed() const;  // children that ran now and left no finished record
  const ChildRun& child(size_t i) const { return children_.at(i); }
  const ChildResult& result(size_t i) const { return results_.at(i); }

  // Runs the pending children on `executor` as one batch, in descending cost_hint (stable: equal hints keep the
  // order they were added in; results stay by index). As each ends its result is read back (status failed with
  // the process's exit when it left no finished record), a progress line with the ETA is logged, and
  // after_each(index) is called (e.g. to rewrite the results table).
  void run(Executor& executor, const std::function<void(size_t index)>& after_each = {});

 private:
  std::string label_;
  bool progress_;
  std::vector<ChildRun> children_;
  std::vector<ChildResult> results_;
  std::vector<size_t> pending_;
};

// Where a campaign runs and how (every kind's context).
struct Context {
  std::string out_dir;
  bool resume = false;
  bool progress = true;
  std::shared_ptr<Executor> executor;  // null: make_executor with the config's jobs
};

// Reads a stored config back and returns its identity (parse, then identity()).
using IdentityOf = std::function<nlohmann::json(const nlohmann::json& stored_config)>;

// Refuses to start a campaign (`what`: "a sweep") in out_dir when one is there (`exists`) and resume is false.
// `kept` is said after "--resume to continue it" (e.g. " (finished cells are kept)").
void refuse_without_resume(bool exists, bool resume, const std::string& out_dir, const std::string& what,
                           const std::string& kept = "");
// ConfigError naming `state` unless identity_of(stored) == now. `hint` ends the message.
void check_identity(const nlohmann::json& stored, const nlohmann::json& now, const IdentityOf& identity_of,
                    const std::string& state, const std::string& hint = "resume with the same ones or use a new --out");

// The state file of a campaign (out_dir/state_name, e.g. sweep.json): the two checks above against the stored
// config, then `config` is written there (out_dir created).
void open_state(const std::string& out_dir, const std::string& state_name, const nlohmann::json& config,
                const nlohmann::json& identity, const IdentityOf& identity_of, bool resume, const std::string& what,
                const std::string& kept = "");

// Torch threads of each child when `jobs` share `total` (0 = all cores): never below 1.
int threads_per_run(int total, int jobs);

}  // namespace nemokd::campaign
