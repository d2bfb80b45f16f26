#include "campaign/kd_grid.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/csv.h"
#include "core/error.h"
#include "core/folder_lock.h"
#include "core/json_config.h"
#include "data/dataset.h"

namespace nemokd::campaign {
namespace fs = std::filesystem;

void KdGridConfig::validate() const {
  base.kd.validate("base.kd");
  if (alphas.empty() || temperatures.empty()) throw ConfigError("grid: alphas and temperatures must not be empty");
  for (double a : alphas) check_range("grid.alphas", a, 0.0, 1.0);
  for (double t : temperatures) check_range("grid.temperatures", t, 1e-3, 1e3);
  check_range("grid.jobs", jobs, 1, 64);
}

namespace {
std::string cell_name(double a, double t) { return fmt::format("a{}-t{}", a, t); }
}  // namespace

KdRunConfig KdGridConfig::cell_config(double alpha, double temperature) const {
  KdRunConfig c = base;
  c.kd.loss.alpha = alpha;
  c.kd.loss.temperature = temperature;
  c.base.threads = threads_per_run(base.base.threads, jobs);
  return c;
}

train::TrainRunConfig KdGridConfig::baseline_config() const {
  auto c = base.base;
  c.threads = threads_per_run(base.base.threads, jobs);
  return c;
}

nlohmann::json to_json(const KdGridConfig& c) {
  return {{"base", kd::to_json(c.base)},     {"alphas", c.alphas}, {"temperatures", c.temperatures},
          {"baseline", c.baseline},      {"jobs", c.jobs},     {"preset", c.preset}};
}

nlohmann::json identity(const KdGridConfig& c) {
  auto j = without(to_json(c), {"jobs", "alphas", "temperatures", "baseline"});
  j["base"] = kd::identity(c.base);
  return j;
}

KdGridConfig kd_grid_config_from_json(const nlohmann::json& j) {
  KdGridConfig c;
  JsonReader r(j, "grid");
  if (const auto* b = r.child("base")) c.base = kd::kd_run_config_from_json(*b);
  r.get("alphas", c.alphas).get("temperatures", c.temperatures).get("baseline", c.baseline).get("jobs", c.jobs);
  r.get("preset", c.preset);
  r.finish();
  c.validate();
  return c;
}

KdGridConfig kd_grid_preset(const std::string& name, const std::string& teacher, double scale) {
  KdGridConfig g;
  auto& b = g.base.base;
  auto& t = b.train;
  t.normalization = data::Normalization::standard;
  int epochs = 30;
  if (name == "k1" || name == "k2") {
    b.dataset.name = name == "k1" ? "cifar10" : "cifar100";
    b.model = models::preset_model("flexstudent");
    t.augment = true;
  } else if (name == "k3") {
    b.dataset.name = "cifar100";
    b.model = models::preset_model("flexresnet8x4");
    t.augment = true;
  } else if (name == "k-fmnist") {
    b.dataset.name = "fashion-mnist";
    b.model = models::preset_model("flexstudent");
    t.augment = false;  // 28x28 clothes: no crop/flip, so the teacher-output cache applies
    epochs = 10;
  } else {
    throw ConfigError(fmt::format("preset: '{}' is not one of k1, k2, k3, k-fmnist", name));
  }
  kd::apply_reference_recipe(t, b.model.family(), std::max(1, int(std::lround(epochs * scale))));
  g.base.kd.teacher = teacher;
  g.preset = name;
  return g;
}

nlohmann::json KdGridResult::to_json() const {
  nlohmann::json rows_j = nlohmann::json::array();
  const KdGridRow* baseline = nullptr;
  const KdGridRow* best = nullptr;
  int kd_better = 0, kd_total = 0;
  auto ok = [](const KdGridRow& r) { return r.run.status == RunStatus::completed && std::isfinite(r.run.test_accuracy); };
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  for (const auto& r : rows) {
    const double acc = r.run.test_accuracy;
    rows_j.push_back({{"name", r.name},
                      {"kd", r.kd},
                      {"alpha", r.kd ? nlohmann::json(r.alpha) : nlohmann::json()},
                      {"temperature", r.kd ? nlohmann::json(r.temperature) : nlohmann::json()},
                      {"status", status_column(r.run)},
                      {"message", r.run.message},
                      {"run_dir", r.run_dir},
                      {"test_accuracy", num(acc)},
                      {"test_error", std::isfinite(acc) ? nlohmann::json(1 - acc) : nlohmann::json()},
                      {"val_accuracy", num(r.run.val_accuracy)},
                      {"train_seconds", r.run.train_seconds},
                      {"reused", r.reused}});
    if (!ok(r)) continue;
    if (!r.kd) baseline = &r;
    else if (!best || acc > best->run.test_accuracy) best = &r;
  }
  nlohmann::json j = {{"rows", rows_j}, {"ran", ran}, {"reused", reused}, {"failed", failed}};
  if (baseline)
    j["baseline"] = {{"test_accuracy", baseline->run.test_accuracy}, {"test_error", 1 - baseline->run.test_accuracy}};
  if (best)
    j["best"] = {{"alpha", best->alpha},
                 {"temperature", best->temperature},
                 {"test_accuracy", best->run.test_accuracy},
                 {"test_error", 1 - best->run.test_accuracy}};
  if (baseline) {
    for (const auto& r : rows)
      if (r.kd && ok(r)) {
        ++kd_total;
        kd_better += r.run.test_accuracy > baseline->run.test_accuracy;
      }
    j["cells_beating_baseline"] = kd_better;
    j["kd_cells"] = kd_total;
  }
  return j;
}

namespace {

void write_table(const KdGridResult& result, const std::string& out_dir) {
  const auto j = result.to_json();
  write_json_file((fs::path(out_dir) / "results.json").string(), j);
  const auto csv = (fs::path(out_dir) / "results.csv").string();
  CsvTable table({"name", "kd", "alpha", "temperature", "status", "test_accuracy", "test_error", "val_accuracy",
                  "train_seconds", "run_dir"});
  auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : std::string(); };
  for (const auto& r : result.rows) {
    const double acc = r.run.test_accuracy;
    table.add_row({r.name, r.kd ? "1" : "0", r.kd ? fmt::format("{}", r.alpha) : "",
                   r.kd ? fmt::format("{}", r.temperature) : "", status_column(r.run), num(acc),
                   std::isfinite(acc) ? num(1 - acc) : "", num(r.run.val_accuracy),
                   fmt::format("{:.1f}", r.run.train_seconds), r.run_dir});
  }
  table.write(csv);  // checked: a full disk is an error, not an empty table
}

}  // namespace

KdGridResult run_kd_grid(const KdGridConfig& config, const KdGridContext& ctx) {
  config.validate();
  if (ctx.out_dir.empty()) throw ConfigError("out: a grid needs an output folder");
  auto executor = ctx.executor ? ctx.executor : make_executor({config.jobs});
  executor->check_device(config.base.base.train.device);
  const FolderLock lock(ctx.out_dir);  // one process per grid folder
  open_state(ctx.out_dir, "grid.json", to_json(config), identity(config),
             [](const nlohmann::json& j) { return identity(kd_grid_config_from_json(j)); }, ctx.resume, "a grid");

  const fs::path out(ctx.out_dir);
  KdGridResult result;
  Batch batch("kd grid", ctx.progress);
  auto add_row = [&](KdGridRow row, const std::string& command, const nlohmann::json& cfg) {
    row.run_dir = (out / row.name).string();
    RunRecord request;
    request.command = command;
    request.config = cfg;
    request.status = to_string(RunStatus::requested);
    const size_t i = batch.add({row.name, row.run_dir, request});
    row.run = batch.result(i).run;
    row.reused = batch.result(i).reused;
    result.rows.push_back(row);
  };
  if (config.baseline) {
    KdGridRow r;
    r.name = "no-kd";
    r.kd = false;
    add_row(r, "train", train::to_json(config.baseline_config()));
  }
  for (double a : config.alphas)
    for (double t : config.temperatures) {
      KdGridRow r;
      r.name = cell_name(a, t);
      r.alpha = a;
      r.temperature = t;
      add_row(r, "kd train", kd::to_json(config.cell_config(a, t)));
    }
  result.reused = int(batch.reused());
  spdlog::info("kd grid: {} cells, {} already finished, {} to train, {}", result.rows.size(), result.reused,
               batch.pending(), executor->describe(config.baseline_config().threads));

  // Fill the teacher-output cache once, here, instead of racing to compute it in every child.
  if (batch.pending() > 0) kd::prepare_teacher_cache(config.base, executor->distributed());

  batch.run(*executor, [&](size_t i) {
    result.rows[i].run = batch.result(i).run;
    ++result.ran;
    result.failed = batch.failed();
    write_table(result, ctx.out_dir);
  });
  write_table(result, ctx.out_dir);
  return result;
}

}  // namespace nemokd::campaign
