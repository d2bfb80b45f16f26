// The cost spec, CostValue and the run-folder reading every backend shares (cost.h). The backends: fpga_cost.cpp
// (FINN's cost model) and probe_cost.cpp (the latency probes).
#include "cost/cost.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/run_record.h"
#include "cost/backends.h"
#include "data/dataset.h"
#include "hw/latency/probe.h"
#include "models/registry.h"

namespace nemokd::cost {

namespace fs = std::filesystem;

const char* to_string(CostHow how) {
  switch (how) {
    case CostHow::estimated: return "estimated";
    case CostHow::expected_on_board: return "expected on board";
    case CostHow::measured: return "measured";
    case CostHow::proxy: return "proxy";
  }
  return "?";
}

nlohmann::json CostValue::to_json() const {
  nlohmann::json j = {{"ok", ok},       {"feasible", feasible}, {"priceable", priceable},
                      {"objective", objective}, {"unit", unit}, {"how", to_string(how)},
                      {"label", label}, {"detail", detail}};
  if (!message.empty()) j["message"] = message;
  if (!feasible && priceable) j["violation"] = violation;
  return j;
}

CostUnit unit_of(const CostSpec& spec) {
  if (spec.kind == "fpga") return {"ms/frame", CostHow::estimated};
  if (spec.kind == "engine") return {"ms/frame", CostHow::measured};
  if (spec.kind == "macs") return {"MACs", CostHow::proxy};
  if (spec.kind == "params") return {"parameters", CostHow::proxy};
  return {"ms", CostHow::measured};
}

std::string cost_forms() {
  return "fpga:DEVICE[,fclk=MHz][,usable=finn|device] (e.g. fpga:xc7z020,fclk=100) | "
         "engine[:threads=N,batch=B,seconds=S] (the integer engine, measured on this CPU) | " +
         hw::latency::probe_forms();
}

namespace {

[[noreturn]] void bad_cost(const std::string& text, const std::string& why) {
  throw ConfigError(fmt::format("cost '{}': {}; accepted: {}", text, why, cost_forms()));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// "KEY=VALUE,KEY=VALUE" in order; each key once.
std::vector<std::pair<std::string, std::string>> options_of(const std::string& text, const std::string& list) {
  if (list.empty()) bad_cost(text, "empty option list");
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (true) {
    const auto comma = list.find(',', start);
    const std::string part = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto eq = part.find('=');
    if (eq == std::string::npos) bad_cost(text, fmt::format("'{}' is not KEY=VALUE", part));
    const std::string key = part.substr(0, eq);
    for (const auto& o : out)
      if (o.first == key) bad_cost(text, fmt::format("{} given twice", key));
    out.emplace_back(key, part.substr(eq + 1));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// A number in [lo, hi] written in full ("100", "187.5"); `integer`: no fraction.
double number_of(const std::string& text, const std::string& key, const std::string& value, double lo, double hi,
                 bool integer) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size() || !(v >= lo && v <= hi) || (integer && v != std::floor(v)))
    bad_cost(text, fmt::format("{} '{}' ({} {:g}..{:g})", key, value, integer ? "an integer" : "a number", lo, hi));
  return v;
}

// fpga:DEVICE[,fclk=MHz][,usable=finn|device]
CostSpec parse_fpga(const std::string& text, const std::string& rest) {
  CostSpec s;
  s.kind = "fpga";
  const auto comma = rest.find(',');
  const std::string device = rest.substr(0, comma);
  if (device.empty()) bad_cost(text, "no device (fpga:DEVICE, e.g. fpga:xc7z020)");
  if (device.find('=') != std::string::npos) bad_cost(text, "the device comes first (fpga:DEVICE,KEY=VALUE)");
  s.device = lower(device);
  if (comma == std::string::npos) return s;
  for (const auto& [key, value] : options_of(text, rest.substr(comma + 1))) {
    if (key == "fclk") {
      s.fclk_mhz = number_of(text, "fclk", value, 1e-3, 10000, false);  // MHz
    } else if (key == "usable") {
      if (value != "finn" && value != "device")
        bad_cost(text, fmt::format("usable '{}' (finn: FINN's planning shares, device: the whole part)", value));
      s.usable = value;
    } else {
      bad_cost(text, fmt::format("unknown option '{}' (fclk, usable)", key));
    }
  }
  return s;
}

// engine[:threads=N,batch=B,seconds=S]
CostSpec parse_engine(const std::string& text, const std::string& rest, bool has_options) {
  CostSpec s;
  s.kind = "engine";
  if (!has_options) return s;
  for (const auto& [key, value] : options_of(text, rest)) {
    if (key == "threads") s.threads = int(number_of(text, key, value, 1, 1024, true));
    else if (key == "batch") s.batch = int(number_of(text, key, value, 1, double(1 << 22), true));
    else if (key == "seconds") s.seconds = number_of(text, key, value, 0.05, 600, false);
    else bad_cost(text, fmt::format("unknown option '{}' (threads, batch, seconds)", key));
  }
  return s;
}

}  // namespace

std::string CostSpec::text() const {
  if (kind == "fpga") return fmt::format("fpga:{},fclk={},usable={}", device, fclk_mhz, usable);
  if (kind == "engine")
    return fmt::format("engine:threads={},batch={}{}", threads, batch,
                       seconds == CostSpec{}.seconds ? "" : fmt::format(",seconds={}", seconds));
  return probe;
}

CostSpec parse_cost(const std::string& text) {
  const auto colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  if (kind == "fpga") return parse_fpga(text, colon == std::string::npos ? "" : text.substr(colon + 1));
  if (kind == "engine")
    return parse_engine(text, colon == std::string::npos ? "" : text.substr(colon + 1), colon != std::string::npos);
  if (kind == "torch" || kind == "command" || kind == "macs" || kind == "params") {
    CostSpec s;
    s.kind = kind;
    try {
      s.probe = hw::latency::parse_probe(text).text();
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("cost '{}': {}", text, e.what()));
    }
    return s;
  }
  bad_cost(text, kind.empty() ? "empty" : fmt::format("unknown kind '{}'", kind));
}

double violation_of(const hw::fpga::FitReport& fit) {
  double v = 0;
  for (const auto& r : fit.resources) {
    const double budget = r.budget > 0 ? r.budget : 1.0;
    v += std::max(0.0, double(r.used) / budget - 1.0);
  }
  return v;
}

CostBackend::~CostBackend() = default;

RunModel read_run_model(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "run.json").string();
  if (!fs::is_regular_file(path)) throw ConfigError(fmt::format("{}: no run.json (not a run folder)", run_dir));
  const auto rec = RunRecord::from_json(read_json_file(path));
  if (!rec.config.is_object() || !rec.config.contains("model") || !rec.config.contains("dataset") ||
      !rec.config["dataset"].is_object())
    throw ConfigError(fmt::format("{}: config has no model/dataset (not a training run)", path));
  RunModel m;
  m.model = models::model_config_from_json(rec.config["model"], "model");
  const auto& spec = data::dataset_spec(rec.config["dataset"].value("name", std::string()));
  m.input = models::InputShape{spec.channels, spec.height, spec.width};
  m.classes = spec.classes;
  return m;
}

CostValue CostBackend::price_run(const std::string& run_dir) {
  const auto m = read_run_model(run_dir);
  return price(m.model, m.input, m.classes);
}

std::unique_ptr<CostBackend> make_cost(const CostSpec& spec, const CostContext& context) {
  if (spec.kind == "fpga") return make_fpga_cost(spec, context);
  if (spec.kind == "engine") return make_engine_cost(spec, context);
  if (spec.kind == "torch" || spec.kind == "command" || spec.kind == "macs" || spec.kind == "params")
    return make_probe_cost(spec, context);
  throw ConfigError(fmt::format("cost: unknown kind '{}'; accepted: {}", spec.kind, cost_forms()));
}

}  // namespace nemokd::cost
