#include "report/figures.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/pareto.h"

namespace nemokd::report {
using nlohmann::json;

namespace {

// ---- formatting --------------------------------------------------------------------------------------------------

std::string pct(double v, int decimals = 2) {
  return std::isnan(v) ? "–" : fmt::format("{:.{}f} %", 100.0 * v, decimals);
}
std::string grouped(double v) {
  if (std::isnan(v)) return "–";
  const long long n = std::llround(v);
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return (n < 0 ? "-" : "") + out;
}
std::string fixed(double v, int decimals) { return std::isnan(v) ? "–" : fmt::format("{:.{}f}", v, decimals); }
std::string fps_text(double v) { return std::isnan(v) ? "–" : v >= 1000 ? grouped(v) : fmt::format("{:.1f}", v); }
json num_or_null(double v) { return std::isnan(v) ? json() : json(v); }
std::string cell_label(int w, int a) { return fmt::format("W{}A{}", w, a); }

// Position of v in [lo, hi] (0..1); for label colours on heatmaps.
double position(double v, double lo, double hi, bool log_scale = false) {
  if (log_scale && lo > 0 && v > 0) v = std::log(v), lo = std::log(lo), hi = std::log(hi);
  return hi > lo ? (v - lo) / (hi - lo) : 0.5;
}

// ---- spec pieces -------------------------------------------------------------------------------------------------

json vl(json spec) {
  spec["$schema"] = "https://vega.github.io/schema/vega-lite/v6.json";
  spec["config"] = {{"font", "system-ui, sans-serif"}, {"axis", {{"labelFontSize", 11}, {"titleFontSize", 12}}},
                    {"legend", {{"labelFontSize", 11}, {"titleFontSize", 12}}}};
  return spec;
}

// Numbers for people: epochs are whole (no 1.5 tick, no "3.000000"), and a numeric legend shows at most 3
// significant digits ("2.11", not "2.11456827251").
const json kEpochAxis = {{"format", "d"}, {"tickMinStep", 1}};
const json kNumberLegend = {{"format", ".3~g"}, {"formatType", "number"}};
const json kWAxes = json::parse(R"({
  "x": {"field": "abits", "type": "ordinal", "title": "activation bits A", "axis": {"labelAngle": 0}},
  "y": {"field": "wbits", "type": "ordinal", "title": "weight bits W"}
})");

// A W x A heatmap layer pair: rect coloured by `field`, text `label` (white on dark cells: t > 0.6).
json heatmap_layers(const std::string& field, const std::string& title, const json& color_scale, const std::string& label,
                    const json& tooltip) {
  return json::array({
      {{"mark", {{"type", "rect"}}},
       {"encoding",
        {{"color", {{"field", field}, {"type", "quantitative"}, {"title", title}, {"scale", color_scale}}},
         {"tooltip", tooltip}}}},
      {{"mark", {{"type", "text"}, {"fontSize", 10}}},
       {"encoding",
        {{"text", {{"field", label}}},
         {"color", {{"condition", {{"test", "datum.t > 0.6"}, {"value", "white"}}}, {"value", "black"}}}}}},
  });
}

std::vector<int> sorted_unique(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// A W x A matrix table: rows W, columns A.
Table matrix_table(const std::string& caption, const std::vector<int>& ws, const std::vector<int>& as,
                   const std::function<std::string(int, int)>& cell, bool collapsed) {
  Table t;
  t.caption = caption;
  t.collapsed = collapsed;
  t.header.push_back("W \\ A");
  for (int a : as) t.header.push_back(fmt::format("A{}", a));
  for (int w : ws) {
    std::vector<std::string> row{fmt::format("W{}", w)};
    for (int a : as) row.push_back(cell(w, a));
    t.rows.push_back(std::move(row));
  }
  return t;
}

double min_positive(const std::vector<double>& v) {
  double m = kNaN;
  for (double x : v)
    if (x > 0 && (std::isnan(m) || x < m)) m = x;
  return m;
}

std::string short_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto rel = fs::relative(dir, fs::current_path(), ec);
  const std::string r = ec ? dir : rel.string();
  return r.rfind("..", 0) == 0 ? dir : r;
}

}  // namespace

// ---- figure data -------------------------------------------------------------------------------------------------

json accuracy_heatmap_rows(const Sweep& sweep) {
  json rows = json::array();
  std::map<int, std::pair<double, double>> range;  // epoch -> (min, max)
  for (const auto& c : sweep.cells)
    for (const auto& [e, acc] : c.test_accuracy_at) {
      auto [it, fresh] = range.try_emplace(e, acc, acc);
      if (!fresh) it->second = {std::min(it->second.first, acc), std::max(it->second.second, acc)};
    }
  for (const auto& c : sweep.cells)
    for (const auto& [e, acc] : c.test_accuracy_at)
      rows.push_back({{"wbits", c.wbits}, {"abits", c.abits}, {"cell", c.label()}, {"epoch", e}, {"accuracy", acc},
                      {"label", fmt::format("{:.2f}", 100 * acc)},
                      {"t", position(acc, range[e].first, range[e].second)}});
  return rows;
}

std::vector<HwPoint> hw_points(const Sweep& sweep) {
  std::vector<HwPoint> out;
  for (const auto& c : sweep.cells)
    if (c.hw) out.push_back({c.wbits, c.abits, *c.hw});
  return out;
}

double relative_to_min(double value, double min_positive) {
  if (std::isnan(value) || std::isnan(min_positive) || min_positive <= 0) return kNaN;
  return value / min_positive;
}

json resource_heatmap_rows(const std::vector<HwPoint>& points) {
  json rows = json::array();
  const std::vector<std::pair<std::string, double HwEstimate::*>> resources{
      {"LUT", &HwEstimate::lut}, {"FF", &HwEstimate::ff}, {"BRAM18", &HwEstimate::bram18}};
  for (const auto& [name, field] : resources) {
    std::vector<double> values;
    for (const auto& p : points) values.push_back(p.hw.*field);
    const double lo = min_positive(values);
    double hi_rel = 1;
    for (double v : values) hi_rel = std::max(hi_rel, relative_to_min(v, lo));
    for (const auto& p : points) {
      const double v = p.hw.*field, rel = relative_to_min(v, lo);
      rows.push_back({{"wbits", p.wbits}, {"abits", p.abits}, {"cell", cell_label(p.wbits, p.abits)}, {"resource", name},
                      {"value", num_or_null(v)}, {"relative", num_or_null(rel)},
                      {"label", std::isnan(rel) ? "–" : rel < 10 ? fmt::format("{:.2f}", rel) : fmt::format("{:.1f}", rel)},
                      {"t", std::isnan(rel) ? 0.0 : position(std::max(rel, 1.0), 1.0, hi_rel, true)}});
    }
  }
  return rows;
}

json fit_heatmap_rows(const std::vector<HwPoint>& points) {
  json rows = json::array();
  for (const auto& p : points)
    rows.push_back({{"wbits", p.wbits}, {"abits", p.abits}, {"cell", cell_label(p.wbits, p.abits)},
                    {"fits", p.hw.fits ? "fits" : "does not fit"}, {"fit", p.hw.fit},
                    {"label", p.hw.fits ? "yes" : "no"}});
  return rows;
}

double normalise(double value, double best, double worst) {
  if (std::isnan(value) || std::isnan(best) || std::isnan(worst)) return kNaN;
  if (best == worst) return 1.0;
  return (value - worst) / (best - worst) + 0.0;  // + 0.0: no "-0" for the worst
}

std::vector<RadarSlice> paper_radar_slices() {
  return {
      {"weights", "weight-oriented: W1, W3, W6, W8 at A4", {{1, 4}, {3, 4}, {6, 4}, {8, 4}}},
      {"activations", "activation-oriented: A1, A3, A6, A8 at W4", {{4, 1}, {4, 3}, {4, 6}, {4, 8}}},
      {"diagonal", "diagonal: W1A1, W2A2, W4A4, W7A7", {{1, 1}, {2, 2}, {4, 4}, {7, 7}}},
  };
}

json radar_rows(const Sweep& sweep, const RadarSlice& slice) {
  struct Axis {
    std::string key;
    std::function<double(const SweepCell&)> get;
    bool higher_better;
  };
  std::vector<Axis> axes;
  axes.push_back({"accuracy", [](const SweepCell& c) { return c.final_test_accuracy; }, true});
  if (!sweep.eval_at.empty() && sweep.eval_at.front() < sweep.epochs) {
    const int e = sweep.eval_at.front();
    axes.push_back({fmt::format("accuracy @{}", e), [e](const SweepCell& c) {
                      auto it = c.test_accuracy_at.find(e);
                      return it == c.test_accuracy_at.end() ? kNaN : it->second;
                    }, true});
  }
  axes.push_back({"training time", [](const SweepCell& c) { return c.train_seconds; }, false});
  const bool hw = std::any_of(sweep.cells.begin(), sweep.cells.end(), [](const SweepCell& c) { return c.hw.has_value(); });
  if (hw) {
    auto hw_axis = [](double HwEstimate::*f) {
      return [f](const SweepCell& c) { return c.hw ? (*c.hw).*f : kNaN; };
    };
    axes.push_back({"LUT", hw_axis(&HwEstimate::lut), false});
    axes.push_back({"FF", hw_axis(&HwEstimate::ff), false});
    axes.push_back({"BRAM18", hw_axis(&HwEstimate::bram18), false});
    double lo = kNaN, hi = kNaN;
    for (const auto& c : sweep.cells)
      if (c.hw && !std::isnan(c.hw->fps)) lo = std::isnan(lo) ? c.hw->fps : std::min(lo, c.hw->fps),
                                          hi = std::isnan(hi) ? c.hw->fps : std::max(hi, c.hw->fps);
    if (lo < hi) axes.push_back({"FPS", hw_axis(&HwEstimate::fps), true});
  }
  json rows = json::array();
  for (const auto& axis : axes) {
    double best = kNaN, worst = kNaN;
    for (const auto& c : sweep.cells) {
      const double v = axis.get(c);
      if (std::isnan(v)) continue;
      const bool better = std::isnan(best) || (axis.higher_better ? v > best : v < best);
      const bool worse = std::isnan(worst) || (axis.higher_better ? v < worst : v > worst);
      if (better) best = v;
      if (worse) worst = v;
    }
    for (const auto& [w, a] : slice.cells) {
      const SweepCell* c = sweep.find(w, a);
      if (!c) continue;
      const double v = axis.get(*c);
      if (std::isnan(v)) continue;
      rows.push_back({{"category", c->label()}, {"key", axis.key}, {"value", normalise(v, best, worst)}, {"raw", v},
                      {"best", best}, {"worst", worst}});
    }
  }
  return rows;
}

json kd_surface_rows(const KdGrid& grid) {
  json rows = json::array();
  for (const auto& c : grid.cells) {
    if (!c.kd || std::isnan(c.alpha) || std::isnan(c.temperature) || std::isnan(c.test_error)) continue;
    const double delta = std::isnan(grid.baseline_error) ? kNaN : c.test_error - grid.baseline_error;
    rows.push_back({{"name", c.name}, {"alpha", c.alpha}, {"temperature", c.temperature}, {"error", c.test_error},
                    {"accuracy", num_or_null(c.test_accuracy)}, {"baseline_error", num_or_null(grid.baseline_error)},
                    {"delta", num_or_null(delta)}, {"beats_baseline", !std::isnan(delta) && delta < 0},
                    {"label", fmt::format("{:.2f}", 100 * c.test_error)}});
  }
  return rows;
}

std::vector<Candidate> chosen_candidates(const Evolution& ev, const std::vector<int>& generations) {
  std::vector<Candidate> out;
  for (const auto& c : ev.candidates)
    if (generations.empty() || std::find(generations.begin(), generations.end(), c.generation) != generations.end())
      out.push_back(c);
  return out;
}

std::vector<Candidate> pareto_front(const std::vector<Candidate>& candidates) {
  std::vector<Candidate> front;
  // The run's own flags describe one generation's front; over several generations the front of everything shown
  // is the non-dominated set of the union (flags of different generations would zig-zag).
  std::set<int> generations;
  for (const auto& c : candidates) generations.insert(c.generation);
  const bool flagged = generations.size() == 1 &&
                       std::any_of(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.pareto; });
  std::set<std::string> seen;  // an architecture proposed again in later generations is one point
  std::vector<size_t> points;  // indices into `candidates`
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    if (seen.insert(fmt::format("{}|{}|{}", c.architecture, c.latency_ms, c.error)).second && (!flagged || c.pareto))
      points.push_back(i);
  }
  if (!flagged) {  // the non-dominated ones (minimise latency and error; strict dominance: equal points all stay)
    auto order = points;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::tie(candidates[a].latency_ms, candidates[a].error) <
             std::tie(candidates[b].latency_ms, candidates[b].error);
    });
    const auto kept = sweep_front(std::move(order), [&](size_t k, size_t p) {
      const auto &a = candidates[k], &b = candidates[p];
      return a.latency_ms <= b.latency_ms && a.error <= b.error && (a.latency_ms < b.latency_ms || a.error < b.error);
    });
    const std::set<size_t> on_front(kept.begin(), kept.end());
    points.erase(std::remove_if(points.begin(), points.end(), [&](size_t i) { return !on_front.count(i); }),
                 points.end());
  }
  for (size_t i : points) front.push_back(candidates[i]);  // in the candidates' order, as before the sort below
  std::sort(front.begin(), front.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.latency_ms, a.error) < std::tie(b.latency_ms, b.error);
  });
  return front;
}

// How each point of the Q-vs-K chart was obtained; the chart colours by it and never merges two of them.
const char* const kQFpgaEstimated = "Q on FPGA: estimated (cost model)";
const char* const kQFpgaExpected = "Q on FPGA: expected on the board (calibrated)";
const char* const kQEngineMeasured = "Q on CPU: integer engine, batch 1 (measured)";
const char* const kKTorchMeasured = "K on CPU: LibTorch fp32, batch 1 (measured)";
const char* const kKTargetMeasured = "K on the probe's target (measured)";

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
    // A torch:cpu probe measured LibTorch on the CPU the search ran on; any other probe (a GPU, a command on a
    // board) measured on its own target, named by the probe.
    const bool torch = ev.device.empty() || ev.device == "cpu" || ev.device.rfind("torch:cpu", 0) == 0;
    const char* route = torch ? kKTorchMeasured : kKTargetMeasured;
    const std::string on = torch ? (ev.host.empty() ? "unrecorded CPU" : ev.host) : ev.device;
    auto add = [&](const Candidate& c, const std::string& what) {
      if (!(c.latency_ms > 0)) return;
      rows.push_back(row(route, "measured", on, fmt::format("{} {}", what, c.id.empty() ? c.architecture : c.id),
                         ev.dataset, 1000.0 / c.latency_ms, 1.0 - c.error,
                         fmt::format("{:.3f} ms per frame; {}", c.latency_ms, c.architecture)));
    };
    for (const auto& c : pareto_front(chosen_candidates(ev, generations))) add(c, "front");
    for (const auto& b : ev.baselines) add(b, "baseline");
  }
  return rows;
}

// ---- sections ----------------------------------------------------------------------------------------------------

namespace {

json tooltip(std::initializer_list<std::pair<const char*, const char*>> fields) {
  json t = json::array();
  for (const auto& [f, title] : fields) t.push_back({{"field", f}, {"title", title}});
  return t;
}

Block accuracy_curves_block(const Sweep& s, const std::string& id) {
  json rows = json::array();
  for (const auto& c : s.cells)
    for (const auto& [e, acc] : c.test_accuracy_at)
      rows.push_back({{"cell", c.label()}, {"W", c.wbits}, {"A", c.abits}, {"epoch", e}, {"accuracy", acc}});
  const int panels = static_cast<int>(sorted_unique([&] {
                                        std::vector<int> ws;
                                        for (const auto& c : s.cells) ws.push_back(c.wbits);
                                        return ws;
                                      }()).size());
  json spec = {
      {"data", {{"values", rows}}},
      {"facet", {{"field", "W"}, {"type", "ordinal"}, {"title", "weight bits W"}, {"header", {{"labelExpr", "'W' + datum.value"}}}}},
      {"columns", std::min(panels, 4)},
      {"spec",
       {{"width", 180}, {"height", 130},
        {"mark", {{"type", "line"}, {"point", true}}},
        {"encoding",
         {{"x", {{"field", "epoch"}, {"type", "quantitative"}, {"title", "epoch"}, {"axis", kEpochAxis}}},
          {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "test accuracy"}, {"scale", {{"zero", false}}},
                 {"axis", {{"format", ".1%"}}}}},
          {"color", {{"field", "A"}, {"type", "ordinal"}, {"title", "activation bits A"}, {"scale", {{"scheme", "tableau10"}}}}},
          {"tooltip", json::array({{{"field", "cell"}}, {{"field", "epoch"}}, {{"field", "accuracy"}, {"format", ".2%"}}})}}}}}};
  Block b;
  b.chart = {id, "Test accuracy against epochs, one line per W×A",
             fmt::format("Test accuracy after epochs {} of the same {}-epoch run (results.json test_accuracy_at); one "
                         "panel per weight precision, one line per activation precision.",
                         fmt::join(s.eval_at, ", "), s.epochs),
             vl(spec)};
  Table t;
  t.caption = "Test accuracy (%) per cell and epoch";
  t.collapsed = s.cells.size() > 16;
  t.header = {"cell"};
  for (int e : s.eval_at) t.header.push_back(fmt::format("epoch {}", e));
  t.header.push_back("validation (final)");
  t.header.push_back("status");
  for (const auto& c : s.cells) {
    std::vector<std::string> row{c.label()};
    for (int e : s.eval_at) {
      auto it = c.test_accuracy_at.find(e);
      row.push_back(it == c.test_accuracy_at.end() ? "–" : fixed(100 * it->second, 2));
    }
    row.push_back(fixed(100 * c.final_val_accuracy, 2));
    row.push_back(c.status);
    t.rows.push_back(std::move(row));
  }
  b.tables.push_back(std::move(t));
  return b;
}

std::optional<Block> validation_curves_block(const Sweep& s, const std::string& id) {
  json rows = json::array();
  Table t;
  t.caption = "Validation accuracy (%) per cell: final and best epoch";
  t.header = {"cell", "epochs", "final", "best", "best epoch"};
  t.collapsed = true;
  for (const auto& c : s.cells) {
    double best = kNaN, last = kNaN;
    int best_epoch = 0;
    for (const auto& p : c.curve) {
      if (std::isnan(p.val_accuracy)) continue;
      rows.push_back({{"cell", c.label()}, {"W", c.wbits}, {"A", c.abits}, {"epoch", p.epoch}, {"accuracy", p.val_accuracy}});
      last = p.val_accuracy;
      if (std::isnan(best) || p.val_accuracy > best) best = p.val_accuracy, best_epoch = p.epoch;
    }
    if (!c.curve.empty())
      t.rows.push_back({c.label(), std::to_string(c.curve.size()), fixed(100 * last, 2), fixed(100 * best, 2),
                        std::to_string(best_epoch)});
  }
  if (rows.empty()) return std::nullopt;
  std::set<int> ws;
  for (const auto& c : s.cells) ws.insert(c.wbits);
  json spec = {
      {"data", {{"values", rows}}},
      {"facet", {{"field", "W"}, {"type", "ordinal"}, {"title", "weight bits W"}, {"header", {{"labelExpr", "'W' + datum.value"}}}}},
      {"columns", std::min<int>(static_cast<int>(ws.size()), 4)},
      {"spec",
       {{"width", 180}, {"height", 130},
        {"mark", {{"type", "line"}, {"strokeWidth", 1}}},
        {"encoding",
         {{"x", {{"field", "epoch"}, {"type", "quantitative"}, {"title", "epoch"}, {"axis", kEpochAxis}}},
          {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "validation accuracy"},
                 {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
          {"color", {{"field", "A"}, {"type", "ordinal"}, {"title", "activation bits A"}, {"scale", {{"scheme", "tableau10"}}}}},
          {"tooltip", json::array({{{"field", "cell"}}, {{"field", "epoch"}}, {{"field", "accuracy"}, {"format", ".2%"}}})}}}}}};
  Block b;
  b.chart = {id, "Validation accuracy at every epoch",
             "From each cell's metrics.json (validation split, evaluated after every epoch).", vl(spec)};
  b.tables.push_back(std::move(t));
  return b;
}

Block accuracy_heatmap_block(const Sweep& s, const std::string& id) {
  const json rows = accuracy_heatmap_rows(s);
  std::vector<int> ws, as, epochs;
  for (const auto& c : s.cells) ws.push_back(c.wbits), as.push_back(c.abits);
  for (const auto& r : rows) epochs.push_back(r["epoch"].get<int>());
  ws = sorted_unique(ws), as = sorted_unique(as), epochs = sorted_unique(epochs);
  json spec = {
      {"data", {{"values", rows}}},
      {"params", json::array({{{"name", "epoch"}, {"value", epochs.back()},
                               {"bind", {{"input", "select"}, {"options", epochs}, {"name", "after epoch "}}}}})},
      {"transform", json::array({{{"filter", "datum.epoch == epoch"}}})},
      {"width", 36 * as.size()}, {"height", 28 * ws.size()},
      {"encoding", kWAxes},
      {"layer", heatmap_layers("accuracy", "test accuracy", {{"scheme", "blues"}}, "label",
                               json::array({{{"field", "cell"}}, {{"field", "epoch"}},
                                            {{"field", "accuracy"}, {"format", ".2%"}}}))}};
  spec["layer"][0]["encoding"]["color"]["legend"] = {{"format", ".1%"}};
  Block b;
  b.chart = {id, "Test accuracy over W×A",
             "Cells show test accuracy (%); pick the evaluation epoch below the chart.", vl(spec)};
  for (int e : epochs)
    b.tables.push_back(matrix_table(fmt::format("Test accuracy (%) after epoch {}", e), ws, as,
                                    [&](int w, int a) {
                                      const SweepCell* c = s.find(w, a);
                                      if (!c) return std::string("");
                                      auto it = c->test_accuracy_at.find(e);
                                      return it == c->test_accuracy_at.end() ? std::string("–") : fixed(100 * it->second, 2);
                                    },
                                    e != epochs.back()));
  return b;
}

// Resource and fit heatmaps of one set of designs (a sweep's FPGA columns or an FPGA grid group).
std::vector<Block> hw_heatmap_blocks(const std::vector<HwPoint>& pts, const std::string& id, const std::string& what) {
  std::vector<int> ws, as;
  for (const auto& p : pts) ws.push_back(p.wbits), as.push_back(p.abits);
  ws = sorted_unique(ws), as = sorted_unique(as);
  auto find = [&](int w, int a) -> const HwPoint* {
    for (const auto& p : pts)
      if (p.wbits == w && p.abits == a) return &p;
    return nullptr;
  };
  std::vector<Block> out;
  {
    json layers = heatmap_layers("relative", "× cheapest design", {{"scheme", "orangered"}, {"type", "log"}}, "label",
                                 json::array({{{"field", "cell"}}, {{"field", "resource"}},
                                              {{"field", "value"}, {"title", "absolute"}, {"format", ",d"}},
                                              {{"field", "relative"}, {"title", "× cheapest"}, {"format", ".2f"}}}));
    json spec = {{"data", {{"values", resource_heatmap_rows(pts)}}},
                 {"facet", {{"column", {{"field", "resource"}, {"type", "nominal"}, {"title", nullptr},
                                         {"sort", json::array({"LUT", "FF", "BRAM18"})}}}}},
                 {"spec", {{"width", 34 * as.size()}, {"height", 26 * ws.size()}, {"encoding", kWAxes}, {"layer", layers}}},
                 {"resolve", {{"scale", {{"color", "independent"}}}}}};
    Block b;
    b.chart = {id + "-res", what + ": LUT, FF and BRAM18 over W×A, relative",
               fmt::format("{}: each resource relative to the cheapest design of the set (1 = cheapest; log colour "
                           "scale); absolute numbers in the tooltip and the tables.",
                           what),
               vl(spec)};
    const std::vector<std::pair<std::string, double HwEstimate::*>> resources{
        {"LUT", &HwEstimate::lut}, {"FF", &HwEstimate::ff}, {"BRAM18", &HwEstimate::bram18}};
    for (const auto& [name, field] : resources) {
      std::vector<double> v;
      for (const auto& p : pts) v.push_back(p.hw.*field);
      const double lo = min_positive(v);
      auto f = field;
      b.tables.push_back(matrix_table(fmt::format("{} (absolute, × cheapest)", name), ws, as,
                                      [&, f, lo](int w, int a) {
                                        const HwPoint* p = find(w, a);
                                        if (!p) return std::string("");
                                        const double x = p->hw.*f;
                                        return fmt::format("{} (×{})", grouped(x), fixed(relative_to_min(x, lo), 2));
                                      },
                                      ws.size() * as.size() > 16));
    }
    out.push_back(std::move(b));
  }
  {
    json spec = {{"data", {{"values", fit_heatmap_rows(pts)}}},
                 {"width", 34 * as.size()}, {"height", 26 * ws.size()},
                 {"encoding", kWAxes},
                 {"layer", json::array({
                               {{"mark", "rect"},
                                {"encoding",
                                 {{"color", {{"field", "fits"}, {"type", "nominal"}, {"title", "device fit"},
                                             {"scale", {{"domain", {"fits", "does not fit"}}, {"range", {"#4c9a5a", "#d9d9d9"}}}}}},
                                  {"tooltip", tooltip({{"cell", "cell"}, {"fit", "fit"}})}}}},
                               {{"mark", {{"type", "text"}, {"fontSize", 10}}}, {"encoding", {{"text", {{"field", "label"}}}}}},
                           })}};
    int fits = 0;
    for (const auto& p : pts) fits += p.hw.fits;
    Block b;
    b.chart = {id + "-fit", what + ": fits the device or not",
               fmt::format("{}: {} of {} designs fit.", what, fits, pts.size()), vl(spec)};
    Table t;
    t.caption = "Fit of each design";
    t.collapsed = pts.size() > 16;
    t.header = {"cell", "fits", "why"};
    for (const auto& p : pts) t.rows.push_back({cell_label(p.wbits, p.abits), p.hw.fits ? "yes" : "no", p.hw.fit});
    b.tables.push_back(std::move(t));
    out.push_back(std::move(b));
  }
  return out;
}

json radar_spec(const json& rows) {
  json spec = json::parse(R"spec({
    "$schema": "https://vega.github.io/schema/vega/v6.json",
    "width": 240, "height": 240,
    "padding": {"left": 80, "right": 200, "top": 40, "bottom": 40},
    "autosize": {"type": "none"},
    "signals": [{"name": "radius", "update": "width / 2"}],
    "data": [
      {"name": "table", "values": []},
      {"name": "keys", "source": "table", "transform": [{"type": "aggregate", "groupby": ["key"]}]},
      {"name": "rings", "values": [{"r": 0.25}, {"r": 0.5}, {"r": 0.75}, {"r": 1.0}]}
    ],
    "scales": [
      {"name": "angular", "type": "point", "range": {"signal": "[-PI, PI]"}, "padding": 0.5,
       "domain": {"data": "table", "field": "key"}},
      {"name": "radial", "type": "linear", "range": {"signal": "[0, radius]"}, "zero": true, "nice": false,
       "domain": [0, 1]},
      {"name": "color", "type": "ordinal", "domain": {"data": "table", "field": "category"},
       "range": {"scheme": "category10"}}
    ],
    "encode": {"enter": {"x": {"signal": "radius"}, "y": {"signal": "radius"}}},
    "legends": [{"fill": "color", "stroke": "color", "title": "cell", "orient": "none",
                 "legendX": {"signal": "radius + 100"}, "legendY": {"signal": "-radius"}}],
    "marks": [
      {"type": "arc", "name": "ring", "from": {"data": "rings"}, "zindex": 0,
       "encode": {"enter": {"x": {"value": 0}, "y": {"value": 0}, "innerRadius": {"value": 0},
                            "outerRadius": {"signal": "scale('radial', datum.r)"}, "startAngle": {"value": 0},
                            "endAngle": {"signal": "2 * PI"}, "fill": {"value": null},
                            "stroke": {"value": "#e0e0e0"}, "strokeWidth": {"value": 1}}}},
      {"type": "rule", "name": "radial-grid", "from": {"data": "keys"}, "zindex": 0,
       "encode": {"enter": {"x": {"value": 0}, "y": {"value": 0},
                            "x2": {"signal": "radius * cos(scale('angular', datum.key))"},
                            "y2": {"signal": "radius * sin(scale('angular', datum.key))"},
                            "stroke": {"value": "#c8c8c8"}, "strokeWidth": {"value": 1}}}},
      {"type": "group", "name": "categories", "zindex": 1,
       "from": {"facet": {"data": "table", "name": "facet", "groupby": ["category"]}},
       "marks": [
         {"type": "line", "name": "category-line", "from": {"data": "facet"},
          "encode": {"enter": {"interpolate": {"value": "linear-closed"},
                               "x": {"signal": "scale('radial', datum.value) * cos(scale('angular', datum.key))"},
                               "y": {"signal": "scale('radial', datum.value) * sin(scale('angular', datum.key))"},
                               "stroke": {"scale": "color", "field": "category"}, "strokeWidth": {"value": 2},
                               "fill": {"scale": "color", "field": "category"}, "fillOpacity": {"value": 0.08}}}},
         {"type": "symbol", "name": "category-point", "from": {"data": "facet"},
          "encode": {"enter": {"x": {"signal": "scale('radial', datum.value) * cos(scale('angular', datum.key))"},
                               "y": {"signal": "scale('radial', datum.value) * sin(scale('angular', datum.key))"},
                               "size": {"value": 30}, "fill": {"scale": "color", "field": "category"},
                               "tooltip": {"signal": "{'cell': datum.category, 'axis': datum.key, 'value': format(datum.raw, ',.4~f'), 'score (best 1, worst 0)': format(datum.value, '.2f')}"}}}}
       ]},
      {"type": "text", "name": "key-label", "from": {"data": "keys"}, "zindex": 1,
       "encode": {"enter": {"x": {"signal": "(radius + 6) * cos(scale('angular', datum.key))"},
                            "y": {"signal": "(radius + 6) * sin(scale('angular', datum.key))"},
                            "text": {"field": "key"},
                            "align": [{"test": "abs(scale('angular', datum.key)) > PI / 2 + 0.01", "value": "right"},
                                      {"test": "abs(scale('angular', datum.key)) < PI / 2 - 0.01", "value": "left"},
                                      {"value": "center"}],
                            "baseline": [{"test": "scale('angular', datum.key) > 0.01", "value": "top"},
                                         {"test": "scale('angular', datum.key) < -0.01", "value": "bottom"},
                                         {"value": "middle"}],
                            "fill": {"value": "#222"}, "fontSize": {"value": 11}, "fontWeight": {"value": "bold"}}}}
    ]
  })spec");
  spec["data"][0]["values"] = rows;
  return spec;
}

std::vector<Block> radar_blocks(const Sweep& s, const std::string& id) {
  std::vector<Block> out;
  for (const auto& slice : paper_radar_slices()) {
    const json rows = radar_rows(s, slice);
    std::set<std::string> cells, keys;
    for (const auto& r : rows) cells.insert(r["category"].get<std::string>()), keys.insert(r["key"].get<std::string>());
    if (cells.size() < 2 || keys.size() < 3) continue;
    Block b;
    b.chart = {id + "-radar-" + slice.id, "Radar, " + slice.title,
               fmt::format("Every axis normalised across the whole sweep ({} cells): best = 1 (outer ring), worst = 0 "
                           "(centre); accuracy: higher is better; training time and resources: lower is better.{}",
                           s.cells.size(), cells.size() < slice.cells.size() ? " Cells of the slice missing from the sweep are left out." : ""),
               radar_spec(rows), false};
    Table t;
    t.caption = "Raw value (normalised score)";
    t.header = {"cell"};
    std::vector<std::string> order;
    for (const auto& r : rows) {
      const auto k = r["key"].get<std::string>();
      if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
    }
    for (const auto& k : order) t.header.push_back(k);
    for (const auto& [w, a] : slice.cells) {
      const std::string cell = cell_label(w, a);
      if (!cells.count(cell)) continue;
      std::vector<std::string> row{cell};
      for (const auto& k : order) {
        std::string v = "–";
        for (const auto& r : rows)
          if (r["category"] == cell && r["key"] == k) {
            const double raw = r["raw"].get<double>();
            const std::string shown = k.rfind("accuracy", 0) == 0 ? fixed(100 * raw, 2) + " %"
                                      : k == "training time"      ? fixed(raw, 1) + " s"
                                                                  : grouped(raw);
            v = fmt::format("{} ({:.2f})", shown, r["value"].get<double>());
          }
        row.push_back(v);
      }
      t.rows.push_back(std::move(row));
    }
    b.tables.push_back(std::move(t));
    out.push_back(std::move(b));
  }
  return out;
}

Section sweep_section(const Sweep& s, const RunSet::Entry& e, const std::string& id, const ReportOptions& o) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Route Q — W×A sweep {}", short_dir(s.dir));
  const std::string hw = s.hw_setup.is_object()
                             ? fmt::format("; FPGA columns: {} at PE {} SIMD {}, {} MHz, {} formulas",
                                           s.hw_setup.value("device", "?"), s.hw_setup.value("pe", 0),
                                           s.hw_setup.value("simd", 0), s.hw_setup.value("fclk_mhz", 0.0),
                                           s.hw_setup.value("formulas", "?"))
                             : "; no FPGA columns";
  sec.intro = fmt::format("{} on {}, {} hidden layers {}, {} cells, {} epochs{}{}.", s.topology, s.dataset,
                          s.hidden.size(), fmt::join(s.hidden, "-"), s.cells.size(), s.epochs,
                          s.preset.empty() ? "" : ", preset " + s.preset, hw);
  sec.commands = e.commands;
  sec.blocks.push_back(accuracy_curves_block(s, id + "-curves"));
  if (o.epoch_curves)
    if (auto b = validation_curves_block(s, id + "-val")) sec.blocks.push_back(std::move(*b));
  std::set<int> ws, as;
  for (const auto& c : s.cells) ws.insert(c.wbits), as.insert(c.abits);
  if (ws.size() >= 2 || as.size() >= 2) sec.blocks.push_back(accuracy_heatmap_block(s, id + "-acc"));
  const auto pts = hw_points(s);
  if (!pts.empty())
    for (auto& b : hw_heatmap_blocks(pts, id + "-hw", fmt::format("{} on {}", s.topology, s.hw_setup.value("device", "?"))))
      sec.blocks.push_back(std::move(b));
  for (auto& b : radar_blocks(s, id)) sec.blocks.push_back(std::move(b));
  return sec;
}

Section fpga_section(const FpgaGrid& g, const RunSet::Entry& e, const RunSet& runs, const std::string& id) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Route Q — FPGA estimates {}", short_dir(g.dir));
  sec.commands = e.commands;
  // Groups: topology -> folding -> points.
  std::map<std::string, std::map<std::pair<int, int>, std::vector<HwPoint>>> groups;
  for (const auto& r : g.rows) groups[r.topology][{r.hw.pe, r.hw.simd}].push_back({r.wbits, r.abits, r.hw});
  sec.intro = fmt::format("{} estimates from {} ({} topologies).", g.rows.size(), fmt::join(g.files, ", "), groups.size());
  int k = 0;
  for (const auto& [topo, foldings] : groups) {
    for (const auto& [fold, pts] : foldings) {
      std::set<int> ws, as;
      for (const auto& p : pts) ws.insert(p.wbits), as.insert(p.abits);
      if (ws.size() < 2 || as.size() < 2) continue;
      for (auto& b : hw_heatmap_blocks(pts, fmt::format("{}-{}", id, k++),
                                       fmt::format("{} at PE {} SIMD {}", topo, fold.first, fold.second)))
        sec.blocks.push_back(std::move(b));
    }
    if (foldings.size() < 2) continue;
    // FPS per folding, for the cells a sweep of this topology trained (all cells if none did).
    const Sweep* sweep = nullptr;
    for (const auto& s : runs.sweeps)
      if (s.topology == topo) sweep = &s;
    json rows = json::array(), acc_rows = json::array();
    Table t;
    t.caption = fmt::format("{}: FPS per folding{}", topo, sweep ? " and test accuracy" : "");
    t.header = {"cell", "PE", "SIMD", "cycles/frame", "FPS", "LUT", "BRAM18", "fits"};
    if (sweep) t.header.push_back("test accuracy");
    std::set<std::string> acc_cells;
    std::vector<FpgaRow> sorted = g.rows;
    std::stable_sort(sorted.begin(), sorted.end(), [](const FpgaRow& a, const FpgaRow& b) {
      return std::tie(a.wbits, a.abits, a.hw.pe, a.hw.simd) < std::tie(b.wbits, b.abits, b.hw.pe, b.hw.simd);
    });
    for (const auto& r : sorted) {
      if (r.topology != topo) continue;
      const SweepCell* c = sweep ? sweep->find(r.wbits, r.abits) : nullptr;
      if (sweep && !c) continue;
      const std::string cell = cell_label(r.wbits, r.abits), folding = fmt::format("PE {} SIMD {}", r.hw.pe, r.hw.simd);
      rows.push_back({{"cell", cell}, {"folding", folding}, {"pe", r.hw.pe}, {"fps", r.hw.fps}, {"fits", r.hw.fits ? "yes" : "no"}});
      std::vector<std::string> row{cell, std::to_string(r.hw.pe), std::to_string(r.hw.simd), grouped(double(r.max_cycles)),
                                   fps_text(r.hw.fps), grouped(r.hw.lut), grouped(r.hw.bram18), r.hw.fits ? "yes" : "no"};
      if (c) {
        row.push_back(pct(c->final_test_accuracy));
        if (acc_cells.insert(cell).second) acc_rows.push_back({{"cell", cell}, {"accuracy", c->final_test_accuracy}});
      }
      t.rows.push_back(std::move(row));
    }
    json fps_spec = {
        {"data", {{"values", rows}}},
        {"width", {{"step", 18}}}, {"height", 220},
        {"mark", "bar"},
        {"encoding",
         {{"x", {{"field", "cell"}, {"type", "nominal"}, {"title", "design"}, {"axis", {{"labelAngle", 0}}}}},
          {"xOffset", {{"field", "folding"}, {"sort", {{"field", "pe"}}}}},
          {"y", {{"field", "fps"}, {"type", "quantitative"}, {"title", "frames per second (log)"}, {"scale", {{"type", "log"}}},
                 {"stack", nullptr}}},
          {"color", {{"field", "folding"}, {"type", "nominal"}, {"sort", {{"field", "pe"}}}, {"title", "folding"}}},
          {"tooltip", tooltip({{"cell", "cell"}, {"folding", "folding"}, {"fps", "FPS"}, {"fits", "fits"}})}}}};
    Block b;
    b.chart = {fmt::format("{}-{}-fps", id, k), fmt::format("{}: throughput per folding", topo),
               "FPS at each uniform folding (PE, SIMD on every layer); f_clk / slowest layer's cycles per frame.", vl(fps_spec)};
    b.tables.push_back(std::move(t));
    sec.blocks.push_back(std::move(b));
    if (!acc_rows.empty()) {
      json acc_spec = {
          {"data", {{"values", acc_rows}}},
          {"width", {{"step", 56}}}, {"height", 220},
          {"layer", json::array({
                        {{"mark", "bar"},
                         {"encoding",
                          {{"x", {{"field", "cell"}, {"type", "nominal"}, {"title", "design"}, {"axis", {{"labelAngle", 0}}}}},
                           {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "test accuracy"},
                                  {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
                           {"tooltip", json::array({{{"field", "cell"}}, {{"field", "accuracy"}, {"format", ".2%"}}})}}}},
                        {{"mark", {{"type", "text"}, {"dy", -6}}},
                         {"encoding", {{"x", {{"field", "cell"}, {"type", "nominal"}}},
                                       {"y", {{"field", "accuracy"}, {"type", "quantitative"}}},
                                       {"text", {{"field", "accuracy"}, {"format", ".2%"}}}}}}})}};
      Block a;
      a.chart = {fmt::format("{}-{}-acc", id, k++), fmt::format("{}: test accuracy of the same designs", topo),
                 fmt::format("From the sweep {} (folding does not change accuracy).", short_dir(sweep->dir)), vl(acc_spec)};
      sec.blocks.push_back(std::move(a));
    } else {
      ++k;
    }
  }
  return sec;
}

Section kd_section(const KdGrid& g, const RunSet::Entry& e, const std::string& id) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Route K — knowledge distillation grid {}", short_dir(g.dir));
  sec.intro = fmt::format("Student {} on {}{}; teacher {}. No-KD baseline: test error {}. Best (α, T) = ({}, {}): {}.",
                          g.student, g.dataset, g.preset.empty() ? "" : " (preset " + g.preset + ")",
                          g.teacher.empty() ? "–" : short_dir(g.teacher), pct(g.baseline_error), fixed(g.best_alpha, 2),
                          fixed(g.best_temperature, 1), pct(g.best_error));
  sec.commands = e.commands;
  const json rows = kd_surface_rows(g);
  std::vector<double> alphas, temps;
  for (const auto& r : rows) alphas.push_back(r["alpha"]), temps.push_back(r["temperature"]);
  std::sort(alphas.begin(), alphas.end()), alphas.erase(std::unique(alphas.begin(), alphas.end()), alphas.end());
  std::sort(temps.begin(), temps.end()), temps.erase(std::unique(temps.begin(), temps.end()), temps.end());
  if (!rows.empty()) {
    const bool has_base = !std::isnan(g.baseline_error);
    double maxabs = 0;
    for (const auto& r : rows)
      if (!r["delta"].is_null()) maxabs = std::max(maxabs, std::abs(r["delta"].get<double>()));
    json color = has_base ? json{{"field", "delta"}, {"type", "quantitative"}, {"title", "error − no-KD baseline"},
                                 {"scale", {{"scheme", "blueorange"}, {"domainMid", 0}, {"domain", {-maxabs, maxabs}}}},
                                 {"legend", {{"format", "+.1%"}}}}
                          : json{{"field", "error"}, {"type", "quantitative"}, {"title", "test error"},
                                 {"scale", {{"scheme", "blues"}, {"reverse", true}}}};
    json spec = {
        {"data", {{"values", rows}}},
        {"width", std::max<size_t>(60 * alphas.size(), 120)}, {"height", std::max<size_t>(44 * temps.size(), 88)},
        {"encoding",
         {{"x", {{"field", "alpha"}, {"type", "ordinal"}, {"title", "α (weight of the distillation term)"}, {"axis", {{"labelAngle", 0}}}}},
          {"y", {{"field", "temperature"}, {"type", "ordinal"}, {"title", "temperature T"}}}}},
        {"layer", json::array({{{"mark", "rect"},
                                {"encoding",
                                 {{"color", color},
                                  {"tooltip", json::array({{{"field", "name"}}, {{"field", "alpha"}, {"title", "α"}},
                                                           {{"field", "temperature"}, {"title", "T"}},
                                                           {{"field", "error"}, {"title", "test error"}, {"format", ".2%"}},
                                                           {{"field", "delta"}, {"title", "vs no KD"}, {"format", "+.2%"}}})}}}},
                               {{"mark", {{"type", "text"}, {"fontSize", 11}}}, {"encoding", {{"text", {{"field", "label"}}}}}}})}};
    Block b;
    b.chart = {id + "-surface", "Test error over (α, T) against the no-KD baseline",
               has_base ? fmt::format("The error surface seen from above: cell text = test error (%); colour = distance to "
                                      "the no-KD plane ({}): blue cells beat the baseline, orange ones are worse.",
                                      pct(g.baseline_error))
                        : "Cell text = test error (%); no baseline row in this grid.",
               vl(spec)};
    Table t;
    t.caption = "Every cell of the grid";
    t.header = {"run", "α", "T", "test error", "test accuracy", "validation accuracy", "vs no KD", "status"};
    for (const auto& c : g.cells)
      t.rows.push_back({c.name, c.kd ? fixed(c.alpha, 2) : "–", c.kd ? fixed(c.temperature, 1) : "–", pct(c.test_error),
                        pct(c.test_accuracy), pct(c.val_accuracy),
                        c.kd && has_base ? fmt::format("{:+.2f} points", 100 * (c.test_error - g.baseline_error)) : "baseline",
                        c.status});
    b.tables.push_back(std::move(t));
    sec.blocks.push_back(std::move(b));

    // The surface's cross-sections: error against alpha, one line per T, and the baseline plane as a dashed rule.
    json layers = json::array({{{"mark", {{"type", "line"}, {"point", true}}},
                                {"encoding",
                                 {{"x", {{"field", "alpha"}, {"type", "quantitative"}, {"title", "α"}}},
                                  {"y", {{"field", "error"}, {"type", "quantitative"}, {"title", "test error"},
                                         {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
                                  {"color", {{"field", "temperature"}, {"type", "ordinal"}, {"title", "T"},
                                             {"scale", {{"scheme", "viridis"}}}, {"legend", kNumberLegend}}},
                                  {"tooltip", json::array({{{"field", "name"}}, {{"field", "error"}, {"format", ".2%"}}})}}}}});
    if (has_base) {
      layers.push_back({{"data", {{"values", json::array({{{"baseline", g.baseline_error}, {"label", "no KD " + pct(g.baseline_error)}}})}}},
                        {"mark", {{"type", "rule"}, {"strokeDash", {6, 4}}, {"color", "#c0392b"}}},
                        {"encoding", {{"y", {{"field", "baseline"}, {"type", "quantitative"}}}}}});
      layers.push_back({{"data", {{"values", json::array({{{"baseline", g.baseline_error}, {"label", "no KD " + pct(g.baseline_error)}}})}}},
                        {"mark", {{"type", "text"}, {"align", "left"}, {"dx", 4}, {"dy", -7}, {"color", "#c0392b"}, {"x", 0}}},
                        {"encoding", {{"y", {{"field", "baseline"}, {"type", "quantitative"}}}, {"text", {{"field", "label"}}}}}});
    }
    json lines = {{"data", {{"values", rows}}}, {"width", 360}, {"height", 220}, {"layer", layers}};
    Block c;
    c.chart = {id + "-lines", "Test error against α, per temperature",
               "Sections of the surface along α; the dashed line is the no-KD baseline plane.", vl(lines)};
    sec.blocks.push_back(std::move(c));
  }
  return sec;
}

Section evolution_section(const Evolution& ev, const RunSet::Entry& e, const std::string& id, const ReportOptions& o) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Route K — NEMOKD evolution {}", short_dir(ev.dir));
  const auto chosen = chosen_candidates(ev, o.generations);
  const auto front = pareto_front(chosen);
  std::set<int> gens;
  for (const auto& c : chosen) gens.insert(c.generation);
  const bool proxy = !ev.proxy_unit.empty();
  const std::string cost = proxy ? ev.proxy_unit + " (proxy, not a measurement)" : "latency (ms, batch 1)";
  sec.intro = fmt::format("{} candidates of {} generation(s){}{}; {} on the Pareto front; {} baseline point(s){}.",
                          chosen.size(), gens.size(), ev.dataset.empty() ? "" : " on " + ev.dataset,
                          ev.device.empty() ? "" : (proxy ? ", cost: " : ", latency on ") + ev.device, front.size(),
                          ev.baselines.size(),
                          ev.failed ? fmt::format("; {} candidate(s) failed and are not shown", ev.failed) : "");
  sec.commands = e.commands;
  auto row = [](const Candidate& c, const std::string& kind) {
    return json{{"kind", kind}, {"generation", c.generation}, {"id", c.id}, {"architecture", c.architecture},
                {"genome", c.genome}, {"error", c.error}, {"latency_ms", c.latency_ms},
                {"params", c.params >= 0 ? json(c.params) : json()}, {"macs", c.macs >= 0 ? json(c.macs) : json()}};
  };
  json pop = json::array(), fr = json::array(), base = json::array();
  for (const auto& c : chosen) pop.push_back(row(c, "candidate"));
  for (const auto& c : front) fr.push_back(row(c, "Pareto front"));
  for (const auto& c : ev.baselines) base.push_back(row(c, "baseline"));
  const json tip = json::array({{{"field", "id"}}, {{"field", "generation"}}, {{"field", "architecture"}},
                                {{"field", "genome"}}, {{"field", "error"}, {"format", ".2%"}},
                                {{"field", "latency_ms"}, {"title", proxy ? ev.proxy_unit : "latency (ms)"},
                                 {"format", proxy ? ",.0f" : ".3f"}},
                                {{"field", "params"}, {"format", ","}}, {{"field", "macs"}, {"title", "MACs"}, {"format", ","}}});
  const json x = {{"field", "latency_ms"}, {"type", "quantitative"}, {"title", cost}, {"scale", {{"zero", false}}}};
  const json y = {{"field", "error"}, {"type", "quantitative"}, {"title", "test error"}, {"scale", {{"zero", false}}},
                  {"axis", {{"format", ".0%"}}}};
  json layers = json::array();
  layers.push_back({{"data", {{"values", pop}}},
                    {"mark", {{"type", "point"}, {"filled", true}, {"opacity", 0.75}, {"size", 45}}},
                    {"encoding", {{"x", x}, {"y", y},
                                  {"color", {{"field", "generation"}, {"type", gens.size() <= 12 ? "ordinal" : "quantitative"},
                                             {"title", "generation"}, {"scale", {{"scheme", "viridis"}}}}},
                                  {"tooltip", tip}}}});
  if (!fr.empty())
    layers.push_back({{"data", {{"values", fr}}},
                      {"mark", {{"type", "line"}, {"interpolate", "step-after"}, {"color", "#c0392b"}, {"point", {{"color", "#c0392b"}}}}},
                      {"encoding", {{"x", x}, {"y", y}, {"tooltip", tip}}}});
  if (!base.empty())
    layers.push_back({{"data", {{"values", base}}},
                      {"mark", {{"type", "point"}, {"shape", "cross"}, {"size", 160}, {"filled", true}, {"color", "black"}}},
                      {"encoding", {{"x", x}, {"y", y}, {"tooltip", tip}}}});
  Block b;
  b.chart = {id + "-pareto", proxy ? "Population in (" + ev.proxy_unit + ", error), Pareto front and baselines"
                                   : "Population in (latency, error), Pareto front and baselines",
             "Dots: candidates of the chosen generations (colour = generation); red steps: the Pareto front (minimise both); "
             "black crosses: baseline students. Hover a point for its architecture and genome.",
             vl({{"width", 520}, {"height", 320}, {"layer", layers}})};
  auto table = [&](const std::string& caption, const std::vector<Candidate>& cs, bool collapsed) {
    Table t;
    t.caption = caption;
    t.collapsed = collapsed;
    t.header = {"id", "generation", "architecture", "genome", "test error", proxy ? ev.proxy_unit + " (proxy)" : "latency (ms)",
                "FPS", "params", "MACs"};
    for (const auto& c : cs)
      t.rows.push_back({c.id, std::to_string(c.generation), c.architecture, c.genome, pct(c.error),
                        proxy ? grouped(c.latency_ms) : fixed(c.latency_ms, 3),
                        proxy ? "–" : fps_text(1000.0 / c.latency_ms), c.params >= 0 ? grouped(double(c.params)) : "–",
                        c.macs >= 0 ? grouped(double(c.macs)) : "–"});
    return t;
  };
  b.tables.push_back(table("Pareto front", front, false));
  if (!ev.baselines.empty()) b.tables.push_back(table("Baselines", ev.baselines, false));
  b.tables.push_back(table("Every candidate plotted", chosen, true));
  sec.blocks.push_back(std::move(b));
  return sec;
}

Section single_run_section(const SingleRun& r, const RunSet::Entry& e, const std::string& id) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Training run {}", short_dir(r.dir));
  sec.intro = fmt::format("{} on {}; {} epochs, status {}; final test accuracy {}, validation {}.", r.model, r.dataset,
                          r.epochs ? r.epochs : static_cast<int>(r.curve.size()), r.status, pct(r.final_test_accuracy), pct(r.final_val_accuracy));
  sec.commands = e.commands;
  json rows = json::array();
  Table t;
  t.caption = "Accuracy (%) per epoch";
  t.collapsed = r.curve.size() > 12;
  t.header = {"epoch", "train", "validation", "test"};
  for (const auto& p : r.curve) {
    const std::pair<const char*, double> series[] = {
        {"train", p.train_accuracy}, {"validation", p.val_accuracy}, {"test", p.test_accuracy}};
    for (const auto& [name, v] : series)
      if (!std::isnan(v)) rows.push_back({{"epoch", p.epoch}, {"split", name}, {"accuracy", v}});
    t.rows.push_back({std::to_string(p.epoch), fixed(100 * p.train_accuracy, 2), fixed(100 * p.val_accuracy, 2),
                      fixed(100 * p.test_accuracy, 2)});
  }
  if (rows.empty()) {
    sec.tables.push_back(std::move(t));
    return sec;
  }
  json spec = {{"data", {{"values", rows}}}, {"width", 420}, {"height", 220},
               {"mark", {{"type", "line"}, {"point", true}}},
               {"encoding",
                {{"x", {{"field", "epoch"}, {"type", "quantitative"}, {"axis", kEpochAxis}}},
                 {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
                 {"color", {{"field", "split"}, {"type", "nominal"}, {"sort", {"train", "validation", "test"}}}},
                 {"tooltip", json::array({{{"field", "split"}}, {{"field", "epoch"}}, {{"field", "accuracy"}, {"format", ".2%"}}})}}}};
  Block b;
  b.chart = {id + "-curve", "Accuracy per epoch", "From metrics.json (train, validation and test where evaluated).", vl(spec)};
  b.tables.push_back(std::move(t));
  sec.blocks.push_back(std::move(b));
  return sec;
}

Section engine_section(const EngineCompare& ec, const RunSet::Entry& e, const std::string& id) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Integer engine against the QAT models {}", short_dir(ec.dir));
  int exact = 0;
  for (const auto& r : ec.rows) exact += r.exact;
  sec.intro = fmt::format("{} models; {} bit-exact with the quantization-aware model on the whole test set.", ec.rows.size(), exact);
  sec.commands = e.commands;
  json rows = json::array();
  Table t;
  t.caption = "Every model";
  t.collapsed = ec.rows.size() > 16;
  t.header = {"set", "cell", "model bytes", "engine accuracy", "QAT model accuracy", "prediction mismatches", "exact", "kernels"};
  for (const auto& r : ec.rows) {
    rows.push_back({{"set", r.set}, {"cell", r.cell}, {"bytes", r.bytes}, {"accuracy", r.engine_accuracy},
                    {"exact", r.exact ? "yes" : "no"}, {"kernels", r.kernels}});
    t.rows.push_back({r.set, r.cell, grouped(double(r.bytes)), pct(r.engine_accuracy), pct(r.model_accuracy),
                      std::to_string(r.prediction_mismatches), r.exact ? "yes" : "no", r.kernels});
  }
  json spec = {{"data", {{"values", rows}}}, {"width", 460}, {"height", 240},
               {"mark", {{"type", "point"}, {"filled", true}, {"size", 50}}},
               {"encoding",
                {{"x", {{"field", "bytes"}, {"type", "quantitative"}, {"title", "integer model file (bytes, log)"}, {"scale", {{"type", "log"}}}}},
                 {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "engine test accuracy"},
                        {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
                 {"color", {{"field", "set"}, {"type", "nominal"}}},
                 {"shape", {{"field", "exact"}, {"type", "nominal"}, {"title", "bit-exact"}}},
                 {"tooltip", tooltip({{"set", "set"}, {"cell", "cell"}, {"bytes", "bytes"}, {"accuracy", "accuracy"},
                                      {"exact", "bit-exact"}, {"kernels", "kernels"}})}}}};
  Block b;
  b.chart = {id + "-size", "Accuracy against integer model size", "From compare.csv.", vl(spec)};
  b.tables.push_back(std::move(t));
  sec.blocks.push_back(std::move(b));
  return sec;
}

namespace {

// One accuracy-against-FPS chart over `rows` (colour = how the number was obtained, on what).
json q_vs_k_chart(const json& rows, const std::vector<std::string>& routes) {
  json layers = json::array();
  const json x = {{"field", "fps"}, {"type", "quantitative"}, {"title", "frames per second (log)"},
                  {"scale", {{"type", "log"}}}};
  const json y = {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "test accuracy"},
                  {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}};
  const json palette = {"#9ecae1", "#1f77b4", "#2ca02c", "#d62728", "#ff7f0e"};
  json range = json::array();
  for (const auto& r : routes) {
    const std::vector<std::string> all = {kQFpgaEstimated, kQFpgaExpected, kQEngineMeasured, kKTorchMeasured,
                                          kKTargetMeasured};
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
  for (const char* r : {kQFpgaEstimated, kQFpgaExpected, kQEngineMeasured, kKTorchMeasured, kKTargetMeasured})
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
  const bool has_k = std::any_of(routes.begin(), routes.end(), [](const std::string& r) { return r[0] == 'K'; });
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

}  // namespace

std::vector<Section> build_sections(const RunSet& runs, const ReportOptions& o) {
  std::vector<Section> out;
  {
    Section s;
    s.id = "runs";
    s.title = "Runs in this report";
    Table t;
    t.caption = "Folders, what they hold, and the commands that produced them";
    t.header = {"folder", "kind", "command"};
    for (const auto& e : runs.entries)
      t.rows.push_back({short_dir(e.dir), to_string(e.kind),
                        e.commands.empty() ? "(not recorded)" : fmt::format("{}", fmt::join(e.commands, "\n"))});
    s.tables.push_back(std::move(t));
    out.push_back(std::move(s));
  }
  // Sections by kind (sweeps, FPGA grids, KD grids, evolutions, single runs, engine), each kind in the given order.
  size_t isw = 0, ikd = 0, irun = 0, ieng = 0, ifp = 0, iev = 0;
  std::vector<std::pair<const RunSet::Entry*, size_t>> order;  // entry, index among its kind
  for (const auto& e : runs.entries) {
    size_t& i = e.kind == RunKind::sweep ? isw : e.kind == RunKind::kd_grid ? ikd : e.kind == RunKind::single_run ? irun
              : e.kind == RunKind::engine_compare ? ieng : e.kind == RunKind::fpga_grid ? ifp : iev;
    order.push_back({&e, i++});
  }
  auto rank = [](RunKind k) {
    switch (k) {
      case RunKind::sweep: return 0;
      case RunKind::fpga_grid: return 1;
      case RunKind::kd_grid: return 2;
      case RunKind::evolution: return 3;
      case RunKind::single_run: return 4;
      case RunKind::engine_compare: return 5;
    }
    return 6;
  };
  std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) { return rank(a.first->kind) < rank(b.first->kind); });
  for (const auto& [ep, idx] : order) {
    const auto& e = *ep;
    isw = ikd = irun = ieng = ifp = iev = idx;
    switch (e.kind) {
      case RunKind::sweep: out.push_back(sweep_section(runs.sweeps[isw], e, fmt::format("sweep{}", isw), o)), ++isw; break;
      case RunKind::kd_grid: out.push_back(kd_section(runs.kd_grids[ikd], e, fmt::format("kd{}", ikd))), ++ikd; break;
      case RunKind::single_run: out.push_back(single_run_section(runs.runs[irun], e, fmt::format("run{}", irun))), ++irun; break;
      case RunKind::engine_compare: out.push_back(engine_section(runs.engine[ieng], e, fmt::format("engine{}", ieng))), ++ieng; break;
      case RunKind::fpga_grid: out.push_back(fpga_section(runs.fpga[ifp], e, runs, fmt::format("fpga{}", ifp))), ++ifp; break;
      case RunKind::evolution: out.push_back(evolution_section(runs.evolution[iev], e, fmt::format("evo{}", iev), o)), ++iev; break;
    }
  }
  if (auto s = q_cost_section(runs)) out.push_back(std::move(*s));
  if (auto s = q_vs_k_section(runs, o)) out.push_back(std::move(*s));
  return out;
}

}  // namespace nemokd::report
