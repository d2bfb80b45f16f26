#include "cli_common.h"

#include <ctime>
#include <iostream>

#include <fmt/format.h>

#include "core/log.h"

namespace nemokd::cli {

int& exit_code() {
  static int code = 0;
  return code;
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
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--test-limit", c.load.test_limit, "Use only the first N test images (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--val-size", c.load.val_size,
                  "Validation images split off the end of the training file (-1 = dataset default: 10000 for "
                  "(F)MNIST, 5000 for CIFAR; 0 = none)")
      ->capture_default_str();
  cmd->add_option("--val-limit", c.load.val_limit, "Use only the first N validation images (0 = all)")
      ->check(CLI::NonNegativeNumber);
}

std::string default_out_dir(const std::string& command) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return fmt::format("runs/{}-{}", command, buf);
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

}  // namespace nemokd::cli
