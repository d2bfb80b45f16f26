#include "search/final_stage.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "campaign/campaign.h"
#include "campaign/run_kinds.h"
#include "core/csv.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/json_config.h"
#include "cost/cost.h"

namespace nemokd::search {
namespace fs = std::filesystem;

constexpr int kLatencyRounds = 3;

MeanSd mean_sd(const std::vector<double>& values) {
  MeanSd out;
  out.n = int(values.size());
  if (values.empty()) return out;
  double sum = 0;
  for (double v : values) sum += v;
  out.mean = sum / double(values.size());
  if (values.size() < 2) return out;
  double ss = 0;
  for (double v : values) ss += (v - out.mean) * (v - out.mean);
  out.sd = std::sqrt(ss / double(values.size() - 1));
  return out;
}

namespace {

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> finite(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (std::isfinite(x)) out.push_back(x);
  return out;
}

// `k` of `sorted` (ascending latency, all > 0) spread evenly in log-latency: for each of k targets between the
// smallest and the largest log-latency, the nearest point not taken yet. Returns indices, ascending.
std::vector<size_t> spread_in_log_latency(const std::vector<Candidate>& sorted, size_t k) {
  std::vector<size_t> out;
  if (k == 0 || sorted.empty()) return out;
  if (k >= sorted.size()) {
    for (size_t i = 0; i < sorted.size(); ++i) out.push_back(i);
    return out;
  }
  auto lg = [&](size_t i) { return std::log(std::max(sorted[i].latency, 1e-300)); };
  const double lo = lg(0), hi = lg(sorted.size() - 1);
  std::vector<bool> taken(sorted.size(), false);
  for (size_t j = 0; j < k; ++j) {
    const double target = k == 1 ? lo : lo + (hi - lo) * double(j) / double(k - 1);
    size_t best = sorted.size();
    for (size_t i = 0; i < sorted.size(); ++i)
      if (!taken[i] && (best == sorted.size() || std::abs(lg(i) - target) < std::abs(lg(best) - target))) best = i;
    taken[best] = true;
  }
  for (size_t i = 0; i < sorted.size(); ++i)
    if (taken[i]) out.push_back(i);
  return out;
}

std::string final_folder(const std::string& dir, const RunRecord& request) {
  const auto identity = campaign::run_kind(request.command, "final stage").identity(request.config);
  return (fs::path(dir) / fmt::format("{:016x}", memo_hash64(request.command + "\n" + identity.dump()))).string();
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json stat_json(const MeanSd& s) { return {{"mean", number(s.mean)}, {"sd", number(s.sd)}, {"n", s.n}}; }

const char* point_name(Role role) {
  switch (role) {
    case Role::final_baseline_kd: return "baseline (KD)";
    case Role::final_baseline_no_kd: return "baseline (no KD)";
    default: return "front point";
  }
}

}  // namespace

std::vector<Candidate> archive_front(const EvolveConfig& config, const std::vector<Candidate>& candidates) {
  // Top-rung results only (search/fidelity.h): an error after fewer epochs is not comparable with one after more.
  // (epochs 0: a store written before rungs, every result at --epochs, the only rung.)
  const int top = config.effective_rungs().back();
  std::vector<Candidate> ok;
  for (const auto& c : candidates)
    // Completed and feasible only: an infeasible design (fpga: fits nowhere) was never trained and is never a point.
    if (c.status == RunStatus::completed && c.feasible && (c.role == Role::search || c.role == Role::baseline_kd) &&
        (c.epochs == 0 || c.epochs == top))
      ok.push_back(c);
  std::vector<std::vector<double>> f;
  for (const auto& c : ok) f.push_back(objectives_of(config, c));
  std::vector<Candidate> front;
  for (size_t i : non_dominated(f)) front.push_back(ok[i]);
  std::sort(front.begin(), front.end(), [](const Candidate& a, const Candidate& b) {
    return a.latency != b.latency ? a.latency < b.latency : a.key < b.key;
  });
  return front;
}

std::vector<Candidate> cap_front(const std::vector<Candidate>& front, int max, double baseline_latency) {
  if (front.size() <= size_t(std::max(0, max))) return front;
  std::vector<Candidate> fast, rest;
  for (const auto& c : front) (c.latency <= baseline_latency ? fast : rest).push_back(c);
  std::vector<Candidate> out;
  if (fast.size() >= size_t(max)) {
    for (size_t i : spread_in_log_latency(fast, size_t(max))) out.push_back(fast[i]);
    return out;
  }
  out = fast;
  for (size_t i : spread_in_log_latency(rest, size_t(max) - fast.size())) out.push_back(rest[i]);
  return out;
}

FinalVerdicts final_verdicts(const std::vector<FinalPoint>& points) {
  FinalVerdicts v;
  const FinalPoint* base = nullptr;
  for (const auto& p : points)
    if (p.role == Role::final_baseline_kd) base = &p;
  if (!base || !std::isfinite(base->test.mean) || !std::isfinite(base->latency)) return v;
  double best_beats = std::numeric_limits<double>::infinity(), best_fast = best_beats;
  for (const auto& p : points) {
    if (p.role != Role::final_point || !std::isfinite(p.test.mean) || !std::isfinite(p.latency)) continue;
    // NaN sd (one seed) makes the comparison false: no claim beyond one sd without an sd.
    if (p.latency <= base->latency && p.test.mean + p.test.sd < base->test.mean - base->test.sd &&
        p.test.mean < best_beats) {
      v.beats_baseline_kd = true;
      v.beats_point = p.summary;
      best_beats = p.test.mean;
    }
    if (p.latency <= base->latency / 3 && p.test.mean <= base->test.mean + 0.01 && p.test.mean < best_fast) {
      v.fast_within_1pt = true;
      v.fast_point = p.summary;
      best_fast = p.test.mean;
    }
  }
  return v;
}

nlohmann::json FinalVerdicts::to_json() const {
  return {{"beats_baseline_kd", beats_baseline_kd},
          {"beats_baseline_kd_point", beats_point},
          {"beats_baseline_kd_rule", "a front point with latency <= the KD baseline's and test mean + sd < the "
                                     "baseline's test mean - sd (sample sd over the seeds)"},
          {"fast_within_1pt", fast_within_1pt},
          {"fast_within_1pt_point", fast_point},
          {"fast_within_1pt_rule", "a front point with latency <= the KD baseline's / 3 and test mean <= the "
                                   "baseline's test mean + 0.01"}};
}

nlohmann::json FinalResult::to_json() const {
  auto pts = nlohmann::json::array();
  for (const auto& p : points) {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& r : p.runs) {
      runs.push_back({{"seed", r.seed},
                      {"status", to_string(r.status)},
                      {"message", r.message},
                      {"val_error", number(r.val_error)},
                      {"test_error", number(r.test_error)},
                      {"train_seconds", r.train_seconds},
                      {"run_dir", r.run_dir}});
    }
    pts.push_back({{"name", point_name(p.role)},
                   {"role", to_string(p.role)},
                   {"key", p.key},
                   {"architecture", p.summary},
                   {"config", p.config},
                   {"params", p.params},
                   {"macs", p.macs},
                   {"search_error", number(p.search_error)},
                   {"search_epochs", p.search_epochs},
                   {"latency", number(p.latency)},
                   {"latency_sd", number(p.latency_sd)},
                   {"latency_rounds", p.latency_rounds},
                   {"val_error", stat_json(p.val)},
                   {"test_error", stat_json(p.test)},
                   {"runs", runs},
                   {"front", p.front}});
  }
  return {{"epochs", epochs},
          {"seeds", seeds},
          {"dir", dir},
          {"selected_on", to_string(selected_on)},
          {"latency", latency_source},
          {"cost", {{"spec", cost_spec}, {"unit", cost_unit}, {"how", cost_how}}},
          {"points", pts},
          {"verdicts", verdicts.to_json()},
          {"trained_now", trained_now},
          {"reused", reused}};
}

FinalResult run_final_stage(const EvolveConfig& config, Store& store, Evaluator& evaluator, const std::string& out_dir,
                            bool progress, int64_t budget) {
  FinalResult result;
  result.epochs = config.final_epochs;
  result.seeds = config.final_seeds;
  result.selected_on = config.select_on;
  const auto cost_spec = cost::parse_cost(config.cost);
  const auto unit = cost::unit_of(cost_spec);
  result.cost_spec = cost_spec.text();
  result.cost_unit = unit.unit;
  result.cost_how = cost::to_string(unit.how);
  result.dir = config.final_dir.empty() ? (fs::path(out_dir) / "final").string() : config.final_dir;
  const int threads = campaign::threads_per_run(config.base.base.threads, config.jobs);

  // The points: the archive front (less the baseline's architecture, which is its own point), then the baselines.
  const auto all = store.candidates();
  const auto& base_model = config.base.base.model;
  const std::string base_key = canonical_key(base_model);
  const auto base_candidate = store.candidate(base_key);
  const auto no_kd_candidate = store.candidate("no-kd:" + base_key);
  std::vector<Candidate> front;
  for (auto& c : archive_front(config, all))
    if (c.key != base_key) front.push_back(std::move(c));
  front = cap_front(front, config.final_max,
                    base_candidate && base_candidate->status == RunStatus::completed
                        ? base_candidate->latency
                        : std::numeric_limits<double>::infinity());
  std::vector<FinalPoint> points;
  std::vector<models::ModelConfig> models_of;
  auto add_point = [&](const std::string& key, Role role, const models::ModelConfig& model,
                       const std::optional<Candidate>& searched) {
    FinalPoint p;
    p.key = key;
    p.role = role;
    p.config = models::to_json(model);
    p.summary = config.space.summary(model);
    p.search_epochs = config.base.base.train.epochs;
    if (searched) {
      p.params = searched->params;
      p.macs = searched->macs;
      if (searched->status == RunStatus::completed) {
        p.search_error = searched->error;
        p.latency = searched->latency;
      }
    }
    points.push_back(std::move(p));
    models_of.push_back(model);
  };
  for (const auto& c : front)
    add_point(c.key, Role::final_point, models::model_config_from_json(c.config, c.key), c);
  add_point(base_key, Role::final_baseline_kd, base_model, base_candidate);
  add_point("no-kd:" + base_key, Role::final_baseline_no_kd, base_model, no_kd_candidate);

  // Every (point, seed) not finished yet, as one batch.
  std::vector<Request> todo;
  std::vector<std::pair<size_t, int>> todo_at;  // (point, seed)
  std::set<std::string> dirs;
  for (size_t i = 0; i < points.size(); ++i) {
    auto& p = points[i];
    p.runs.resize(size_t(config.final_seeds));
    for (int s = 0; s < config.final_seeds; ++s) {
      if (auto done = store.final_run(p.key, p.role, s, config.final_epochs)) {
        p.runs[size_t(s)] = *done;
        ++result.reused;
        continue;
      }
      Request rq;
      rq.key = p.key;
      rq.model = models_of[i];
      rq.role = p.role;
      rq.generation = -1;
      rq.epochs = config.final_epochs;
      rq.seed_offset = s;
      rq.measure = false;
      const auto request = training_request(config, rq, threads);
      rq.run_dir = final_folder(result.dir, request);
      if (!dirs.insert(rq.run_dir).second)  // two points, one training: a bug, never a shared folder written twice
        throw Error(fmt::format("final stage: {} and another point train the same run ({})", p.summary, rq.run_dir));
      FinalRun& r = p.runs[size_t(s)];
      r.key = p.key;
      r.role = p.role;
      r.seed = s;
      r.epochs = config.final_epochs;
      r.run_dir = rq.run_dir;
      // Finished in the shared folder (by another search, or before this store knew of it): read back.
      if (const auto finished = campaign::read_finished(rq.run_dir, request)) {
        r.status = finished->status;
        r.message = finished->message;
        r.val_error = 1.0 - finished->val_accuracy;
        r.test_error = 1.0 - finished->test_accuracy;
        r.train_seconds = finished->train_seconds;
        store.put_final_run(r);
        ++result.reused;
        continue;
      }
      todo.push_back(std::move(rq));
      todo_at.emplace_back(i, s);
    }
  }
  bool interrupted = false;
  if (budget >= 0 && todo.size() > size_t(budget)) {
    todo.resize(size_t(budget));
    todo_at.resize(size_t(budget));
    interrupted = true;
  }
  if (progress)
    spdlog::info("final stage: {} points x {} seeds at {} epochs in {}: {} to train, {} finished before",
                 points.size(), config.final_seeds, config.final_epochs, result.dir, todo.size(), result.reused);
  if (!todo.empty()) {
    const auto done = evaluator.evaluate(todo);
    for (size_t k = 0; k < done.size(); ++k) {
      const auto& c = done[k];
      FinalRun& r = points[todo_at[k].first].runs[size_t(todo_at[k].second)];
      r.status = c.status;
      r.message = c.message;
      r.val_error = c.val_error;
      r.test_error = c.test_error;
      r.train_seconds = c.train_seconds;
      if (!c.run_dir.empty()) r.run_dir = c.run_dir;
      ++result.trained_now;
      // A finished training is never redone; one that left no record (failed) is tried again by a rerun.
      if (c.status == RunStatus::completed || c.status == RunStatus::diverged) store.put_final_run(r);
    }
  }
  if (interrupted) throw Interrupted("stopped after the requested number of evaluations (final stage)");

  // Latency again, with nothing training: interleaved rounds, median (one measurement per distinct architecture).
  std::map<std::string, size_t> arch_index;
  std::vector<models::ModelConfig> archs;
  std::vector<size_t> arch_of(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    const auto k = canonical_key(models_of[i]);
    auto [it, fresh] = arch_index.emplace(k, archs.size());
    if (fresh) archs.push_back(models_of[i]);
    arch_of[i] = it->second;
  }
  const auto rounds = evaluator.remeasure_latency(archs, kLatencyRounds);
  result.latency_source =
      rounds.size() != archs.size() ? std::string("search (the evaluator cannot re-measure)")
      : unit.how == cost::CostHow::measured
          ? fmt::format("re-measured ({} interleaved rounds, median; nothing training)", kLatencyRounds)
          : fmt::format("priced again ({} rounds; {}: the same figure each round)", kLatencyRounds, result.cost_how);
  for (size_t i = 0; i < points.size(); ++i) {
    auto& p = points[i];
    if (rounds.size() == archs.size()) {
      p.latency_rounds = rounds[arch_of[i]];
      p.latency = median(p.latency_rounds);
      p.latency_sd = mean_sd(finite(p.latency_rounds)).sd;
    }
    std::vector<double> val, test;
    for (const auto& r : p.runs)
      if (r.status == RunStatus::completed) {
        if (std::isfinite(r.val_error)) val.push_back(r.val_error);
        if (std::isfinite(r.test_error)) test.push_back(r.test_error);
      }
    p.val = mean_sd(val);
    p.test = mean_sd(test);
  }

  // The front re-drawn on the final numbers: selection-metric mean and latency (and the extras) of the front points
  // and the KD baseline.
  std::vector<std::vector<double>> f;
  std::vector<size_t> at;
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    const double e = config.select_on == SelectOn::validation ? p.val.mean : p.test.mean;
    if (p.role == Role::final_baseline_no_kd || !std::isfinite(e) || !std::isfinite(p.latency)) continue;
    std::vector<double> o{e, p.latency};
    for (const auto& x : config.extra_objectives) o.push_back(double(x == "params" ? p.params : p.macs));
    f.push_back(o);
    at.push_back(i);
  }
  for (size_t j : non_dominated(f)) points[at[j]].front = true;
  result.points = std::move(points);
  result.verdicts = final_verdicts(result.points);

  write_json_file((fs::path(out_dir) / "final.json").string(), result.to_json());
  CsvTable table({"role", "architecture", "latency", "latency_sd", "params", "macs", "search_error", "search_epochs",
                  "epochs", "seeds_done", "val_mean", "val_sd", "test_mean", "test_sd", "val_per_seed",
                  "test_per_seed", "front", "selected_on", "run_dirs"});
  auto fraction = [](double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : std::string(); };
  for (const auto& p : result.points) {
    std::vector<std::string> vs, ts, ds;
    for (const auto& r : p.runs) {
      vs.push_back(fraction(r.val_error));
      ts.push_back(fraction(r.test_error));
      ds.push_back(r.run_dir);
    }
    table.add_row({to_string(p.role), p.summary, fmt::format("{:.6g}", p.latency), fmt::format("{:.3g}", p.latency_sd),
                   fmt::format("{}", p.params), fmt::format("{}", p.macs), fraction(p.search_error),
                   std::to_string(p.search_epochs), std::to_string(result.epochs), std::to_string(p.test.n),
                   fraction(p.val.mean), fraction(p.val.sd), fraction(p.test.mean), fraction(p.test.sd),
                   fmt::format("{}", fmt::join(vs, " ")), fmt::format("{}", fmt::join(ts, " ")),
                   p.front ? "1" : "0", to_string(config.select_on), fmt::format("{}", fmt::join(ds, " "))});
  }
  table.write((fs::path(out_dir) / "final.csv").string());
  if (progress) {
    for (const auto& p : result.points)
      spdlog::info("final: {:<20} {:<40} latency {:.4g}  test {:.2f}% +- {:.2f} ({} seeds){}", point_name(p.role),
                   p.summary, p.latency, 100 * p.test.mean, 100 * p.test.sd, p.test.n, p.front ? "  (front)" : "");
    spdlog::info("final: beats the distilled baseline: {}; a >= 3x faster student within 1 point: {}",
                 result.verdicts.beats_baseline_kd ? "yes" : "no", result.verdicts.fast_within_1pt ? "yes" : "no");
  }
  return result;
}

}  // namespace nemokd::search
