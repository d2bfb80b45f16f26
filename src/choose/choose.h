// `nemokd choose RUN_DIR... --target SPEC`: which trained model to deploy on a target. The models of sweeps, KD grids,
// evolutions and single runs are priced on the target (cost/cost.h), those that meet the constraints are ranked by
// VALIDATION accuracy (test accuracy is shown, never used to choose), and the first is the choice. Every figure says
// how it was obtained (estimated, expected on board, measured, proxy, or from a search's record).
#pragma once
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cost/cost.h"

namespace nemokd::choose {

// One trained model found in the folders given.
struct ModelRef {
  std::string source_kind;  // "sweep", "kd grid", "evolution", "run"
  std::string source_dir;   // the folder given (or the run one level down in it)
  std::string run_dir;      // the model's own run folder (run.json, model.pt when kept)
  std::string label;        // "w2a2", "a0.5-t4", "conv 32-64 | fc 256-classifier", the run folder's name
  std::string role;         // sweep: "uniform"; KD grid: "kd" / "no-kd"; evolution: "search" / "baseline-kd" /
                            // "baseline-no-kd"; single run: "run"
  std::string status;       // "completed", ...
  std::string dataset;      // from its run.json ("" when the folder has none)
  double val_acc = NAN, test_acc = NAN;
  // A cost recorded by the search that produced it (an evolution's latency), reused only for the same target text.
  std::string stored_spec, stored_host;
  std::optional<cost::CostValue> stored_cost;
};

// Every model in `dirs` (each a sweep, KD grid, evolution or run folder, or a folder holding such folders one level
// down). A folder that holds none is a ConfigError naming it. Models whose run did not complete are left out.
// Accuracies on different datasets do not compare: models of more than one dataset are a ConfigError naming them.
std::vector<ModelRef> collect_models(const std::vector<std::string>& dirs);

struct Constraints {
  double min_fps = 0;                  // 0 = none
  std::string fps_basis = "expected";  // fpga: "expected" (on board, calibrated) or "estimated" (cost model)
  double max_latency_ms = 0;           // 0 = none; fpga: one frame through the pipeline; a probe: its latency
  int64_t max_lut = 0, max_bram18 = 0; // 0 = none; fpga only
  std::string role;                    // "" = every role
  std::string select_on = "val";       // "val" or "test" (optimistic: rows say so)
  void validate(const cost::CostSpec& target) const;  // ConfigError naming the flag
};

struct Row {
  ModelRef model;
  cost::CostValue cost;
  bool reused = false;          // the cost is the search's record (same target text), not priced now
  bool priced = false;          // ok and priceable: the target can run it and has figures for it
  bool meets = false;           // priced, feasible and within every constraint
  double fps = NAN;             // on the basis asked (fpga) or 1000 / per-image ms (a measurement); NaN for proxies
  double latency_ms = NAN;
  std::vector<std::string> misses;  // why it does not meet: "needs 100000 FPS (expected on board), has 84000"
  double miss = 0;              // relative violation: sum of relative shortfalls (and the fit violation)
  int rank = 0;                 // 1.. among the ranked rows; 0 = not ranked
  std::string note;             // "not priceable on xc7z020: ...", "no validation accuracy: listed, not ranked"
};

struct Result {
  std::string target;        // the target's canonical text
  std::string target_name;   // "xc7z020" or the probe's text
  Constraints constraints;
  std::vector<Row> rows;     // ranked rows first (by rank), then the rest in the order found
  int chosen = -1;           // index into rows, -1 = nothing meets
  int priced = 0;            // rows with figures
  std::string why;           // the choice and why, or the one-line refusal naming the closest model
  nlohmann::json to_json() const;
  // The text table, then `why`. `top` > 0 prints only the first `top` rows (the ranked ones come first) and one line
  // counting the rest; 0 prints every row.
  std::string table(size_t top = 0) const;
};

// Collects, prices and ranks. `target` is a cost spec (cost::parse_cost).
Result choose(const std::vector<std::string>& dirs, const std::string& target, const Constraints& constraints,
              const cost::CostContext& context = {});

// The chosen model's bundle in `dir`: run.json (+ model.pt) copied, cost.json (the target's figures; fpga.json for an
// FPGA target: folding, estimate and both fit verdicts), and, when model.pt is there and the model supports them, the
// integer engine's model.nqe and QONNX model.qonnx.onnx. bundle.json lists what was written and why anything was not.
// Returns that listing.
nlohmann::json export_bundle(const Result& result, const std::string& dir);

}  // namespace nemokd::choose
