#include "campaign/sweep.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/csv.h"
#include "core/error.h"
#include "core/folder_lock.h"
#include "core/json_config.h"
#include "data/dataset.h"
#include "hw/fpga/model_design.h"
#include "models/registry.h"

namespace nemokd::campaign {
namespace fs = std::filesystem;

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
  c.threads = threads_per_run(base.threads, jobs);
  // Round-trip validates the cell (e.g. 1-bit ReLU activations are rejected here, naming the key).
  return train::train_run_config_from_json(train::to_json(c));
}

nlohmann::json to_json(const SweepConfig& c) {
  nlohmann::json cells = nlohmann::json::array();
  for (const auto& cell : c.cells) cells.push_back({{"wbits", cell.wbits}, {"abits", cell.abits}});
  return {{"base", train::to_json(c.base)}, {"cells", cells}, {"eval_at", c.eval_at}, {"jobs", c.jobs},
          {"preset", c.preset}, {"hw", c.hw.to_json()}};
}

SweepConfig sweep_config_from_json(const nlohmann::json& j) {
  SweepConfig c;
  JsonReader r(j, "sweep");
  if (const auto* b = r.child("base")) c.base = train::train_run_config_from_json(*b);
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

nlohmann::json identity(const SweepConfig& c) {
  auto j = without(to_json(c), {"jobs", "cells", "hw"});
  j["base"] = train::identity(c.base);
  return j;
}

SweepConfig sweep_preset(const std::string& name, double scale) {
  if (!(scale > 0 && scale <= 1)) throw ConfigError(fmt::format("scale: {} is outside (0, 1]", scale));
  SweepConfig s;
  s.preset = name;
  s.base = train::default_qat_config();
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
    for (const auto& [e, acc] : r.run.test_accuracy_at) at[std::to_string(e)] = acc;
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    const bool completed = r.run.status == RunStatus::completed;
    rows_j.push_back({{"wbits", r.cell.wbits},
                      {"abits", r.cell.abits},
                      {"status", status_column(r.run)},
                      {"message", r.run.message},
                      {"parameters", r.run.parameters},
                      {"test_accuracy_at", at},
                      {"final_test_accuracy", num(r.run.test_accuracy)},
                      {"final_val_accuracy", num(r.run.val_accuracy)},
                      {"train_seconds", r.run.train_seconds},
                      {"run_dir", r.run_dir},
                      {"model", completed ? r.run_dir + "/model.pt" : ""},
                      {"reused", r.reused},
                      {"hw", r.hw.to_json()}});
  }
  return {{"rows", rows_j}, {"ran", ran}, {"reused", reused}, {"failed", failed}};
}

SweepResult run_sweep(const SweepConfig& config, const SweepContext& ctx) {
  config.validate();
  if (ctx.out_dir.empty()) throw ConfigError("out: a sweep needs an output folder");
  auto executor = ctx.executor ? ctx.executor : make_executor({config.jobs});
  // Before anything is written: a device the trainings cannot use where they run.
  executor->check_device(config.base.train.device);
  const FolderLock lock(ctx.out_dir);  // one process per sweep folder (a second --resume waits its turn)
  open_state(ctx.out_dir, "sweep.json", to_json(config), identity(config),
             [](const nlohmann::json& j) { return identity(sweep_config_from_json(j)); }, ctx.resume, "a sweep",
             " (finished cells are kept)");

  const fs::path out(ctx.out_dir);
  SweepResult result;
  Batch batch("sweep", ctx.progress);
  for (const auto& cell : config.cells) {
    SweepRow row;
    row.cell = cell;
    row.run_dir = (out / cell.name()).string();
    row.hw = sweep_cell_hw(config, cell);
    RunRecord request;
    request.command = "train";
    request.config = train::to_json(config.cell_config(cell));
    request.status = to_string(RunStatus::requested);
    const size_t i = batch.add({cell.name(), row.run_dir, request});
    row.run = batch.result(i).run;
    row.reused = batch.result(i).reused;
    result.rows.push_back(row);
  }
  result.reused = int(batch.reused());
  spdlog::info("sweep: {} cells, {} already finished, {} to train, {}", config.cells.size(), result.reused,
               batch.pending(), executor->describe(config.cell_config(config.cells.front()).threads));
  batch.run(*executor, [&](size_t i) {
    result.rows[i].run = batch.result(i).run;
    ++result.ran;
    result.failed = batch.failed();
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
  j["arch"] = models::family_name(config.base.model.family());
  if (config.base.model.family() == models::Family::mlp) j["hidden"] = config.base.model.mlp().hidden;
  j["epochs"] = config.base.train.epochs;
  j["hw"] = config.hw.to_json();
  write_json_file((out / "results.json").string(), j);

  std::vector<std::string> header = {"wbits", "abits", "status", "parameters"};
  for (int e : config.eval_at) header.push_back(fmt::format("test_acc_epoch{}", e));
  // Hardware columns last, so readers of the older table keep their column positions.
  for (const auto* c : {"final_test_acc", "final_val_acc", "train_seconds", "model"}) header.push_back(c);
  for (const auto& c : hw::fpga::HwPoint::csv_columns()) header.push_back(c);
  CsvTable csv(std::move(header));
  auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : std::string(); };
  for (const auto& r : result.rows) {
    if (r.run.status == RunStatus::requested) continue;  // not trained yet
    std::vector<std::string> f = {std::to_string(r.cell.wbits), std::to_string(r.cell.abits), status_column(r.run),
                                  std::to_string(r.run.parameters)};
    for (int e : config.eval_at) {
      auto it = r.run.test_accuracy_at.find(e);
      f.push_back(it == r.run.test_accuracy_at.end() ? std::string() : num(it->second));
    }
    f.push_back(num(r.run.test_accuracy));
    f.push_back(num(r.run.val_accuracy));
    f.push_back(fmt::format("{:.1f}", r.run.train_seconds));
    f.push_back(r.run.status == RunStatus::completed ? r.run_dir + "/model.pt" : "");
    for (auto& v : r.hw.csv_fields()) f.push_back(std::move(v));
    csv.add_row(f);
  }
  csv.write((out / "results.csv").string());  // checked: a full disk is an error
}

}  // namespace nemokd::campaign
