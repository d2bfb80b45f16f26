#include "hw/fpga/search.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/pareto.h"

namespace nemokd::hw::fpga {

namespace {

// One legal (PE, SIMD) of one layer, priced with the units that follow its folding or ride along with it:
// its sliding-window/padding unit (SIMD from the MVAU's), its max-pool (fixed), and for layer 0 the input
// thresholding unit (PE from layer 0's SIMD) — sync_dependent_units. Cycles: the slowest of them.
struct Option {
  int pe = 1, simd = 1;
  int64_t cycles = 0;
  Resources res;
};

std::vector<std::vector<Option>> layer_options(const Design& base, const CostOptions& o) {
  std::vector<std::vector<Option>> all;
  for (size_t i = 0; i < base.layers.size(); ++i) {
    MvauLayer l = base.layers[i];
    l.note.clear();
    std::vector<Option> opts;
    for (int64_t p : divisors(l.mh))
      for (int64_t q : divisors(l.mw)) {
        l.pe = int(p);
        l.simd = int(q);
        Design one;
        one.layers = {l};
        if (i == 0) one.input = base.input;
        sync_dependent_units(one);
        Option opt{l.pe, l.simd, 0, {}};
        if (one.input) {
          const auto t = threshold_cost(*one.input, o);
          opt.res += t.res;
          opt.cycles = t.cycles;
        }
        for (const auto& c : mvau_group_cost(one.layers[0], o)) {
          opt.res += c.res;
          opt.cycles = std::max(opt.cycles, c.cycles);
        }
        opts.push_back(opt);
      }
    all.push_back(std::move(opts));
  }
  return all;
}

Design with_choice(const Design& base, const std::vector<const Option*>& choice) {
  Design d = base;
  for (size_t i = 0; i < d.layers.size(); ++i) {
    d.layers[i].pe = choice[i]->pe;
    d.layers[i].simd = choice[i]->simd;
    d.layers[i].note.clear();
  }
  sync_dependent_units(d);
  return d;
}

bool leq(const Resources& a, const Resources& b) {
  return a.lut <= b.lut && a.ff <= b.ff && a.bram18 <= b.bram18 && a.uram <= b.uram && a.dsp <= b.dsp;
}

// Keeps options no other option matches or beats on every resource (ties: the faster one stays).
std::vector<const Option*> nondominated(std::vector<const Option*> opts) {
  std::sort(opts.begin(), opts.end(), [](const Option* a, const Option* b) { return a->cycles < b->cycles; });
  return sweep_front(std::move(opts), [](const Option* k, const Option* o) { return leq(k->res, o->res); });
}

std::vector<int64_t> cycle_budgets(const std::vector<std::vector<Option>>& opts) {
  std::set<int64_t> ts;
  int64_t floor_t = 0;  // no layer can go below its own fastest option
  for (const auto& layer : opts) {
    int64_t fastest = INT64_MAX;
    for (const auto& o : layer) {
      ts.insert(o.cycles);
      fastest = std::min(fastest, o.cycles);
    }
    floor_t = std::max(floor_t, fastest);
  }
  std::vector<int64_t> out;
  for (int64_t t : ts)
    if (t >= floor_t) out.push_back(t);
  return out;
}

struct Budget {
  double lut, ff, bram18, uram, dsp;
  bool holds(const Resources& r) const {
    return double(r.lut) <= lut && double(r.ff) <= ff && double(r.bram18) <= bram18 && double(r.uram) <= uram &&
           double(r.dsp) <= dsp;
  }
  // Share of the budget used, summed over resources: the order in which options are tried.
  double load(const Resources& r) const {
    auto share = [](int64_t used, double avail) { return avail > 0 ? double(used) / avail : (used ? 1e9 : 0.0); };
    return share(r.lut, lut) + share(r.ff, ff) + share(r.bram18, bram18) + share(r.uram, uram) + share(r.dsp, dsp);
  }
};

Budget budget_of(const Device& d, const UsableFractions& u) {
  return {double(d.total.lut) * u.lut, double(d.total.ff) * u.ff, double(d.total.bram18) * u.bram18,
          double(d.total.uram) * u.uram, double(d.total.dsp) * u.dsp};
}

Resources min_each(const std::vector<const Option*>& opts) {
  Resources m{INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
  for (const auto* o : opts) {
    m.lut = std::min(m.lut, o->res.lut);
    m.ff = std::min(m.ff, o->res.ff);
    m.bram18 = std::min(m.bram18, o->res.bram18);
    m.uram = std::min(m.uram, o->res.uram);
    m.dsp = std::min(m.dsp, o->res.dsp);
  }
  return m;
}

}  // namespace

nlohmann::json FoldedDesign::to_json() const {
  nlohmann::json folding = nlohmann::json::array();
  for (const auto& l : design.layers) folding.push_back({{"layer", l.name}, {"pe", l.pe}, {"simd", l.simd}});
  return {{"folding", folding}, {"estimate", estimate.to_json()}, {"fit", fit.to_json()}};
}

FoldedDesign evaluate(const Design& d, const CostOptions& o, const Device& device, const UsableFractions& u) {
  FoldedDesign f{d, estimate(d, o), {}};
  f.fit = check_fit(f.estimate.total, device, u);
  return f;
}

Design set_folding(const Design& base, const CostOptions& o, const SetFoldingOptions& so) {
  const double fclk_mhz = o.fclk_mhz;
  if (!(so.target_fps > 0)) throw ConfigError(fmt::format("target_fps: {} (need > 0)", so.target_fps));
  if (so.weight_width_max < 1) throw ConfigError(fmt::format("weight_width_max: {} (need >= 1)", so.weight_width_max));
  const int64_t target = int64_t(std::floor(fclk_mhz * 1e6 / so.target_fps));
  if (target < 1)
    throw ConfigError(fmt::format("target_fps: {} is above the clock ({} MHz): no folding reaches it", so.target_fps,
                                  fclk_mhz));
  auto pass = [&](int64_t t) {
    Design d = base;
    for (auto& l : d.layers) {
      l.note.clear();
      l.pe = l.simd = 1;
      for (int64_t q : divisors(l.mw)) {
        const int prev = l.simd;
        l.simd = int(q);
        if (l.cycles() < t) break;                     // target met: keep this SIMD whatever its width
        if (l.wbits * q > so.weight_width_max) {       // weight stream too wide: back off one step
          l.simd = prev;
          break;
        }
      }
      for (int64_t p : divisors(l.mh)) {
        l.pe = int(p);
        if (l.cycles() < t) break;
      }
      // FINN folds a sliding-window unit (and its padding unit) on its own: SIMD through the divisors of Cin.
      if (l.window)
        for (int64_t q : divisors(l.window->channels)) {
          l.window->simd = int(q);
          if (window_group_cycles(*l.window, o.formulas) < t) break;
        }
    }
    if (d.input) {
      d.input->note = "SetFolding";
      for (int64_t p : divisors(d.input->channels)) {
        d.input->pe = int(p);
        if (d.input->cycles() < t) break;
      }
    }
    return d;
  };
  Design d = pass(target);
  const int64_t achieved = max_cycles(d, o);
  // One rerun at the achieved maximum balances the pipeline (no further reruns: FINN's guarantee of ending).
  if (so.two_pass && achieved > target) d = pass(achieved);
  return d;
}

std::optional<FoldedDesign> fastest_fit(const Design& base, const CostOptions& o, const Device& device,
                                        const UsableFractions& u) {
  o.validate();
  u.validate();
  const auto opts = layer_options(base, o);
  const Budget budget = budget_of(device, u);
  const size_t n = opts.size();
  for (int64_t t : cycle_budgets(opts)) {
    std::vector<std::vector<const Option*>> cand(n);
    for (size_t i = 0; i < n; ++i) {
      std::vector<const Option*> within;
      for (const auto& op : opts[i])
        if (op.cycles <= t) within.push_back(&op);
      cand[i] = nondominated(within);
      std::sort(cand[i].begin(), cand[i].end(),
                [&](const Option* a, const Option* b) { return budget.load(a->res) < budget.load(b->res); });
    }
    // rest[i]: the least each resource can cost over layers i..n-1, for pruning.
    std::vector<Resources> rest(n + 1);
    for (size_t i = n; i-- > 0;) {
      rest[i] = rest[i + 1];
      rest[i] += min_each(cand[i]);
    }
    if (!budget.holds(rest[0])) continue;
    std::vector<const Option*> choice(n);
    int64_t nodes = 0;
    const int64_t node_cap = 2'000'000;  // bounds a pathological search; never reached by the MLPs we cost
    std::function<bool(size_t, Resources)> dfs = [&](size_t i, Resources acc) -> bool {
      if (i == n) return true;
      for (const auto* op : cand[i]) {
        if (++nodes > node_cap) return false;
        Resources next = acc;
        next += op->res;
        Resources bound = next;
        bound += rest[i + 1];
        if (!budget.holds(bound)) continue;
        choice[i] = op;
        if (dfs(i + 1, next)) return true;
      }
      return false;
    };
    if (dfs(0, Resources{})) {
      auto f = evaluate(with_choice(base, choice), o, device, u);
      if (f.fit.fits_planning) return f;  // always true (same resources); kept as a guard against drift
    }
  }
  return std::nullopt;
}

std::vector<FoldedDesign> pareto_foldings(const Design& base, const CostOptions& o, const Device& device,
                                          const UsableFractions& u, bool only_fitting) {
  o.validate();
  u.validate();
  const auto opts = layer_options(base, o);
  const Budget budget = budget_of(device, u);
  const size_t n = opts.size();
  struct Point {
    int64_t cycles, lut, bram;
    std::vector<const Option*> choice;
  };
  // 2-D Pareto filter on (LUT, BRAM18); among equals the faster point stays.
  auto filter2d = [](std::vector<Point> pts) {
    std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) {
      return std::tie(a.lut, a.bram, a.cycles) < std::tie(b.lut, b.bram, b.cycles);
    });
    return sweep_front(std::move(pts), [](const Point& k, const Point& p) { return k.bram <= p.bram; });
  };
  std::vector<Point> all;
  for (int64_t t : cycle_budgets(opts)) {
    std::vector<Point> front{{0, 0, 0, {}}};
    for (size_t i = 0; i < n && !front.empty(); ++i) {
      std::vector<Point> layer;
      for (const auto& op : opts[i])
        if (op.cycles <= t) layer.push_back({op.cycles, op.res.lut, op.res.bram18, {&op}});
      layer = filter2d(layer);
      std::vector<Point> next;
      for (const auto& a : front)
        for (const auto& b : layer) {
          Point p{std::max(a.cycles, b.cycles), a.lut + b.lut, a.bram + b.bram, a.choice};
          if (only_fitting && (double(p.lut) > budget.lut || double(p.bram) > budget.bram18)) continue;
          p.choice.push_back(b.choice[0]);
          next.push_back(std::move(p));
        }
      front = filter2d(std::move(next));
    }
    for (auto& p : front) all.push_back(std::move(p));
  }
  // 3-D filter over the union: sort by cycles, keep a point unless an earlier (no slower) one is no worse in
  // both LUT and BRAM.
  std::sort(all.begin(), all.end(), [](const Point& a, const Point& b) {
    return std::tie(a.cycles, a.lut, a.bram) < std::tie(b.cycles, b.lut, b.bram);
  });
  std::vector<FoldedDesign> out;
  sweep_front(
      std::move(all), [](const Point& k, const Point& p) { return k.lut <= p.lut && k.bram <= p.bram; },
      [&](const Point& p) {
        auto f = evaluate(with_choice(base, p.choice), o, device, u);
        if (only_fitting && !f.fit.fits_planning) return false;  // FF, URAM or DSP over budget
        out.push_back(std::move(f));
        return true;
      });
  return out;
}

}  // namespace nemokd::hw::fpga
