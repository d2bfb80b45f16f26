#include "report/runs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "core/csv.h"
#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::report {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot read", p.string()));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json read_json(const fs::path& p) {
  try {
    return parse_json(read_text(p), p.string());
  } catch (const ConfigError& e) {
    throw DataError(e.what());  // a malformed record is a data defect here (the message names the file)
  }
}

// Numbers that may be null or absent read as NaN.
double num(const json& j, const char* key) {
  if (!j.is_object()) return kNaN;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return kNaN;
  return it->get<double>();
}
std::string str(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}
long long integer(const json& j, const char* key, long long fallback = 0) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<long long>() : fallback;
}

// A flag that may be absent; anything but a JSON boolean reads as `fallback` (never a type_error).
bool boolean(const json& j, const char* key, bool fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::vector<EpochPoint> curve_from_history(const json& history) {
  std::vector<EpochPoint> out;
  if (!history.is_array()) return out;
  for (const auto& h : history) {
    EpochPoint p;
    p.epoch = static_cast<int>(integer(h, "epoch"));
    p.train_accuracy = num(h, "train_accuracy");
    p.val_accuracy = num(h, "val_accuracy");
    p.test_accuracy = num(h, "test_accuracy");
    out.push_back(p);
  }
  return out;
}

// metrics.json of a run folder (a list of epochs), or run.json's results.history.
std::vector<EpochPoint> load_curve(const fs::path& run_dir) {
  if (is_file(run_dir / "metrics.json")) return curve_from_history(read_json(run_dir / "metrics.json"));
  if (is_file(run_dir / "run.json")) {
    const auto r = read_json(run_dir / "run.json");
    if (r.contains("results") && r["results"].is_object()) return curve_from_history(r["results"].value("history", json()));
  }
  return {};
}

// A CSV file (RFC 4180, core/csv.h) as rows of column name -> text; the header must hold `required`.
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& p, const std::vector<std::string>& required) {
  const auto records = parse_csv(read_text(p), p.string());
  if (records.empty()) throw DataError(fmt::format("{}: empty file", p.string()));
  const auto& header = records[0];
  for (const auto& r : required)
    if (std::find(header.begin(), header.end(), r) == header.end())
      throw DataError(fmt::format("{}: no column '{}'", p.string(), r));
  std::vector<std::map<std::string, std::string>> rows;
  for (size_t n = 1; n < records.size(); ++n) {
    const auto& cells = records[n];
    if (cells.size() != header.size())
      throw DataError(fmt::format("{}: record {} has {} fields, the header {}", p.string(), n + 1, cells.size(),
                                  header.size()));
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

double to_double(const std::string& s, const fs::path& file, const std::string& col) {
  if (s.empty()) return kNaN;
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    throw DataError(fmt::format("{}: column {}: '{}' is not a number", file.string(), col, s));
  }
}
bool to_bool(const std::string& s) { return s == "yes" || s == "True" || s == "true" || s == "1"; }

bool is_fpga_grid_csv(const fs::path& p) {
  const auto name = p.filename().string();
  if (p.extension() != ".csv" || name.rfind("grid", 0) != 0) return false;
  std::ifstream in(p);
  std::string line;
  return std::getline(in, line) && line.rfind("topology,wbits,abits,pe,simd,", 0) == 0;
}
std::vector<fs::path> fpga_grid_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && is_fpga_grid_csv(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

HwEstimate hw_from_json(const json& h) {
  HwEstimate e;
  e.lut = num(h, "lut");
  e.ff = num(h, "ff");
  e.bram18 = num(h, "bram18");
  e.dsp = num(h, "dsp");
  // FPS and fit columns are labelled since the FPGA model reports both throughputs and both fit verdicts
  // (docs/FPGA.md); tables written before that say "fps" (estimated) and "fits" (at FINN's planning shares).
  e.fps = h.contains("fps_estimated") ? num(h, "fps_estimated") : num(h, "fps");
  e.fps_expected = num(h, "fps_expected");
  e.fps_expected_sd = num(h, "fps_expected_sd");
  e.fits = h.contains("fits_planning") ? boolean(h, "fits_planning", false) : boolean(h, "fits", false);
  e.fit = str(h, "fit");
  return e;
}

// RUN/engine_bench.json (`nemokd engine bench --save`), or nothing when the folder has none.
std::optional<EngineBench> load_engine_bench(const fs::path& run_dir) {
  const fs::path p = run_dir / "engine_bench.json";
  if (!fs::is_regular_file(p)) return std::nullopt;
  const auto j = read_json(p);
  EngineBench b;
  b.frames_per_second = num(j, "frames_per_second");
  b.single_frame_latency_us = num(j, "single_frame_latency_us");
  b.libtorch_fp32_frames_per_second = num(j, "libtorch_fp32_frames_per_second");
  b.batch = integer(j, "batch");
  b.threads = static_cast<int>(integer(j, "threads"));
  b.measured_on = str(j, "measured_on");
  if (!(b.single_frame_latency_us > 0) || !(b.frames_per_second > 0))
    throw DataError(fmt::format("{}: needs positive 'frames_per_second' and 'single_frame_latency_us' (written by "
                                "`nemokd engine bench --save`)", p.string()));
  if (b.measured_on.empty()) b.measured_on = "unrecorded CPU";
  return b;
}

std::string join_argv(const json& argv) {
  std::string out;
  if (!argv.is_array()) return out;
  for (const auto& a : argv) {
    std::string s = a.is_string() ? a.get<std::string>() : a.dump();
    if (s.find_first_of(" \t\"'$") != std::string::npos) s = "'" + s + "'";
    // The binary's absolute path says nothing about the run; keep its name.
    if (out.empty()) s = fs::path(s).filename().string();
    out += (out.empty() ? "" : " ") + s;
  }
  return out;
}

// Scripts next to a run that produce it: a *.sh in the folder itself, or one in the parent folder that names it
// (`--out .../<name>`). Returns "script: the nemokd invocation in it".
std::vector<std::string> scripts_for(const fs::path& dir) {
  std::vector<std::string> out;
  const fs::path abs = fs::absolute(dir).lexically_normal();
  const std::string name = (abs.filename().empty() ? abs.parent_path() : abs).filename().string();
  const fs::path self = abs.filename().empty() ? abs.parent_path() : abs;
  const std::regex names_dir("/" + std::regex_replace(name, std::regex(R"([.^$|()\[\]{}*+?\\-])"), R"(\$&)") +
                             R"((["'\s]|$))");
  auto scan = [&](const fs::path& folder, bool must_name) {
    std::error_code ec;
    std::vector<fs::path> scripts;
    for (const auto& e : fs::directory_iterator(folder, ec))
      if (e.is_regular_file() && e.path().extension() == ".sh") scripts.push_back(e.path());
    std::sort(scripts.begin(), scripts.end());
    for (const auto& s : scripts) {
      std::istringstream in(read_text(s));
      std::string line, stmt;
      std::vector<std::string> calls;
      while (std::getline(in, line)) {
        const auto first = line.find_first_not_of(" \t");
        if (stmt.empty() && (first == std::string::npos || line[first] == '#')) continue;
        stmt += (stmt.empty() ? "" : " ") + line.substr(stmt.empty() ? first : line.find_first_not_of(" \t"));
        if (!stmt.empty() && stmt.back() == '\\') {
          stmt.pop_back();
          while (!stmt.empty() && stmt.back() == ' ') stmt.pop_back();
          continue;
        }
        const bool calls_nemokd = std::regex_search(stmt, std::regex(R"(nemokd"?\s+(quant|kd|fpga|train|engine|search|evolve|run)\b)", std::regex::icase));
        if (calls_nemokd && (!must_name || std::regex_search(stmt, names_dir))) calls.push_back(stmt);
        stmt.clear();
      }
      const std::string shown = fs::relative(s, fs::current_path(), ec).string();
      for (const auto& c : calls) out.push_back(fmt::format("{}: {}", ec ? s.string() : shown, c));
    }
  };
  scan(self, false);
  if (out.empty() && self.has_parent_path()) scan(self.parent_path(), true);
  return out;
}

}  // namespace

const char* to_string(RunKind kind) {
  switch (kind) {
    case RunKind::sweep: return "W x A sweep";
    case RunKind::kd_grid: return "KD grid";
    case RunKind::single_run: return "training run";
    case RunKind::engine_compare: return "integer engine comparison";
    case RunKind::fpga_grid: return "FPGA estimate grid";
    case RunKind::evolution: return "NEMOKD evolution";
  }
  return "?";
}

std::string topology_name(const std::vector<int>& hidden) {
  auto all = [&](int w) { return hidden.size() == 3 && std::all_of(hidden.begin(), hidden.end(), [w](int h) { return h == w; }); };
  if (all(64)) return "tfc";
  if (all(256)) return "sfc";
  if (all(1024)) return "lfc";
  return fmt::format("{}", fmt::join(hidden, "x"));
}

const SweepCell* Sweep::find(int w, int a) const {
  for (const auto& c : cells)
    if (c.wbits == w && c.abits == a) return &c;
  return nullptr;
}

std::optional<RunKind> detect_kind(const std::string& dir) {
  const fs::path d(dir);
  if (is_file(d / "candidates.json")) return RunKind::evolution;
  if (is_file(d / "sweep.json") && is_file(d / "results.json")) return RunKind::sweep;
  if (is_file(d / "grid.json") && is_file(d / "results.json")) return RunKind::kd_grid;
  if (is_file(d / "compare.csv")) return RunKind::engine_compare;
  if (!fpga_grid_files(d).empty()) return RunKind::fpga_grid;
  if (is_file(d / "run.json")) return RunKind::single_run;
  return std::nullopt;
}

Sweep load_sweep(const std::string& dir) {
  const fs::path d(dir);
  const auto res = read_json(d / "results.json");
  const auto cfg = read_json(d / "sweep.json");
  if (!res.contains("rows") || !res["rows"].is_array())
    throw DataError(fmt::format("{}: no 'rows' array (not a sweep results table)", (d / "results.json").string()));
  Sweep s;
  s.dir = dir;
  s.dataset = str(res, "dataset");
  s.preset = str(res, "preset");
  s.epochs = static_cast<int>(integer(res, "epochs"));
  if (res.contains("hidden")) s.hidden = res["hidden"].get<std::vector<int>>();
  if (res.contains("eval_at")) s.eval_at = res["eval_at"].get<std::vector<int>>();
  else if (cfg.contains("eval_at")) s.eval_at = cfg["eval_at"].get<std::vector<int>>();
  s.topology = topology_name(s.hidden);
  // A CNN sweep has no hidden widths: its family names it (cnv, qflexstudent).
  if (s.hidden.empty() && !str(res, "arch").empty() && str(res, "arch") != "mlp") s.topology = str(res, "arch");
  s.hw_setup = res.value("hw", json());
  for (const auto& r : res["rows"]) {
    SweepCell c;
    c.wbits = static_cast<int>(integer(r, "wbits"));
    c.abits = static_cast<int>(integer(r, "abits"));
    c.status = str(r, "status");
    c.run_dir = str(r, "run_dir");
    c.final_test_accuracy = num(r, "final_test_accuracy");
    c.final_val_accuracy = num(r, "final_val_accuracy");
    c.train_seconds = num(r, "train_seconds");
    c.parameters = integer(r, "parameters");
    if (r.contains("test_accuracy_at") && r["test_accuracy_at"].is_object())
      for (const auto& [k, v] : r["test_accuracy_at"].items())
        if (v.is_number()) c.test_accuracy_at[std::stoi(k)] = v.get<double>();
    if (r.contains("hw") && r["hw"].is_object() && boolean(r["hw"], "ok", true)) {
      c.hw = hw_from_json(r["hw"]);
      c.hw->pe = static_cast<int>(integer(s.hw_setup, "pe"));
      c.hw->simd = static_cast<int>(integer(s.hw_setup, "simd"));
    }
    // The cell's folder: as recorded (relative to where the sweep ran), else wXaY under the sweep.
    fs::path cell_dir = d / fmt::format("w{}a{}", c.wbits, c.abits);
    if (!fs::is_directory(cell_dir) && !c.run_dir.empty()) cell_dir = c.run_dir;
    if (fs::is_directory(cell_dir)) {
      c.curve = load_curve(cell_dir);
      c.engine = load_engine_bench(cell_dir);
    }
    s.cells.push_back(std::move(c));
  }
  std::sort(s.cells.begin(), s.cells.end(),
            [](const SweepCell& a, const SweepCell& b) { return std::tie(a.wbits, a.abits) < std::tie(b.wbits, b.abits); });
  return s;
}

KdGrid load_kd_grid(const std::string& dir) {
  const fs::path d(dir);
  const auto res = read_json(d / "results.json");
  const auto cfg = read_json(d / "grid.json");
  if (!res.contains("rows") || !res["rows"].is_array())
    throw DataError(fmt::format("{}: no 'rows' array (not a KD grid results table)", (d / "results.json").string()));
  KdGrid g;
  g.dir = dir;
  g.preset = str(cfg, "preset");
  const json base = cfg.value("base", json::object());
  g.dataset = str(base.value("dataset", json::object()), "name");
  if (base.contains("model")) {
    const auto& m = base["model"];
    const std::string arch = str(m, "arch");
    g.student = arch;
    if (m.contains(arch)) g.student += " " + m[arch].dump();
  }
  g.teacher = str(base.value("kd", json::object()), "teacher");
  for (const auto& r : res["rows"]) {
    KdCell c;
    c.name = str(r, "name");
    c.status = str(r, "status");
    c.run_dir = str(r, "run_dir");
    c.kd = boolean(r, "kd", true);
    c.alpha = num(r, "alpha");
    c.temperature = num(r, "temperature");
    c.test_accuracy = num(r, "test_accuracy");
    c.test_error = num(r, "test_error");
    if (std::isnan(c.test_error) && !std::isnan(c.test_accuracy)) c.test_error = 1.0 - c.test_accuracy;
    c.val_accuracy = num(r, "val_accuracy");
    g.cells.push_back(std::move(c));
  }
  if (res.contains("baseline") && res["baseline"].is_object()) {
    g.baseline_error = num(res["baseline"], "test_error");
    g.baseline_accuracy = num(res["baseline"], "test_accuracy");
  }
  if (std::isnan(g.baseline_error))
    for (const auto& c : g.cells)
      if (!c.kd) g.baseline_error = c.test_error, g.baseline_accuracy = c.test_accuracy;
  if (res.contains("best") && res["best"].is_object()) {
    g.best_alpha = num(res["best"], "alpha");
    g.best_temperature = num(res["best"], "temperature");
    g.best_error = num(res["best"], "test_error");
  }
  return g;
}

SingleRun load_single_run(const std::string& dir) {
  const fs::path d(dir);
  const auto r = read_json(d / "run.json");
  SingleRun s;
  s.dir = dir;
  s.command = join_argv(r.value("argv", json()));
  s.status = str(r, "status");
  const json results = r.value("results", json::object());
  s.final_test_accuracy = num(results, "final_test_accuracy");
  s.final_val_accuracy = num(results, "final_val_accuracy");
  s.epochs = static_cast<int>(integer(results, "epochs_completed"));
  s.dataset = str(results.value("dataset", json::object()), "name");
  const json cfg = r.value("config", json::object());
  if (s.dataset.empty()) s.dataset = str(cfg.value("dataset", json::object()), "name");
  if (cfg.contains("model") && cfg["model"].is_object()) {
    const auto& m = cfg["model"];
    const std::string arch = str(m, "arch");
    s.model = arch + (m.contains(arch) ? " " + m[arch].dump() : "");
  }
  s.curve = load_curve(d);
  s.engine = load_engine_bench(d);
  return s;
}

EngineCompare load_engine_compare(const std::string& dir) {
  const fs::path p = fs::path(dir) / "compare.csv";
  EngineCompare e;
  e.dir = dir;
  for (const auto& row : read_csv(p, {"set", "cell", "bytes", "engine_accuracy", "model_accuracy", "exact"})) {
    EngineRow r;
    r.set = row.at("set");
    r.cell = row.at("cell");
    r.bytes = static_cast<long long>(to_double(row.at("bytes"), p, "bytes"));
    r.engine_accuracy = to_double(row.at("engine_accuracy"), p, "engine_accuracy");
    r.model_accuracy = to_double(row.at("model_accuracy"), p, "model_accuracy");
    if (row.count("prediction_mismatches"))
      r.prediction_mismatches = static_cast<long long>(to_double(row.at("prediction_mismatches"), p, "prediction_mismatches"));
    r.exact = to_bool(row.at("exact"));
    if (row.count("kernels")) r.kernels = row.at("kernels");
    e.rows.push_back(std::move(r));
  }
  return e;
}

FpgaGrid load_fpga_grid(const std::string& dir) {
  FpgaGrid g;
  g.dir = dir;
  for (const auto& p : fpga_grid_files(dir)) {
    g.files.push_back(p.filename().string());
    for (auto row : read_csv(p, {"topology", "wbits", "abits", "pe", "simd", "max_cycles", "lut", "ff", "bram18", "dsp"})) {
      // Labelled columns (fps_estimated, fits_planning, failing_planning), or the names of older tables.
      for (const auto& [now, before] : std::vector<std::pair<std::string, std::string>>{
               {"fps_estimated", "fps"}, {"fits_planning", "fits"}, {"failing_planning", "failing"}})
        if (!row.count(now) && row.count(before)) row[now] = row.at(before);
      for (const auto* col : {"fps_estimated", "fits_planning"})
        if (!row.count(col)) throw DataError(fmt::format("{}: no column '{}'", p.string(), col));
      if (row.at("max_cycles").empty()) continue;  // a model that could not be costed (its message column says why)
      FpgaRow r;
      r.topology = row.at("topology");
      r.wbits = static_cast<int>(to_double(row.at("wbits"), p, "wbits"));
      r.abits = static_cast<int>(to_double(row.at("abits"), p, "abits"));
      r.max_cycles = static_cast<long long>(to_double(row.at("max_cycles"), p, "max_cycles"));
      r.hw.pe = static_cast<int>(to_double(row.at("pe"), p, "pe"));
      r.hw.simd = static_cast<int>(to_double(row.at("simd"), p, "simd"));
      r.hw.fps = to_double(row.at("fps_estimated"), p, "fps_estimated");
      r.hw.lut = to_double(row.at("lut"), p, "lut");
      r.hw.ff = to_double(row.at("ff"), p, "ff");
      r.hw.bram18 = to_double(row.at("bram18"), p, "bram18");
      r.hw.dsp = to_double(row.at("dsp"), p, "dsp");
      r.hw.fits = to_bool(row.at("fits_planning"));
      r.failing = row.count("failing_planning") ? row.at("failing_planning") : "";
      r.hw.fit = r.hw.fits ? "fits" : "does not fit: " + r.failing;
      g.rows.push_back(std::move(r));
    }
  }
  return g;
}

Evolution load_evolution(const std::string& dir) {
  const fs::path p = fs::path(dir) / "candidates.json";
  const auto j = read_json(p);
  Evolution ev;
  ev.dir = dir;
  const json cands = j.is_array() ? j : j.value("candidates", json());
  if (!cands.is_array()) throw DataError(fmt::format("{}: no 'candidates' array", p.string()));
  if (j.is_object()) {
    ev.device = str(j, "device");
    ev.host = str(j, "host");
    ev.dataset = str(j, "dataset");
    ev.command = j.contains("argv") ? join_argv(j["argv"]) : str(j, "command");
    if (j.contains("selected_on")) ev.selected_on = str(j, "selected_on");
    if (ev.selected_on != "validation" && ev.selected_on != "test")
      throw DataError(fmt::format("{}: selected_on must be \"validation\" or \"test\"", p.string()));
    ev.cost_spec = j.contains("cost") ? str(j["cost"], "spec") : std::string();
    if (ev.cost_spec.empty()) ev.cost_spec = ev.device;
  }
  auto read = [&](const json& c, size_t i, bool baseline) -> std::optional<Candidate> {
    Candidate k;
    if (!c.is_object()) throw DataError(fmt::format("{}: entry {} is not an object", p.string(), i));
    // A failure or an infeasible design (never trained): nothing to plot.
    if (c.contains("status") && str(c, "status") != "completed") {
      if (str(c, "status") == "infeasible" || (c.contains("feasible") && c["feasible"] == false)) ++ev.infeasible;
      return std::nullopt;
    }
    if (c.contains("feasible") && c["feasible"] == false) {  // never plotted, whatever the status says
      ++ev.infeasible;
      return std::nullopt;
    }
    k.generation = static_cast<int>(integer(c, "generation"));
    k.id = c.contains("id") ? (c["id"].is_string() ? c["id"].get<std::string>() : c["id"].dump()) : str(c, "name");
    k.architecture = str(c, "architecture");
    if (c.contains("genome")) k.genome = c["genome"].is_string() ? c["genome"].get<std::string>() : c["genome"].dump();
    k.error = num(c, "error");
    if (std::isnan(k.error) && !std::isnan(num(c, "accuracy"))) k.error = 1.0 - num(c, "accuracy");
    k.test_error = num(c, "test_error");
    if (std::isnan(k.test_error) && ev.selected_on == "test") k.test_error = k.error;
    k.latency_ms = num(c, "latency_ms");
    if (std::isnan(k.latency_ms)) k.latency_ms = num(c, "latency");
    if (std::isnan(k.latency_ms) && c.contains("latency_proxy")) {
      k.latency_ms = num(c, "latency_proxy");
      if (ev.proxy_unit.empty()) ev.proxy_unit = ev.device == "params" ? "parameters" : "MACs";
    }
    k.params = integer(c, "params", -1);
    k.macs = integer(c, "macs", -1);
    k.pareto = boolean(c, "pareto", false);
    k.fps_estimated = num(c, "fps_estimated");
    k.fps_expected = num(c, "fps_expected");
    k.lut = num(c, "lut");
    k.bram18 = num(c, "bram18");
    if (std::isnan(k.error) || std::isnan(k.latency_ms))
      throw DataError(fmt::format("{}: {} {} needs 'error' and 'latency_ms' (or 'latency_proxy')", p.string(),
                                  baseline ? "baseline" : "candidate", i));
    return k;
  };
  for (size_t i = 0; i < cands.size(); ++i) {
    if (auto k = read(cands[i], i, false)) ev.candidates.push_back(*k);
    else ++ev.failed;
  }
  if (j.is_object() && j.contains("baseline")) {
    const json b = j["baseline"].is_array() ? j["baseline"] : json::array({j["baseline"]});
    const int failed = ev.failed, infeasible = ev.infeasible;  // baselines are not candidates
    for (size_t i = 0; i < b.size(); ++i)
      if (auto k = read(b[i], i, true)) ev.baselines.push_back(*k);
    ev.infeasible = infeasible;
    ev.failed = failed;
  }
  ev.final_stage = load_final_stage(dir);
  return ev;
}

std::string fpga_device_of(const std::string& cost_spec) {
  if (cost_spec.rfind("fpga:", 0) != 0) return {};
  const std::string rest = cost_spec.substr(5);
  return rest.substr(0, rest.find(','));
}

const FinalStagePoint* FinalStage::find_role(const std::string& role) const {
  for (const auto& p : points)
    if (p.role == role) return &p;
  return nullptr;
}
const FinalStagePoint* FinalStage::find_point(const std::string& architecture) const {
  for (const auto& p : points)
    if (p.role == "final" && p.architecture == architecture) return &p;
  return nullptr;
}

std::optional<FinalStage> load_final_stage(const std::string& dir) {
  const fs::path file = fs::path(dir) / "final.json", results = fs::path(dir) / "results.json";
  json j;
  fs::path from;
  if (is_file(file)) {
    j = read_json(file), from = file;
  } else if (is_file(results)) {
    const json r = read_json(results);
    if (!r.is_object() || !r.contains("final") || r["final"].is_null()) return std::nullopt;
    j = r["final"], from = results;
  } else {
    return std::nullopt;
  }
  const std::string where = from == results ? from.string() + " \"final\"" : from.string();
  if (!j.is_object() || !j.contains("points") || !j["points"].is_array())
    throw DataError(
        fmt::format("{}: no 'points' array (not a final stage written by nemokd evolve --final-epochs)", where));
  FinalStage f;
  f.file = from.string();
  f.epochs = static_cast<int>(integer(j, "epochs"));
  f.seeds = static_cast<int>(integer(j, "seeds"));
  f.selected_on = str(j, "selected_on");
  f.latency_source = str(j, "latency");
  const json& pts = j["points"];
  for (size_t i = 0; i < pts.size(); ++i) {
    const json& q = pts[i];
    if (!q.is_object()) throw DataError(fmt::format("{}: point {} is not an object", where, i));
    FinalStagePoint p;
    p.name = str(q, "name");
    p.role = str(q, "role");
    if (p.role != "final" && p.role != "final-baseline-kd" && p.role != "final-baseline-no-kd")
      throw DataError(
          fmt::format("{}: point {}: role must be final, final-baseline-kd or final-baseline-no-kd", where, i));
    p.architecture = str(q, "architecture");
    p.params = integer(q, "params", -1);
    p.macs = integer(q, "macs", -1);
    p.search_error = num(q, "search_error");
    p.search_epochs = static_cast<int>(integer(q, "search_epochs"));
    p.latency = num(q, "latency");
    p.latency_sd = num(q, "latency_sd");
    const json val = q.value("val_error", json()), test = q.value("test_error", json());
    p.val_mean = num(val, "mean"), p.val_sd = num(val, "sd"), p.val_n = static_cast<int>(integer(val, "n"));
    p.test_mean = num(test, "mean"), p.test_sd = num(test, "sd"), p.test_n = static_cast<int>(integer(test, "n"));
    if (q.contains("runs") && q["runs"].is_array())
      for (const auto& r : q["runs"])
        if (str(r, "status") == "completed" && !std::isnan(num(r, "test_error")))
          p.test_per_seed.push_back(num(r, "test_error"));
    p.front = boolean(q, "front", false);
    for (double v : {p.test_mean, p.test_sd, p.val_mean, p.val_sd, p.search_error})
      if (!std::isnan(v) && (v < 0 || v > 1))
        throw DataError(fmt::format("{}: point {}: errors are fractions in [0, 1]", where, i));
    f.points.push_back(std::move(p));
  }
  const json v = j.value("verdicts", json::object());
  f.beats_baseline_kd = boolean(v, "beats_baseline_kd", false);
  f.fast_within_1pt = boolean(v, "fast_within_1pt", false);
  f.beats_point = str(v, "beats_baseline_kd_point");
  f.beats_rule = str(v, "beats_baseline_kd_rule");
  f.fast_point = str(v, "fast_within_1pt_point");
  f.fast_rule = str(v, "fast_within_1pt_rule");
  return f;
}

RunSet load_runs(const std::vector<std::string>& dirs) {
  if (dirs.empty()) throw ConfigError("report: give at least one run folder");
  RunSet set;
  auto add = [&](const std::string& dir, RunKind kind) {
    RunSet::Entry e{kind, dir, {}};
    const fs::path d(dir);
    switch (kind) {
      case RunKind::sweep: set.sweeps.push_back(load_sweep(dir)); break;
      case RunKind::kd_grid: set.kd_grids.push_back(load_kd_grid(dir)); break;
      case RunKind::single_run: {
        set.runs.push_back(load_single_run(dir));
        if (!set.runs.back().command.empty()) e.commands.push_back(set.runs.back().command);
        break;
      }
      case RunKind::engine_compare: set.engine.push_back(load_engine_compare(dir)); break;
      case RunKind::fpga_grid: set.fpga.push_back(load_fpga_grid(dir)); break;
      case RunKind::evolution: {
        set.evolution.push_back(load_evolution(dir));
        if (!set.evolution.back().command.empty()) e.commands.push_back(set.evolution.back().command);
        break;
      }
    }
    // Recorded command lines first (argv in sweep.json / grid.json, when a future version writes them).
    if (kind == RunKind::sweep || kind == RunKind::kd_grid) {
      const auto cfg = read_json(d / (kind == RunKind::sweep ? "sweep.json" : "grid.json"));
      if (cfg.contains("argv")) e.commands.push_back(join_argv(cfg["argv"]));
    }
    if (e.commands.empty() || kind != RunKind::single_run)
      for (auto& s : scripts_for(d)) e.commands.push_back(std::move(s));
    // A sweep or grid records each cell's own command; show the first as an example.
    if (kind == RunKind::sweep || kind == RunKind::kd_grid) {
      std::error_code ec;
      std::vector<fs::path> cells;
      for (const auto& sub : fs::directory_iterator(d, ec))
        if (sub.is_directory() && is_file(sub.path() / "run.json")) cells.push_back(sub.path());
      std::sort(cells.begin(), cells.end());
      if (!cells.empty()) {
        const auto r = read_json(cells.front() / "run.json");
        const std::string c = join_argv(r.value("argv", json()));
        if (!c.empty()) e.commands.push_back(fmt::format("each cell (e.g. {}): {}", cells.front().filename().string(), c));
      }
    }
    set.entries.push_back(std::move(e));
  };
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw ConfigError(fmt::format("report: {}: no such folder", dir));
    if (!fs::is_directory(dir, ec)) throw ConfigError(fmt::format("report: {}: not a folder", dir));
    if (auto kind = detect_kind(dir)) {
      add(dir, *kind);
      continue;
    }
    std::vector<fs::path> subs;
    for (const auto& sub : fs::directory_iterator(dir, ec))
      if (sub.is_directory() && detect_kind(sub.path().string())) subs.push_back(sub.path());
    std::sort(subs.begin(), subs.end());
    if (subs.empty())
      throw ConfigError(fmt::format(
          "report: {}: not a nemokd run folder (none of sweep.json + results.json, grid.json + results.json, run.json, "
          "compare.csv, grid*.csv, candidates.json here or one level down)",
          dir));
    for (const auto& s : subs) add(s.string(), *detect_kind(s.string()));
  }
  return set;
}

}  // namespace nemokd::report
