// nemokd quant levels | train | sweep — Route Q, quantization-aware training of MLPs and CNNs.
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "quant/quantizer.h"
#include "hw/fpga/summary.h"
#include "campaign/sweep.h"

namespace nemokd::cli {
namespace {

// Model flags of a quantized model: an MLP (--topology, the default), FINN's CNV or the quantized FlexStudent
// (--model cnv|flexstudent, --model-config for its topology). With bits = false (sweeps) the bits come from the
// sweep's cells. The quantizer flags (--scheme, --activation, --input, ...) apply to every family; for a CNN
// only those given on the command line (its config's own values stand otherwise).
struct QuantModelFlags {
  std::string model = "mlp", model_config;
  std::string topology = "tfc";
  std::string wbits = "2", abits = "2";
  std::string scheme = "finn", granularity = "channel";
  bool no_batchnorm = false;
  models::MlpConfig m;  // what the shared flags write to (an MLP's config, or the source of a CNN's settings)
  std::map<std::string, CLI::Option*> given;

  void add(CLI::App* cmd, const models::MlpConfig& defaults, bool bits) {
    m = defaults;
    auto opt = [&](CLI::Option* o) { given[o->get_name()] = o; return o; };
    opt(cmd->add_option("--model", model, "mlp (--topology), cnv (FINN's CNV) or flexstudent (the quantized route-K "
                                          "student)")
            ->check(CLI::IsMember({"mlp", "cnv", "flexstudent"}))
            ->capture_default_str());
    opt(cmd->add_option("--model-config", model_config,
                        "cnv/flexstudent: their JSON (file or inline), e.g. '{\"conv_channels\": [32, 64]}' for "
                        "flexstudent; see docs/MODELS.md"));
    opt(cmd->add_option("--topology,-t", topology,
                        "mlp: hidden widths tfc (64x3), sfc (256x3), lfc (1024x3), or a list such as 512,256")
            ->capture_default_str());
    if (bits) {
      opt(cmd->add_option("--wbits,-w", wbits, "Weight bits 1..8 (32 = float), one value or one per layer with weights "
                                               "(mlp: hidden..., output; cnv/flexstudent: convs..., FCs..., classifier)")
              ->capture_default_str());
      opt(cmd->add_option("--abits,-a", abits,
                          "Activation bits 1..8 (32 = float), one value or one per activation (mlp: hidden layers; "
                          "cnv/flexstudent: convs..., hidden FCs...)")
              ->capture_default_str());
    }
    opt(cmd->add_option("--scheme", scheme, "Weight quantizer: finn (fixed point, step 2^-(n-2)) or scaled (integer x "
                                            "max-abs scale)")
            ->capture_default_str());
    opt(cmd->add_option("--granularity", granularity, "scaled scheme: scale per output channel or per tensor")
            ->capture_default_str());
    opt(cmd->add_flag("--learned-scale", m.quant.learned_scale,
                      "scaled scheme: learn the scale (initialised from max-abs)"));
    opt(cmd->add_option("--activation", m.activation,
                        "Saturating activation: tanh, hardtanh, relu (unsigned); default tanh (mlp), hardtanh (CNNs)")
            ->capture_default_str());
    opt(cmd->add_option("--relu-max", m.quant.relu_max, "relu: top of the unsigned range")->capture_default_str());
    opt(cmd->add_flag("--learned-range", m.quant.learned_range, "relu: learn the top of the range (PACT)"));
    opt(cmd->add_option("--input", m.quant.input, "Input: signed (pixels -> [-1,1] -> --input-bits), u8 (8-bit "
                                                  "pixels), float")
            ->capture_default_str());
    opt(cmd->add_option("--input-bits", m.quant.input_bits, "Bits of the signed input quantizer (1 = binarised)")
            ->capture_default_str());
    opt(cmd->add_option("--dropout", m.dropout, "Dropout after each hidden (FC) activation")->capture_default_str());
    opt(cmd->add_flag("--no-batchnorm", no_batchnorm, "mlp: no BatchNorm after the linear layers"));
  }

  bool was_given(const std::string& name) const {
    auto it = given.find(name);
    return it != given.end() && it->second->count() > 0;
  }

  // The model the flags describe (bits only when `bits`; a sweep sets them per cell).
  models::ModelConfig apply(bool bits) const {
    check_one_of("--granularity", granularity, {"channel", "tensor"});
    const auto gran = granularity == "tensor" ? quant::ScaleGranularity::tensor : quant::ScaleGranularity::channel;
    models::ModelConfig mc;
    if (model == "mlp") {
      if (was_given("--model-config")) throw ConfigError("--model-config: for --model cnv or flexstudent (mlp: --topology)");
      mc = m;
      if (topology == "tfc" || topology == "sfc" || topology == "lfc")
        mc.mlp().hidden = models::mlp_preset_widths(topology);
      else
        mc.mlp().hidden = parse_int_list("--topology", topology);
      mc.mlp().batchnorm = !no_batchnorm;
      mc.mlp().quant.scheme = quant::parse_weight_scheme(scheme);
      mc.mlp().quant.granularity = gran;
      if (bits) mc.mlp().set_bits(parse_int_list("--wbits", wbits), parse_int_list("--abits", abits));
      mc.mlp().quantized = true;
      return mc;
    }
    for (const char* flag : {"--topology", "--no-batchnorm"})
      if (was_given(flag))
        throw ConfigError(fmt::format("{}: for --model mlp (a CNN's layers come from --model-config)", flag));
    mc = model_from_flags(model == "flexstudent" ? "qflexstudent" : model, model_config, "--model-config");
    auto& q = *models::quant_config(mc);
    if (was_given("--scheme")) q.scheme = quant::parse_weight_scheme(scheme);
    if (was_given("--granularity")) q.granularity = gran;
    if (was_given("--learned-scale")) q.learned_scale = m.quant.learned_scale;
    if (was_given("--relu-max")) q.relu_max = m.quant.relu_max;
    if (was_given("--learned-range")) q.learned_range = m.quant.learned_range;
    if (was_given("--input")) q.input = m.quant.input;
    if (was_given("--input-bits")) q.input_bits = m.quant.input_bits;
    if (was_given("--activation")) *models::quant_activation(mc) = m.activation;
    if (was_given("--dropout")) (mc.family() == models::Family::cnv ? mc.cnv().dropout : mc.qflexstudent().net.dropout) = m.dropout;
    if (bits && (was_given("--wbits") || was_given("--abits") || !was_given("--model-config")))
      models::set_quant_bits(mc, parse_int_list("--wbits", wbits), parse_int_list("--abits", abits));
    // Validate now, naming the flags' keys, rather than when the model is built.
    return models::model_config_from_json(models::to_json(mc), "model");
  }
};

void register_levels(CLI::App* quant_cmd) {
  struct Flags {
    std::string scheme = "finn", values;
    int bits = 2;
    double scale = 1.0, max = 1.0;
    OutputFlags out;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = quant_cmd->add_subcommand("levels", "Print a quantizer's levels (codes <-> values) and quantize values");
  cmd->add_option("--scheme", f->scheme,
                  "finn (weights, fixed point), scaled (weights, integer x --scale), signed-act (tanh/hard-tanh "
                  "activations on [-1,1]), unsigned-act (ReLU activations on [0, --max])")
      ->capture_default_str();
  cmd->add_option("--bits,-n", f->bits, "Bits, 1..8")->required();
  cmd->add_option("--scale", f->scale, "scaled: the scale")->capture_default_str();
  cmd->add_option("--max", f->max, "unsigned-act: top of the range")->capture_default_str();
  cmd->add_option("--values", f->values, "Comma-separated inputs to quantize, e.g. 0.136,0.357,2");
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    quant::check_bits("--bits", f->bits);
    if (f->bits == quant::kFloatBits) throw ConfigError("--bits: 32 bits is float, it has no levels");
    check_one_of("--scheme", f->scheme, {"finn", "scaled", "signed-act", "unsigned-act"});
    quant::Levels l = f->scheme == "finn"         ? quant::finn_weight_levels(f->bits)
                      : f->scheme == "scaled"     ? quant::scaled_weight_levels(f->bits, f->scale)
                      : f->scheme == "signed-act" ? quant::signed_activation_levels(f->bits)
                                                  : quant::unsigned_activation_levels(f->bits, f->max);
    nlohmann::json j = l.to_json();
    j["scheme"] = f->scheme;
    nlohmann::json levels = nlohmann::json::array();
    for (int64_t c = l.min_code; c <= l.max_code; ++c) levels.push_back({{"code", c}, {"value", l.value(c)}});
    j["levels"] = levels;
    nlohmann::json quantized = nlohmann::json::array();
    if (!f->values.empty()) {
      std::stringstream ss(f->values);
      std::string item;
      while (std::getline(ss, item, ',')) {
        double x = 0;
        try {
          size_t used = 0;
          x = std::stod(item, &used);
          if (used != item.size()) throw std::invalid_argument(item);
        } catch (const std::exception&) {
          throw ConfigError(fmt::format("--values: '{}' is not a number", item));
        }
        // A quantizer maps real inputs; NaN has no code, and +-inf would be cast to an integer code out of range.
        if (!std::isfinite(x)) throw ConfigError(fmt::format("--values: '{}' is not a finite number", item));
        quantized.push_back({{"input", x}, {"code", l.code(x)}, {"value", l.quantize(x)}});
      }
    }
    j["quantized"] = quantized;
    if (f->out.json) return print_json(j);
    fmt::print("{} quantizer, {} bits: {} levels, codes {}..{}, scale {}{}\n", f->scheme, l.bits, l.count(),
               l.min_code, l.max_code, l.scale, l.bipolar ? " (bipolar: code 0 = -1, code 1 = +1)" : "");
    std::vector<std::string> vals;
    for (const auto& v : levels) vals.push_back(fmt::format("{:g}", v["value"].get<double>()));
    fmt::print("levels: {}\n", fmt::join(vals, " "));
    for (const auto& q : quantized)
      fmt::print("  {:>10g} -> {:g} (code {})\n", q["input"].get<double>(), q["value"].get<double>(),
                 q["code"].get<int64_t>());
  });
}

void register_quant_train(CLI::App* quant_cmd) {
  struct Flags {
    train::TrainRunConfig config = train::default_qat_config();
    QuantModelFlags model;
    TrainingFlags training;
    RunFlags run;
    std::string eval_at;
    OutputFlags output;
    ConfigFlags config_flags;
    FlagPatch patch;
  };
  auto f = std::make_shared<Flags>();
  auto& c = f->config;
  auto* cmd = quant_cmd->add_subcommand("train", "Quantization-aware training of an MLP or CNN with W-bit weights and "
                                                 "A-bit activations");
  cmd->footer("Example: nemokd quant train --dataset mnist --topology tfc --wbits 2 --abits 2 --epochs 5\n"
              "         nemokd quant train --dataset fashion-mnist --model cnv --wbits 1 --abits 1 --epochs 10\n"
              "         nemokd quant train --model flexstudent --model-config '{\"conv_channels\": [32, 64]}' -w 2 -a 2\n"
              "Defaults follow the FINN reference networks: tanh (MLPs) or hard-tanh (CNNs), BatchNorm, 8-bit [-1,1] "
              "input, Adam 0.01, cosine schedule, batch 100; MLPs dropout 0.2.");
  add_dataset_flags(cmd, c.dataset);
  f->model.add(cmd, c.model.mlp(), true);
  f->training.add(cmd, c.train);
  cmd->add_option("--eval-at", f->eval_at,
                  "Evaluate the test set only after these epochs (and the last), e.g. 10,20,30,50,100 (default: every "
                  "epoch)");
  f->run.add(cmd, c, "quant", true);
  add_output_flags(cmd, f->output);
  f->config_flags.add(cmd, "a run.json's \"config\", or a part of one");
  f->patch.bind_run(cmd, "").bind(cmd, "--eval-at", "/train/test_eval_epochs");
  for (const auto& [flag, opt] : f->model.given) f->patch.bind(cmd, flag, "/model");
  cmd->callback([f] {
    auto c = f->config;
    data::validate(c.dataset);
    c.model = f->model.apply(true);
    if (!f->eval_at.empty()) c.train.test_eval_epochs = parse_int_ranges("--eval-at", f->eval_at, 1, 100000);
    f->training.apply(c);
    const auto flags = train::to_json(c);
    auto patch = f->patch.patch(flags);
    if (patch.contains("model"))  // the model's input quantizer decides its input mapping
      patch["train"]["normalization"] = flags["train"]["normalization"];
    auto config = layered_config(flags, f->config_flags, patch, train::train_run_config_from_json);
    if (f->config_flags.print) return print_json(train::to_json(config));
    const std::string out = f->run.out.empty() ? default_out_dir("quant") : f->run.out;
    auto record = train::run_training(config, train::RunContext{out, f->run.resume, !f->output.quiet,
                                                                    nullptr, f->run.force});
    exit_code() = report_training(record, out, f->output);
  });
}

void register_sweep(CLI::App* quant_cmd) {
  struct Flags {
    train::TrainRunConfig config = train::default_qat_config();
    QuantModelFlags model;
    TrainingFlags training;
    RunFlags run;
    std::string preset, wbits = "1-8", abits = "1-8", pairs, eval_at;
    double scale = 1.0;
    int jobs = 1;
    hw::fpga::HwPointConfig hw;
    OutputFlags output;
    MpiFlags mpi;
    ConfigFlags config_flags;
    FlagPatch patch;
    CLI::Option* dataset_opt = nullptr;
  };
  auto f = std::make_shared<Flags>();
  auto& c = f->config;
  auto* cmd = quant_cmd->add_subcommand("sweep", "Train every W x A combination (or a subset), in parallel, "
                                                 "resumably; one results table");
  cmd->footer(
      "Presets (the paper's experiments): q1 = MNIST, TFC, W1..8 x A1..8, 100 epochs, test accuracy at 10/20/30/50/100;\n"
      "q2 = Fashion-MNIST, TFC, W2A2/W3A3/W4A4, 40 epochs; cnv-cifar10 = CIFAR-10 (needs the data), CNV,\n"
      "W1A1/W1A2/W2A2 (FINN's published CNV variants), 300 epochs. --scale 0.1 runs them with a tenth of the epochs.\n"
      "Explicit --dataset/--model/--epochs/--wbits/--abits/--pairs/--eval-at override the preset.\n"
      "Each cell trains in its own process into --out/wXaY; a killed sweep continues with --resume and never\n"
      "retrains a finished cell. Table: --out/results.csv and results.json.\n"
      "Under MPI (mpirun -np N nemokd quant sweep ...) the cells are spread over the ranks, one per rank at a time\n"
      "(--jobs is then ignored); see docs/DISTRIBUTED.md.");
  cmd->add_option("--preset", f->preset, "q1, q2 or cnv-cifar10");
  cmd->add_option("--scale", f->scale, "Preset epochs (and eval points) times this, in (0, 1]")->capture_default_str();
  cmd->add_option("--wbits,-w", f->wbits, "Weight bits to sweep, e.g. 1-8 or 2,4,8")->capture_default_str();
  cmd->add_option("--abits,-a", f->abits, "Activation bits to sweep")->capture_default_str();
  cmd->add_option("--pairs", f->pairs, "Explicit cells instead of the W x A grid, e.g. 2x2,3x3,4x4");
  cmd->add_option("--eval-at", f->eval_at, "Epochs whose test accuracy goes in the table, e.g. 10,20,30,50,100");
  cmd->add_option("--jobs", f->jobs, "Trainings at a time (threads are split between them)")->capture_default_str();
  cmd->add_option("--fpga-device", f->hw.device, "Table's FPGA columns: device (see `nemokd fpga devices`)")
      ->capture_default_str();
  cmd->add_option("--fpga-pe", f->hw.pe, "Table's FPGA columns: uniform PE (nearest legal divisor per layer)")
      ->capture_default_str();
  cmd->add_option("--fpga-simd", f->hw.simd, "Table's FPGA columns: uniform SIMD")->capture_default_str();
  cmd->add_option("--fpga-fclk-mhz", f->hw.fclk_mhz, "Table's FPGA columns: clock")->capture_default_str();
  add_dataset_flags(cmd, c.dataset);
  f->dataset_opt = cmd->get_option("--dataset");
  f->model.add(cmd, c.model.mlp(), false);
  f->training.add(cmd, c.train);
  f->run.add(cmd, c, "sweep");
  f->mpi.add(cmd);
  add_output_flags(cmd, f->output);
  f->config_flags.add(cmd, "a sweep.json, written to every --out, or a part of one");
  f->patch.bind_run(cmd, "/base").bind(cmd, "--eval-at", "/eval_at").bind(cmd, "--jobs", "/jobs");
  for (const char* flag : {"--pairs", "--wbits", "--abits"}) f->patch.bind(cmd, flag, "/cells");
  for (const auto& [flag, field] : std::vector<std::pair<std::string, std::string>>{
           {"--fpga-device", "/hw/device"}, {"--fpga-pe", "/hw/pe"}, {"--fpga-simd", "/hw/simd"},
           {"--fpga-fclk-mhz", "/hw/fclk_mhz"}})
    f->patch.bind(cmd, flag, field);
  cmd->callback([f, cmd] {
    // The flags' own config (the command's defaults, every flag applied): the base without a preset, and where
    // the values of the flags given come from.
    campaign::SweepConfig preset;
    if (!f->preset.empty()) preset = campaign::sweep_preset(f->preset, f->scale);
    auto c = f->config;
    if (!f->preset.empty() && f->dataset_opt->count() == 0) c.dataset.name = preset.base.dataset.name;
    const bool model_given = std::any_of(f->model.given.begin(), f->model.given.end(),
                                         [](const auto& o) { return o.second->count() > 0; });
    if (!f->preset.empty() && preset.base.model.family() != models::Family::mlp && !f->model.was_given("--model")) {
      auto flags = f->model;  // the preset's model, the quantizer flags given on top
      const auto family = preset.base.model.family();
      flags.model = family == models::Family::qflexstudent ? "flexstudent" : models::family_name(family);
      if (!flags.was_given("--model-config"))
        flags.model_config = models::to_json(preset.base.model)[models::family_name(family)].dump();
      c.model = flags.apply(false);
    } else {
      c.model = f->model.apply(false);
    }
    models::set_quant_bits(c.model, {2}, {2});  // placeholder: each cell sets its own bits
    f->training.apply(c);
    campaign::SweepConfig s;
    s.base = c;
    s.jobs = f->jobs;
    s.hw = f->hw;
    if (!f->pairs.empty()) {
      std::stringstream ss(f->pairs);
      std::string item;
      while (std::getline(ss, item, ',')) {
        int w = 0, a = 0, used = 0;
        if (std::sscanf(item.c_str(), "%dx%d%n", &w, &a, &used) != 2 || used != static_cast<int>(item.size()))
          throw ConfigError(fmt::format("--pairs: '{}' is not WxA, e.g. 2x2", item));
        s.cells.push_back({w, a});
      }
    } else {
      for (int w : parse_int_ranges("--wbits", f->wbits, 1, 32))
        for (int a : parse_int_ranges("--abits", f->abits, 1, 32)) s.cells.push_back({w, a});
    }
    if (!f->eval_at.empty()) s.eval_at = parse_int_ranges("--eval-at", f->eval_at, 1, 100000);
    const auto flag_config = campaign::to_json(s);
    auto patch = f->patch.patch(flag_config);
    // Model flags given: the model they describe (quantizer flags over a preset's CNN), with its input mapping.
    if (model_given) {
      patch["base"]["model"] = flag_config["base"]["model"];
      patch["base"]["train"]["normalization"] = flag_config["base"]["train"]["normalization"];
    }
    auto j = layer_config(f->preset.empty() ? flag_config : campaign::to_json(preset), f->config_flags.file, patch);
    if (j["eval_at"].empty()) j["eval_at"] = {j["base"]["train"]["epochs"]};  // default: the last epoch
    s = campaign::sweep_config_from_json(j);  // validated exactly as a stored sweep.json would be
    models::set_quant_bits(s.base.model, {2}, {2});  // placeholder (as stored by every sweep): each cell sets its own
    data::validate(s.base.dataset);
    if (f->config_flags.print) return print_json(campaign::to_json(s));
    auto executor = f->mpi.executor(cmd, s.jobs);
    const std::string out = f->run.out.empty() ? default_out_dir("sweep") : f->run.out;
    auto result = campaign::run_sweep(s, campaign::SweepContext{out, f->run.resume, !f->output.quiet, executor});
    exit_code() = result.failed ? 1 : 0;
    if (f->output.json) {
      auto j = result.to_json();
      j["out_dir"] = out;
      return print_json(j);
    }
    fmt::print("{:<6} {:>8} {:>10}", "cell", "params", "status");
    for (int e : s.eval_at) fmt::print(" {:>9}", fmt::format("ep{}", e));
    fmt::print("\n");
    for (const auto& r : result.rows) {
      fmt::print("{:<6} {:>8} {:>10}", r.cell.name(), r.run.parameters, to_string(r.run.status));
      for (int e : s.eval_at) {
        auto it = r.run.test_accuracy_at.find(e);
        fmt::print(" {:>9}", it == r.run.test_accuracy_at.end() ? "-" : fmt::format("{:.2f}%", 100 * it->second));
      }
      fmt::print("{}\n", r.reused ? "  (earlier run)" : "");
    }
    fmt::print("table: {}/results.csv  ({} trained now, {} from earlier runs, {} failed)\n", out, result.ran,
               result.reused, result.failed);
    for (const auto& r : result.rows)
      if (r.run.status == RunStatus::failed) fmt::print(stderr, "nemokd: {} failed: {}\n", r.cell.name(), r.run.message);
  });
}

}  // namespace

void register_quant(CLI::App& app) {
  auto* quant_cmd = app.add_subcommand("quant", "Route Q: quantizers, quantization-aware training, W x A sweeps");
  quant_cmd->require_subcommand(1);
  register_levels(quant_cmd);
  register_quant_train(quant_cmd);
  register_sweep(quant_cmd);
}

}  // namespace nemokd::cli
