// The numbers behind each figure of a report (pure functions of the loaded runs, unit-tested) and the page's
// sections: charts as complete Vega-Lite / Vega specs with their data inlined, and tables with the exact numbers.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/runs.h"

namespace nemokd::report {

struct ReportOptions {
  std::string title;             // page title; default: "nemokd report" and the folders
  std::vector<int> generations;  // evolution: generations to plot (empty: all)
  bool epoch_curves = true;      // sweeps: also the per-epoch validation curves from each cell's metrics.json
  std::string base_dir;          // where the page lives (write_report sets it): absolute paths below it are shown
                                 // relative to it in commands and the title
};

// ---- figure data ------------------------------------------------------------------------------------------------

// Test accuracy over W x A at each of the sweep's evaluation epochs: {wbits, abits, cell, epoch, accuracy, t}
// (t: position of the accuracy between the epoch's minimum and maximum, for the label colour).
nlohmann::json accuracy_heatmap_rows(const Sweep& sweep);

// One design for resource heatmaps.
struct HwPoint {
  int wbits = 0, abits = 0;
  HwEstimate hw;
};
std::vector<HwPoint> hw_points(const Sweep& sweep);

// value / (smallest positive value of that resource among the points): 1 = the cheapest design. 0 stays 0.
double relative_to_min(double value, double min_positive);

// LUT, FF, BRAM18 of each design, absolute and relative to the cheapest design of the set:
// {wbits, abits, cell, resource, value, relative, label, t}.
nlohmann::json resource_heatmap_rows(const std::vector<HwPoint>& points);

// Fits / does not fit: {wbits, abits, cell, fits ("fits" | "does not fit"), fit (the reason)}.
nlohmann::json fit_heatmap_rows(const std::vector<HwPoint>& points);

// best -> 1, worst -> 0, linear in between (best may be below worst: lower-is-better); 1 when best == worst.
double normalise(double value, double best, double worst);

// The paper's radar slices: weight-oriented (W1, W3, W6, W8 at A4), activation-oriented (A1, A3, A6, A8 at W4),
// diagonal (W1A1, W2A2, W4A4, W7A7).
struct RadarSlice {
  std::string id, title;
  std::vector<std::pair<int, int>> cells;  // (W, A)
};
std::vector<RadarSlice> paper_radar_slices();

// Radar axes of a sweep: final test accuracy, accuracy after the first evaluation epoch (if earlier), training time,
// and LUT, FF, BRAM18 (and FPS if it varies) when the sweep has FPGA columns. Each normalised best = 1 / worst = 0
// across the whole sweep (not the slice). Rows for the slice's cells that exist: {category, key, value, raw}.
nlohmann::json radar_rows(const Sweep& sweep, const RadarSlice& slice);

// KD cells over (alpha, T) against the no-KD baseline: {name, alpha, temperature, error, accuracy, baseline_error,
// delta (error - baseline), beats_baseline}. The baseline row itself is not included.
nlohmann::json kd_surface_rows(const KdGrid& grid);

// Candidates of the chosen generations (all if empty), with FPS = 1000 / latency_ms.
std::vector<Candidate> chosen_candidates(const Evolution& ev, const std::vector<int>& generations);
// Pareto front (minimise latency and error) of a set: the `pareto` flags when any candidate has one, else the
// non-dominated candidates. Sorted by latency.
std::vector<Candidate> pareto_front(const std::vector<Candidate>& candidates);

// The final stage's chart data: one row per point with a test mean and a positive latency: {kind ("front point
// (retrained)" | "baseline (KD)" | "baseline (no KD)"), architecture, latency, latency_sd, test_mean, test_sd, lo, hi
// (mean -+ sd, only with an sd), val_mean, seeds, front, per_seed}. Test errors only: never the search-time errors.
nlohmann::json final_stage_rows(const FinalStage& f);

// Accuracy against throughput for both routes: Q = sweep cells with an FPGA estimate (and FPGA grid rows joined
// with a sweep of the same topology by W and A), K = evolution candidates and baselines (FPS from latency).
// {route, series, label, dataset, fps, accuracy, detail}.
nlohmann::json q_vs_k_rows(const RunSet& runs, const std::vector<int>& generations);

// Issue 19: the joint search (an evolution priced by an FPGA cost model, cost spec "fpga:...") against route Q's
// uniform W x A sweeps and route K's fronts, on the same axes: test error against FPS and against LUT, both
// *estimated* by the FPGA cost model (never mixed with expected-on-board or measured figures). A set on another
// basis (a latency measured on a CPU, a proxy, another device or clock, another dataset) is left out with the
// reason; infeasible designs are never drawn (the loader skips them), nor sweep cells that do not fit.
struct JointComparison {
  // {set, kind ("joint front" | "uniform sweep" | "route K front"), label, dataset, test_error, fps (estimated),
  //  lut, bram18, fps_expected (not plotted), detail}
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::string> sets;                              // drawn, in order
  std::vector<std::pair<std::string, std::string>> left_out;  // (what, why)
  std::string device, dataset;                                // the first joint search's FPGA and dataset
};
// Empty (no rows, no sets) without a joint search.
JointComparison joint_comparison(const RunSet& runs);

// ---- page model -------------------------------------------------------------------------------------------------

struct Table {
  std::string caption;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  bool collapsed = false;  // long tables start folded (<details>)
};
struct Chart {
  std::string id, title, caption;
  nlohmann::json spec;  // complete, data inlined
  bool vega_lite = true;
};
struct Block {
  Chart chart;
  std::vector<Table> tables;
};
struct Section {
  std::string id, title, intro;
  std::vector<std::string> commands;
  std::vector<Block> blocks;
  std::vector<Table> tables;  // tables without a chart (e.g. the runs list)
};

std::vector<Section> build_sections(const RunSet& runs, const ReportOptions& options);

}  // namespace nemokd::report
