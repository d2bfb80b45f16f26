// nemokd train: float training of a model on a dataset (the foundation of both routes).
#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "data/loader.h"

namespace nemokd::cli {
namespace {

struct TrainFlags {
  train::TrainRunConfig config;
  std::string model = "mlp";
  std::string hidden;
  bool no_batchnorm = false;
  std::string augment = "auto";
  std::string normalization = "standard";
  std::string milestones;
  std::string out;
  bool resume = false;
  OutputFlags output;
};

train::TrainRunConfig resolve(TrainFlags& f) {
  auto c = f.config;
  data::validate(c.dataset);
  if (f.model == "tfc" || f.model == "sfc" || f.model == "lfc") {
    c.model.arch = "mlp";
    c.model.mlp.hidden = models::mlp_preset_widths(f.model);
  } else {
    c.model.arch = f.model;
  }
  if (!f.hidden.empty()) c.model.mlp.hidden = parse_int_list("--hidden", f.hidden);
  c.model.mlp.batchnorm = !f.no_batchnorm;
  c.model.mlp.validate("--hidden/--dropout/--activation");
  if (!f.milestones.empty()) c.train.optim.milestones = parse_int_list("--milestones", f.milestones);
  check_one_of("--augment", f.augment, {"auto", "on", "off"});
  c.train.augment = f.augment == "on" || (f.augment == "auto" && data::dataset_spec(c.dataset.name).augment_by_default);
  c.train.normalization = data::parse_normalization(f.normalization);
  c.train.validate("train");
  // Round-trip through JSON so the CLI path and `nemokd run run.json` validate identically.
  return train::train_run_config_from_json(train::to_json(c));
}

}  // namespace

void register_train(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  auto& c = f->config;
  auto* cmd = app.add_subcommand("train", "Train a float model on a dataset and report its test accuracy");
  cmd->footer(
      "Example: nemokd train --dataset mnist --model mlp --hidden 256,256,256 --epochs 1\n"
      "Writes run.json (config, versions, per-epoch metrics), metrics.json, checkpoint.pt and model.pt to --out.");
  add_dataset_flags(cmd, c.dataset);
  cmd->add_option("--model,-m", f->model, "Architecture: mlp, or an MLP preset tfc (64x3), sfc (256x3), lfc (1024x3)")
      ->capture_default_str();
  cmd->add_option("--hidden", f->hidden, "MLP hidden widths, comma-separated (default 256,256,256)");
  cmd->add_flag("--no-batchnorm", f->no_batchnorm, "MLP without BatchNorm after each hidden layer");
  cmd->add_option("--dropout", c.model.mlp.dropout, "Dropout after each hidden activation")->capture_default_str();
  cmd->add_option("--activation", c.model.mlp.activation, "Hidden activation: relu, tanh, hardtanh")
      ->capture_default_str();
  cmd->add_option("--epochs,-e", c.train.epochs, "Training epochs")->capture_default_str();
  cmd->add_option("--batch-size,-b", c.train.batch_size, "Mini-batch size")->capture_default_str();
  cmd->add_option("--eval-batch-size", c.train.eval_batch_size, "Batch size for validation/test")
      ->capture_default_str();
  cmd->add_option("--optimizer", c.train.optim.name, "sgd or adam")->capture_default_str();
  cmd->add_option("--lr", c.train.optim.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--momentum", c.train.optim.momentum, "SGD momentum")->capture_default_str();
  cmd->add_flag("--nesterov", c.train.optim.nesterov, "Nesterov momentum (SGD)");
  cmd->add_option("--weight-decay", c.train.optim.weight_decay, "L2 weight decay")->capture_default_str();
  cmd->add_option("--schedule", c.train.optim.schedule, "LR schedule: none, multistep, cosine")->capture_default_str();
  cmd->add_option("--milestones", f->milestones, "multistep: epochs after which lr *= gamma, e.g. 150,180,210");
  cmd->add_option("--gamma", c.train.optim.gamma, "multistep decay factor")->capture_default_str();
  cmd->add_option("--augment", f->augment, "Random crop (pad 4) + flip: auto (on for CIFAR), on, off")
      ->capture_default_str();
  cmd->add_option("--normalization", f->normalization,
                  "Input mapping: standard (mean/std), unit ([0,1]), signed ([-1,1]), raw ([0,255])")
      ->capture_default_str();
  cmd->add_option("--seed", c.train.seed, "Random seed (CPU runs are deterministic given seed and threads)")
      ->capture_default_str();
  cmd->add_option("--device", c.train.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--threads,-j", c.threads, "Threads for torch and BLAS (0 = all cores)")->capture_default_str();
  cmd->add_option("--blas-threads", c.blas_threads,
                  "OpenBLAS's own threads (0 = 1; torch's pool parallelises; >1 oversubscribes small machines)")
      ->capture_default_str();
  cmd->add_option("--out,-o", f->out, "Output folder (default runs/train-<timestamp>)");
  cmd->add_flag("--resume", f->resume, "Continue from --out's checkpoint (after a kill or with more --epochs)");
  add_output_flags(cmd, f->output);

  cmd->callback([f] {
    auto config = resolve(*f);
    const std::string out = f->out.empty() ? default_out_dir("train") : f->out;
    train::RunContext ctx{out, f->resume, !f->output.quiet};
    auto record = train::run_training(config, ctx);
    exit_code() = report_training(record, out, f->output);
  });
}

}  // namespace nemokd::cli
