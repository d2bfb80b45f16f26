// nemokd latency — one model's latency through one or more probes (torch on cpu/cuda, a user command on the
// exported model file, MACs/params proxies). The probes live in src/hw/latency/; see docs/LATENCY.md.
#include <filesystem>

#include <fmt/format.h>
#include <torch/torch.h>

#include "cli_common.h"
#include "export/onnx_export.h"
#include "core/error.h"
#include "hw/latency/probe.h"
#include "models/registry.h"
#include "train/train_run.h"

namespace nemokd::cli {
namespace {

namespace fs = std::filesystem;
namespace lat = hw::latency;

struct Flags {
  std::string model, input = "3x32x32";
  int classes = 100;
  uint64_t seed = 0;
  std::vector<std::string> probes{"torch:cpu"};
  std::string device, regex, unit, match;
  int batch = 1, runs = 0, warmup = 0, threads = 0;
  double max_seconds = 10, timeout = 600;
  bool pin = false;
  OutputFlags out;
};

struct LoadedModel {
  models::Classifier model;
  models::InputShape input;
  int classes = 0;
  std::string source;  // "run" | "preset"
};

// A run folder (run.json + model.pt: its trained weights, shape and classes) or a preset/arch name (random
// weights from --seed, for --input / --classes).
LoadedModel load_model(const Flags& f, const CLI::App* cmd) {
  LoadedModel m;
  if (fs::is_directory(f.model)) {
    auto run = train::load_trained_run(f.model);
    const auto dims = run.record.results.at("dataset").at("shape").get<std::vector<int>>();
    m.input = {dims.at(0), dims.at(1), dims.at(2)};
    m.classes = run.record.results.at("dataset").at("classes").get<int>();
    if (cmd->count("--input") && models::InputShape::parse(f.input).str() != m.input.str())
      throw ConfigError(fmt::format("--input {}: the run {} was trained on {} images", f.input, f.model,
                                    m.input.str()));
    if (cmd->count("--classes") && f.classes != m.classes)
      throw ConfigError(fmt::format("--classes {}: the run {} has {} classes", f.classes, f.model, m.classes));
    m.model = run.model;
    m.source = "run";
    return m;
  }
  m.input = models::InputShape::parse(f.input);
  m.classes = f.classes;
  torch::manual_seed(f.seed);
  m.model = models::build_model(models::preset_model(f.model), m.input, m.classes);  // ConfigError lists names
  m.source = "preset";
  return m;
}

// The probe strings with the per-option flags applied (only the flags that were given).
std::vector<lat::ProbeSpec> probe_specs(const Flags& f, const CLI::App* cmd) {
  std::vector<lat::ProbeSpec> specs;
  for (const auto& text : f.probes) {
    auto s = lat::parse_probe(text);
    const bool timed = s.kind == "torch" || s.kind == "command";
    if (timed && cmd->count("--batch")) s.batch = f.batch;
    if (timed && cmd->count("--runs")) s.runs = f.runs;
    if (timed && cmd->count("--warmup")) s.warmup = f.warmup;
    if (s.kind == "torch") {
      if (cmd->count("--device")) s.device = f.device;
      if (cmd->count("--threads")) s.threads = f.threads;
      if (cmd->count("--pin")) s.pin = f.pin;
      if (cmd->count("--max-seconds")) s.max_seconds = f.max_seconds;
    }
    if (s.kind == "command") {
      if (cmd->count("--regex")) s.regex = f.regex;
      if (cmd->count("--unit")) s.unit = f.unit;
      if (cmd->count("--match")) s.match = f.match;
      if (cmd->count("--timeout")) s.timeout_seconds = f.timeout;
    }
    lat::validate(s);
    specs.push_back(s);
  }
  return specs;
}

}  // namespace

void register_latency(CLI::App& app) {
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "latency", "Latency of one model through a probe: LibTorch on cpu/cuda, a command that measures the exported "
                 "model (e.g. OpenVINO on a Myriad X), or the MACs/params proxies");
  cmd->footer(
      "Probes: " + lat::probe_forms() +
      "\nExamples: nemokd latency --model flexstudent --input 1x28x28 --classes 10 --probe torch:cpu\n"
      "          nemokd latency --model runs/kd-1 --probe torch:cpu:batch=8 --probe macs --json\n"
      "          nemokd latency --model resnet8 --input 3x32x32 --classes 10 "
      "--probe 'command:benchmark_app -m {model} -d MYRIAD -niter 100'\n"
      "torch: median of timed runs after warm-up, in blocks until the median moves <= 1 % (docs/LATENCY.md).\n"
      "command: run without a shell (pipes: sh -c '...'); {model} = the exported model.onnx, always one argument;\n"
      "         the last line matching --regex (default: 'Latency: 12.3 ms', 'Median: 2.58 ms') is the latency.\n"
      "macs / params are proxies, not measurements, and are labelled so.");
  cmd->add_option("--model,-m", f->model, "Run folder (run.json + model.pt) or a preset/architecture name "
                                          "(see `nemokd models list`)")
      ->required();
  cmd->add_option("--input", f->input, "Input shape CxHxW (presets; a run folder knows its own)")->capture_default_str();
  cmd->add_option("--classes", f->classes, "Output classes (presets)")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Weight initialisation of a preset (latency does not depend on it)")
      ->capture_default_str();
  cmd->add_option("--probe,-p", f->probes, "Probe (repeatable): torch:cpu, torch:cuda[:N][:KEY=VALUE,...], "
                                           "command:<cmd with {model}>, macs, params")
      ->capture_default_str();
  cmd->add_option("--device", f->device, "torch probes: cpu | cuda | cuda:N (overrides the probe's)");
  cmd->add_option("--batch", f->batch, "Images per forward pass (torch; {batch} in a command)");
  cmd->add_option("--runs", f->runs, "torch: timed runs per block (default 50); command: executions (default 1)");
  cmd->add_option("--warmup", f->warmup, "torch: untimed runs first (default 10); command: untimed executions (0)");
  cmd->add_option("--threads", f->threads, "torch: intra-op threads while measuring (0 = all cores)");
  cmd->add_flag("--pin", f->pin, "torch on cpu: confine the process to the first --threads cores while measuring");
  cmd->add_option("--max-seconds", f->max_seconds, "torch: cap on timed work per measurement (default 10)");
  cmd->add_option("--regex", f->regex, "command: ECMAScript regex, case-insensitive; group 1 = the number, optional "
                                       "group 2 = its unit");
  cmd->add_option("--unit", f->unit, "command: unit of the number (ms | us | ns | s; default: group 2, else ms)");
  cmd->add_option("--match", f->match, "command: which match counts: first | last (default last)");
  cmd->add_option("--timeout", f->timeout, "command: seconds per execution before it is killed (default 600)");
  add_output_flags(cmd, f->out);
  cmd->callback([f, cmd] {
    const auto specs = probe_specs(*f, cmd);  // junk probes fail before any model is built
    auto m = load_model(*f, cmd);
    const auto description = m.model->describe();
    const int64_t params = models::parameter_count(*m.model), macs = m.model->macs();
    nlohmann::json results = nlohmann::json::array();
    std::vector<lat::LatencyResult> measured;
    for (const auto& spec : specs) {
      // A command probe gets the model as ONNX: what OpenVINO's benchmark_app, TensorRT or ONNX Runtime read.
      auto probe = lat::make_probe(spec, onnx_export::export_onnx_to_dir);
      auto r = probe->measure(*m.model, m.input);
      auto j = r.to_json();
      j["cache_key"] = lat::latency_cache_key(spec, description, m.input);
      if (spec.kind == "command") j["model_format"] = "libtorch-archive";
      results.push_back(j);
      measured.push_back(r);
    }
    if (f->out.json) {
      print_json({{"model",
                   {{"name", f->model},
                    {"source", m.source},
                    {"arch", description.value("arch", std::string())},
                    {"description", description},
                    {"input", m.input.str()},
                    {"classes", m.classes},
                    {"parameters", params},
                    {"macs", macs}}},
                  {"results", results}});
      return;
    }
    fmt::print("{} ({}, {}, {} classes): {} parameters, {} MACs per image\n", f->model, m.source, m.input.str(),
               m.classes, params, macs);
    for (const auto& r : measured) fmt::print("  {}\n", r.summary());
  });
}

}  // namespace nemokd::cli
