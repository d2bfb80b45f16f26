#include "search/fidelity.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <pagmo/utils/multi_objective.hpp>

#include "core/error.h"

namespace nemokd::search {

std::vector<int> effective_rungs(const std::vector<int>& rungs, int epochs) {
  return rungs.empty() ? std::vector<int>{epochs} : rungs;
}

void check_fidelity(const std::vector<int>& rungs, double promote, int epochs, const std::string& key) {
  if (!(promote > 0 && promote <= 1))
    throw ConfigError(fmt::format("{}promote: {} (the fraction of a rung promoted to the next: 0 < promote <= 1, e.g. "
                                  "0.34)",
                                  key, promote));
  if (rungs.empty()) return;
  if (rungs.size() > 16) throw ConfigError(fmt::format("{}rungs: {} rungs (at most 16)", key, rungs.size()));
  for (size_t i = 0; i < rungs.size(); ++i) {
    if (rungs[i] < 1 || rungs[i] > 100000)
      throw ConfigError(fmt::format("{}rungs[{}]: {} epochs (1..100000)", key, i, rungs[i]));
    if (i > 0 && rungs[i] <= rungs[i - 1])
      throw ConfigError(fmt::format("{}rungs: [{}] is not strictly increasing", key, fmt::join(rungs, ", ")));
  }
  if (rungs.back() != epochs)
    throw ConfigError(fmt::format("{}rungs: the last rung ({} epochs) must be the search's training length, --epochs "
                                  "{} (the baselines train at --epochs)",
                                  key, rungs.back(), epochs));
}

size_t promoted_count(size_t n, double promote) {
  if (n == 0) return 0;
  const double x = double(n) * promote;
  const auto k = size_t(std::ceil(x - 1e-9 * std::max(1.0, x)));
  return std::clamp<size_t>(k, 1, n);
}

std::vector<size_t> rank_order(const std::vector<RungEntry>& entries) {
  const size_t n = entries.size();
  std::vector<size_t> rank(n, 0);
  std::vector<double> crowding(n, std::numeric_limits<double>::infinity());
  if (n >= 2) {
    std::vector<std::vector<double>> f;
    for (const auto& e : entries) f.push_back(e.f);
    const auto sorted = pagmo::fast_non_dominated_sorting(f);
    const auto& fronts = std::get<0>(sorted);
    for (size_t r = 0; r < fronts.size(); ++r) {
      // Crowding over the front's distinct objective vectors (equal points share one distance, whatever the input
      // order; pagmo needs two points: a lone one is a boundary point, infinite distance).
      std::map<std::vector<double>, size_t> distinct;
      std::vector<std::vector<double>> ff;
      for (auto i : fronts[r]) {
        rank[i] = r;
        if (distinct.emplace(f[i], ff.size()).second) ff.push_back(f[i]);
      }
      if (ff.size() >= 2) {
        const auto d = pagmo::crowding_distance(ff);
        for (auto i : fronts[r]) {
          const double v = d[distinct.at(f[i])];
          crowding[i] = std::isnan(v) ? 0.0 : v;
        }
      }
    }
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (rank[a] != rank[b]) return rank[a] < rank[b];
    if (crowding[a] != crowding[b]) return crowding[a] > crowding[b];
    const double fa = entries[a].f.empty() ? 0 : entries[a].f[0], fb = entries[b].f.empty() ? 0 : entries[b].f[0];
    if (fa != fb) return fa < fb;
    return entries[a].key < entries[b].key;
  });
  return order;
}

std::vector<std::string> promote_from(const std::vector<RungEntry>& entries, double promote) {
  const auto order = rank_order(entries);
  const size_t k = promoted_count(entries.size(), promote);
  std::vector<std::string> out;
  std::set<std::string> in;
  for (size_t j = 0; j < order.size(); ++j) {
    const auto& e = entries[order[j]];
    if (e.completed && (j < k || e.forced) && in.insert(e.key).second) out.push_back(e.key);
  }
  return out;
}

std::string rung_dir(const std::string& base, int epochs, int top_epochs) {
  return epochs == top_epochs ? base : fmt::format("{}-e{}", base, epochs);
}

nlohmann::json budget_json(const std::vector<EvaluationLog>& log, const std::vector<std::pair<int, double>>& walls) {
  // generation -> rung -> (epochs, n)
  std::map<int, std::map<int, std::pair<int, int>>> by_gen;
  std::map<int, double> seconds;
  for (const auto& e : log) {
    auto& slot = by_gen[e.generation][e.rung];
    slot.first = e.epochs;
    slot.second += 1;
    seconds[e.generation] += e.seconds;
  }
  std::map<int, double> wall(walls.begin(), walls.end());
  for (const auto& [g, w] : walls) by_gen[g];  // a generation that trained nothing new still has its line
  auto out = nlohmann::json::array();
  int64_t cum = 0;
  double cum_wall = 0;
  for (const auto& [g, rungs] : by_gen) {
    nlohmann::json rj = nlohmann::json::array();
    int64_t epochs = 0;
    for (const auto& [rung, en] : rungs) {
      rj.push_back({{"rung", rung}, {"epochs", en.first}, {"n", en.second}});
      epochs += int64_t(en.first) * en.second;
    }
    cum += epochs;
    nlohmann::json entry = {{"generation", g},      {"rungs", rj},
                            {"epochs", epochs},     {"cum_epochs", cum},
                            {"train_seconds", seconds[g]}};
    if (const auto it = wall.find(g); it != wall.end()) {
      cum_wall += it->second;
      entry["wall_seconds"] = it->second;
      entry["cum_wall_seconds"] = cum_wall;
    } else {
      entry["wall_seconds"] = nullptr;
    }
    out.push_back(entry);
  }
  return out;
}

std::string budget_line(const nlohmann::json& e) {
  std::vector<std::string> parts;
  for (const auto& r : e.at("rungs"))
    parts.push_back(fmt::format("rung{} {}x{} ep", r.at("rung").get<int>(), r.at("n").get<int>(),
                                r.at("epochs").get<int>()));
  const int g = e.at("generation").get<int>();
  return fmt::format("{}: {} = {} ep (cum {}){}", g < 0 ? std::string("baselines") : fmt::format("gen {}", g),
                     parts.empty() ? std::string("nothing trained") : fmt::format("{}", fmt::join(parts, ", ")),
                     e.at("epochs").get<int64_t>(), e.at("cum_epochs").get<int64_t>(),
                     e.at("wall_seconds").is_number()
                         ? fmt::format(", {:.0f} s (cum {:.0f} s)", e.at("wall_seconds").get<double>(),
                                       e.at("cum_wall_seconds").get<double>())
                         : std::string());
}

}  // namespace nemokd::search
