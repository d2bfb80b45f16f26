#include "hw/latency/probe.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/runtime.h"
#include "hw/latency/stats.h"

namespace nemokd::hw::latency {
namespace fs = std::filesystem;

const char* const kDefaultLatencyRegex =
    R"((?:median|latency)\s*(?:latency)?\s*[:=]?\s*([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*(ms|us|µs|ns|sec|s)\b)";

// Defined in torch_probe.cpp, command_probe.cpp, proxy_probe.cpp.
std::unique_ptr<LatencyProbe> make_torch_probe(const ProbeSpec& spec);
std::unique_ptr<LatencyProbe> make_command_probe(const ProbeSpec& spec, Materializer materialize,
                                                 const std::string& workdir);
std::unique_ptr<LatencyProbe> make_proxy_probe(const ProbeSpec& spec);

namespace {

const ProbeSpec kDefaults{};

bool is_device(const std::string& d) {
  if (d == "cpu" || d == "cuda") return true;
  if (d.rfind("cuda:", 0) != 0 || d.size() == 5) return false;
  return std::all_of(d.begin() + 5, d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

[[noreturn]] void bad_probe(const std::string& text, const std::string& why) {
  throw ConfigError(fmt::format("probe '{}': {}; accepted: {}", text, why, probe_forms()));
}

int parse_int(const std::string& text, const std::string& key, const std::string& value) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size()) bad_probe(text, fmt::format("{}={} is not an integer", key, value));
  return v;
}

double parse_double(const std::string& text, const std::string& key, const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(v))
    bad_probe(text, fmt::format("{}={} is not a number", key, value));
  return v;
}

void parse_torch_options(const std::string& text, const std::string& options, ProbeSpec& spec) {
  std::stringstream in(options);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) bad_probe(text, fmt::format("option '{}' is not KEY=VALUE", item));
    const auto key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "batch") spec.batch = parse_int(text, key, value);
    else if (key == "warmup") spec.warmup = parse_int(text, key, value);
    else if (key == "runs") spec.runs = parse_int(text, key, value);
    else if (key == "threads") spec.threads = parse_int(text, key, value);
    else if (key == "blocks") spec.max_blocks = parse_int(text, key, value);
    else if (key == "max_seconds") spec.max_seconds = parse_double(text, key, value);
    else if (key == "stable") spec.stable = parse_double(text, key, value);
    else if (key == "pin") {
      if (value == "1" || value == "true") spec.pin = true;
      else if (value == "0" || value == "false") spec.pin = false;
      else bad_probe(text, fmt::format("pin={} is not 0 or 1", value));
    } else {
      bad_probe(text, fmt::format("unknown torch option '{}' (options: batch, warmup, runs, threads, pin, blocks, "
                                  "max_seconds, stable)",
                                  key));
    }
  }
}

}  // namespace

std::string probe_forms() {
  return "torch:cpu | torch:cuda | torch:cuda:N, optionally followed by :KEY=VALUE,... (batch, warmup, runs, "
         "threads, pin=0|1, blocks, max_seconds, stable), e.g. torch:cpu:batch=8,runs=100 | "
         "command:<shell command with {model}> (e.g. 'command:benchmark_app -m {model} -d MYRIAD -niter 100') | "
         "macs (proxy) | params (proxy)";
}

ProbeSpec ProbeSpec::resolved() const {
  ProbeSpec s = *this;
  const bool command = kind == "command";
  if (s.warmup < 0) s.warmup = command ? 0 : 10;
  if (s.runs < 0) s.runs = command ? 1 : 50;
  return s;
}

std::string ProbeSpec::text() const {
  const auto r = resolved();
  if (kind == "command") return "command:" + command;
  if (kind != "torch") return kind;
  std::vector<std::string> opts;
  if (r.batch != kDefaults.batch) opts.push_back(fmt::format("batch={}", r.batch));
  if (r.warmup != 10) opts.push_back(fmt::format("warmup={}", r.warmup));
  if (r.runs != 50) opts.push_back(fmt::format("runs={}", r.runs));
  if (r.threads != kDefaults.threads) opts.push_back(fmt::format("threads={}", r.threads));
  if (r.pin) opts.push_back("pin=1");
  if (r.max_blocks != kDefaults.max_blocks) opts.push_back(fmt::format("blocks={}", r.max_blocks));
  if (r.max_seconds != kDefaults.max_seconds) opts.push_back(fmt::format("max_seconds={}", r.max_seconds));
  if (r.stable != kDefaults.stable) opts.push_back(fmt::format("stable={}", r.stable));
  return "torch:" + device + (opts.empty() ? "" : ":" + fmt::format("{}", fmt::join(opts, ",")));
}

nlohmann::json ProbeSpec::to_json() const {
  const auto r = resolved();
  nlohmann::json j = {{"kind", kind}, {"text", text()}};
  if (kind == "torch") {
    j.update({{"device", r.device},
              {"batch", r.batch},
              {"warmup", r.warmup},
              {"runs", r.runs},
              {"threads", r.threads},
              {"pin", r.pin},
              {"max_blocks", r.max_blocks},
              {"max_seconds", r.max_seconds},
              {"stable", r.stable}});
  } else if (kind == "command") {
    j.update({{"command", r.command},
              {"regex", r.regex.empty() ? std::string(kDefaultLatencyRegex) : r.regex},
              {"unit", r.unit},
              {"match", r.match},
              {"batch", r.batch},
              {"warmup", r.warmup},
              {"runs", r.runs},
              {"timeout_seconds", r.timeout_seconds}});
  }
  return j;
}

void validate(const ProbeSpec& spec) {
  const auto s = spec.resolved();
  const auto text = spec.text();
  auto need = [&](bool ok, const std::string& why) {
    if (!ok) throw ConfigError(fmt::format("probe '{}': {}", text, why));
  };
  if (s.kind != "torch" && s.kind != "command" && s.kind != "macs" && s.kind != "params")
    bad_probe(s.kind, "unknown kind");
  need(s.batch >= 1 && s.batch <= 1 << 16, fmt::format("batch must be in 1..65536 (got {})", s.batch));
  need(s.warmup >= 0, fmt::format("warmup must be >= 0 (got {})", s.warmup));
  need(s.runs >= 1, fmt::format("runs must be >= 1 (got {})", s.runs));
  if (s.kind == "torch") {
    need(is_device(s.device), fmt::format("device '{}' is not cpu, cuda or cuda:N", s.device));
    need(s.threads >= 0 && s.threads <= kMaxThreads,
         fmt::format("threads must be in 0..{} (got {})", kMaxThreads, s.threads));
    need(s.max_blocks >= 1, fmt::format("blocks must be >= 1 (got {})", s.max_blocks));
    need(s.max_seconds > 0 && s.max_seconds <= kMaxTimeoutSeconds,
         fmt::format("max_seconds must be in (0, {}] (got {})", kMaxTimeoutSeconds, s.max_seconds));
    need(s.stable >= 0 && s.stable < 1, fmt::format("stable must be in [0, 1) (got {})", s.stable));
  }
  if (s.kind == "command") {
    need(!s.command.empty(), "the command is empty");
    need(s.command.find("{model}") != std::string::npos,
         "the command must contain {model} (replaced by the path of the exported model)");
    need(s.match == "first" || s.match == "last", fmt::format("match must be first or last (got '{}')", s.match));
    need(s.unit.empty() || unit_to_ms(s.unit) > 0,
         fmt::format("unit '{}' is not one of ms, us, ns, s", s.unit));
    need(s.timeout_seconds > 0 && s.timeout_seconds <= kMaxTimeoutSeconds,
         fmt::format("timeout must be in (0, {}] s (got {})", kMaxTimeoutSeconds, s.timeout_seconds));
    try {
      split_command_line(s.command);
    } catch (const ConfigError& e) {
      need(false, e.what());
    }
  }
}

ProbeSpec parse_probe(const std::string& text) {
  ProbeSpec spec;
  const auto colon = text.find(':');
  spec.kind = text.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (spec.kind == "macs" || spec.kind == "params") {
    if (colon != std::string::npos) bad_probe(text, fmt::format("{} takes no options", spec.kind));
  } else if (spec.kind == "command") {
    if (rest.find_first_not_of(" \t") == std::string::npos) bad_probe(text, "the command is empty");
    spec.command = rest;
  } else if (spec.kind == "torch") {
    // torch | torch:DEVICE | torch:DEVICE:OPTIONS, DEVICE = cpu | cuda | cuda:N
    std::string device = rest, options;
    if (rest.rfind("cuda:", 0) == 0 && rest.size() > 5 && std::isdigit(static_cast<unsigned char>(rest[5]))) {
      const auto end = rest.find(':', 5);
      device = rest.substr(0, end);
      options = end == std::string::npos ? "" : rest.substr(end + 1);
    } else if (const auto c = rest.find(':'); c != std::string::npos) {
      device = rest.substr(0, c);
      options = rest.substr(c + 1);
      if (options.empty()) bad_probe(text, "empty option list after ':'");
    }
    if (device.empty()) device = "cpu";
    if (!is_device(device)) bad_probe(text, fmt::format("device '{}' is not cpu, cuda or cuda:N", device));
    spec.device = device;
    if (!options.empty()) parse_torch_options(text, options, spec);
  } else {
    bad_probe(text, spec.kind.empty() ? "empty probe" : fmt::format("unknown probe kind '{}'", spec.kind));
  }
  try {
    validate(spec);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}; accepted: {}", e.what(), probe_forms()));
  }
  return spec;
}

nlohmann::json LatencyResult::to_json() const {
  nlohmann::json j = {{"probe", probe}, {"proxy", proxy}, {"value", value}, {"unit", unit}, {"batch", batch}};
  if (proxy) {
    j["label"] = "proxy (not a measurement)";
  } else {
    j.update({{"median_ms", median_ms},
              {"p10_ms", p10_ms},
              {"p90_ms", p90_ms},
              {"mean_ms", mean_ms},
              {"stddev_ms", stddev_ms},
              {"cv", cv},
              {"runs", runs},
              {"per_image_ms", median_ms / std::max(batch, 1)}});
  }
  if (!details.empty()) j["details"] = details;
  return j;
}

std::string LatencyResult::summary() const {
  if (proxy) {
    const double v = value;
    const std::string scaled = v >= 1e9 ? fmt::format(" ({:.2f} G)", v / 1e9)
                               : v >= 1e6 ? fmt::format(" ({:.2f} M)", v / 1e6)
                               : v >= 1e3 ? fmt::format(" ({:.1f} k)", v / 1e3)
                                          : "";
    return fmt::format("{}: {:.0f} {}{} — proxy (not a measurement)", probe, v, unit, scaled);
  }
  std::string extra;
  if (details.contains("blocks"))
    extra = fmt::format(", {} block(s), {}", details["blocks"].get<int>(),
                        details.value("stable", false)  ? "stable"
                        : details.value("capped", false) ? "NOT stable (time cap reached)"
                                                         : "NOT stable (block limit reached)");
  if (details.contains("threads")) extra += fmt::format(", {} thread(s)", details["threads"].get<int>());
  return fmt::format("{}: median {:.4g} ms at batch {} (p10 {:.4g}, p90 {:.4g}; mean {:.4g} ± {:.2g} ms, CV {:.1f} %), "
                     "{} timed run(s){}",
                     probe, median_ms, batch, p10_ms, p90_ms, mean_ms, stddev_ms, 100 * cv, runs, extra);
}

LatencyProbe::~LatencyProbe() = default;

std::unique_ptr<LatencyProbe> make_probe(const ProbeSpec& spec, Materializer materialize, const std::string& workdir) {
  validate(spec);
  const auto s = spec.resolved();
  if (s.kind == "torch") return make_torch_probe(s);
  if (s.kind == "command")
    return make_command_probe(s, materialize ? std::move(materialize) : Materializer(materialize_libtorch_archive),
                              workdir);
  return make_proxy_probe(s);
}

std::string latency_cache_key(const ProbeSpec& spec, const nlohmann::json& model_description,
                              models::InputShape input) {
  const auto s = spec.resolved();
  nlohmann::json target = {{"kind", s.kind}};
  if (s.kind == "torch") {
    target.update({{"device", s.device}, {"batch", s.batch}, {"threads", s.threads}, {"pin", s.pin}});
  } else if (s.kind == "command") {
    target.update({{"command", s.command},
                   {"regex", s.regex.empty() ? std::string(kDefaultLatencyRegex) : s.regex},
                   {"unit", s.unit},
                   {"match", s.match},
                   {"batch", s.batch}});
  }
  // nlohmann::json keeps object keys sorted: dump() is canonical for equal values.
  const nlohmann::json j = {{"v", 1},
                            {"probe", target},
                            {"model", model_description},
                            {"input", {input.channels, input.height, input.width}}};
  return fmt::format("lat1-{}-{:016x}", s.kind, memo_hash64(j.dump()));
}

}  // namespace nemokd::hw::latency
