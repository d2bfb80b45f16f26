// `nemokd choose` (choose.h): collect the models of run folders, price them on a target, keep those that meet the
// constraints and rank them by validation accuracy.
#include "choose/choose.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "campaign/campaign.h"
#include "cost/bundle.h"
#include "core/error.h"
#include "core/json_config.h"
#include "core/run_record.h"
#include "report/runs.h"

namespace nemokd::choose {

namespace fs = std::filesystem;

namespace {

double number_or_nan(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}

nlohmann::json or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

// 100000 as "100000", 0.25 as "0.25" (a limit as the user typed it, never "1e+05").
std::string limit_text(double v) {
  return v == std::floor(v) && std::fabs(v) < 1e15 ? fmt::format("{:.0f}", v) : fmt::format("{:g}", v);
}

std::string pct(double acc) { return std::isfinite(acc) ? fmt::format("{:.2f} %", 100 * acc) : "-"; }

// The folder a campaign row names: `preferred` (its place under the campaign folder, which moves with it) when it
// exists, else the path recorded (relative to where the campaign ran).
std::string row_folder(const fs::path& preferred, const std::string& recorded) {
  if (fs::is_directory(preferred) || recorded.empty()) return preferred.string();
  return recorded;
}

// Status and accuracies from the model's own run.json (RunSummary), when the folder has one; the table's otherwise.
void read_run(ModelRef& m) {
  const auto path = fs::path(m.run_dir) / "run.json";
  if (!fs::is_regular_file(path)) return;
  const auto rec = RunRecord::from_json(read_json_file(path.string()));
  const auto s = campaign::RunSummary::from_record(rec);
  if (rec.config.contains("dataset") && rec.config["dataset"].is_object())
    m.dataset = rec.config["dataset"].value("name", std::string());
  m.status = to_string(s.status);
  if (std::isfinite(s.val_accuracy)) m.val_acc = s.val_accuracy;
  if (std::isfinite(s.test_accuracy)) m.test_acc = s.test_accuracy;
}

// One model of a campaign's table (or a run): the table's status and accuracies, then its own run.json's where the
// folder has one.
ModelRef model_ref(const char* kind, const std::string& dir, std::string run_dir, std::string label, std::string role,
                   const std::string& status, double val, double test) {
  ModelRef m;
  m.source_kind = kind;
  m.source_dir = dir;
  m.run_dir = std::move(run_dir);
  m.label = std::move(label);
  m.role = std::move(role);
  m.status = status;
  m.val_acc = val;
  m.test_acc = test;
  read_run(m);
  return m;
}

void collect_sweep(const std::string& dir, std::vector<ModelRef>& out) {
  const auto sweep = report::load_sweep(dir);
  for (const auto& c : sweep.cells)
    out.push_back(model_ref("sweep", dir, row_folder(fs::path(dir) / fmt::format("w{}a{}", c.wbits, c.abits), c.run_dir),
                            fmt::format("{} W{}A{}", sweep.topology.empty() ? "sweep" : sweep.topology, c.wbits, c.abits),
                            "uniform", c.status, c.final_val_accuracy, c.final_test_accuracy));
}

void collect_kd_grid(const std::string& dir, std::vector<ModelRef>& out) {
  for (const auto& c : report::load_kd_grid(dir).cells)
    out.push_back(model_ref("kd grid", dir, row_folder(fs::path(dir) / c.name, c.run_dir), c.name, c.kd ? "kd" : "no-kd",
                            c.status, c.val_accuracy, c.test_accuracy));
}

// An evolution's results.json: every candidate with its config, run folder and the latency the search measured.
void collect_evolution(const std::string& dir, std::vector<ModelRef>& out) {
  const auto path = (fs::path(dir) / "results.json").string();
  if (!fs::is_regular_file(path))
    throw ConfigError(fmt::format("{}: an evolution without results.json (nothing to choose from)", dir));
  const auto res = read_json_file(path);
  if (!res.contains("candidates") || !res["candidates"].is_array())
    throw DataError(fmt::format("{}: no 'candidates' array", path));
  std::string host;
  const auto cpath = fs::path(dir) / "candidates.json";
  if (fs::is_regular_file(cpath)) host = read_json_file(cpath.string()).value("host", std::string());
  for (const auto& c : res["candidates"]) {
    const std::string recorded = c.value("run_dir", std::string());
    const double err = number_or_nan(c, "test_error");
    ModelRef m = model_ref("evolution", dir, row_folder(fs::path(dir) / "candidates" / fs::path(recorded).filename(), recorded),
                           c.value("summary", c.value("key", std::string())), c.value("role", std::string("search")),
                           c.value("status", std::string()), NAN, std::isfinite(err) ? 1 - err : NAN);
    const auto& d = c.value("latency_detail", nlohmann::json::object());
    if (m.status == "completed" && d.is_object() && d.contains("probe") && number_or_nan(c, "latency") > 0) {
      try {
        m.stored_spec = cost::parse_cost(d["probe"].get<std::string>()).text();
      } catch (const ConfigError&) {
        m.stored_spec.clear();  // a probe this version does not read: priced anew
      }
      m.stored_host = d.value("host", host);
      cost::CostValue v;
      v.objective = c["latency"].get<double>();
      v.how = d.value("proxy", false) ? cost::CostHow::proxy : cost::CostHow::measured;
      v.unit = d.value("unit", std::string("ms"));
      v.label = v.how == cost::CostHow::proxy
                    ? "proxy (not a measurement), from the search's record"
                    : fmt::format("measured, from the search's record (on {})", m.stored_host.empty() ? "?" : m.stored_host);
      v.detail = d;
      if (!m.stored_spec.empty()) m.stored_cost = v;
    }
    out.push_back(std::move(m));
  }
}

// A run folder, labelled by its name; a deployable bundle (bundle.json, cost/bundle.h) by the model it holds.
void collect_run(const std::string& dir, std::vector<ModelRef>& out) {
  const auto norm = fs::path(dir).lexically_normal();
  std::string label = (norm.filename().empty() ? norm.parent_path().filename() : norm.filename()).string();
  const auto bundle = norm / "bundle.json";
  if (fs::is_regular_file(bundle)) {
    const auto b = read_json_file(bundle.string());
    if (b.contains("model") && b["model"].is_string() && !b["model"].get<std::string>().empty())
      label = b["model"].get<std::string>();
  }
  out.push_back(model_ref("run", dir, dir, label, "run", "", NAN, NAN));
}

// Returns false when `dir` holds no run of a kind that has models.
bool collect_one(const std::string& dir, std::vector<ModelRef>& out) {
  const auto kind = report::detect_kind(dir);
  if (!kind) return false;
  switch (*kind) {
    case report::RunKind::sweep: collect_sweep(dir, out); return true;
    case report::RunKind::kd_grid: collect_kd_grid(dir, out); return true;
    case report::RunKind::evolution: collect_evolution(dir, out); return true;
    case report::RunKind::single_run: collect_run(dir, out); return true;
    case report::RunKind::engine_compare:
    case report::RunKind::fpga_grid:
      throw ConfigError(fmt::format("{}: a {} holds no trained models to choose from", dir, report::to_string(*kind)));
  }
  return false;
}

std::string constraints_text(const Constraints& c, const cost::CostSpec& spec) {
  std::vector<std::string> parts;
  if (c.min_fps > 0)
    parts.push_back(spec.kind == "fpga"
                        ? fmt::format("--min-fps {} ({})", limit_text(c.min_fps),
                                      c.fps_basis == "expected" ? "expected on board" : "estimated")
                        : fmt::format("--min-fps {} (measured)", limit_text(c.min_fps)));
  if (c.max_latency_ms > 0) parts.push_back(fmt::format("--max-latency-ms {}", limit_text(c.max_latency_ms)));
  if (c.max_lut > 0) parts.push_back(fmt::format("--max-lut {}", c.max_lut));
  if (c.max_bram18 > 0) parts.push_back(fmt::format("--max-bram18 {}", c.max_bram18));
  if (!c.role.empty()) parts.push_back(fmt::format("--role {}", c.role));
  if (parts.empty()) return spec.kind == "fpga" ? "fitting" : "no constraint";
  return fmt::format("{}", fmt::join(parts, " and "));
}

// Figures of a priced row and what it misses.
void assess(Row& r, const Constraints& c, const cost::CostSpec& spec, const std::string& target_name) {
  const auto& v = r.cost;
  r.priced = v.ok && v.priceable;
  if (!v.ok) r.note = v.message.empty() ? "not priced" : v.message;
  else if (!v.priceable) r.note = v.message;
  if (!r.priced) return;
  const auto& d = v.detail;
  if (spec.kind == "fpga") {
    r.fps = number_or_nan(d, c.fps_basis == "expected" ? "fps_expected" : "fps_estimated");
    r.latency_ms = number_or_nan(d, "latency_us") / 1000;
  } else if (v.how == cost::CostHow::measured) {
    // The engine: single-frame latency beside its batch throughput; a probe: its latency per forward pass.
    const double single_us = number_or_nan(d, "single_frame_latency_us");
    r.latency_ms = std::isfinite(single_us) ? single_us / 1000 : v.objective;
    double per_image = number_or_nan(d, "per_image_ms");
    if (!std::isfinite(per_image)) per_image = v.objective / std::max(1.0, number_or_nan(d, "batch"));
    r.fps = 1000 / per_image;
  }
  auto short_of = [](double need, double has) { return (need - has) / need; };
  if (!v.feasible) {  // no folding fits: its figures (at PE = SIMD = 1) are no design one could deploy
    r.misses.push_back(fmt::format("does not fit {} at any folding (violation {:.3g})", target_name, v.violation));
    r.miss = v.violation;
    r.fps = r.latency_ms = NAN;
    return;
  }
  if (c.min_fps > 0 && !(r.fps >= c.min_fps)) {
    const double s = std::isfinite(r.fps) ? short_of(c.min_fps, r.fps) : 1;
    r.misses.push_back(fmt::format("at {:.0f} FPS ({:.0f} % short of {})", r.fps, 100 * s, limit_text(c.min_fps)));
    r.miss += s;
  }
  if (c.max_latency_ms > 0 && !(r.latency_ms <= c.max_latency_ms)) {
    const double s = std::isfinite(r.latency_ms) ? (r.latency_ms - c.max_latency_ms) / c.max_latency_ms : 1;
    r.misses.push_back(
        fmt::format("at {:.4g} ms ({:.0f} % over {})", r.latency_ms, 100 * s, limit_text(c.max_latency_ms)));
    r.miss += s;
  }
  auto resource = [&](int64_t limit, const char* key, const char* name) {
    if (limit <= 0) return;
    const double used = number_or_nan(d, key);
    if (used <= double(limit)) return;
    const double s = std::isfinite(used) ? (used - double(limit)) / double(limit) : 1;
    r.misses.push_back(fmt::format("{} {:.0f} ({:.0f} % over {})", name, used, 100 * s, limit));
    r.miss += s;
  };
  resource(c.max_lut, "lut", "LUT");
  resource(c.max_bram18, "bram18", "BRAM18");
  r.meets = r.misses.empty();
}

nlohmann::json row_json(const Row& r, const Constraints& c) {
  const auto& d = r.cost.detail;
  nlohmann::json j = {{"rank", r.rank},
                      {"label", r.model.label},
                      {"source_kind", r.model.source_kind},
                      {"source_dir", r.model.source_dir},
                      {"run_dir", r.model.run_dir},
                      {"role", r.model.role},
                      {"val_accuracy", or_null(r.model.val_acc)},
                      {"test_accuracy", or_null(r.model.test_acc)},
                      {"priced", r.priced},
                      {"meets", r.meets},
                      {"feasible", r.cost.feasible},
                      {"fps", or_null(r.fps)},
                      {"latency_ms", or_null(r.latency_ms)},
                      {"cost_source", r.reused ? "the search's record (same target)" : "priced now"},
                      {"cost", r.cost.to_json()},
                      {"misses", r.misses},
                      {"miss", r.miss}};
  if (d.contains("fps_estimated")) {
    j["fps_estimated"] = d["fps_estimated"];
    j["fps_expected"] = d.value("fps_expected", nlohmann::json());
    j["fps_basis"] = c.fps_basis == "expected" ? "expected on board" : "estimated";
  }
  for (const char* k : {"lut", "bram18", "fits_planning", "fits_device"})
    if (d.contains(k)) j[k] = d[k];
  if (!r.note.empty()) j["note"] = r.note;
  return j;
}

}  // namespace

std::vector<ModelRef> collect_models(const std::vector<std::string>& dirs) {
  std::vector<ModelRef> all;
  for (const auto& dir : dirs) {
    if (!fs::is_directory(dir)) throw ConfigError(fmt::format("{}: no such folder", dir));
    if (collect_one(dir, all)) continue;
    // A folder of runs: the runs one level down.
    std::vector<std::string> subs;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory()) subs.push_back(e.path().string());
    std::sort(subs.begin(), subs.end());
    bool any = false;
    for (const auto& s : subs) any = collect_one(s, all) || any;
    if (!any)
      throw ConfigError(fmt::format("{}: no sweep, KD grid, evolution or run in it (nor one level down)", dir));
  }
  all.erase(std::remove_if(all.begin(), all.end(), [](const ModelRef& m) { return m.status != "completed"; }),
            all.end());
  const ModelRef* first = nullptr;
  for (const auto& m : all) {
    if (m.dataset.empty()) continue;
    if (!first) first = &m;
    else if (m.dataset != first->dataset)
      throw ConfigError(fmt::format("models of different datasets do not compare: {} ({}) and {} ({}); choose among "
                                    "one dataset's runs",
                                    first->run_dir, first->dataset, m.run_dir, m.dataset));
  }
  return all;
}

void Constraints::validate(const cost::CostSpec& target) const {
  auto positive = [](double v, const char* flag) {
    if (!(v >= 0) || !std::isfinite(v)) throw ConfigError(fmt::format("{}: {} (must be >= 0)", flag, v));
  };
  positive(min_fps, "--min-fps");
  positive(max_latency_ms, "--max-latency-ms");
  if (max_lut < 0) throw ConfigError(fmt::format("--max-lut: {} (must be >= 0)", max_lut));
  if (max_bram18 < 0) throw ConfigError(fmt::format("--max-bram18: {} (must be >= 0)", max_bram18));
  if (fps_basis != "expected" && fps_basis != "estimated")
    throw ConfigError(fmt::format("--fps-basis: '{}' (expected or estimated)", fps_basis));
  if (select_on != "val" && select_on != "test")
    throw ConfigError(fmt::format("--select-on: '{}' (val or test)", select_on));
  static const std::vector<std::string> roles = {"uniform", "kd", "no-kd", "search", "baseline-kd", "baseline-no-kd",
                                                 "run"};
  if (!role.empty() && std::find(roles.begin(), roles.end(), role) == roles.end())
    throw ConfigError(fmt::format("--role: '{}' ({})", role, fmt::join(roles, ", ")));
  const bool fpga = target.kind == "fpga";
  const bool proxy = target.kind == "macs" || target.kind == "params";
  if (!fpga && (max_lut > 0 || max_bram18 > 0))
    throw ConfigError(fmt::format("--max-lut/--max-bram18: the target '{}' is no FPGA", target.text()));
  if (proxy && (min_fps > 0 || max_latency_ms > 0))
    throw ConfigError(fmt::format("--min-fps/--max-latency-ms: the target '{}' is a proxy; it measures no time",
                                  target.text()));
}

Result choose(const std::vector<std::string>& dirs, const std::string& target, const Constraints& constraints,
              const cost::CostContext& context) {
  const auto spec = cost::parse_cost(target);
  constraints.validate(spec);
  auto backend = cost::make_cost(spec, context);
  Result res;
  res.target = spec.text();
  res.target_name = spec.kind == "fpga" ? spec.device : spec.text();
  res.constraints = constraints;
  std::vector<Row> rows;
  for (auto& m : collect_models(dirs)) {
    if (!constraints.role.empty() && m.role != constraints.role) continue;
    Row r;
    if (m.stored_cost && m.stored_spec == spec.text()) {
      r.cost = *m.stored_cost;
      r.reused = true;
    } else if (!fs::is_directory(m.run_dir)) {
      r.cost.ok = false;
      r.cost.message = fmt::format("not priced: its run folder {} is missing", m.run_dir);
    } else {
      try {
        r.cost = backend->price_run(m.run_dir);
      } catch (const Error& e) {
        r.cost.ok = false;
        r.cost.message = fmt::format("not priced: {}", e.what());
      }
    }
    r.model = std::move(m);
    assess(r, constraints, spec, res.target_name);
    if (r.priced) ++res.priced;
    rows.push_back(std::move(r));
  }

  // Rank what meets every constraint by validation accuracy (or test, when asked: optimistic), ties by lower cost.
  const bool on_test = constraints.select_on == "test";
  auto acc = [&](const Row& r) { return on_test ? r.model.test_acc : r.model.val_acc; };
  std::vector<size_t> ranked;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].meets) continue;
    if (std::isfinite(acc(rows[i]))) ranked.push_back(i);
    else rows[i].note = "no validation accuracy: listed, not ranked (--select-on test ranks on test, optimistically)";
  }
  std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
    if (acc(rows[a]) != acc(rows[b])) return acc(rows[a]) > acc(rows[b]);
    return rows[a].cost.objective < rows[b].cost.objective;
  });
  for (size_t k = 0; k < ranked.size(); ++k) {
    rows[ranked[k]].rank = int(k) + 1;
    if (on_test) rows[ranked[k]].note = "selected on test (optimistic)";
  }
  for (size_t i : ranked) res.rows.push_back(rows[i]);
  for (auto& r : rows)
    if (r.rank == 0) res.rows.push_back(std::move(r));

  const std::string what = constraints_text(constraints, spec);
  const char* basis = on_test ? "test accuracy (selected on test: optimistic)" : "validation";
  if (!ranked.empty()) {
    res.chosen = 0;
    const auto& c = res.rows[0];
    const std::string meet = what == "fitting"        ? fmt::format("fit {}", res.target_name)
                             : what == "no constraint" ? fmt::format("were priced on {}", res.target_name)
                                                       : fmt::format("meet {} on {}", what, res.target_name);
    res.why = fmt::format("chosen: {} from {}: the most accurate by {} (val {}, test {}) of {} that {}", c.model.label,
                          c.model.source_dir, basis, pct(c.model.val_acc), pct(c.model.test_acc), ranked.size(), meet);
    if (ranked.size() > 1)
      res.why += fmt::format("; next: {} (val {}, test {})", res.rows[1].model.label, pct(res.rows[1].model.val_acc),
                             pct(res.rows[1].model.test_acc));
    return res;
  }
  const auto unranked = std::count_if(res.rows.begin(), res.rows.end(), [](const Row& r) { return r.meets; });
  if (unranked > 0) {
    res.why = fmt::format("{} model(s) meet {} on {} but have no validation accuracy to rank on (--select-on test ranks "
                          "on test, optimistically)",
                          unranked, what, res.target_name);
    return res;
  }
  // Closest: of those that fit the target, the least relative shortfall; a design that fits nowhere only when none fits.
  const Row* closest = nullptr;
  auto key = [](const Row& r) { return std::make_pair(r.cost.feasible ? 0 : 1, r.miss); };
  for (const auto& r : res.rows)
    if (r.priced && !r.meets && (!closest || key(r) < key(*closest))) closest = &r;
  if (closest)
    res.why = fmt::format("no model meets {} on {} among {} priced; closest (least relative violation): {} from {}: {}, "
                          "val {}",
                          what, res.target_name, res.priced, closest->model.label, closest->model.source_dir,
                          fmt::join(closest->misses, ", "), pct(closest->model.val_acc));
  else
    res.why = fmt::format("no model could be priced on {} among {} found{}", res.target_name, res.rows.size(),
                          res.rows.empty() ? "" : ": " + res.rows.front().note);
  return res;
}

nlohmann::json Result::to_json() const {
  nlohmann::json rs = nlohmann::json::array();
  for (const auto& r : rows) rs.push_back(row_json(r, constraints));
  return {{"target", target},
          {"constraints",
           {{"min_fps", constraints.min_fps},
            {"fps_basis", constraints.fps_basis == "expected" ? "expected on board" : "estimated"},
            {"max_latency_ms", constraints.max_latency_ms},
            {"max_lut", constraints.max_lut},
            {"max_bram18", constraints.max_bram18},
            {"role", constraints.role},
            {"select_on", constraints.select_on}}},
          {"chosen", chosen >= 0 ? rs.at(size_t(chosen)) : nlohmann::json()},
          {"why", why},
          {"priced", priced},
          {"models", rows.size()},
          {"rows", rs}};
}

std::string Result::table(size_t top) const {
  const bool fpga = target.rfind("fpga:", 0) == 0;
  std::string out = fmt::format("target {}\n", target);
  if (fpga)
    out += "FPS est = estimated (FINN cost model, fastest folding that fits); FPS exp = expected on board (estimated x "
           "the board efficiency of published FINN measurements); LUT, BRAM18: estimated\n";
  out += fmt::format("{:>4}  {:<34} {:<10} {:<14} {:>8} {:>8} {:>11} {:>11} {:>7} {:>6}  {}\n", "rank", "model",
                     "source", "role", "val", "test", fpga ? "FPS est" : "FPS", fpga ? "FPS exp" : "ms",
                     fpga ? "LUT" : "", fpga ? "BRAM18" : "", "how");
  auto num = [](const nlohmann::json& d, const char* k, const char* f) {
    return d.contains(k) && d[k].is_number() ? fmt::format(fmt::runtime(f), d[k].get<double>()) : std::string("-");
  };
  const size_t shown = top > 0 ? std::min(top, rows.size()) : rows.size();
  for (size_t i = 0; i < shown; ++i) {
    const auto& r = rows[i];
    const auto& d = r.cost.detail;
    std::string a = "-", b = "-", lut, bram;
    if (r.priced && fpga && r.cost.feasible) {
      a = num(d, "fps_estimated", "{:.0f}");
      b = num(d, "fps_expected", "{:.0f}");
      lut = num(d, "lut", "{:.0f}");
      bram = num(d, "bram18", "{:.0f}");
    } else if (r.priced) {
      a = std::isfinite(r.fps) ? fmt::format("{:.0f}", r.fps) : "-";
      b = fmt::format("{:.4g}", r.cost.objective);
      if (r.cost.how == cost::CostHow::proxy) b += " " + r.cost.unit;
    }
    std::string how = r.priced ? (r.reused ? "record: " : "") + std::string(cost::to_string(r.cost.how)) : "-";
    std::string label = r.model.label.size() > 34 ? r.model.label.substr(0, 31) + "..." : r.model.label;
    out += fmt::format("{:>4}  {:<34} {:<10} {:<14} {:>8} {:>8} {:>11} {:>11} {:>7} {:>6}  {}\n",
                       r.rank > 0 ? std::to_string(r.rank) : "-", label, r.model.source_kind, r.model.role,
                       pct(r.model.val_acc), pct(r.model.test_acc), a, b, lut, bram, how);
    std::string note = r.note;
    if (note.empty() && !r.misses.empty()) note = fmt::format("misses: {}", fmt::join(r.misses, ", "));
    if (!note.empty()) out += fmt::format("      {}\n", note);
  }
  if (shown < rows.size()) {
    size_t meet = 0;
    for (size_t i = shown; i < rows.size(); ++i) meet += rows[i].meets ? 1 : 0;
    out += fmt::format("... {} more models not shown ({} of them meet the constraints, {} do not or are not priced; "
                       "--top 0 lists every model, --json has every row)\n",
                       rows.size() - shown, meet, rows.size() - shown - meet);
  }
  out += why + "\n";
  return out;
}

nlohmann::json export_bundle(const Result& result, const std::string& dir) {
  if (result.chosen < 0) throw ConfigError(fmt::format("--export {}: no model was chosen", dir));
  const auto& row = result.rows.at(result.chosen);
  if (fs::exists(dir) && !fs::is_empty(dir))
    throw ConfigError(fmt::format("--export {}: the folder is not empty (nothing is written over)", dir));
  // The one bundle writer (cost/bundle.h), given this row's figures: its cost.json, and for an FPGA target the
  // row's cost (priced now or the search's record for the same target) as fpga.json.
  cost::BundleOptions o;
  o.origin = "nemokd choose";
  o.label = row.model.label;
  o.val_accuracy = row.model.val_acc;
  o.test_accuracy = row.model.test_acc;
  o.files["cost.json"] = row_json(row, result.constraints);
  if (result.target.rfind("fpga:", 0) == 0) {
    o.fpga_value = row.cost;
    o.fpga_target = result.target;
  }
  o.info["target"] = result.target;
  return cost::write_bundle(row.model.run_dir, dir, nullptr, o);
}

}  // namespace nemokd::choose
