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
  sec.title = fmt::format("Route K — NEMOKD evolution {}{}", short_dir(ev.dir),
                          on_test ? " (selected on test: paper protocol)" : "");
  const std::string metric = on_test ? "test error" : "validation error";
  const auto chosen = chosen_candidates(ev, o.generations);
  const auto front = pareto_front(chosen);
  std::set<int> gens;
  for (const auto& c : chosen) gens.insert(c.generation);
  const bool proxy = !ev.proxy_unit.empty();
  const std::string cost = proxy ? ev.proxy_unit + " (proxy, not a measurement)" : "latency (ms, batch 1)";
  sec.intro = fmt::format("{} candidates of {} generation(s){}{}; {} on the Pareto front; {} baseline point(s){}. {}",
                          chosen.size(), gens.size(), ev.dataset.empty() ? "" : " on " + ev.dataset,
                          ev.device.empty() ? "" : (proxy ? ", cost: " : ", latency on ") + ev.device, front.size(),
                          ev.baselines.size(),
                          ev.failed ? fmt::format("; {} candidate(s) failed and are not shown", ev.failed) : "",
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
  json tip = json::array({{{"field", "id"}}, {{"field", "generation"}}, {{"field", "architecture"}},
                          {{"field", "genome"}}, {{"field", "error"}, {"title", metric}, {"format", ".2%"}},
                                {{"field", "latency_ms"}, {"title", proxy ? ev.proxy_unit : "latency (ms)"},
                                 {"format", proxy ? ",.0f" : ".3f"}},
                                {{"field", "params"}, {"format", ","}}, {{"field", "macs"}, {"title", "MACs"}, {"format", ","}}});
  if (!on_test) tip.insert(tip.begin() + 5, {{"field", "test_error"}, {"title", "test error"}, {"format", ".2%"}});
  const json x = {{"field", "latency_ms"}, {"type", "quantitative"}, {"title", cost}, {"scale", {{"zero", false}}}};
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
    const std::string cost_title = proxy ? ev.proxy_unit + " (proxy)" : "latency (ms)";
    t.header = {"id", "generation", "architecture", "genome", metric};
    if (!on_test) t.header.push_back("test error");
    for (const auto& h : {cost_title, std::string("FPS"), std::string("params"), std::string("MACs")}) t.header.push_back(h);
    for (const auto& c : cs) {
      std::vector<std::string> r = {c.id, std::to_string(c.generation), c.architecture, c.genome, pct(c.error)};
      if (!on_test) r.push_back(pct(c.test_error));
      for (auto& v : {proxy ? grouped(c.latency_ms) : fixed(c.latency_ms, 3),
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
  return sec;
}

}  // namespace nemokd::report
