// KD grids: the error surface over (alpha, T) against the no-KD baseline.
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

}  // namespace nemokd::report
