// The state of one evolution run in SQLite (WAL mode, one transaction per finished evaluation or generation):
// the config, every candidate ever evaluated (memo by canonical key: a genome is trained once per run), the
// population after every generation, and the (population, algorithm) checkpoint NSGA-II resumes from. A kill at
// any moment loses at most the evaluations still running; nothing finished is redone.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/run_record.h"

struct sqlite3;

namespace nemokd::search {

// Why a candidate was evaluated: a point of the search, the baseline student with or without distillation, a
// uniform-precision model of route Q (EvolveConfig::uniform_baselines) with or without distillation; the final
// stage's retrainings of a front point and of the two baselines (search/final_stage.h).
enum class Role {
  search, baseline_kd, baseline_no_kd, final_point, final_baseline_kd, final_baseline_no_kd, uniform_kd, uniform_no_kd
};
// "search", "baseline-kd", "baseline-no-kd", "final", "final-baseline-kd", "final-baseline-no-kd", "uniform-kd",
// "uniform-no-kd": the store's and the tables' text
const char* to_string(Role role);
bool distilled(Role role);  // trained with the teacher (all but the *-no-kd roles)
Role parse_role(const std::string& text, const std::string& key);  // ConfigError naming `key` for another text

struct Candidate {
  std::string key;           // canonical model config (search/space.h)
  std::vector<double> genome;  // the first genome that produced it
  nlohmann::json config;     // decoded model config
  std::string summary;       // human-readable architecture
  RunStatus status = RunStatus::requested;  // completed | diverged | failed once evaluated
  std::string message;
  double error = 1.0;        // the selection metric after partial training (1 when it failed): val_error, or
                             // test_error when the search selects on test (EvolveConfig::select_on)
  double val_error = NAN, test_error = NAN;  // both as measured (NaN: not measured; NULL in the store)
  double latency = 0;        // the latency objective (probe value)
  nlohmann::json latency_detail;
  int64_t params = 0, macs = 0;
  double train_seconds = 0;
  std::string run_dir;
  int generation = 0;        // first generation that asked for it (-1: baseline)
  Role role = Role::search;
  // false: the cost backend found, from the config alone, that it cannot be deployed on the target (an FPGA it fits
  // at no folding, or a layer the target cannot run): never trained, never on a front; status text "infeasible"
  // (status failed inside the process), graded by cost["violation"].
  bool feasible = true;
  // How the cost objective was obtained, for costs priced through the cost interface before training (fpga):
  // cost::CostValue::to_json() less its detail (that is latency_detail): how, unit, label, feasible, priceable,
  // violation, message. Null otherwise.
  nlohmann::json cost;
  double violation() const { return cost.is_object() ? cost.value("violation", 0.0) : 0.0; }
  // The training the result columns hold: its epochs (0: a store written before rungs, the search's --epochs) and
  // its rung (search/fidelity.h); a promoted candidate holds its highest rung's result.
  int epochs = 0, rung = 0;
};

// One finished training of the search (either rung, the baselines too): the evaluations table, the memo by
// (key, epochs) and the budget's log. `seed`: the train seed.
struct Evaluation {
  std::string key;
  int epochs = 0;
  int64_t seed = 0;
  Role role = Role::search;
  RunStatus status = RunStatus::requested;
  std::string message;
  double val_error = NAN, test_error = NAN;
  double train_seconds = 0;
  std::string run_dir;
  int generation = 0, rung = 0;
};
// "infeasible" for a candidate that is not feasible, else its status's text: what the store and every output say.
std::string status_text(const Candidate& c);

// One finished training of the final stage: a point (key, role) at `epochs` with train seed base + `seed`.
struct FinalRun {
  std::string key;
  Role role = Role::final_point;
  int seed = 0, epochs = 0;
  RunStatus status = RunStatus::requested;
  std::string message;
  double val_error = NAN, test_error = NAN;
  double train_seconds = 0;
  std::string run_dir;
};

struct Checkpoint {
  int generation = -1;                       // population after this generation (0 = initial)
  std::vector<std::vector<double>> xs, fs;   // decision and fitness vectors, in population order
  std::string algorithm;                     // serialized nsga2 (Boost binary archive, with its RNG state)
};

class Store {
 public:
  // Creates the schema if needed; migrates a file of an older schema (columns added, meta 'schema' set). A store
  // written before the schema was versioned that holds candidates was selected on test error: it is marked so
  // (meta 'legacy_protocol' = "test") and its rows' test_error filled from their error.
  explicit Store(const std::string& path);
  // 4: the evaluations table, candidates' epochs and rung (a schema-3 file gains them: an empty table, 0, 0).
  static constexpr int kSchema = 4;
  bool legacy_protocol() const;  // recorded before selection on validation (the mark above)
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  std::optional<std::string> meta(const std::string& key) const;
  void set_meta(const std::string& key, const std::string& value);

  std::optional<Candidate> candidate(const std::string& key) const;
  void put_candidate(const Candidate& c);
  std::vector<Candidate> candidates() const;  // in insertion order

  // A finished search training and the candidate it belongs to, in ONE transaction: the evaluation is logged, and
  // the candidate row is inserted, or (a promotion) its result columns replaced when `c` is at the same or a higher
  // rung's epochs than the row holds. A kill leaves both or neither.
  void put_evaluation(const Evaluation& e, const Candidate& c);
  std::optional<Evaluation> evaluation(const std::string& key, int epochs, Role role = Role::search) const;
  std::vector<Evaluation> evaluations() const;  // in insertion order

  // The final stage's memo: a finished training is stored once (its own transaction) and never trained again.
  std::optional<FinalRun> final_run(const std::string& key, Role role, int seed, int epochs) const;
  void put_final_run(const FinalRun& run);

  void put_generation(int generation, const std::vector<std::string>& keys, const Checkpoint& checkpoint);
  std::optional<Checkpoint> last_checkpoint() const;
  std::vector<std::string> members(int generation) const;  // canonical keys, in population order
  int generations_done() const;                            // last generation with a checkpoint, -1 if none

 private:
  void exec(const std::string& sql);
  void migrate();
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace nemokd::search
