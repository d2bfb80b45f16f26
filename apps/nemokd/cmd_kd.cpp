// nemokd kd teacher | train | grid — knowledge distillation (Route K, phase 1).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "campaign/kd_grid.h"
#include "kd/kd_run.h"
#include "models/registry.h"

namespace nemokd::cli {
namespace {

struct ModelFlags {
  std::string name, config;
  void add(CLI::App* cmd, const std::string& flag, const std::string& what, const std::string& default_name) {
    name = default_name;
    cmd->add_option("--" + flag, name, what + ": a preset (resnet8/20/32, resnet8x4, resnet32x4, mobilenetv2, "
                                              "tfc/sfc/lfc) or architecture (flexstudent, flexresnet8x4, ...); "
                                              "see `nemokd models list`")
        ->capture_default_str();
    cmd->add_option("--" + flag + "-config", config, "JSON (file or inline) overriding the " + flag + "'s config");
  }
};

struct KdFlags {
  void add(CLI::App* cmd, kd::KdSettings& s, bool grid) {
    cmd->add_option("--teacher", s.teacher,
                    "Teacher: a run folder (run.json + model.pt, e.g. from `nemokd kd teacher`) or a TorchScript file")
        ->required();
    if (!grid) {
      cmd->add_option("--alpha", s.loss.alpha, "Weight of the KD term")->capture_default_str();
      cmd->add_option("--temperature,-T", s.loss.temperature, "Softmax temperature")->capture_default_str();
    }
    cmd->add_option("--loss-form", s.loss.form,
                    "paper: (1-alpha) CE + alpha KD; gamma: gamma CE + alpha KD (RepDistiller)")
        ->capture_default_str();
    cmd->add_option("--kd-gamma", s.loss.gamma, "CE weight for --loss-form gamma")->capture_default_str();
    cmd->add_option("--teacher-cache", s.cache,
                    "auto: teacher logits computed once and memory-mapped (when the images are not augmented); off")
        ->capture_default_str();
    cmd->add_option("--cache-dir", s.cache_dir, "Teacher-output cache folder (default <data cache>/teacher-logits)");
    cmd->add_option("--teacher-normalization", s.teacher_normalization,
                    "Input mapping the teacher expects (default: recorded in its run, else the student's)");
  }
};

void register_teacher(CLI::App* kd_cmd) {
  struct Flags {
    train::TrainRunConfig config;
    ModelFlags model;
    TrainingFlags training;
    RunFlags run;
    OutputFlags output;
    ConfigFlags config_flags;
    FlagPatch patch;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = kd_cmd->add_subcommand(
      "teacher", "Train a teacher with the reference recipe (SGD 0.05, momentum 0.9, wd 5e-4, batch 64, lr x0.1 at "
                 "150/180/210 of 240 epochs scaled to --epochs; crop+flip on CIFAR)");
  cmd->footer("Example: nemokd kd teacher --model resnet8 --dataset fashion-mnist --epochs 5 --out runs/teacher");
  add_dataset_flags(cmd, f->config.dataset);
  f->model.add(cmd, "model", "Teacher architecture", "resnet32x4");
  f->config.train.epochs = 240;  // the recipe's length; the other recipe settings are applied after parsing
  f->training.add(cmd, f->config.train);
  f->run.add(cmd, f->config, "kd-teacher", true);
  add_output_flags(cmd, f->output);
  f->config_flags.add(cmd, "a run.json's \"config\", or a part of one");
  f->patch.bind_run(cmd, "").bind(cmd, "--model", "/model").bind(cmd, "--model-config", "/model");
  cmd->callback([f] {
    auto c = f->config;
    data::validate(c.dataset);
    c.model = model_from_flags(f->model.name, f->model.config, "--model-config");
    f->training.apply(c);
    // The recipe at --epochs is the base; the file and then the training flags given override it.
    const auto flags = train::to_json(c);
    kd::apply_reference_recipe(c.train, c.model.family(), c.train.epochs);
    auto config = layered_config(train::to_json(c), f->config_flags, f->patch.patch(flags),
                                 train::train_run_config_from_json);
    if (f->config_flags.print) return print_json(train::to_json(config));
    const std::string out = f->run.out.empty() ? default_out_dir("kd-teacher") : f->run.out;
    auto record = train::run_training(config, train::RunContext{out, f->run.resume, !f->output.quiet,
                                                                    nullptr, f->run.force});
    exit_code() = report_training(record, out, f->output);
  });
}

void register_kd_train(CLI::App* kd_cmd) {
  struct Flags {
    kd::KdRunConfig config;
    ModelFlags student;
    KdFlags kd;
    TrainingFlags training;
    RunFlags run;
    OutputFlags output;
    ConfigFlags config_flags;
    FlagPatch patch;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = kd_cmd->add_subcommand("train", "Distil a teacher into a student (KD loss: T^2-scaled batch-mean KL + CE)");
  cmd->footer(
      "Example: nemokd kd train --teacher runs/teacher --student flexstudent --alpha 0.9 -T 4 --dataset fashion-mnist\n"
      "Re-run with `nemokd run OUT/run.json`.");
  add_dataset_flags(cmd, f->config.base.dataset);
  f->student.add(cmd, "student", "Student architecture", "flexstudent");
  f->kd.add(cmd, f->config.kd, false);
  f->training.add(cmd, f->config.base.train);
  f->run.add(cmd, f->config.base, "kd-train", true);
  add_output_flags(cmd, f->output);
  f->config_flags.add(cmd, "a run.json's \"config\", or a part of one");
  f->patch.bind_run(cmd, "").bind_kd(cmd, "").bind(cmd, "--student", "/model").bind(cmd, "--student-config", "/model");
  cmd->callback([f] {
    auto c = f->config;
    data::validate(c.base.dataset);
    c.base.model = model_from_flags(f->student.name, f->student.config, "--student-config");
    f->training.apply(c.base);
    const auto flags = kd::to_json(c);
    auto config = layered_config(flags, f->config_flags, f->patch.patch(flags), kd::kd_run_config_from_json);
    if (f->config_flags.print) return print_json(kd::to_json(config));
    config.kd.cache_dir = c.kd.cache_dir;
    const std::string out = f->run.out.empty() ? default_out_dir("kd-train") : f->run.out;
    auto record = kd::run_kd(config, train::RunContext{out, f->run.resume, !f->output.quiet,
                                                                    nullptr, f->run.force});
    exit_code() = report_training(record, out, f->output);
  });
}

void register_grid(CLI::App* kd_cmd) {
  struct Flags {
    campaign::KdGridConfig config;
    ModelFlags student;
    KdFlags kd;
    TrainingFlags training;
    RunFlags run;
    OutputFlags output;
    MpiFlags mpi;
    ConfigFlags config_flags;
    FlagPatch patch;
    std::string alphas = "0.1,0.3,0.5,0.7,0.9", temperatures = "1,2,4,8,16", preset;
    double scale = 1.0;
    bool no_baseline = false;
  };
  auto f = std::make_shared<Flags>();
  f->config.base.base.train.epochs = 30;
  auto* cmd = kd_cmd->add_subcommand(
      "grid", "Phase 1: distil the baseline student for every (alpha, T), plus once without KD; writes the error surface");
  cmd->footer(
      "Example: nemokd kd grid --teacher runs/teacher --student flexstudent --dataset fashion-mnist --epochs 5 --jobs 2\n"
      "Presets: --preset k1|k2|k3 (CIFAR, the paper's 30 epochs) or k-fmnist. Resumable with --resume.");
  add_dataset_flags(cmd, f->config.base.base.dataset);
  f->student.add(cmd, "student", "Student architecture", "flexstudent");
  f->kd.add(cmd, f->config.base.kd, true);
  f->training.add(cmd, f->config.base.base.train);
  cmd->add_option("--alphas", f->alphas, "KD weights to try")->capture_default_str();
  cmd->add_option("--temperatures", f->temperatures, "Temperatures to try")->capture_default_str();
  cmd->add_flag("--no-baseline", f->no_baseline, "Skip the student trained without distillation");
  cmd->add_option("--jobs,-j", f->config.jobs, "Cells trained at a time (threads are split)")->capture_default_str();
  cmd->add_option("--preset", f->preset, "k1, k2, k3 (CIFAR) or k-fmnist: dataset, student, recipe and epochs");
  cmd->add_option("--scale", f->scale, "With --preset: multiply its epochs")->capture_default_str();
  f->run.add(cmd, f->config.base.base, "kd-grid");
  f->mpi.add(cmd);
  add_output_flags(cmd, f->output);
  f->config_flags.add(cmd, "{\"alphas\": [0.5], \"base\": {\"train\": {\"epochs\": 5}}}, as --print-config shows");
  f->patch.bind_run(cmd, "/base").bind_kd(cmd, "/base");
  f->patch.bind(cmd, "--student", "/base/model").bind(cmd, "--student-config", "/base/model");
  f->patch.bind(cmd, "--alphas", "/alphas").bind(cmd, "--temperatures", "/temperatures");
  f->patch.bind(cmd, "--no-baseline", "/baseline").bind(cmd, "--jobs", "/jobs");
  cmd->callback([f, cmd] {
    // The flags' own config (the command's defaults, every flag applied): the base without a preset, and where
    // the values of the flags given come from.
    auto g = f->config;
    g.base.base.model = model_from_flags(f->student.name, f->student.config, "--student-config");
    f->training.apply(g.base.base);
    g.alphas = parse_number_list("--alphas", f->alphas);
    g.temperatures = parse_number_list("--temperatures", f->temperatures);
    g.baseline = !f->no_baseline;
    auto base = campaign::to_json(g);
    if (!f->preset.empty()) {
      auto p = campaign::kd_grid_preset(f->preset, g.base.kd.teacher, f->scale);
      if (cmd->get_option("--dataset")->count() && g.base.base.dataset.name != p.base.base.dataset.name)
        throw ConfigError(fmt::format("--dataset: preset {} trains on {}; drop --dataset or the preset",
                                      f->preset, p.base.base.dataset.name));
      // --epochs: the preset's recipe at that length (its milestones scaled too).
      if (cmd->get_option("--epochs")->count()) kd::apply_reference_recipe(p.base.base.train, p.base.base.model.family(),
                                                                              g.base.base.train.epochs);
      base = campaign::to_json(p);
    }
    auto config = layered_config(base, f->config_flags, f->patch.patch(campaign::to_json(g)),
                                 campaign::kd_grid_config_from_json);
    data::validate(config.base.base.dataset);
    if (f->config_flags.print) return print_json(campaign::to_json(config));
    auto executor = f->mpi.executor(cmd, config.jobs);
    config.base.kd.cache_dir = g.base.kd.cache_dir;
    const std::string out = f->run.out.empty() ? default_out_dir("kd-grid") : f->run.out;
    auto result =
        campaign::run_kd_grid(config, campaign::KdGridContext{out, f->run.resume, !f->output.quiet, executor});
    const auto j = result.to_json();
    if (f->output.json) {
      auto o = j;
      o["out"] = out;
      print_json(o);
    } else {
      fmt::print("kd grid in {}: {} cells ({} trained now, {} reused, {} failed)\n", out, result.rows.size(), result.ran,
                 result.reused, result.failed);
      fmt::print("{:<14} {:>10} {:>10}\n", "cell", "test acc", "test err");
      for (const auto& r : result.rows)
        fmt::print("{:<14} {:>9.2f}% {:>9.2f}%  {}\n", r.name, 100 * r.run.test_accuracy,
                   100 * (1 - r.run.test_accuracy),
                   r.run.status == RunStatus::completed ? "" : to_string(r.run.status) + (": " + r.run.message));
      if (j.contains("baseline") && j.contains("best"))
        fmt::print("no-KD baseline {:.2f}%; best alpha {} T {}: {:.2f}%; {} of {} KD cells beat the baseline\n",
                   100 * j["baseline"]["test_accuracy"].get<double>(), j["best"]["alpha"].get<double>(),
                   j["best"]["temperature"].get<double>(), 100 * j["best"]["test_accuracy"].get<double>(),
                   j["cells_beating_baseline"].get<int>(), j["kd_cells"].get<int>());
      fmt::print("table: {}/results.csv\n", out);
    }
    exit_code() = result.failed > 0 ? 1 : 0;
  });
}

}  // namespace

void register_kd(CLI::App& app) {
  auto* cmd = app.add_subcommand("kd", "Knowledge distillation: teachers, KD training, the (alpha, T) grid");
  cmd->require_subcommand(1);
  register_teacher(cmd);
  register_kd_train(cmd);
  register_grid(cmd);
}

}  // namespace nemokd::cli
