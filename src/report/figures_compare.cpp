// Across runs: route Q against route K (accuracy against throughput) and route Q across models.
#include "report/figure_kit.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

namespace nemokd::report {
using nlohmann::json;

// How each point of the Q-vs-K chart was obtained; the chart colours by it and never merges two of them.
const char* const kQFpgaEstimated = "Q on FPGA: estimated (cost model)";
const char* const kQFpgaExpected = "Q on FPGA: expected on the board (calibrated)";
const char* const kQEngineMeasured = "Q on CPU: integer engine, batch 1 (measured)";
const char* const kKTorchMeasured = "K on CPU: LibTorch fp32, batch 1 (measured)";
const char* const kKTargetMeasured = "K on the probe's target (measured)";
// A joint search (issue 19) priced by the FPGA cost model: its FPS is an estimate, like route Q's, never "measured".
const char* const kJointFpgaEstimated = "joint search on FPGA: estimated (cost model)";

json q_vs_k_rows(const RunSet& runs, const std::vector<int>& generations) {
  json rows = json::array();
  auto row = [](const char* route, const char* how, const std::string& on, const std::string& label,
                const std::string& dataset, double fps, double accuracy, const std::string& detail) {
    return json{{"route", route}, {"how", how}, {"on", on}, {"label", label}, {"dataset", dataset},
                {"fps", fps}, {"accuracy", accuracy}, {"detail", detail}};
  };
  // FPGA points of one design: the estimate, and the calibrated expectation (with its spread) when recorded.
  auto add_fpga = [&](const std::string& label, const std::string& device, const std::string& dataset,
                      const HwEstimate& hw, double accuracy) {
    const std::string on = device.empty() ? "FPGA" : device;
    rows.push_back(row(kQFpgaEstimated, "estimated", on, label, dataset, hw.fps, accuracy, hw.fit));
    if (hw.fps_expected > 0) {
      json r = row(kQFpgaExpected, "expected on board", on, label, dataset, hw.fps_expected, accuracy,
                   fmt::format("{} ± {} frames/s (1 sd of the board-to-estimate ratio, docs/FPGA.md)",
                               grouped(hw.fps_expected), grouped(hw.fps_expected_sd)));
      if (hw.fps_expected_sd > 0) {
        r["fps_low"] = std::max(hw.fps_expected - hw.fps_expected_sd, hw.fps_expected * 0.1);
        r["fps_high"] = hw.fps_expected + hw.fps_expected_sd;
      }
      rows.push_back(std::move(r));
    }
  };
  std::set<std::string> seen;  // sweep dir, W, A, PE, SIMD
  for (const auto& s : runs.sweeps) {
    const std::string device = s.hw_setup.is_object() ? s.hw_setup.value("device", "") : "";
    for (const auto& c : s.cells) {
      if (std::isnan(c.final_test_accuracy)) continue;
      if (c.engine)
        rows.push_back(row(kQEngineMeasured, "measured", c.engine->measured_on, fmt::format("{} {}", s.topology, c.label()),
                           s.dataset, 1e6 / c.engine->single_frame_latency_us, c.final_test_accuracy,
                           fmt::format("{:.2f} µs per frame on 1 thread; batch {} on {} thread(s): {} frames/s",
                                       c.engine->single_frame_latency_us, c.engine->batch, c.engine->threads,
                                       grouped(c.engine->frames_per_second))));
      if (!c.hw || std::isnan(c.hw->fps)) continue;
      seen.insert(fmt::format("{}|{}|{}|{}|{}", s.dir, c.wbits, c.abits, c.hw->pe, c.hw->simd));
      add_fpga(fmt::format("{} {} PE{} SIMD{}", s.topology, c.label(), c.hw->pe, c.hw->simd), device, s.dataset, *c.hw,
               c.final_test_accuracy);
    }
  }
  for (const auto& r : runs.runs)
    if (r.engine && !std::isnan(r.final_test_accuracy))
      rows.push_back(row(kQEngineMeasured, "measured", r.engine->measured_on, short_dir(r.dir), r.dataset,
                         1e6 / r.engine->single_frame_latency_us, r.final_test_accuracy,
                         fmt::format("{:.2f} µs per frame on 1 thread; batch {} on {} thread(s): {} frames/s",
                                     r.engine->single_frame_latency_us, r.engine->batch, r.engine->threads,
                                     grouped(r.engine->frames_per_second))));
  for (const auto& g : runs.fpga)
    for (const auto& r : g.rows)
      for (const auto& s : runs.sweeps) {
        if (s.topology != r.topology) continue;
        const SweepCell* c = s.find(r.wbits, r.abits);
        if (!c || std::isnan(c->final_test_accuracy) || std::isnan(r.hw.fps)) continue;
        if (!seen.insert(fmt::format("{}|{}|{}|{}|{}", s.dir, r.wbits, r.abits, r.hw.pe, r.hw.simd)).second) continue;
        add_fpga(fmt::format("{} {} PE{} SIMD{}", r.topology, c->label(), r.hw.pe, r.hw.simd), "", s.dataset, r.hw,
                 c->final_test_accuracy);
      }
  for (const auto& ev : runs.evolution) {
    if (!ev.proxy_unit.empty()) continue;  // a proxy (MACs, parameters) has no frames per second
    if (ev.fpga_cost()) {
      const std::string device = fpga_device_of(ev.cost_spec);
      for (const auto& c : pareto_front(chosen_candidates(ev, generations)))
        if (c.latency_ms > 0 && !std::isnan(c.test_error))
          rows.push_back(row(kJointFpgaEstimated, "estimated", device,
                             fmt::format("front {}", c.id.empty() ? c.architecture : c.id), ev.dataset,
                             c.fps_estimated > 0 ? c.fps_estimated : 1000.0 / c.latency_ms, 1.0 - c.test_error,
                             fmt::format("{}; LUT {}", c.architecture, grouped(c.lut))));
      continue;
    }
    // A torch:cpu probe measured LibTorch on the CPU the search ran on; any other probe (a GPU, a command on a
    // board) measured on its own target, named by the probe.
    const bool torch = ev.device.empty() || ev.device == "cpu" || ev.device.rfind("torch:cpu", 0) == 0;
    const char* route = torch ? kKTorchMeasured : kKTargetMeasured;
    const std::string on = torch ? (ev.host.empty() ? "unrecorded CPU" : ev.host) : ev.device;
    // Test accuracy (the chart's axis): a search selected on validation reports each candidate's test error beside it.
    auto add = [&](const Candidate& c, const std::string& what) {
      if (!(c.latency_ms > 0) || std::isnan(c.test_error)) return;
      rows.push_back(row(route, "measured", on, fmt::format("{} {}", what, c.id.empty() ? c.architecture : c.id),
                         ev.dataset, 1000.0 / c.latency_ms, 1.0 - c.test_error,
                         fmt::format("{:.3f} ms per frame; {}", c.latency_ms, c.architecture)));
    };
    for (const auto& c : pareto_front(chosen_candidates(ev, generations))) add(c, "front");
    for (const auto& b : ev.baselines) add(b, "baseline");
  }
  return rows;
}


namespace {

// One accuracy-against-FPS chart over `rows` (colour = how the number was obtained, on what).
json q_vs_k_chart(const json& rows, const std::vector<std::string>& routes) {
  json layers = json::array();
  const json x = {{"field", "fps"}, {"type", "quantitative"}, {"title", "frames per second (log)"},
                  {"scale", {{"type", "log"}}}};
  const json y = {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "test accuracy"},
                  {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}};
  const json palette = {"#9ecae1", "#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd"};
  json range = json::array();
  for (const auto& r : routes) {
    const std::vector<std::string> all = {kQFpgaEstimated, kQFpgaExpected,   kQEngineMeasured,
                                          kKTorchMeasured, kKTargetMeasured, kJointFpgaEstimated};
    range.push_back(palette[std::find(all.begin(), all.end(), r) - all.begin()]);
  }
  const json color = {{"field", "route"}, {"type", "nominal"}, {"title", "how each number was obtained"},
                      {"legend", {{"labelLimit", 360}, {"titleLimit", 360}, {"orient", "bottom"}, {"columns", 1}}},
                      {"scale", {{"domain", routes}, {"range", range}}}};
  // The spread of the expected-on-board figures (1 sd of the calibration), as a horizontal bar (only when there is
  // one: an empty layer makes Vega warn about infinite extents).
  if (std::any_of(rows.begin(), rows.end(), [](const json& r) { return r.contains("fps_low"); }))
  layers.push_back({{"transform", {{{"filter", "isValid(datum.fps_low)"}}}},
                    {"mark", {{"type", "rule"}, {"opacity", 0.6}}},
                    {"encoding", {{"x", {{"field", "fps_low"}, {"type", "quantitative"}}}, {"x2", {{"field", "fps_high"}}},
                                  {"y", y}, {"color", color}}}});
  layers.push_back({{"mark", {{"type", "point"}, {"filled", true}, {"size", 60}, {"opacity", 0.85}}},
                    {"encoding",
                     {{"x", x}, {"y", y}, {"color", color},
                      {"shape", {{"field", "dataset"}, {"type", "nominal"}, {"title", "dataset"}}},
                      {"tooltip", tooltip({{"label", "design"}, {"route", "how obtained"}, {"on", "on"},
                                           {"dataset", "dataset"}, {"fps", "FPS"}, {"accuracy", "accuracy"},
                                           {"detail", "detail"}})}}}});
  const json rt = json::array({{{"fps", 30}, {"label", "30 FPS (real time)"}}});
  layers.push_back({{"data", {{"values", rt}}}, {"mark", {{"type", "rule"}, {"strokeDash", {6, 4}}, {"color", "#555"}}},
                    {"encoding", {{"x", {{"field", "fps"}, {"type", "quantitative"}}}}}});
  layers.push_back({{"data", {{"values", rt}}},
                    {"mark", {{"type", "text"}, {"align", "left"}, {"dx", 4}, {"y", 8}, {"color", "#555"}}},
                    {"encoding", {{"x", {{"field", "fps"}, {"type", "quantitative"}}}, {"text", {{"field", "label"}}}}}});
  return vl({{"data", {{"values", rows}}}, {"width", 560}, {"height", 320}, {"layer", layers}});
}

Table q_vs_k_table(const json& rows, const std::string& caption) {
  Table t;
  t.caption = caption;
  t.collapsed = rows.size() > 16;
  t.header = {"how obtained", "on", "design", "dataset", "FPS", "test accuracy", "detail"};
  for (const auto& r : rows)
    t.rows.push_back({r["how"], r["on"], r["label"], r["dataset"], fps_text(r["fps"].get<double>()),
                      pct(r["accuracy"].get<double>()), r["detail"]});
  return t;
}

std::vector<std::string> routes_in(const json& rows) {
  std::vector<std::string> out;
  for (const char* r :
       {kQFpgaEstimated, kQFpgaExpected, kQEngineMeasured, kKTorchMeasured, kKTargetMeasured, kJointFpgaEstimated})
    for (const auto& row : rows)
      if (row["route"] == r) {
        out.push_back(r);
        break;
      }
  return out;
}

}  // namespace


// Route Q across models (MLPs and CNNs, several sweeps): which model is more accurate at equal FPGA cost? One point
// per trained cell with FPGA columns, at the folding of its sweep; resources and FPS are the cost model's estimates.
std::optional<Section> q_cost_section(const RunSet& runs) {
  json rows = json::array();
  std::set<std::string> models;
  for (const auto& s : runs.sweeps) {
    const std::string device = s.hw_setup.is_object() ? s.hw_setup.value("device", "") : "";
    const std::string model = fmt::format("{} on {}", s.topology.empty() ? "?" : s.topology, s.dataset);
    for (const auto& c : s.cells) {
      if (!c.hw || std::isnan(c.final_test_accuracy) || std::isnan(c.hw->lut)) continue;
      models.insert(model);
      rows.push_back({{"model", model}, {"cell", c.label()}, {"accuracy", c.final_test_accuracy}, {"lut", c.hw->lut},
                      {"bram18", c.hw->bram18}, {"fps", c.hw->fps},
                      {"fits", c.hw->fits ? "fits at FINN's planning shares" : "does not fit at the planning shares"},
                      {"setup", fmt::format("{} PE{} SIMD{}", device, c.hw->pe, c.hw->simd)}});
    }
  }
  if (models.size() < 2) return std::nullopt;  // one model: its sweep section already has the resource charts
  Section sec;
  sec.id = "q-cost";
  sec.title = "Route Q across models: accuracy against FPGA cost";
  sec.intro = "Every trained cell of every sweep with FPGA columns, at its sweep's folding: which model is more accurate "
              "for the same LUT or BRAM budget, and what throughput it buys. LUT, BRAM18 and FPS are estimated by the "
              "cost model (docs/FPGA.md); accuracy is the measured test accuracy of the trained cell.";
  const json tip = tooltip({{"model", "model"}, {"cell", "cell"}, {"setup", "folding"}, {"accuracy", "accuracy"},
                            {"lut", "LUT (estimated)"}, {"bram18", "BRAM18 (estimated)"}, {"fps", "FPS (estimated)"},
                            {"fits", "fit"}});
  auto chart = [&](const char* field, const char* title) {
    return vl({{"data", {{"values", rows}}}, {"width", 260}, {"height", 240},
               {"mark", {{"type", "point"}, {"filled", true}, {"size", 55}, {"opacity", 0.85}}},
               {"encoding",
                {{"x", {{"field", field}, {"type", "quantitative"}, {"title", title}, {"scale", {{"type", "log"}}}}},
                 {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "test accuracy"},
                        {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
                 {"color", {{"field", "model"}, {"type", "nominal"}, {"title", "model"}, {"legend", {{"labelLimit", 300}}}}},
                 {"shape", {{"field", "fits"}, {"type", "nominal"}, {"title", "fit"}, {"legend", {{"labelLimit", 300}}}}},
                 {"tooltip", tip}}}});
  };
  Block b;
  b.chart = {"q-cost-lut", "Accuracy against LUT (estimated)", "LUT on a log scale; shape = fit verdict at FINN's planning shares.",
             chart("lut", "LUT (estimated, log)")};
  sec.blocks.push_back(std::move(b));
  Block c;
  c.chart = {"q-cost-fps", "Accuracy against FPS (estimated)", "Throughput at the sweep's folding: f_clk / slowest unit.",
             chart("fps", "frames per second (estimated, log)")};
  Table t;
  t.caption = "Every cell";
  t.collapsed = rows.size() > 16;
  t.header = {"model", "cell", "folding", "test accuracy", "LUT", "BRAM18", "FPS (estimated)", "fit"};
  for (const auto& r : rows)
    t.rows.push_back({r["model"], r["cell"], r["setup"], pct(r["accuracy"].get<double>()), grouped(r["lut"].get<double>()),
                      grouped(r["bram18"].get<double>()), fps_text(r["fps"].get<double>()), r["fits"]});
  c.tables.push_back(std::move(t));
  sec.blocks.push_back(std::move(c));
  return sec;
}

std::optional<Section> q_vs_k_section(const RunSet& runs, const ReportOptions& o) {
  const json rows = q_vs_k_rows(runs, o.generations);
  if (rows.empty()) return std::nullopt;
  const auto routes = routes_in(rows);
  const bool has_k = std::any_of(routes.begin(), routes.end(),
                                 [](const std::string& r) { return r[0] == 'K' || r == kJointFpgaEstimated; });
  Section sec;
  sec.id = "q-vs-k";
  sec.title = "Route Q against route K: accuracy against throughput";
  sec.intro = std::string(has_k ? "Both routes on one chart (the paper's final figure): FPS on a log scale, real time = 30 FPS. "
                                : "Route Q only: the runs given hold no route K latencies yet (an evolution's candidates.json adds them). ") +
              "Each colour says how its numbers were obtained and the table says on what: FPGA figures are estimated "
              "by the cost model (f_clk / slowest unit) or expected on the board (the estimate times the calibrated "
              "board-to-estimate ratio, bar = 1 sd); CPU figures are measured. Only points measured on the same "
              "device compare like with like — the second chart.";
  Block b;
  b.chart = {"q-vs-k-chart", "Accuracy against frames per second, every point",
             "Route Q: FPGA throughput of each trained cell's design (estimated, and expected on the board where the "
             "sweep recorded it) and, where measured, the integer engine's single-frame rate on a CPU; route K: 1000 / "
             "measured batch-1 latency of the Pareto-front students and the baselines.",
             q_vs_k_chart(rows, routes)};
  b.tables.push_back(q_vs_k_table(rows, "Every point, with how and on what it was obtained"));
  sec.blocks.push_back(std::move(b));
  // Like with like: the points measured on a CPU, both routes at batch 1 (engine on one thread; LibTorch with the
  // probe's threads).
  json cpu = json::array();
  for (const auto& r : rows)
    if (r["route"] == kQEngineMeasured || r["route"] == kKTorchMeasured) cpu.push_back(r);
  if (!cpu.empty()) {
    Block c;
    std::set<std::string> hosts;
    for (const auto& r : cpu) hosts.insert(r["on"].get<std::string>());
    c.chart = {"q-vs-k-cpu-chart", "On one device: both routes measured on a CPU, one frame at a time",
               fmt::format("Route Q's trained models as integer-engine builds (1 thread, one frame per call) beside route "
                           "K's students under LibTorch fp32 (batch 1, the probe's threads). Measured on: {}.{}",
                           fmt::join(hosts, "; "),
                           hosts.size() > 1 ? " These are different CPUs: compare within one only." : ""),
               q_vs_k_chart(cpu, routes_in(cpu))};
    c.tables.push_back(q_vs_k_table(cpu, "Points measured on a CPU"));
    sec.blocks.push_back(std::move(c));
  }
  return sec;
}

}  // namespace nemokd::report

// ---- the joint search against route Q's sweeps and route K's fronts (issue 19) -------------------------------------

namespace nemokd::report {

namespace {

// The fclk=MHz of an "fpga:DEVICE,fclk=...,..." spec; NaN when not given.
double fclk_of(const std::string& spec) {
  const auto at = spec.find(",fclk=");
  if (at == std::string::npos) return kNaN;
  try {
    return std::stod(spec.substr(at + 6));
  } catch (const std::exception&) {
    return kNaN;
  }
}

// The front of an evolution's last generation (its pareto flags, else the non-dominated set).
std::vector<Candidate> last_front(const Evolution& ev) {
  int last = -1;
  for (const auto& c : ev.candidates) last = std::max(last, c.generation);
  return last < 0 ? std::vector<Candidate>{} : pareto_front(chosen_candidates(ev, {last}));
}

}  // namespace

JointComparison joint_comparison(const RunSet& runs) {
  JointComparison out;
  const Evolution* first = nullptr;
  for (const auto& ev : runs.evolution)
    if (ev.fpga_cost()) {
      first = &ev;
      break;
    }
  if (!first) return out;
  out.device = fpga_device_of(first->cost_spec);
  out.dataset = first->dataset;
  const double fclk = fclk_of(first->cost_spec);
  auto row = [](const std::string& set, const char* kind, const std::string& label, const std::string& dataset,
                double test_error, double fps, double lut, double bram18, double fps_expected,
                const std::string& detail) {
    return json{{"set", set},
                {"kind", kind},
                {"label", label},
                {"dataset", dataset},
                {"test_error", test_error},
                {"fps", fps},
                {"lut", num_or_null(lut)},
                {"bram18", num_or_null(bram18)},
                {"fps_expected", num_or_null(fps_expected)},
                {"detail", detail}};
  };
  // Another dataset or FPGA (or clock) is another basis: its points would not compare.
  auto other_basis = [&](const std::string& device, double mhz, const std::string& dataset) -> std::string {
    if (!dataset.empty() && !out.dataset.empty() && dataset != out.dataset)
      return fmt::format("test error on {}, not on {}", dataset, out.dataset);
    if (device != out.device)
      return fmt::format("FPGA estimates for {}, not {}", device.empty() ? "an unrecorded device" : device, out.device);
    if (!std::isnan(mhz) && !std::isnan(fclk) && mhz != fclk)
      return fmt::format("FPS estimated at {} MHz, not {} MHz", mhz, fclk);
    return {};
  };
  // Evolutions: the joint searches' fronts, and route K's fronts where they carry the same FPGA estimates.
  for (const auto& ev : runs.evolution) {
    const bool joint = ev.fpga_cost();
    const std::string set = fmt::format("{}: {}", joint ? "joint front" : "route K front", short_dir(ev.dir));
    const auto front = last_front(ev);
    if (joint) {
      if (auto why = other_basis(fpga_device_of(ev.cost_spec), fclk_of(ev.cost_spec), ev.dataset); !why.empty()) {
        out.left_out.push_back({set, why});
        continue;
      }
    } else if (front.empty() ||
               !std::all_of(front.begin(), front.end(), [](const Candidate& c) { return c.fps_estimated > 0; })) {
      const CostBasis b = cost_basis(ev);
      out.left_out.push_back(
          {set, fmt::format("its cost is {} ({}), not the FPGA cost model's estimate for {}: another "
                            "basis (the Q-vs-K section shows it on its own axis)",
                            b.how, b.title, out.device)});
      continue;
    } else if (auto why = other_basis(out.device, kNaN, ev.dataset); !why.empty()) {
      out.left_out.push_back({set, why});
      continue;
    }
    int no_test = 0, no_fps = 0;
    bool any = false;
    for (const auto& c : front) {
      if (std::isnan(c.test_error)) {
        ++no_test;
        continue;
      }
      if (!(c.fps_estimated > 0)) {
        ++no_fps;
        continue;
      }
      out.rows.push_back(row(set, joint ? "joint front" : "route K front",
                             c.id.empty() ? c.architecture : c.id + " " + c.architecture, ev.dataset, c.test_error,
                             c.fps_estimated, c.lut, c.bram18, c.fps_expected,
                             fmt::format("{}; {} {}", c.architecture, ev.selected_on, pct(c.error))));
      any = true;
    }
    if (no_test) out.left_out.push_back({fmt::format("{}: {} front point(s)", set, no_test), "no test error recorded"});
    if (no_fps)
      out.left_out.push_back({fmt::format("{}: {} front point(s)", set, no_fps), "no estimated FPS recorded"});
    if (joint && ev.infeasible)
      out.left_out.push_back({fmt::format("{}: {} design(s)", set, ev.infeasible),
                              fmt::format("infeasible: fit {} at no folding (never trained)", out.device)});
    if (any) out.sets.push_back(set);
  }
  // Route Q: every trained cell of every sweep with FPGA columns that fits, at its sweep's folding.
  for (const auto& s : runs.sweeps) {
    const std::string device = s.hw_setup.is_object() ? s.hw_setup.value("device", "") : "";
    const double mhz = s.hw_setup.is_object() && s.hw_setup.contains("fclk_mhz") && s.hw_setup["fclk_mhz"].is_number()
                           ? s.hw_setup["fclk_mhz"].get<double>()
                           : kNaN;
    int pe = 0, simd = 0;
    for (const auto& c : s.cells)
      if (c.hw) pe = c.hw->pe, simd = c.hw->simd;
    const std::string set =
        pe ? fmt::format("uniform sweep: {} PE{} SIMD{}, {}", s.topology, pe, simd, short_dir(s.dir))
           : fmt::format("uniform sweep: {}, {}", s.topology, short_dir(s.dir));
    if (std::none_of(s.cells.begin(), s.cells.end(), [](const SweepCell& c) { return c.hw && c.hw->fps > 0; })) {
      out.left_out.push_back({set, "no FPGA estimate columns (a sweep run without the FPGA cost model)"});
      continue;
    }
    if (auto why = other_basis(device, mhz, s.dataset); !why.empty()) {
      out.left_out.push_back({set, why});
      continue;
    }
    int misfits = 0;
    bool any = false;
    for (const auto& c : s.cells) {
      if (!c.hw || !(c.hw->fps > 0) || std::isnan(c.final_test_accuracy)) continue;
      if (!c.hw->fits) {
        ++misfits;
        continue;
      }
      out.rows.push_back(row(set, "uniform sweep", fmt::format("{} {}", s.topology, c.label()), s.dataset,
                             1.0 - c.final_test_accuracy, c.hw->fps, c.hw->lut, c.hw->bram18, c.hw->fps_expected,
                             c.hw->fit));
      any = true;
    }
    if (misfits)
      out.left_out.push_back({fmt::format("{}: {} cell(s)", set, misfits),
                              fmt::format("do not fit {} at the sweep's folding: infeasible, not drawn", out.device)});
    if (any) out.sets.push_back(set);
  }
  return out;
}

std::optional<Section> joint_section(const RunSet& runs) {
  const JointComparison jc = joint_comparison(runs);
  const bool others =
      !runs.sweeps.empty() ||
      std::count_if(runs.evolution.begin(), runs.evolution.end(), [](const Evolution& e) { return !e.fpga_cost(); }) >
          0 ||
      std::count_if(runs.evolution.begin(), runs.evolution.end(), [](const Evolution& e) { return e.fpga_cost(); }) > 1;
  if (jc.rows.empty() || !others) return std::nullopt;
  Section sec;
  sec.id = "joint";
  sec.title = "Joint search against route Q and route K: test error against FPGA cost";
  sec.intro = fmt::format(
      "On the same axes: the joint search's front (its last generation, selected on its own selection metric; the "
      "test error shown was never selected on), route Q's uniform W×A sweep cells, and route K's fronts where they "
      "carry the same figures. FPS and LUT are estimated by the FPGA cost model for {} (docs/FPGA.md) — never mixed "
      "with the expected-on-board figure (in the table, not plotted) or with measured latencies. Test error is "
      "measured on {}'s test split. Infeasible designs (fit at no folding) are never drawn; sets on another basis "
      "are left out, with the reason below.",
      jc.device, jc.dataset.empty() ? "the dataset" : jc.dataset);
  const std::map<std::string, std::string> shapes = {
      {"joint front", "circle"}, {"uniform sweep", "square"}, {"route K front", "triangle-up"}};
  json kinds = json::array(), kind_shapes = json::array();
  for (const auto& [k, shape] : shapes)
    if (std::any_of(jc.rows.begin(), jc.rows.end(), [&](const json& r) { return r["kind"] == k; }))
      kinds.push_back(k), kind_shapes.push_back(shape);
  const json y = {{"field", "test_error"},
                  {"type", "quantitative"},
                  {"title", "test error (measured, test split)"},
                  {"scale", {{"zero", false}}},
                  {"axis", {{"format", ".1%"}}}};
  const json tip = json::array({{{"field", "set"}},
                                {{"field", "label"}, {"title", "design"}},
                                {{"field", "test_error"}, {"title", "test error"}, {"format", ".2%"}},
                                {{"field", "fps"}, {"title", "FPS (estimated)"}, {"format", ",.0f"}},
                                {{"field", "lut"}, {"title", "LUT (estimated)"}, {"format", ",.0f"}},
                                {{"field", "bram18"}, {"title", "BRAM18 (estimated)"}, {"format", ",.0f"}},
                                {{"field", "detail"}}});
  auto chart = [&](const char* field, const std::string& title) {
    json spec = {{"data", {{"values", jc.rows}}},
                 {"width", 520},
                 {"height", 320},
                 {"mark", {{"type", "point"}, {"filled", true}, {"size", 70}, {"opacity", 0.85}}},
                 {"encoding",
                  {{"x",
                    {{"field", field},
                     {"type", "quantitative"},
                     {"title", title},
                     {"scale", {{"type", "log"}}},
                     {"axis", {{"titleLimit", 520}}}}},
                   {"y", y},
                   {"color",
                    {{"field", "set"},
                     {"type", "nominal"},
                     {"title", "set"},
                     {"legend", {{"labelLimit", 420}, {"orient", "bottom"}, {"columns", 1}}}}},
                   {"shape",
                    {{"field", "kind"},
                     {"type", "nominal"},
                     {"title", "kind"},
                     {"scale", {{"domain", kinds}, {"range", kind_shapes}}}}},
                   {"tooltip", tip}}}};
    if (std::string(field) == "lut") spec["transform"] = json::array({{{"filter", "isValid(datum.lut)"}}});
    return vl(spec);
  };
  Block f;
  f.chart = {
      "joint-fps", "Test error against FPS (estimated)",
      fmt::format("Frames per second of each design as the FPGA cost model estimates it for {} (f_clk / slowest "
                  "unit, log scale): the joint search at the folding it chose, sweep cells at their sweep's folding.",
                  jc.device),
      chart("fps", fmt::format("frames per second, estimated by the FPGA cost model for {} (log)", jc.device))};
  sec.blocks.push_back(std::move(f));
  if (std::any_of(jc.rows.begin(), jc.rows.end(), [](const json& r) { return r["lut"].is_number(); })) {
    Block l;
    l.chart = {"joint-lut", "Test error against LUT (estimated)",
               "Look-up tables of each design as the FPGA cost model estimates them (log scale).",
               chart("lut", fmt::format("LUT, estimated by the FPGA cost model for {} (log)", jc.device))};
    sec.blocks.push_back(std::move(l));
  }
  Table t;
  t.caption = "Every point drawn";
  t.collapsed = jc.rows.size() > 16;
  t.header = {"set",
              "design",
              "dataset",
              "test error",
              "FPS (estimated)",
              "LUT (estimated)",
              "BRAM18 (estimated)",
              "FPS expected on board (not plotted)",
              "detail"};
  auto n = [](const json& v, bool fps) {
    return v.is_number() ? (fps ? fps_text(v.get<double>()) : grouped(v.get<double>())) : "–";
  };
  for (const auto& r : jc.rows)
    t.rows.push_back({r["set"], r["label"], r["dataset"], pct(r["test_error"].get<double>()), n(r["fps"], true),
                      n(r["lut"], false), n(r["bram18"], false), n(r["fps_expected"], true), r["detail"]});
  sec.blocks.back().tables.push_back(std::move(t));
  if (!jc.left_out.empty()) {
    Table lo;
    lo.caption = "Left out, and why";
    lo.header = {"what", "why"};
    for (const auto& [what, why] : jc.left_out) lo.rows.push_back({what, why});
    sec.tables.push_back(std::move(lo));
  }
  return sec;
}

}  // namespace nemokd::report
