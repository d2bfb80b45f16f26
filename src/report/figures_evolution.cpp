// NEMOKD evolutions: the population in (latency, error), its Pareto front and the baselines.
#include "report/figure_kit.h"

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
// 4 significant digits: an FPGA's ms per frame (0.00014) and a CPU's (0.6310) both keep their figures.
std::string latency_text(double v) { return std::isnan(v) ? "–" : fmt::format("{:.4g}", v); }
std::string epochs_text(int n) { return fmt::format("{} epoch{}", n, n == 1 ? "" : "s"); }
}  // namespace

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


Section evolution_section(const Evolution& ev, const RunSet::Entry& e, const std::string& id, const ReportOptions& o) {
  Section sec;
  sec.id = id;
  const bool on_test = ev.selected_on == "test";
  sec.title = fmt::format("{} — NEMOKD evolution {}{}", ev.fpga_cost() ? "Joint search (FPGA cost model)" : "Route K",
                          short_dir(ev.dir), on_test ? " (selected on test: paper protocol)" : "");
  const std::string metric = on_test ? "test error" : "validation error";
  const auto chosen = chosen_candidates(ev, o.generations);
  const auto front = pareto_front(chosen);
  std::set<int> gens;
  for (const auto& c : chosen) gens.insert(c.generation);
  const bool proxy = !ev.proxy_unit.empty();
  const CostBasis basis = cost_basis(ev);
  const std::string& cost = basis.title;
  sec.intro = fmt::format(
      "{} candidates of {} generation(s){}{}; {} on the Pareto front; {} baseline point(s){}. {}", chosen.size(),
      gens.size(), ev.dataset.empty() ? "" : " on " + ev.dataset,
      ev.device.empty() ? "" : (proxy ? ", cost: " : ", latency on ") + ev.device, front.size(), ev.baselines.size(),
      ev.failed ? fmt::format("; {} candidate(s) failed{} and are not shown", ev.failed,
                              ev.infeasible ? fmt::format(" or were infeasible ({} fit the device at "
                                                          "no folding, never trained)",
                                                          ev.infeasible)
                                            : std::string())
                : "",
      on_test ? "The search minimised the test error (the paper's protocol): the test errors shown "
                "are what the front was selected on, not an unbiased estimate."
              : "The search minimised the validation error (shown); each candidate's test error is "
                "reported in the tables, never selected on.");
  sec.commands = e.commands;
  auto row = [](const Candidate& c, const std::string& kind) {
    return json{{"kind", kind}, {"generation", c.generation}, {"id", c.id}, {"architecture", c.architecture},
                {"genome", c.genome}, {"error", c.error}, {"test_error", c.test_error}, {"latency_ms", c.latency_ms},
                {"params", c.params >= 0 ? json(c.params) : json()}, {"macs", c.macs >= 0 ? json(c.macs) : json()}};
  };
  json pop = json::array(), fr = json::array(), base = json::array();
  for (const auto& c : chosen) pop.push_back(row(c, "candidate"));
  for (const auto& c : front) fr.push_back(row(c, "Pareto front"));
  for (const auto& c : ev.baselines) base.push_back(row(c, "baseline"));
  json tip = json::array({{{"field", "id"}},
                          {{"field", "generation"}},
                          {{"field", "architecture"}},
                          {{"field", "genome"}},
                          {{"field", "error"}, {"title", metric}, {"format", ".2%"}},
                          {{"field", "latency_ms"}, {"title", basis.unit}, {"format", proxy ? ",.0f" : ".4~g"}},
                          {{"field", "params"}, {"format", ","}},
                          {{"field", "macs"}, {"title", "MACs"}, {"format", ","}}});
  // One tooltip entry (a braced list alone would insert its three pairs as three entries).
  if (!on_test) tip.insert(tip.begin() + 5, json{{"field", "test_error"}, {"title", "test error"}, {"format", ".2%"}});
  // Costs spanning an order of magnitude or more (an FPGA search: 0.0005 to 0.3 ms per frame) are drawn on a log axis,
  // or every fast design would sit on the axis; a narrow span (a CPU's latencies) keeps a linear one.
  double lo = INFINITY, hi = 0;
  for (const auto* cs : {&chosen, &ev.baselines})
    for (const auto& c : *cs)
      if (c.latency_ms > 0) lo = std::min(lo, c.latency_ms), hi = std::max(hi, c.latency_ms);
  const bool log_x = hi > 0 && hi / lo >= 10;
  const json x = {{"field", "latency_ms"},
                  {"type", "quantitative"},
                  {"title", log_x ? cost + " (log)" : cost},
                  {"scale", log_x ? json{{"type", "log"}} : json{{"zero", false}}}};
  const json y = {{"field", "error"}, {"type", "quantitative"}, {"title", metric + (on_test ? "" : " (selection metric)")},
                  {"scale", {{"zero", false}}},
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
    const std::string& cost_title = basis.unit;
    t.header = {"id", "generation", "architecture", "genome", metric};
    if (!on_test) t.header.push_back("test error");
    for (const auto& h : {cost_title, std::string("FPS"), std::string("params"), std::string("MACs")}) t.header.push_back(h);
    for (const auto& c : cs) {
      std::vector<std::string> r = {c.id, std::to_string(c.generation), c.architecture, c.genome, pct(c.error)};
      if (!on_test) r.push_back(pct(c.test_error));
      for (auto& v : {proxy ? grouped(c.latency_ms) : latency_text(c.latency_ms),
                      proxy ? std::string("–") : fps_text(1000.0 / c.latency_ms),
                      c.params >= 0 ? grouped(double(c.params)) : std::string("–"),
                      c.macs >= 0 ? grouped(double(c.macs)) : std::string("–")})
        r.push_back(v);
      t.rows.push_back(std::move(r));
    }
    return t;
  };
  b.tables.push_back(table("Pareto front", front, false));
  if (!ev.baselines.empty()) b.tables.push_back(table("Baselines", ev.baselines, false));
  b.tables.push_back(table("Every candidate plotted", chosen, true));
  sec.blocks.push_back(std::move(b));
  if (ev.final_stage && final_stage_rows(*ev.final_stage).empty()) {
    sec.intro += fmt::format(" A final stage is recorded ({}) but none of its points has a finished test error yet.",
                             short_dir(ev.final_stage->file));
  } else if (ev.final_stage) {
    sec.intro += fmt::format(
        " The errors above are ranking signals after the search's partial training; the final stage "
        "below retrained the front and both baselines ({} × {} seeds) and holds the results.",
        epochs_text(ev.final_stage->epochs), ev.final_stage->seeds);
    sec.blocks.push_back(final_stage_block(ev, id));
  }
  return sec;
}

json final_stage_rows(const FinalStage& f) {
  json rows = json::array();
  for (const auto& p : f.points) {
    if (!(p.latency > 0) || std::isnan(p.test_mean)) continue;  // nothing to place (listed in the table)
    const std::string kind = p.role == "final-baseline-kd"      ? "baseline (KD)"
                             : p.role == "final-baseline-no-kd" ? "baseline (no KD)"
                                                                : "front point (retrained)";
    std::vector<std::string> seeds;
    for (double e : p.test_per_seed) seeds.push_back(pct(e));
    json r = {{"kind", kind},
              {"architecture", p.architecture},
              {"latency", p.latency},
              {"latency_sd", num_or_null(p.latency_sd)},
              {"test_mean", p.test_mean},
              {"test_sd", num_or_null(p.test_sd)},
              {"val_mean", num_or_null(p.val_mean)},
              {"seeds", p.test_n},
              {"front", p.front},
              {"per_seed", fmt::format("{}", fmt::join(seeds, ", "))}};
    if (!std::isnan(p.test_sd)) r["lo"] = p.test_mean - p.test_sd, r["hi"] = p.test_mean + p.test_sd;
    rows.push_back(std::move(r));
  }
  return rows;
}

namespace {

// "12.34 % ± 0.21 at 0.412 ms" for verdict lines.
std::string point_numbers(const FinalStagePoint& p, const std::string& unit) {
  return fmt::format("test {} ± {} ({} seeds) at {} {}", pct(p.test_mean), std::isnan(p.test_sd) ? "–" : pct(p.test_sd),
                     p.test_n, latency_text(p.latency), unit);
}

}  // namespace

Block final_stage_block(const Evolution& ev, const std::string& id) {
  const FinalStage& f = *ev.final_stage;
  const CostBasis basis = cost_basis(ev);
  const bool proxy = basis.how == "proxy";
  const std::string unit = proxy ? ev.proxy_unit : basis.how == "estimated" ? "ms per frame (estimated)" : "ms";
  const json rows = final_stage_rows(f);
  json front = json::array();
  for (const auto& r : rows)
    if (r["front"].get<bool>()) front.push_back(r);
  std::sort(front.begin(), front.end(),
            [](const json& a, const json& b) { return a["latency"].get<double>() < b["latency"].get<double>(); });
  const std::string y_title =
      fmt::format("test error after {} × {} seeds (mean ± 1 sd)", epochs_text(f.epochs), f.seeds);
  const json x = {{"field", "latency"},
                  {"type", "quantitative"},
                  {"title", basis.title + " (log)"},
                  {"scale", {{"type", "log"}}},
                  {"axis", {{"titleLimit", 800}}}};
  const json y = {{"field", "test_mean"},
                  {"type", "quantitative"},
                  {"title", y_title},
                  {"scale", {{"zero", false}}},
                  {"axis", {{"format", ".1%"}, {"titleLimit", 380}}}};
  json y_lo = y;  // the bars share the axis (same title: Vega-Lite joins differing titles of layers)
  y_lo["field"] = "lo";
  std::vector<std::string> kinds;
  for (const char* k : {"front point (retrained)", "baseline (KD)", "baseline (no KD)"})
    if (std::any_of(rows.begin(), rows.end(), [&](const json& r) { return r["kind"] == k; })) kinds.push_back(k);
  const std::map<std::string, std::pair<std::string, std::string>> look = {
      {"front point (retrained)", {"#1f77b4", "circle"}},
      {"baseline (KD)", {"black", "cross"}},
      {"baseline (no KD)", {"#ff7f0e", "diamond"}}};
  json colors = json::array(), shapes = json::array();
  for (const auto& k : kinds) colors.push_back(look.at(k).first), shapes.push_back(look.at(k).second);
  const json color = {
      {"field", "kind"}, {"type", "nominal"}, {"title", "point"}, {"scale", {{"domain", kinds}, {"range", colors}}}};
  const json shape = {
      {"field", "kind"}, {"type", "nominal"}, {"title", "point"}, {"scale", {{"domain", kinds}, {"range", shapes}}}};
  const json tip = json::array(
      {{{"field", "kind"}, {"title", "point"}},
       {{"field", "architecture"}},
       {{"field", "test_mean"}, {"title", "test error, mean"}, {"format", ".2%"}},
       {{"field", "test_sd"}, {"title", "test error, sd"}, {"format", ".2%"}},
       {{"field", "per_seed"}, {"title", "test error per seed"}},
       {{"field", "seeds"}, {"title", "seeds finished"}},
       {{"field", "latency"}, {"title", unit}, {"format", proxy ? ",.0f" : ".4f"}},
       {{"field", "latency_sd"}, {"title", unit + ", sd of the rounds"}, {"format", proxy ? ",.0f" : ".4f"}}});
  json layers = json::array();
  if (std::any_of(rows.begin(), rows.end(), [](const json& r) { return r.contains("lo"); }))
    layers.push_back({{"transform", {{{"filter", "isValid(datum.lo)"}}}},
                      {"mark", {{"type", "rule"}, {"strokeWidth", 1.5}}},
                      {"encoding", {{"x", x}, {"y", y_lo}, {"y2", {{"field", "hi"}}}, {"color", color}}}});
  if (front.size() >= 2)
    layers.push_back(
        {{"data", {{"values", front}}},
         {"mark", {{"type", "line"}, {"interpolate", "step-after"}, {"color", "#c0392b"}, {"strokeWidth", 1.5}}},
         {"encoding", {{"x", x}, {"y", y}}}});
  layers.push_back({{"mark", {{"type", "point"}, {"filled", true}, {"size", 80}, {"opacity", 0.9}}},
                    {"encoding", {{"x", x}, {"y", y}, {"color", color}, {"shape", shape}, {"tooltip", tip}}}});
  // Verdicts, as nemokd evolve computed them from these numbers (never typed in).
  const FinalStagePoint* base = f.find_role("final-baseline-kd");
  auto verdict = [&](const char* claim, bool yes, const std::string& point, const std::string& rule) {
    const FinalStagePoint* p = point.empty() ? nullptr : f.find_point(point);
    std::string numbers =
        p ? point_numbers(*p, unit) : std::string(yes ? "(point not in the table)" : "no front point qualifies");
    if (base) numbers += "; baseline (KD): " + point_numbers(*base, unit);
    return std::vector<std::string>{claim, yes ? "yes" : "no", point.empty() ? "–" : point, numbers, rule};
  };
  Table verdicts;
  verdicts.caption = "Verdicts, computed by nemokd evolve from these numbers (" + short_dir(f.file) + ")";
  verdicts.header = {"claim", "verdict", "point", "numbers", "rule"};
  verdicts.rows.push_back(
      verdict("beats the distilled baseline (KD)", f.beats_baseline_kd, f.beats_point, f.beats_rule));
  verdicts.rows.push_back(verdict("within 1 point of the KD baseline at a third of its latency", f.fast_within_1pt,
                                  f.fast_point, f.fast_rule));
  Block b;
  b.chart = {
      id + "-final",
      fmt::format("After final retraining: test error ({} × {} seeds) against {}", epochs_text(f.epochs), f.seeds,
                  proxy ? ev.proxy_unit : "latency"),
      fmt::format("Every point of the final stage retrained from scratch: dots = the archive front's points, "
                  "bars = ±1 sample sd over the seeds, red steps = the front re-drawn on the final {} means "
                  "(drawn at their test means), black cross = the un-evolved student with KD, orange diamond = "
                  "without KD. Latency: {} ({}). The search-time errors are ranking signals and stay in the chart "
                  "above. Beats the distilled baseline: {}. 3× faster within 1 point: {}.",
                  f.selected_on == "test" ? "test" : "validation", basis.title,
                  f.latency_source.empty() ? "as recorded" : f.latency_source,
                  f.beats_baseline_kd ? "yes (" + f.beats_point + ")" : std::string("no"),
                  f.fast_within_1pt ? "yes (" + f.fast_point + ")" : std::string("no")),
      vl({{"data", {{"values", rows}}}, {"width", 560}, {"height", 380}, {"layer", layers}})};
  b.tables.push_back(std::move(verdicts));
  Table t;
  t.caption = "Every point of the final stage";
  t.header = {"point",
              "architecture",
              unit,
              unit + " sd",
              "params",
              "MACs",
              fmt::format("search-time {} error (ranking signal)", f.selected_on == "test" ? "test" : "validation"),
              "validation error",
              "test error",
              "test error per seed",
              "on the final front"};
  auto pm = [](double m, double sd) {
    return std::isnan(m) ? std::string("–") : pct(m) + " ± " + (std::isnan(sd) ? "–" : pct(sd));
  };
  for (const auto& p : f.points) {
    std::vector<std::string> seeds;
    for (double e : p.test_per_seed) seeds.push_back(pct(e));
    t.rows.push_back(
        {p.name.empty() ? p.role : p.name, p.architecture, proxy ? grouped(p.latency) : latency_text(p.latency),
         proxy ? grouped(p.latency_sd) : latency_text(p.latency_sd), p.params >= 0 ? grouped(double(p.params)) : "–",
         p.macs >= 0 ? grouped(double(p.macs)) : "–",
         std::isnan(p.search_error) ? "–" : fmt::format("{} after {} epoch(s)", pct(p.search_error), p.search_epochs),
         pm(p.val_mean, p.val_sd), pm(p.test_mean, p.test_sd), fmt::format("{}", fmt::join(seeds, ", ")),
         p.front ? "yes" : "no"});
  }
  b.tables.push_back(std::move(t));
  return b;
}

}  // namespace nemokd::report
