#include "cli_common.h"

#include <algorithm>
#include <filesystem>

#include <ctime>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/log.h"
#include "data/loader.h"

namespace nemokd::cli {

int& exit_code() {
  static int code = 0;
  return code;
}

const CLI::Validator& non_negative_integer() {
  static const CLI::Validator v(
      [](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        return digits ? std::string() : text + " is not a whole number >= 0";
      },
      "N>=0");
  return v;
}

void add_output_flags(CLI::App* cmd, OutputFlags& flags) {
  cmd->add_flag("--json", flags.json, "Print exactly one JSON object on stdout (logs go to stderr)");
  cmd->add_flag("--quiet,-q", flags.quiet, "No progress output; warnings and errors only");
  cmd->parse_complete_callback([&flags] {
    if (flags.quiet) setup_logging(Verbosity::quiet);
  });
}

void add_dataset_flags(CLI::App* cmd, data::DataConfig& c) {
  cmd->add_option("--dataset,-d", c.name, "Dataset: mnist, fashion-mnist, cifar10, cifar100")->capture_default_str();
  cmd->add_option("--from", c.load.from_dir, "Read the dataset files from this folder (searched first)");
  cmd->add_option("--train-limit", c.load.train_limit,
                  "Use only the first N training images (0 = all); results are marked as sliced")
      ->check(non_negative_integer());
  cmd->add_option("--test-limit", c.load.test_limit, "Use only the first N test images (0 = all)")
      ->check(non_negative_integer());
  cmd->add_option("--val-size", c.load.val_size,
                  "Validation images split off the end of the training file (-1 = dataset default: 10000 for "
                  "(F)MNIST, 5000 for CIFAR; 0 = none)")
      ->capture_default_str();
  cmd->add_option("--val-limit", c.load.val_limit, "Use only the first N validation images (0 = all)")
      ->check(non_negative_integer());
}

void TrainingFlags::add(CLI::App* cmd, train::TrainOptions& o) {
  cmd->add_option("--epochs,-e", o.epochs, "Training epochs")->capture_default_str();
  cmd->add_option("--batch-size,-b", o.batch_size, "Mini-batch size")->capture_default_str();
  cmd->add_option("--eval-batch-size", o.eval_batch_size, "Batch size for validation/test")->capture_default_str();
  cmd->add_option("--optimizer", o.optim.name, "sgd or adam")->capture_default_str();
  cmd->add_option("--lr", o.optim.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--momentum", o.optim.momentum, "SGD momentum")->capture_default_str();
  cmd->add_flag("--nesterov", o.optim.nesterov, "Nesterov momentum (SGD)");
  cmd->add_option("--weight-decay", o.optim.weight_decay, "L2 weight decay")->capture_default_str();
  cmd->add_option("--schedule", o.optim.schedule, "LR schedule: none, multistep, cosine")->capture_default_str();
  cmd->add_option("--milestones", milestones, "multistep: epochs after which lr *= gamma, e.g. 150,180,210");
  cmd->add_option("--gamma", o.optim.gamma, "multistep decay factor")->capture_default_str();
  cmd->add_option("--augment", augment, "Random crop (pad 4) + flip: auto (on for CIFAR), on, off")
      ->capture_default_str();
  cmd->add_option("--normalization", normalization,
                  "Input mapping: standard (mean/std), unit ([0,1]), signed ([-1,1]), raw ([0,255]); default: what "
                  "the model's input quantizer needs, else standard");
  cmd->add_option("--seed", o.seed, "Random seed (CPU runs are deterministic given seed and threads)")
      ->check(non_negative_integer())  // "-1" would wrap to 2^64-1
      ->capture_default_str();
  cmd->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
}

void TrainingFlags::apply(train::TrainRunConfig& c) const {
  if (!milestones.empty()) c.train.optim.milestones = parse_int_list("--milestones", milestones);
  check_one_of("--augment", augment, {"auto", "on", "off"});
  c.train.augment = augment == "on" || (augment == "auto" && data::dataset_spec(c.dataset.name).augment_by_default);
  std::string norm = normalization;
  if (norm.empty()) norm = models::required_normalization(c.model);
  c.train.normalization = data::parse_normalization(norm.empty() ? "standard" : norm);
}

void RunFlags::add(CLI::App* cmd, train::TrainRunConfig& c, const std::string& what, bool single_run) {
  cmd->add_option("--threads", c.threads, "Threads for torch (0 = the cores no other process is using; all of them on a quiet machine)")->capture_default_str();
  cmd->add_option("--blas-threads", c.blas_threads,
                  "OpenBLAS's own threads (0 = 1; torch's pool parallelises; >1 oversubscribes small machines)")
      ->capture_default_str();
  cmd->add_option("--out,-o", out, "Output folder (default runs/" + what + "-<timestamp>)");
  cmd->add_flag("--resume", resume, "Continue what --out holds (after a kill, or with more --epochs)");
  if (single_run)
    cmd->add_flag("--force", force, "Replace the run --out holds (its run.json, model.pt, checkpoint, metrics)")
        ->excludes("--resume");
}

void MpiFlags::add(CLI::App* cmd) {
  cmd->add_option("--executor", executor_kind,
                  "How child runs start: process (a `nemokd run` per child) or warm (--jobs long-lived workers that "
                  "take one child after another; the same run folders and run.json)")
      ->capture_default_str();
  cmd->add_flag("--mpi-root-works", options.root_works,
                "Under mpirun/srun: rank 0 also trains when it has nothing else to do (default: it only coordinates)");
  cmd->add_option("--mpi-threads", options.threads,
                  "Under mpirun/srun: torch threads of each rank's training (default 0 = its machine's cores / the "
                  "training ranks there)")
      ->check(non_negative_integer());
}

std::shared_ptr<campaign::Executor> MpiFlags::executor(CLI::App* cmd, int jobs) const {
  campaign::ExecutorOptions o;
  o.jobs = jobs;
  o.kind = campaign::parse_executor_kind(executor_kind, "--executor");
  o.mpi = options;
  auto* jobs_opt = cmd->get_option_no_throw("--jobs");
  o.jobs_given = jobs_opt && jobs_opt->count() > 0;
  o.mpi_given = cmd->get_option("--mpi-root-works")->count() || cmd->get_option("--mpi-threads")->count();
  return campaign::make_executor(o);
}

FlagPatch& FlagPatch::bind(CLI::App* cmd, const std::string& flag, const std::string& pointer) {
  if (auto* opt = cmd->get_option_no_throw(flag)) bound_.emplace_back(opt, pointer);
  return *this;
}

FlagPatch& FlagPatch::bind_run(CLI::App* cmd, const std::string& prefix) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"--dataset", "/dataset/name"},           {"--from", "/dataset/from"},
      {"--train-limit", "/dataset/train_limit"}, {"--test-limit", "/dataset/test_limit"},
      {"--val-size", "/dataset/val_size"},       {"--val-limit", "/dataset/val_limit"},
      {"--epochs", "/train/epochs"},             {"--batch-size", "/train/batch_size"},
      {"--eval-batch-size", "/train/eval_batch_size"}, {"--optimizer", "/train/optim/name"},
      {"--lr", "/train/optim/lr"},               {"--momentum", "/train/optim/momentum"},
      {"--nesterov", "/train/optim/nesterov"},   {"--weight-decay", "/train/optim/weight_decay"},
      {"--schedule", "/train/optim/schedule"},   {"--milestones", "/train/optim/milestones"},
      {"--gamma", "/train/optim/gamma"},         {"--augment", "/train/augment"},
      {"--normalization", "/train/normalization"}, {"--seed", "/train/seed"},
      {"--device", "/train/device"},             {"--threads", "/threads"},
      {"--blas-threads", "/blas_threads"}};
  for (const auto& [flag, field] : kFields) bind(cmd, flag, prefix + field);
  return *this;
}

FlagPatch& FlagPatch::bind_kd(CLI::App* cmd, const std::string& prefix) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"--teacher", "/kd/teacher"},     {"--alpha", "/kd/alpha"},   {"--temperature", "/kd/temperature"},
      {"--loss-form", "/kd/form"},      {"--kd-gamma", "/kd/gamma"}, {"--teacher-cache", "/kd/cache"},
      {"--teacher-normalization", "/kd/teacher_normalization"}};
  for (const auto& [flag, field] : kFields) bind(cmd, flag, prefix + field);
  return *this;
}

void FlagPatch::set(const std::string& pointer, nlohmann::json value) {
  extra_[nlohmann::json::json_pointer(pointer)] = std::move(value);
}

nlohmann::json FlagPatch::patch(const nlohmann::json& flag_config, const std::vector<std::string>& only) const {
  nlohmann::json p = only.empty() ? extra_ : nlohmann::json();
  for (const auto& [opt, pointer] : bound_) {
    if (opt->count() == 0) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), opt->get_name()) == only.end()) continue;
    const nlohmann::json::json_pointer at(pointer);
    p[at] = flag_config.at(at);
  }
  return p;
}

void ConfigFlags::add(CLI::App* cmd, const std::string& example) {
  cmd->add_option("--config", file,
                  "JSON file of settings (" + example + ") over the defaults or --preset; the flags given override it");
  cmd->add_flag("--print-config", print, "Print the resulting config (preset <- --config <- flags) and exit");
}

std::string default_out_dir(const std::string& command) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return fmt::format("runs/{}-{}", command, buf);
}

void refuse_output_over_run(const std::string& flag, const std::string& out, const std::string& run_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto folder = fs::weakly_canonical(fs::absolute(run_dir), ec);
  const auto target = fs::weakly_canonical(fs::absolute(out), ec);
  for (const char* name : train::kRunFiles) {
    const auto input = folder / name;
    if (target == input || (fs::exists(target, ec) && fs::exists(input, ec) && fs::equivalent(target, input, ec)))
      throw ConfigError(fmt::format("{}: {} is the run's own {}; write the output next to it (e.g. {})", flag, out,
                                    name, (fs::path(run_dir) / "model.nqe").string()));
  }
  if (target == folder)
    throw ConfigError(fs::is_regular_file(folder, ec)
                          ? fmt::format("{}: {} is the model file itself; write the output next to it", flag, out)
                          : fmt::format("{}: {} is the run folder itself; give a file name", flag, out));
}

std::vector<double> parse_number_list(const std::string& flag, const std::string& text) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      v.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw ConfigError(fmt::format("{}: '{}' is not a number", flag, item));
    }
  }
  return v;
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

int report_training(const RunRecord& record, const std::string& out_dir, const OutputFlags& flags) {
  const int code = record.status == "completed" ? 0 : 3;
  if (flags.json) {
    auto j = record.to_json();
    j["out_dir"] = out_dir;
    print_json(j);
    return code;
  }
  const auto& r = record.results;
  if (record.status != "completed") {
    fmt::print(stderr, "nemokd: run {}: {}\nrecord: {}/run.json\n", record.status, record.message, out_dir);
    return code;
  }
  const auto& ds = r.at("dataset");
  auto acc = r.value("final_test_accuracy", nlohmann::json());
  fmt::print("test accuracy: {}  ({} test images{})\n",
             acc.is_number() ? fmt::format("{:.2f}%", 100 * acc.get<double>()) : std::string("-"),
             ds.at("test_size").get<int64_t>(), ds.value("sliced", false) ? ", sliced data" : "");
  fmt::print("training: {:.0f} img/s on {} threads, {:.1f} s\n", r.at("train_images_per_second").get<double>(),
             r.at("threads").get<int>(), record.timings.at("train_seconds").get<double>());
  fmt::print("run record: {}/run.json\n", out_dir);
  return code;
}

nlohmann::json json_flag(const std::string& flag, const std::string& text) {
  std::error_code ec;  // inline JSON is often longer than a file name may be: no exception for that
  if (std::filesystem::is_regular_file(text, ec)) return read_json_file(text);
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || (text[first] != '{' && text[first] != '['))
    throw ConfigError(fmt::format("{}: '{}' is neither a file nor inline JSON", flag, text));
  return parse_json(text, flag);
}

models::ModelConfig model_from_flags(const std::string& name, const std::string& config_text, const std::string& flag) {
  auto m = models::preset_model(name);
  if (config_text.empty()) return m;
  auto j = json_flag(flag, config_text);
  const auto& arch = models::family_name(m.family());
  if (!j.contains("arch")) j = nlohmann::json{{"arch", arch}, {arch, j}};
  return models::model_config_from_json(j, "model");
}

}  // namespace nemokd::cli
