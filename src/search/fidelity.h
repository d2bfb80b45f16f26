// Multi-fidelity inside a generation (issue 17): successive halving over training budgets counted in epochs.
// Every architecture of a generation is trained for rungs[0] epochs; at each rung the generation's architectures
// with a result at that rung are ranked (pagmo's non-dominated sorting, then crowding distance, then error, then
// canonical key: a total order) and the best ceil(n * promote) completed ones, plus the seeded architectures, go on
// to the next rung; pagmo gets each architecture's objectives from the highest rung it reached. The decisions are a
// pure function of the stored rung results (this file: no store, no training), so a resumed run recomputes them
// exactly. See docs/SEARCH.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nemokd::search {

// The rungs a config asks for: `rungs` as given, or {epochs} when empty (one rung: no promotion, today's search).
std::vector<int> effective_rungs(const std::vector<int>& rungs, int epochs);
// ConfigError naming `key` unless rungs are empty or strictly increasing positive epochs ending at `epochs` (the
// top rung is the search's training length, so the baselines, trained at --epochs, compare with top-rung results),
// and unless 0 < promote <= 1.
void check_fidelity(const std::vector<int>& rungs, double promote, int epochs, const std::string& key);

// ceil(n * promote), at least 1 when n > 0 (a float product a hair above an integer is that integer).
size_t promoted_count(size_t n, double promote);

// One architecture at one rung: its objective vector there (objectives_of of that rung's result).
struct RungEntry {
  std::string key;
  std::vector<double> f;
  bool completed = false;  // only completed results are promoted (a failed training is not trained longer)
  bool forced = false;     // a seeded architecture: always promoted when completed
};

// Indices of `entries` in rank order: pagmo::fast_non_dominated_sorting rank ascending, pagmo::crowding_distance
// (within the front) descending, first objective ascending, key ascending. Deterministic for any input order.
std::vector<size_t> rank_order(const std::vector<RungEntry>& entries);
// The keys promoted from a rung of n = entries.size() architectures: the completed ones among the first
// promoted_count(n, promote) in rank order, then the forced completed ones not already in; in rank order.
std::vector<std::string> promote_from(const std::vector<RungEntry>& entries, double promote);

// The folder of a candidate's training at `epochs`: `base` (candidates/<hash>) at the search's epochs (the layout
// of a one-rung search), base + "-e<epochs>" otherwise.
std::string rung_dir(const std::string& base, int epochs, int top_epochs);

// One finished search training, as logged in the store's evaluations table.
struct EvaluationLog {
  int generation = 0;  // -1: the baselines
  int rung = 0;
  int epochs = 0;
  double seconds = 0;  // training seconds of the run
};
// The budget per generation (results.json "budget", the log line): trainings per rung (epochs x n), epochs,
// cumulative epochs (the baselines' included, as generation -1 first), wall seconds where known (`walls` by
// generation; absent: null).
nlohmann::json budget_json(const std::vector<EvaluationLog>& log, const std::vector<std::pair<int, double>>& walls);
// "gen 3: rung0 16x1 ep, rung1 6x3 ep = 34 ep (cum 210), 412 s"
std::string budget_line(const nlohmann::json& entry);

}  // namespace nemokd::search
