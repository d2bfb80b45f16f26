#include "hw/fpga/sweep_table.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/csv.h"
#include "core/error.h"
#include "core/json_config.h"
#include "hw/fpga/model_design.h"
#include "models/registry.h"

namespace nemokd::hw::fpga {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

double number(const std::string& text, const std::string& where) {
  if (text.empty()) return std::numeric_limits<double>::quiet_NaN();
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw DataError(fmt::format("{}: '{}' is not a number", where, text));
}

std::string pct(double v) { return std::isnan(v) ? "–" : fmt::format("{:.2f}", 100 * v); }

const ResourceUse& use_of(const FitReport& f, const std::string& resource) {
  for (const auto& r : f.resources)
    if (r.resource == resource) return r;
  throw ConfigError("fit report without " + resource);  // cannot happen: check_fit reports all five
}

std::string folding_text(const Folding& f) {
  return fmt::format("PE {} / SIMD {}", fmt::join(f.pe, ","), fmt::join(f.simd, ","));
}

std::string grouped(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

}  // namespace

SweepFolder read_sweep_folder(const std::string& dir) {
  SweepFolder s;
  s.dir = dir;
  const std::string sweep_json = (fs::path(dir) / "sweep.json").string();
  const std::string results = (fs::path(dir) / "results.csv").string();
  if (!fs::exists(sweep_json)) throw DataError(fmt::format("{}: no sweep.json (not a `nemokd quant sweep` folder)", dir));
  const auto j = read_json_file(sweep_json);
  try {
    const auto& base = j.at("base");
    const auto mc = models::model_config_from_json(base.at("model"), "base.model");
    if (!models::quant_config(mc))
      throw DataError(fmt::format("{}: base.model.arch '{}': the table prices sweeps of quantized models (mlp, cnv, "
                                  "qflexstudent)",
                                  sweep_json, models::family_name(mc.family())));
    s.model = mc;
    s.dataset = base.at("dataset").at("name").get<std::string>();
    s.epochs = base.at("train").at("epochs").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(fmt::format("{}: {}", sweep_json, e.what()));
  }
  std::ifstream in(results);
  if (!in) throw DataError(fmt::format("{}: cannot read", results));
  std::string line;
  if (!std::getline(in, line)) throw DataError(fmt::format("{}: empty", results));
  const auto header = split(line);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const auto* need : {"wbits", "abits", "status", "final_test_acc"})
    if (!col.count(need)) throw DataError(fmt::format("{}: no column '{}'", results, need));
  int n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    const auto f = split(line);
    const std::string at = fmt::format("{}: line {}", results, n);
    if (f.size() != header.size())
      throw DataError(fmt::format("{} has {} fields, the header {}", at, f.size(), header.size()));
    SweepCellResult c;
    c.wbits = int(number(f[col["wbits"]], at));
    c.abits = int(number(f[col["abits"]], at));
    c.status = f[col["status"]];
    c.test_accuracy = number(f[col["final_test_acc"]], at);
    s.cells.push_back(c);
  }
  std::sort(s.cells.begin(), s.cells.end(), [](const auto& a, const auto& b) {
    return std::tie(a.wbits, a.abits) < std::tie(b.wbits, b.abits);
  });
  return s;
}

double float_run_accuracy(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "run.json").string();
  const auto j = read_json_file(path);
  if (j.value("status", std::string()) != "completed")
    throw DataError(fmt::format("{}: status '{}' (the float reference must have completed)", path,
                                j.value("status", std::string())));
  const auto* v = j.contains("results") ? &j["results"] : nullptr;
  if (!v || !v->contains("final_test_accuracy") || !(*v)["final_test_accuracy"].is_number())
    throw DataError(fmt::format("{}: results.final_test_accuracy missing", path));
  return (*v)["final_test_accuracy"].get<double>();
}

SweepHwTable sweep_hw_table(const SweepFolder& sweep, const SweepTableSpec& spec, const Device& device) {
  SweepHwTable t;
  t.dir = sweep.dir;
  t.dataset = sweep.dataset;
  t.epochs = sweep.epochs;
  t.device = device.name;
  t.folding_text = folding_text(spec.folding);
  t.float_accuracy = spec.float_accuracy;
  t.float_source = spec.float_source;
  t.options = spec.options;
  bool first = true;
  for (const auto& c : sweep.cells) {
    SweepHwCell cell;
    cell.result = c;
    if (c.status != "completed") {
      t.cells.push_back(cell);
      continue;
    }
    auto model = sweep.model;
    models::set_quant_bits(model, {c.wbits}, {c.abits});
    // A malformed sweep model, or one FINN cannot map, is the user's error: thrown.
    Design d = model_design(model, spec.input, spec.classes);
    cell.hw = hw_point(d, spec.folding, spec.options, device, spec.usable);
    if (!cell.hw.ok) throw ConfigError(fmt::format("w{}a{}: {}", c.wbits, c.abits, cell.hw.message));
    cell.loss = spec.float_accuracy - c.test_accuracy;
    t.cells.push_back(cell);
  }
  for (size_t i = 0; i < t.cells.size(); ++i) {
    const auto& cell = t.cells[i];
    if (!cell.hw.ok) continue;
    ++t.designs;
    const auto& r = cell.hw.total;
    if (first) {
      t.bram18 = {r.bram18, r.bram18};
      t.ff = {r.ff, r.ff};
      t.lut = {r.lut, r.lut};
      first = false;
    }
    t.bram18 = {std::min(t.bram18.min, r.bram18), std::max(t.bram18.max, r.bram18)};
    t.ff = {std::min(t.ff.min, r.ff), std::max(t.ff.max, r.ff)};
    t.lut = {std::min(t.lut.min, r.lut), std::max(t.lut.max, r.lut)};
    const auto& bram = use_of(cell.hw.fit, "BRAM18");
    const auto& ff = use_of(cell.hw.fit, "FF");
    t.bram_planning += bram.ok;
    t.bram_device += bram.on_device;
    t.ff_planning += ff.ok;
    t.ff_device += ff.on_device;
    t.all_planning += cell.hw.fit.fits_planning;
    t.all_device += cell.hw.fit.fits_device;
    if (!std::isnan(cell.loss)) {
      if (t.best < 0 || cell.loss < t.cells[size_t(t.best)].loss) t.best = int(i);
      if (t.worst < 0 || cell.loss > t.cells[size_t(t.worst)].loss) t.worst = int(i);
    }
  }
  return t;
}

std::string SweepHwTable::markdown() const {
  std::string out = fmt::format(
      "Hardware table of {} ({} designs trained on {}, {} epochs), estimated with the {} formulas at {} MHz, folding "
      "{}, on {}\n\n",
      dir, designs, dataset, epochs, to_string(options.formulas), options.fclk_mhz, folding_text, device);
  const SweepHwCell* best_cell = best >= 0 ? &cells[size_t(best)] : nullptr;
  const SweepHwCell* worst_cell = worst >= 0 ? &cells[size_t(worst)] : nullptr;
  auto cell_name = [](const SweepHwCell* c) { return fmt::format("W{}A{}", c->result.wbits, c->result.abits); };
  const std::string ref = std::isnan(float_accuracy)
                              ? std::string("no float reference given (--float-run / --float-accuracy)")
                              : fmt::format("float reference {}% ({})", pct(float_accuracy), float_source);
  out += fmt::format("| quantity | value |\n|---|---|\n");
  out += fmt::format("| accuracy loss vs float, best | {} |\n",
                     best_cell ? fmt::format("{} points ({}, {}%)", pct(best_cell->loss), cell_name(best_cell),
                                             pct(best_cell->result.test_accuracy))
                               : "–");
  out += fmt::format("| accuracy loss vs float, worst | {} |\n",
                     worst_cell ? fmt::format("{} points ({}, {}%)", pct(worst_cell->loss), cell_name(worst_cell),
                                              pct(worst_cell->result.test_accuracy))
                                : "–");
  out += fmt::format("| BRAM18 | {} – {} |\n", grouped(bram18.min), grouped(bram18.max));
  out += fmt::format("| FF (structural estimate) | {} – {} |\n", grouped(ff.min), grouped(ff.max));
  out += fmt::format("| LUT | {} – {} |\n", grouped(lut.min), grouped(lut.max));
  out += fmt::format("| fit {} by BRAM18 | {} of {} at FINN's planning share, {} of {} on the device |\n", device,
                     bram_planning, designs, bram_device, designs);
  out += fmt::format("| fit {} by FF | {} of {} at FINN's planning share, {} of {} on the device |\n", device,
                     ff_planning, designs, ff_device, designs);
  out += fmt::format("| fit {} by all resources | {} of {} at FINN's planning shares, {} of {} on the device |\n\n",
                     device, all_planning, designs, all_device, designs);
  out += ref + "\n\n";
  out += "| cell | test acc % | loss (points) | LUT | FF | BRAM18 | FPS estimated | FPS expected | planning | device |\n";
  out += "|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n";
  for (const auto& c : cells) {
    if (!c.hw.ok) {
      out += fmt::format("| W{}A{} | {} | – | – | – | – | – | – | – | – |\n", c.result.wbits, c.result.abits,
                         c.result.status);
      continue;
    }
    out += fmt::format("| W{}A{} | {} | {} | {} | {} | {} | {:.0f} | {:.0f} ± {:.0f} | {} | {} |\n", c.result.wbits,
                       c.result.abits, pct(c.result.test_accuracy), pct(c.loss), grouped(c.hw.total.lut),
                       grouped(c.hw.total.ff), c.hw.total.bram18, c.hw.fps.estimated, c.hw.fps.expected,
                       c.hw.fps.expected_sd, c.hw.fit.fits_planning ? "fits" : "no",
                       c.hw.fit.fits_device ? "fits" : "no");
  }
  return out;
}

nlohmann::json SweepHwTable::to_json() const {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  auto cell_j = [&](int i) {
    const SweepHwCell* c = i >= 0 ? &cells[size_t(i)] : nullptr;
    return c ? nlohmann::json{{"wbits", c->result.wbits}, {"abits", c->result.abits}, {"loss", num(c->loss)},
                              {"test_accuracy", num(c->result.test_accuracy)}}
             : nlohmann::json(nullptr);
  };
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : cells) {
    nlohmann::json j = {{"wbits", c.result.wbits},
                        {"abits", c.result.abits},
                        {"status", c.result.status},
                        {"test_accuracy", num(c.result.test_accuracy)},
                        {"loss", num(c.loss)},
                        {"hw", c.hw.to_json()}};
    list.push_back(j);
  }
  auto range = [](const ResourceRange& r) { return nlohmann::json{{"min", r.min}, {"max", r.max}}; };
  return {{"dir", dir},
          {"dataset", dataset},
          {"epochs", epochs},
          {"device", device},
          {"folding", folding_text},
          {"options", options.to_json()},
          {"float_accuracy", num(float_accuracy)},
          {"float_source", float_source},
          {"designs", designs},
          {"best", cell_j(best)},
          {"worst", cell_j(worst)},
          {"bram18", range(bram18)},
          {"ff", range(ff)},
          {"lut", range(lut)},
          {"fits", {{"bram18", {{"planning", bram_planning}, {"device", bram_device}}},
                    {"ff", {{"planning", ff_planning}, {"device", ff_device}}},
                    {"all", {{"planning", all_planning}, {"device", all_device}}}}},
          {"cells", list}};
}

void write_sweep_table_csv(const std::string& path, const SweepHwTable& t) {
  std::vector<std::string> header = {"wbits", "abits", "status", "test_acc", "loss"};
  for (const auto& c : HwPoint::csv_columns()) header.push_back(c);
  CsvTable table(std::move(header));
  for (const auto& c : t.cells) {
    std::vector<std::string> f = {std::to_string(c.result.wbits), std::to_string(c.result.abits), c.result.status,
                                  std::isnan(c.result.test_accuracy) ? "" : fmt::format("{:.4f}", c.result.test_accuracy),
                                  std::isnan(c.loss) ? "" : fmt::format("{:.4f}", c.loss)};
    for (auto& v : c.hw.csv_fields()) f.push_back(std::move(v));
    table.add_row(f);
  }
  write_table_file(path, table.text(), "--csv");
}

}  // namespace nemokd::hw::fpga
