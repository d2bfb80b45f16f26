#include "kd/grid.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/folder_lock.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "dist/cluster.h"
#include "kd/cache.h"
#include "kd/teacher.h"
#include "train/child_runs.h"

namespace nemokd::kd {
namespace fs = std::filesystem;

void KdGridConfig::validate() const {
  base.kd.validate("base.kd");
  if (alphas.empty() || temperatures.empty()) throw ConfigError("grid: alphas and temperatures must not be empty");
  for (double a : alphas) check_range("grid.alphas", a, 0.0, 1.0);
  for (double t : temperatures) check_range("grid.temperatures", t, 1e-3, 1e3);
  check_range("grid.jobs", jobs, 1, 64);
}

namespace {
int cell_threads(const train::TrainRunConfig& base, int jobs) {
  const int total = base.threads > 0 ? base.threads : hardware_cores();
  return std::max(1, total / std::max(1, jobs));
}
std::string cell_name(double a, double t) { return fmt::format("a{}-t{}", a, t); }
}  // namespace

KdRunConfig KdGridConfig::cell_config(double alpha, double temperature) const {
  KdRunConfig c = base;
  c.kd.loss.alpha = alpha;
  c.kd.loss.temperature = temperature;
  c.base.threads = cell_threads(base.base, jobs);
  return c;
}

train::TrainRunConfig KdGridConfig::baseline_config() const {
  auto c = base.base;
  c.threads = cell_threads(base.base, jobs);
  return c;
}

nlohmann::json to_json(const KdGridConfig& c) {
  return {{"base", to_json(c.base)},     {"alphas", c.alphas}, {"temperatures", c.temperatures},
          {"baseline", c.baseline},      {"jobs", c.jobs},     {"preset", c.preset}};
}

KdGridConfig kd_grid_config_from_json(const nlohmann::json& j) {
  KdGridConfig c;
  JsonReader r(j, "grid");
  if (const auto* b = r.child("base")) c.base = kd_run_config_from_json(*b);
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
  apply_reference_recipe(t, b.model.arch, std::max(1, int(std::lround(epochs * scale))));
  g.base.kd.teacher = teacher;
  g.preset = name;
  return g;
}

nlohmann::json KdGridResult::to_json() const {
  nlohmann::json rows_j = nlohmann::json::array();
  const KdGridRow* baseline = nullptr;
  const KdGridRow* best = nullptr;
  int kd_better = 0, kd_total = 0;
  for (const auto& r : rows) {
    rows_j.push_back({{"name", r.name},
                      {"kd", r.kd},
                      {"alpha", r.kd ? nlohmann::json(r.alpha) : nlohmann::json()},
                      {"temperature", r.kd ? nlohmann::json(r.temperature) : nlohmann::json()},
                      {"status", r.status},
                      {"message", r.message},
                      {"run_dir", r.run_dir},
                      {"test_accuracy", std::isfinite(r.test_accuracy) ? nlohmann::json(r.test_accuracy) : nlohmann::json()},
                      {"test_error", std::isfinite(r.test_accuracy) ? nlohmann::json(1 - r.test_accuracy) : nlohmann::json()},
                      {"val_accuracy", std::isfinite(r.val_accuracy) ? nlohmann::json(r.val_accuracy) : nlohmann::json()},
                      {"train_seconds", r.train_seconds},
                      {"reused", r.reused}});
    if (r.status != "completed" || !std::isfinite(r.test_accuracy)) continue;
    if (!r.kd) baseline = &r;
    else if (!best || r.test_accuracy > best->test_accuracy) best = &r;
  }
  nlohmann::json j = {{"rows", rows_j}, {"ran", ran}, {"reused", reused}, {"failed", failed}};
  if (baseline) j["baseline"] = {{"test_accuracy", baseline->test_accuracy}, {"test_error", 1 - baseline->test_accuracy}};
  if (best)
    j["best"] = {{"alpha", best->alpha},
                 {"temperature", best->temperature},
                 {"test_accuracy", best->test_accuracy},
                 {"test_error", 1 - best->test_accuracy}};
  if (baseline) {
    for (const auto& r : rows)
      if (r.kd && r.status == "completed" && std::isfinite(r.test_accuracy)) {
        ++kd_total;
        kd_better += r.test_accuracy > baseline->test_accuracy;
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
  {
    std::ostringstream out;
    out << "name,kd,alpha,temperature,status,test_accuracy,test_error,val_accuracy,train_seconds,run_dir\n";
    for (const auto& r : result.rows) {
      auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : std::string(); };
      out << fmt::format("{},{},{},{},{},{},{},{},{:.1f},{}\n", r.name, r.kd ? 1 : 0, r.kd ? fmt::format("{}", r.alpha) : "",
                         r.kd ? fmt::format("{}", r.temperature) : "", r.status, num(r.test_accuracy),
                         std::isfinite(r.test_accuracy) ? num(1 - r.test_accuracy) : "", num(r.val_accuracy),
                         r.train_seconds, r.run_dir);
    }
    write_text_file(csv, out.str());  // checked: a full disk is an error, not an empty table
  }
}

bool read_row(const KdGridRow& row_in, const nlohmann::json& expected, KdGridRow& row) {
  RunRecord rec;
  if (!train::read_finished_record(row_in.run_dir, expected, rec)) return false;
  row.status = rec.status;
  row.message = rec.message;
  const auto& res = rec.results;
  if (res.contains("final_test_accuracy") && res["final_test_accuracy"].is_number())
    row.test_accuracy = res["final_test_accuracy"].get<double>();
  if (res.contains("final_val_accuracy") && res["final_val_accuracy"].is_number())
    row.val_accuracy = res["final_val_accuracy"].get<double>();
  row.train_seconds = rec.timings.value("train_seconds", 0.0);
  return true;
}

}  // namespace

KdGridResult run_kd_grid(const KdGridConfig& config, const KdGridContext& ctx) {
  config.validate();
  if (ctx.out_dir.empty()) throw ConfigError("out: a grid needs an output folder");
  // Alone, a device this machine lacks is an error now; under MPI the ranks that train have their own devices.
  if (!dist::Cluster::current()) check_device(config.base.base.train.device);
  const FolderLock lock(ctx.out_dir);  // one process per grid folder
  const fs::path out(ctx.out_dir);
  const auto state = out / "grid.json";
  auto config_j = to_json(config);
  if (fs::exists(state)) {
    if (!ctx.resume)
      throw ConfigError(fmt::format("{}: a grid already lives here; pass --resume to continue it or choose another --out",
                                    ctx.out_dir));
    auto a = read_json_file(state.string()), b = config_j;
    for (auto* j : {&a, &b}) {
      j->erase("jobs");
      (*j)["base"].erase("threads");
      (*j)["base"].erase("blas_threads");
      j->erase("alphas");
      j->erase("temperatures");
      j->erase("baseline");
    }
    if (a != b)
      throw ConfigError(fmt::format("{}: was started with different settings; resume with the same ones or use a new "
                                    "--out",
                                    state.string()));
  }
  fs::create_directories(out);
  write_json_file(state.string(), config_j);

  KdGridResult result;
  std::vector<nlohmann::json> expected;
  std::vector<train::ChildRun> runs;
  std::vector<size_t> pending;
  auto add_row = [&](KdGridRow row, const std::string& command, const nlohmann::json& cfg) {
    row.run_dir = (out / row.name).string();
    const size_t i = result.rows.size();
    result.rows.push_back(row);
    expected.push_back(cfg);
    if (read_row(row, cfg, result.rows[i])) {
      result.rows[i].reused = true;
      ++result.reused;
      return;
    }
    RunRecord request;
    request.command = command;
    request.config = cfg;
    request.status = "requested";
    runs.push_back({row.run_dir, request});
    pending.push_back(i);
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
      add_row(r, "kd train", to_json(config.cell_config(a, t)));
    }
  spdlog::info("kd grid: {} cells, {} already finished, {} to train, {}", result.rows.size(), result.reused,
               pending.size(), train::parallelism(config.jobs, config.baseline_config().threads));

  // Fill the teacher-output cache once, here, instead of racing to compute it in every child.
  if (!pending.empty()) prepare_teacher_cache(config.base);

  size_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  train::run_children(runs, config.jobs, ctx.executable, [&](size_t k, const train::ChildOutcome& outcome) {
    const size_t i = pending[k];
    auto& row = result.rows[i];
    ++done;
    ++result.ran;
    if (!read_row(row, expected[i], row)) {
      row.status = "failed";
      row.message = outcome.describe();
      ++result.failed;
    }
    if (ctx.progress)
      spdlog::info("kd grid [{}/{}] {}: {}  ({:.0f}s; ETA {:.0f}s)", done, pending.size(), row.name,
                   row.status == "completed" ? fmt::format("test {:.2f}%", 100 * row.test_accuracy)
                                             : row.status + ": " + row.message,
                   row.train_seconds, seconds_since(t0) / double(done) * double(pending.size() - done));
    write_table(result, ctx.out_dir);
  });
  write_table(result, ctx.out_dir);
  return result;
}

}  // namespace nemokd::kd
