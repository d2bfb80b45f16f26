// The final stage of a NEMOKD search: the errors a search ranks by come from a partial training, so they are not
// results. After the last generation, the archive front (the non-dominated completed candidates over ALL
// generations, by the search's own objectives: selection error, latency, extras) and both baselines (the
// un-evolved student with and without KD) are retrained for final_epochs (the reference recipe at that length) with
// final_seeds train seeds (base seed + s), as one batch of child runs on the search's executor. Each training's
// folder is final_dir/<hash of the run's identity>, so identical trainings (e.g. the baselines of two searches
// pointed at the same --final-dir) are shared and read back instead of retrained; every finished one is also in
// the store's final_runs table. A rerun after a kill trains only what is missing; more seeds train only the new
// ones. The latency of every point is measured again with nothing training (3 interleaved rounds, median).
// Reported: val and test error mean and sample sd over the seeds (with the per-seed values), the front re-drawn on
// the final selection-metric means, and two verdicts computed here (final_verdicts). See docs/SEARCH.md.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "search/evolve.h"
#include "search/store.h"

namespace nemokd::search {

// Mean and sample standard deviation (n - 1); sd is NaN for fewer than two values, mean NaN for none.
struct MeanSd {
  double mean = NAN, sd = NAN;
  int n = 0;
};
MeanSd mean_sd(const std::vector<double>& values);

struct FinalPoint {
  std::string key;
  Role role = Role::final_point;  // final | final_baseline_kd | final_baseline_no_kd
  std::string summary;
  nlohmann::json config;
  int64_t params = 0, macs = 0;
  double search_error = NAN;      // the selection metric after the search's partial training
  int search_epochs = 0;
  double latency = NAN, latency_sd = NAN;  // median of the re-measured rounds (or the search's value: latency_rounds empty)
  std::vector<double> latency_rounds;
  std::vector<FinalRun> runs;     // one per seed asked for (status requested: not finished)
  MeanSd val, test;               // over the finished, completed seeds
  bool front = false;             // on the front re-drawn on the final selection-metric means (not the no-KD baseline)
};

// The claims a NEMOKD experiment makes, decided by code from the final numbers (never typed in):
//  beats_baseline_kd: a front point with latency <= the KD baseline's and test mean + sd < baseline mean - sd
//    (the two +-1 sd intervals do not overlap; with one seed there is no sd and no claim);
//  fast_within_1pt: a front point with latency <= the KD baseline's / 3 and test mean <= baseline mean + 0.01.
// Each names the qualifying point with the lowest test mean ("" when none).
struct FinalVerdicts {
  bool beats_baseline_kd = false, fast_within_1pt = false;
  std::string beats_point, fast_point;
  nlohmann::json to_json() const;
};
FinalVerdicts final_verdicts(const std::vector<FinalPoint>& points);

// The non-dominated completed search candidates over the whole store (not the no-KD baseline), by objectives_of,
// in ascending latency (ties: key); only those whose result is at the top rung (search/fidelity.h).
std::vector<Candidate> archive_front(const EvolveConfig& config, const std::vector<Candidate>& candidates);
// At most `max` of `front` (ascending latency): all with latency <= `baseline_latency` first (evenly spread in
// log-latency if they alone exceed max), then the rest evenly in log-latency. Deterministic.
std::vector<Candidate> cap_front(const std::vector<Candidate>& front, int max, double baseline_latency);

struct FinalResult {
  int epochs = 0, seeds = 0;
  std::string dir;
  SelectOn selected_on = SelectOn::validation;
  std::vector<FinalPoint> points;  // front points (ascending search latency), then baseline KD, baseline no KD
  FinalVerdicts verdicts;
  int trained_now = 0, reused = 0;
  std::string latency_source;      // "re-measured (3 interleaved rounds, median)" or "search (...)"
  // What a point's "latency" is: the search's cost objective (cost::unit_of the config's cost), e.g. "ms/frame"
  // estimated (fpga: 1000 / estimated FPS), "ms" measured (torch), "MACs" proxy.
  std::string cost_spec, cost_unit, cost_how;
  nlohmann::json to_json() const;
};

// Runs the stage for a finished search (store holds its candidates). `budget` >= 0: throw Interrupted after that
// many new trainings (tests; -1: no limit). Writes out_dir/final.json and out_dir/final.csv.
FinalResult run_final_stage(const EvolveConfig& config, Store& store, Evaluator& evaluator, const std::string& out_dir,
                            bool progress, int64_t budget = -1);

}  // namespace nemokd::search
