// Reading run folders for reports: which kind of run a folder holds (detected by its files) and its numbers, as
// plain structs. No torch: JSON and CSV in. Every defect a user can cause is a ConfigError/DataError naming the file.
#pragma once
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nemokd::report {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// FPGA estimate of one design (a sweep row's `hw` object or a row of an `fpga grid` CSV).
struct HwEstimate {
  double lut = kNaN, ff = kNaN, bram18 = kNaN, dsp = kNaN;
  double fps = kNaN;                                   // *estimated*: f_clk / slowest unit (cost model)
  double fps_expected = kNaN, fps_expected_sd = kNaN;  // *expected on the board*: calibrated (NaN in older tables)
  bool fits = false;
  std::string fit;  // "fits xc7z020" / "does not fit ...: LUT ..."
  int pe = 0, simd = 0;
};

// One epoch of a training record (run.json results.history / metrics.json); NaN where not evaluated.
struct EpochPoint {
  int epoch = 0;
  double train_accuracy = kNaN, val_accuracy = kNaN, test_accuracy = kNaN;
};

// The integer engine *measured* on a CPU (`nemokd engine bench --save RUN/engine_bench.json`): batch throughput on
// `threads` threads and single-frame latency on one thread (what route K's batch-1 latency probe measures).
struct EngineBench {
  double frames_per_second = kNaN, single_frame_latency_us = kNaN, libtorch_fp32_frames_per_second = kNaN;
  long long batch = 0;
  int threads = 0;
  std::string measured_on;  // CPU model and cores
};

// W x A sweep (`nemokd quant sweep`): sweep.json + results.json, a cell per wXaY folder.
struct SweepCell {
  int wbits = 0, abits = 0;
  std::string status, run_dir;
  double final_test_accuracy = kNaN, final_val_accuracy = kNaN, train_seconds = kNaN;
  long long parameters = 0;
  std::map<int, double> test_accuracy_at;  // epoch -> test accuracy (the sweep's eval_at points)
  std::optional<HwEstimate> hw;
  std::vector<EpochPoint> curve;  // per epoch, from the cell's metrics.json when present
  std::optional<EngineBench> engine;  // the cell folder's engine_bench.json when present
  std::string label() const { return "W" + std::to_string(wbits) + "A" + std::to_string(abits); }
};
struct Sweep {
  std::string dir, dataset, preset, topology;  // topology: tfc/sfc/lfc or the hidden widths joined by 'x'
  std::vector<int> hidden, eval_at;
  int epochs = 0;
  nlohmann::json hw_setup;  // results.json "hw" (device, fclk_mhz, pe, simd, formulas) or null
  std::vector<SweepCell> cells;
  const SweepCell* find(int w, int a) const;
};

// (alpha, T) grid of knowledge distillation (`nemokd kd grid`): grid.json + results.json.
struct KdCell {
  std::string name, status, run_dir;
  bool kd = true;
  double alpha = kNaN, temperature = kNaN, test_accuracy = kNaN, test_error = kNaN, val_accuracy = kNaN;
};
struct KdGrid {
  std::string dir, dataset, preset, student, teacher;
  std::vector<KdCell> cells;                           // every row, the no-KD baseline included
  double baseline_error = kNaN, baseline_accuracy = kNaN;  // results.json "baseline" (NaN if none)
  double best_alpha = kNaN, best_temperature = kNaN, best_error = kNaN;
};

// One training run (run.json): accuracy per epoch and the command that produced it.
struct SingleRun {
  std::string dir, command, status, dataset, model;
  double final_test_accuracy = kNaN, final_val_accuracy = kNaN;
  int epochs = 0;
  std::vector<EpochPoint> curve;
  std::optional<EngineBench> engine;  // the folder's engine_bench.json when present
};

// Integer engine against the QAT model (experiments/engine/compare.csv).
struct EngineRow {
  std::string set, cell, kernels;
  long long bytes = 0;
  double engine_accuracy = kNaN, model_accuracy = kNaN;
  long long prediction_mismatches = 0;
  bool exact = false;
};
struct EngineCompare {
  std::string dir;
  std::vector<EngineRow> rows;
};

// `nemokd fpga grid --csv` tables (grid*.csv in a folder): estimates per topology x W x A x folding.
struct FpgaRow {
  std::string topology;
  int wbits = 0, abits = 0;
  long long max_cycles = 0;
  HwEstimate hw;
  std::string failing;
};
struct FpgaGrid {
  std::string dir;
  std::vector<std::string> files;
  std::vector<FpgaRow> rows;
};

// NSGA-II evolution (NEMOKD): candidates.json. Format (one object; "candidates" may also be the whole file):
//   {"device": "...", "dataset": "...", "command": "...",
//    "candidates": [{"generation": 3, "id": "g3-7", "genome": <any JSON>, "architecture": "conv 32-64 | fc 256",
//                    "error": 0.12, "latency_ms": 1.9, "params": 12345, "macs": 678900, "pareto": true}, ...],
//    "baseline": [{"name": "baseline (KD)", "error": 0.2, "latency_ms": 2.5, "architecture": "..."}, ...]}
// "selected_on": what "error" is, the metric the search minimised: "validation" (each candidate's "test_error" is
// then reported beside it) or "test" (the paper's protocol; a file without the key was written before selection on
// validation existed, and is read as "test"). error is a fraction in [0, 1]; latency_ms in milliseconds ("latency" is
// accepted as milliseconds too); a search with a proxy probe (--latency macs / params) writes "latency_proxy" instead,
// read as the objective in the proxy's unit (never as milliseconds); params, macs, id, architecture, genome, pareto
// optional. Candidates whose "status" is not "completed" (failed trainings or measurements: error and latency null) are
// counted, not plotted. A search priced by an FPGA cost backend (--cost fpga:DEVICE, the joint search of issue 19) also
// writes, per candidate, "feasible" (false: fits at no folding; never trained, status "infeasible", never plotted) and
// the cost model's figures "fps_estimated", "fps_expected", "lut", "bram18", "fits_planning", "fits_device"; its top
// level has "cost": {"spec": "fpga:..."}. latency_ms is then 1000 / fps_estimated: an estimate, not a measurement.
struct Candidate {
  int generation = 0;
  std::string id, architecture, genome;  // genome: compact JSON text
  double error = kNaN, latency_ms = kNaN;  // error: the selection metric (Evolution::selected_on)
  double test_error = kNaN;                 // NaN when not recorded
  long long params = -1, macs = -1;
  bool pareto = false;
  double fps_estimated = kNaN, fps_expected = kNaN, lut = kNaN, bram18 = kNaN;  // FPGA cost model (NaN: none)
};

// The final stage of a search (`nemokd evolve --final-epochs N`): OUT/final.json (= results.json "final"; written by
// search::FinalResult::to_json, src/search/final_stage.h). Every point retrained for `epochs` epochs with `seeds`
// train seeds: test and validation error mean and sample sd over the finished seeds, latency re-measured.
struct FinalStagePoint {
  std::string name, role, architecture;  // role: final | final-baseline-kd | final-baseline-no-kd
  long long params = -1, macs = -1;
  double search_error = kNaN;  // the search's partial-training selection error (a ranking signal, not a result)
  int search_epochs = 0;
  double latency = kNaN, latency_sd = kNaN;  // the search's unit (Evolution::proxy_unit or ms)
  double val_mean = kNaN, val_sd = kNaN, test_mean = kNaN, test_sd = kNaN;
  int val_n = 0, test_n = 0;
  std::vector<double> test_per_seed;  // completed seeds, in seed order
  bool front = false;                 // on the front re-drawn on the final selection-metric means
};
struct FinalStage {
  std::string file;  // what it was read from
  int epochs = 0, seeds = 0;
  std::string selected_on, latency_source;
  std::vector<FinalStagePoint> points;  // front points, then the baselines
  bool beats_baseline_kd = false, fast_within_1pt = false;
  std::string beats_point, beats_rule, fast_point, fast_rule;
  const FinalStagePoint* find_role(const std::string& role) const;
  const FinalStagePoint* find_point(const std::string& architecture) const;  // role final
};
struct Evolution {
  std::string dir, device, dataset, command;
  std::string host;  // the CPU the search ran on ("" in older records): where a torch probe measured
  std::string selected_on = "test";  // "validation" | "test": what Candidate::error is
  std::vector<Candidate> candidates, baselines;  // baselines: generation unused
  std::string proxy_unit;  // "" = latency_ms is milliseconds; else what the proxy counts ("MACs", "parameters")
  std::string cost_spec;   // "cost": {"spec"} (else `device`): "fpga:xc7z020,...", "torch:cpu", "macs", ...
  int failed = 0;          // candidates that did not complete (not in `candidates`), infeasible ones included
  int infeasible = 0;      // of those, designs an FPGA cost model found to fit at no folding
  std::optional<FinalStage> final_stage;  // OUT/final.json, else results.json "final"; none for older runs
  bool fpga_cost() const { return cost_spec.rfind("fpga:", 0) == 0; }  // a joint search (issue 19)
};

// The device of an "fpga:DEVICE[,...]" cost spec ("" otherwise).
std::string fpga_device_of(const std::string& cost_spec);

enum class RunKind { sweep, kd_grid, single_run, engine_compare, fpga_grid, evolution };
const char* to_string(RunKind kind);

// What was found in the folders given to `nemokd report`, in order.
struct RunSet {
  struct Entry {
    RunKind kind;
    std::string dir;
    std::vector<std::string> commands;  // how the run was produced (recorded argv, or the script that runs it)
  };
  std::vector<Entry> entries;
  std::vector<Sweep> sweeps;
  std::vector<KdGrid> kd_grids;
  std::vector<SingleRun> runs;
  std::vector<EngineCompare> engine;
  std::vector<FpgaGrid> fpga;
  std::vector<Evolution> evolution;
};

// The kind of run a folder holds, by its files; nullopt if none. Order: candidates.json (evolution); sweep.json +
// results.json (sweep); grid.json + results.json (KD grid); compare.csv (engine); grid*.csv with the `fpga grid`
// header (FPGA grid); run.json (single run).
std::optional<RunKind> detect_kind(const std::string& dir);

// Loads every folder. A folder that is no run itself but holds runs one level down (experiments/q1: runs/,
// lfc-runs/, hw/) contributes those. A missing folder, or one with no run in it, is a ConfigError naming it.
RunSet load_runs(const std::vector<std::string>& dirs);

Sweep load_sweep(const std::string& dir);
KdGrid load_kd_grid(const std::string& dir);
SingleRun load_single_run(const std::string& dir);
EngineCompare load_engine_compare(const std::string& dir);
FpgaGrid load_fpga_grid(const std::string& dir);
Evolution load_evolution(const std::string& dir);
// DIR/final.json, else DIR/results.json's "final"; nullopt when neither has one (a run without a final stage).
std::optional<FinalStage> load_final_stage(const std::string& dir);

// Topology name for hidden widths: 64x3 -> tfc, 256x3 -> sfc, 1024x3 -> lfc, else "512x256".
std::string topology_name(const std::vector<int>& hidden);

}  // namespace nemokd::report
