#include "train/sweep.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/folder_lock.h"
#include "core/json_config.h"
#include "core/process.h"
#include "dist/cluster.h"
#include "train/child_runs.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "hw/fpga/model_design.h"
#include "models/registry.h"

namespace nemokd::train {
namespace fs = std::filesystem;

TrainRunConfig default_qat_config() {
  TrainRunConfig c;
  c.dataset.name = "mnist";
  c.model.arch = "mlp";
  auto& m = c.model.mlp;
  m.hidden = models::mlp_preset_widths("tfc");
  m.batchnorm = true;
  m.dropout = 0.2;
  m.activation = "tanh";
  m.quant.input = "signed";
  m.quant.input_bits = 8;
  m.set_bits({2}, {2});
  c.train.batch_size = 100;
  c.train.optim.name = "adam";
  c.train.optim.lr = 0.01;
  c.train.optim.weight_decay = 0.0;
  c.train.optim.schedule = "cosine";
  c.train.normalization = data::Normalization::signed_unit;
  return c;
}

std::string QuantCell::name() const { return fmt::format("w{}a{}", wbits, abits); }

void SweepConfig::validate() const {
  if (!models::quant_config(base.model))
    throw ConfigError("sweep.base.model: a sweep trains quantized models (mlp with quant, cnv, qflexstudent)");
  if (cells.empty()) throw ConfigError("sweep.cells: no W x A combination to train");
  std::set<std::string> seen;
  for (const auto& c : cells) {
    quant::check_bits("sweep.cells.wbits", c.wbits);
    quant::check_bits("sweep.cells.abits", c.abits);
    if (!seen.insert(c.name()).second) throw ConfigError(fmt::format("sweep.cells: {} listed twice", c.name()));
  }
  check_range("sweep.jobs", jobs, 1, 256);
  hw.validate("sweep.hw");
  for (int e : eval_at)
    if (e < 1 || e > base.train.epochs)
      throw ConfigError(fmt::format("sweep.eval_at: epoch {} is outside 1..{} (train.epochs)", e, base.train.epochs));
}

TrainRunConfig SweepConfig::cell_config(const QuantCell& cell) const {
  TrainRunConfig c = base;
  models::set_quant_bits(c.model, {cell.wbits}, {cell.abits});
  c.train.test_eval_epochs = eval_at;
  const int total = base.threads > 0 ? base.threads : hardware_cores();
  c.threads = std::max(1, total / jobs);
  // Round-trip validates the cell (e.g. 1-bit ReLU activations are rejected here, naming the key).
  return train_run_config_from_json(to_json(c));
}

nlohmann::json to_json(const SweepConfig& c) {
  nlohmann::json cells = nlohmann::json::array();
  for (const auto& cell : c.cells) cells.push_back({{"wbits", cell.wbits}, {"abits", cell.abits}});
  return {{"base", to_json(c.base)}, {"cells", cells}, {"eval_at", c.eval_at}, {"jobs", c.jobs},
          {"preset", c.preset}, {"hw", c.hw.to_json()}};
}

SweepConfig sweep_config_from_json(const nlohmann::json& j) {
  SweepConfig c;
  JsonReader r(j, "sweep");
  if (const auto* b = r.child("base")) c.base = train_run_config_from_json(*b);
  if (const auto* cells = r.child("cells")) {
    if (!cells->is_array()) throw ConfigError("sweep.cells: expected an array");
    for (const auto& cell : *cells) {
      QuantCell qc;
      JsonReader cr(cell, "sweep.cells[]");
      cr.get("wbits", qc.wbits).get("abits", qc.abits);
      cr.finish();
      c.cells.push_back(qc);
    }
  }
  r.get("eval_at", c.eval_at).get("jobs", c.jobs).get("preset", c.preset);
  if (const auto* hwj = r.child("hw")) c.hw = hw::fpga::hw_point_config_from_json(*hwj, "sweep.hw");
  r.finish();
  c.validate();
  return c;
}

SweepConfig sweep_preset(const std::string& name, double scale) {
  if (!(scale > 0 && scale <= 1)) throw ConfigError(fmt::format("scale: {} is outside (0, 1]", scale));
  SweepConfig s;
  s.preset = name;
  s.base = default_qat_config();
  std::vector<int> eval;
  if (name == "q1") {
    s.base.dataset.name = "mnist";
    s.base.train.epochs = 100;
    eval = {10, 20, 30, 50, 100};
    for (int w = 1; w <= 8; ++w)
      for (int a = 1; a <= 8; ++a) s.cells.push_back({w, a});
  } else if (name == "q2") {
    s.base.dataset.name = "fashion-mnist";
    s.base.train.epochs = 40;
    eval = {10, 20, 30, 40};
    s.cells = {{2, 2}, {3, 3}, {4, 4}};
  } else if (name == "cnv-cifar10") {
    // FINN's CNV on CIFAR-10 at the bit widths of its published variants (BNN-PYNQ / finn-examples: CNV-W1A1,
    // CNV-W1A2, CNV-W2A2); 8-bit signed input, hard-tanh, Adam with a cosine schedule, crop + flip augmentation.
    s.base.dataset.name = "cifar10";
    s.base.model = models::preset_model("cnv");
    s.base.train.augment = true;
    s.base.train.epochs = 300;
    eval = {50, 100, 200, 300};
    s.cells = {{1, 1}, {1, 2}, {2, 2}};
  } else {
    throw ConfigError(fmt::format("preset: '{}' is not one of q1, q2, cnv-cifar10", name));
  }
  auto scaled = [scale](int e) { return std::max(1, int(std::lround(e * scale))); };
  s.base.train.epochs = scaled(s.base.train.epochs);
  std::set<int> ev;
  for (int e : eval) ev.insert(scaled(e));
  s.eval_at.assign(ev.begin(), ev.end());
  return s;
}

nlohmann::json SweepResult::to_json() const {
  nlohmann::json rows_j = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json at = nlohmann::json::object();
    for (const auto& [e, acc] : r.test_accuracy_at) at[std::to_string(e)] = acc;
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    rows_j.push_back({{"wbits", r.cell.wbits},
                      {"abits", r.cell.abits},
                      {"status", r.status},
                      {"message", r.message},
                      {"parameters", r.parameters},
                      {"test_accuracy_at", at},
                      {"final_test_accuracy", num(r.final_test_accuracy)},
                      {"final_val_accuracy", num(r.final_val_accuracy)},
                      {"train_seconds", r.train_seconds},
                      {"run_dir", r.run_dir},
                      {"model", r.status == "completed" ? r.run_dir + "/model.pt" : ""},
                      {"reused", r.reused},
                      {"hw", r.hw.to_json()}});
  }
  return {{"rows", rows_j}, {"ran", ran}, {"reused", reused}, {"failed", failed}};
}

namespace {

// Reads a finished cell's record into a row; false if the cell has no finished record for this config.
bool read_finished(const fs::path& dir, const TrainRunConfig& expected, SweepRow& row) {
  RunRecord rec;
  if (!read_finished_record(dir.string(), to_json(expected), rec)) return false;
  row.status = rec.status;
  row.message = rec.message;
  const auto& res = rec.results;
  if (res.contains("model")) row.parameters = res["model"].value("parameters", int64_t(0));
  if (res.contains("history")) {
    for (const auto& h : res["history"]) {
      if (!h["test_accuracy"].is_number()) continue;
      row.test_accuracy_at[h["epoch"].get<int>()] = h["test_accuracy"].get<double>();
    }
  }
  if (res.contains("final_test_accuracy") && res["final_test_accuracy"].is_number())
    row.final_test_accuracy = res["final_test_accuracy"].get<double>();
  if (res.contains("final_val_accuracy") && res["final_val_accuracy"].is_number())
    row.final_val_accuracy = res["final_val_accuracy"].get<double>();
  row.train_seconds = rec.timings.value("train_seconds", 0.0);
  return true;
}

}  // namespace

SweepResult run_sweep(const SweepConfig& config, const SweepContext& ctx) {
  config.validate();
  if (ctx.out_dir.empty()) throw ConfigError("out: a sweep needs an output folder");
  // Alone, a device this machine lacks is an error now; under MPI the ranks that train have their own devices.
  if (!dist::Cluster::current()) check_device(config.base.train.device);
  const FolderLock lock(ctx.out_dir);  // one process per sweep folder (a second --resume waits its turn)
  const fs::path out(ctx.out_dir);
  const fs::path state = out / "sweep.json";
  nlohmann::json config_j = to_json(config);
  if (fs::exists(state)) {
    if (!ctx.resume)
      throw ConfigError(fmt::format("{}: a sweep already lives here; pass --resume to continue it (finished cells "
                                    "are kept) or choose another --out",
                                    ctx.out_dir));
    auto old = read_json_file(state.string());
    auto a = old, b = config_j;
    for (auto* j : {&a, &b}) {
      j->erase("jobs");
      (*j)["base"].erase("threads");
      (*j)["base"].erase("blas_threads");
      (*j).erase("cells");
      (*j).erase("hw");  // hardware columns change no training (and sweeps from before them have none)
    }
    if (a != b)
      throw ConfigError(fmt::format("{}: was started with different settings; resume with the same ones or use a "
                                    "new --out",
                                    state.string()));
  }
  fs::create_directories(out);
  write_json_file(state.string(), config_j);

  SweepResult result;
  result.rows.resize(config.cells.size());
  std::vector<size_t> pending;
  for (size_t i = 0; i < config.cells.size(); ++i) {
    auto& row = result.rows[i];
    row.cell = config.cells[i];
    const fs::path dir = out / row.cell.name();
    row.run_dir = dir.string();
    row.hw = sweep_cell_hw(config, row.cell);
    if (read_finished(dir, config.cell_config(row.cell), row)) {
      row.reused = true;
      ++result.reused;
    } else {
      pending.push_back(i);
    }
  }
  spdlog::info("sweep: {} cells, {} already finished, {} to train, {}", config.cells.size(), result.reused,
               pending.size(), parallelism(config.jobs, config.cell_config(config.cells.front()).threads));

  std::vector<ChildRun> runs;
  for (size_t i : pending) {
    RunRecord request;
    request.command = "train";
    request.config = to_json(config.cell_config(result.rows[i].cell));
    request.status = "requested";
    runs.push_back({result.rows[i].run_dir, request});
  }
  size_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  run_children(runs, config.jobs, ctx.executable, [&](size_t k, const ChildOutcome& outcome) {
    auto& row = result.rows[pending[k]];
    ++done;
    ++result.ran;
    if (!read_finished(row.run_dir, config.cell_config(row.cell), row)) {
      row.status = "failed";
      row.message = outcome.describe();
      ++result.failed;
    }
    if (ctx.progress) {
      const double el = seconds_since(t0);
      spdlog::info("sweep [{}/{}] {}: {}  ({:.0f}s; ETA {:.0f}s)", done, pending.size(), row.cell.name(),
                   row.status == "completed" ? fmt::format("test {:.2f}%", 100 * row.final_test_accuracy)
                                             : row.status + ": " + row.message,
                   row.train_seconds, el / done * (pending.size() - done));
    }
    write_sweep_table(config, result, ctx.out_dir);
  });
  write_sweep_table(config, result, ctx.out_dir);
  return result;
}

hw::fpga::HwPoint sweep_cell_hw(const SweepConfig& config, const QuantCell& cell) {
  hw::fpga::HwPoint p;
  try {
    const auto& spec = data::dataset_spec(config.base.dataset.name);
    const auto table = hw::fpga::load_device_table(hw::fpga::default_device_table_path());
    auto model = config.base.model;
    models::set_quant_bits(model, {cell.wbits}, {cell.abits});
    const models::InputShape input{spec.channels, spec.height, spec.width};
    return hw::fpga::hw_point(hw::fpga::model_design(model, input, spec.classes), config.hw,
                              table.find(config.hw.device));
  } catch (const Error& e) {
    p.message = e.what();  // the table then has empty hardware columns for this cell; training is unaffected
  }
  return p;
}

void write_sweep_table(const SweepConfig& config, const SweepResult& result, const std::string& out_dir) {
  const fs::path out(out_dir);
  nlohmann::json j = result.to_json();
  j["eval_at"] = config.eval_at;
  j["preset"] = config.preset;
  j["dataset"] = config.base.dataset.name;
  j["arch"] = config.base.model.arch;
  if (config.base.model.arch == "mlp") j["hidden"] = config.base.model.mlp.hidden;
  j["epochs"] = config.base.train.epochs;
  j["hw"] = config.hw.to_json();
  write_json_file((out / "results.json").string(), j);

  {
    std::ostringstream csv;
    csv << "wbits,abits,status,parameters";
    for (int e : config.eval_at) csv << ",test_acc_epoch" << e;
    // Hardware columns last, so readers of the older table keep their column positions.
    csv << ",final_test_acc,final_val_acc,train_seconds,model";
    for (const auto& c : hw::fpga::HwPoint::csv_columns()) csv << ',' << c;
    csv << '\n';
    auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : std::string(); };
    for (const auto& r : result.rows) {
      if (r.status.empty()) continue;  // not trained yet
      csv << r.cell.wbits << ',' << r.cell.abits << ',' << r.status << ',' << r.parameters;
      for (int e : config.eval_at) {
        auto it = r.test_accuracy_at.find(e);
        csv << ',' << (it == r.test_accuracy_at.end() ? std::string() : num(it->second));
      }
      csv << ',' << num(r.final_test_accuracy) << ',' << num(r.final_val_accuracy) << ','
          << fmt::format("{:.1f}", r.train_seconds) << ','
          << (r.status == "completed" ? r.run_dir + "/model.pt" : "");
      for (const auto& v : r.hw.csv_fields()) csv << ',' << v;
      csv << '\n';
    }
    write_text_file((out / "results.csv").string(), csv.str());  // checked: a full disk is an error
  }
}

}  // namespace nemokd::train
