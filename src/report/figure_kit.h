// Internal to the report area: the pieces every figure file shares (number formatting, Vega-Lite spec pieces, W x A
// tables) and each run kind's section builder, one file per kind:
//   figures_sweep.cpp (W x A sweeps), figures_fpga.cpp (FPGA estimate grids), figures_kd.cpp (KD grids),
//   figures_evolution.cpp (NEMOKD evolutions), figures_runs.cpp (single runs, engine comparisons),
//   figures_compare.cpp (across runs: Q against K, Q across models); figures.cpp puts the page together.
#pragma once
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/figures.h"

namespace nemokd::report {

// ---- formatting -------------------------------------------------------------------------------------------------

std::string pct(double v, int decimals = 2);            // "12.34 %", "–" for NaN
std::string grouped(double v);                          // "1,234,567"
std::string fixed(double v, int decimals);              // "–" for NaN
std::string fps_text(double v);                         // grouped from 1000 up, one decimal below
nlohmann::json num_or_null(double v);                   // NaN -> null
std::string cell_label(int w, int a);                   // "W2A2"
// Position of v in [lo, hi] (0..1); for label colours on heatmaps.
double position(double v, double lo, double hi, bool log_scale = false);

// ---- spec pieces ------------------------------------------------------------------------------------------------

nlohmann::json vl(nlohmann::json spec);  // a Vega-Lite spec with the page's schema and fonts
extern const nlohmann::json kEpochAxis;
extern const nlohmann::json kNumberLegend;
extern const nlohmann::json kWAxes;
// A W x A heatmap layer pair: rect coloured by `field`, text `label` (white on dark cells: t > 0.6).
nlohmann::json heatmap_layers(const std::string& field, const std::string& title, const nlohmann::json& color_scale,
                              const std::string& label, const nlohmann::json& tooltip);
nlohmann::json tooltip(std::initializer_list<std::pair<const char*, const char*>> fields);
std::vector<int> sorted_unique(std::vector<int> v);
// A W x A matrix table: rows W, columns A.
Table matrix_table(const std::string& caption, const std::vector<int>& ws, const std::vector<int>& as,
                   const std::function<std::string(int, int)>& cell, bool collapsed);
double min_positive(const std::vector<double>& v);
std::string short_dir(const std::string& dir);  // relative to the working directory when below it

// How an evolution's cost (latency_ms / latency_proxy) was obtained: how ("measured" | "estimated" | "proxy"), on
// what (the CPU a torch probe ran on, the probe's target, the FPGA device), a short unit for tables and an axis title.
// An fpga cost (a joint search) is 1000 / the cost model's estimated FPS: estimated, never called a measurement.
struct CostBasis {
  std::string how, on, unit, title;
};
CostBasis cost_basis(const Evolution& ev);

// ---- one section per run, by kind -------------------------------------------------------------------------------

// LUT / FF / BRAM18 heatmaps and the fit heatmap of a set of designs (sweeps and FPGA grids).
std::vector<Block> hw_heatmap_blocks(const std::vector<HwPoint>& pts, const std::string& id, const std::string& what);
Section sweep_section(const Sweep& s, const RunSet::Entry& e, const std::string& id, const ReportOptions& o);
Section fpga_section(const FpgaGrid& g, const RunSet::Entry& e, const RunSet& runs, const std::string& id);
Section kd_section(const KdGrid& g, const RunSet::Entry& e, const std::string& id);
Section evolution_section(const Evolution& ev, const RunSet::Entry& e, const std::string& id, const ReportOptions& o);
// The final stage of an evolution (ev.final_stage set): test error mean ± sd against latency, the re-drawn front,
// both baselines, the verdicts.
Block final_stage_block(const Evolution& ev, const std::string& id);
Section single_run_section(const SingleRun& r, const RunSet::Entry& e, const std::string& id);
Section engine_section(const EngineCompare& ec, const RunSet::Entry& e, const std::string& id);

// ---- sections across runs ---------------------------------------------------------------------------------------

std::optional<Section> q_cost_section(const RunSet& runs);
std::optional<Section> q_vs_k_section(const RunSet& runs, const ReportOptions& o);
std::optional<Section> joint_section(const RunSet& runs);

}  // namespace nemokd::report
