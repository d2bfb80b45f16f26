// W x A sweeps: accuracy curves and heatmaps, FPGA resource and fit heatmaps, the paper's radars.
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

// The resources a heatmap shows, in order.
const std::vector<std::pair<std::string, double HwEstimate::*>> kResources{
    {"LUT", &HwEstimate::lut}, {"FF", &HwEstimate::ff}, {"BRAM18", &HwEstimate::bram18}};

json resource_heatmap_rows(const std::vector<HwPoint>& points) {
  json rows = json::array();
  for (const auto& [name, field] : kResources) {
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
    for (const auto& [name, field] : kResources) {
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

}  // namespace nemokd::report
