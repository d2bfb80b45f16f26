// nemokd train: float training of a model on a dataset (the foundation of both routes).
#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::cli {

void register_train(CLI::App& app) {
  struct Flags {
    train::TrainRunConfig config;
    std::string model = "mlp";
    std::string hidden;
    bool no_batchnorm = false;
    TrainingFlags training;
    RunFlags run;
    OutputFlags output;
    ConfigFlags config_flags;
    FlagPatch patch;
  };
  auto f = std::make_shared<Flags>();
  auto& c = f->config;
  auto* cmd = app.add_subcommand("train", "Train a float model on a dataset and report its test accuracy");
  cmd->footer(
      "Example: nemokd train --dataset mnist --model mlp --hidden 256,256,256 --epochs 1\n"
      "Writes run.json (config, versions, per-epoch metrics), metrics.json, checkpoint.pt and model.pt to --out.\n"
      "Quantization-aware training: see `nemokd quant train`.");
  add_dataset_flags(cmd, c.dataset);
  cmd->add_option("--model,-m", f->model, "Architecture: mlp, or an MLP preset tfc (64x3), sfc (256x3), lfc (1024x3)")
      ->capture_default_str();
  cmd->add_option("--hidden", f->hidden, "MLP hidden widths, comma-separated (default 256,256,256)");
  cmd->add_flag("--no-batchnorm", f->no_batchnorm, "MLP without BatchNorm after each hidden layer");
  cmd->add_option("--dropout", c.model.mlp().dropout, "Dropout after each hidden activation")->capture_default_str();
  cmd->add_option("--activation", c.model.mlp().activation, "Hidden activation: relu, tanh, hardtanh")
      ->capture_default_str();
  f->training.add(cmd, c.train);
  f->run.add(cmd, c, "train", true);
  add_output_flags(cmd, f->output);
  f->config_flags.add(cmd, "a run.json's \"config\", or a part of one");
  f->patch.bind_run(cmd, "");
  for (const char* flag : {"--model", "--hidden", "--no-batchnorm", "--dropout", "--activation"})
    f->patch.bind(cmd, flag, "/model");

  cmd->callback([f] {
    auto c = f->config;
    data::validate(c.dataset);
    if (f->model == "tfc" || f->model == "sfc" || f->model == "lfc") {
      c.model.set_family(models::Family::mlp);
      c.model.mlp().hidden = models::mlp_preset_widths(f->model);
    } else {
      c.model.set_family(models::parse_family(f->model, "model.arch"));
    }
    if (c.model.family() == models::Family::mlp) {  // the MLP flags; another family takes its defaults
      if (!f->hidden.empty()) c.model.mlp().hidden = parse_int_list("--hidden", f->hidden);
      c.model.mlp().batchnorm = !f->no_batchnorm;
    }
    f->training.apply(c);
    // Through JSON (with --config between the defaults and the flags given), so the CLI path and `nemokd run
    // run.json` validate identically.
    const auto flags = train::to_json(c);
    auto config = layered_config(flags, f->config_flags, f->patch.patch(flags), train::train_run_config_from_json);
    if (f->config_flags.print) return print_json(train::to_json(config));
    const std::string out = f->run.out.empty() ? default_out_dir("train") : f->run.out;
    auto record = train::run_training(config, train::RunContext{out, f->run.resume, !f->output.quiet,
                                                                    nullptr, f->run.force});
    exit_code() = report_training(record, out, f->output);
  });
}

}  // namespace nemokd::cli
