// Shared pieces of the command-line front end.
#pragma once
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "campaign/executor.h"
#include "core/config_layers.h"
#include "core/run_record.h"
#include "data/config.h"
#include "models/registry.h"
#include "train/train_run.h"

namespace nemokd::cli {

// A whole number >= 0 ("-1" would wrap to 2^64-1 in an unsigned option; CLI11's NonNegativeNumber prints its range
// with 300 digits). The message names the option: "--seed: -1 is not a whole number >= 0".
const CLI::Validator& non_negative_integer();

// Flags every result-reporting command has.
struct OutputFlags {
  bool json = false;   // exactly one JSON object on stdout; logs on stderr
  bool quiet = false;  // no progress lines
};
void add_output_flags(CLI::App* cmd, OutputFlags& flags);

// Dataset selection and slicing flags (--dataset, --from, --train-limit, --test-limit, --val-size, --val-limit).
void add_dataset_flags(CLI::App* cmd, data::DataConfig& config);

// Training-loop flags shared by `train`, `quant train` and `quant sweep` (epochs, optimiser, schedule,
// batch, seed, device, augmentation, normalisation). Some need resolving after parsing: see apply().
struct TrainingFlags {
  std::string augment = "auto";
  std::string normalization;  // empty: the model's requirement, else "standard"
  std::string milestones;
  void add(CLI::App* cmd, train::TrainOptions& options);
  // Resolves augmentation/normalisation/milestones into the config.
  void apply(train::TrainRunConfig& config) const;
};

// --threads, --blas-threads, --out, --resume; --force for commands that make one run (`single_run`).
struct RunFlags {
  std::string out;
  bool resume = false;
  bool force = false;
  void add(CLI::App* cmd, train::TrainRunConfig& config, const std::string& what, bool single_run = false);
};

// --executor process|warm: how local child runs start (campaign/executor.h); --mpi-root-works, --mpi-threads: how a
// batch of trainings is spread over MPI ranks when the command was started by mpirun/srun (docs/DISTRIBUTED.md).
// executor() makes the command's executor from them and the command's --jobs, warning about the flags that do not
// apply.
struct MpiFlags {
  dist::Options options;
  std::string executor_kind = "process";
  void add(CLI::App* cmd);
  std::shared_ptr<campaign::Executor> executor(CLI::App* cmd, int jobs) const;
};

// The flags a user gave, as the top layer of a config (core/config_layers.h: defaults or preset <- --config file <-
// given flags). Each flag is bound to the JSON pointer of the config field it sets; patch() takes the value of every
// flag given on the command line (count() > 0, whatever its value) from the config the flags were parsed into.
class FlagPatch {
 public:
  // Binds `flag` if `cmd` has it.
  FlagPatch& bind(CLI::App* cmd, const std::string& flag, const std::string& pointer);
  // The flags of add_dataset_flags, TrainingFlags and RunFlags (threads) of the training run at `prefix`
  // (e.g. "/base/base" in a KD grid's config).
  FlagPatch& bind_run(CLI::App* cmd, const std::string& prefix);
  // The KD flags (KdFlags in cmd_kd.cpp) of the KD run config at `prefix`.
  FlagPatch& bind_kd(CLI::App* cmd, const std::string& prefix);
  // A layer for a flag that is not one field (e.g. --space: an object merged into the search space).
  void set(const std::string& pointer, nlohmann::json value);
  // The patch; with `only`, just those flags.
  nlohmann::json patch(const nlohmann::json& flag_config, const std::vector<std::string>& only = {}) const;

 private:
  std::vector<std::pair<CLI::Option*, std::string>> bound_;
  nlohmann::json extra_;
};

// --config FILE (a JSON object of settings over the defaults or --preset, under the flags given) and --print-config.
struct ConfigFlags {
  std::string file;
  bool print = false;
  void add(CLI::App* cmd, const std::string& example);
};

// The one way a command with presets or config files makes its config: from_json(base <- --config <- given flags),
// validated as a stored config would be.
template <class FromJson>
auto layered_config(const nlohmann::json& base, const ConfigFlags& config, const nlohmann::json& flags,
                    FromJson from_json) {
  return from_json(layer_config(base, config.file, flags));
}

// Default output folder for a command: runs/<command>-<UTC timestamp>.
std::string default_out_dir(const std::string& command);

// A JSON flag value: a file's path, or inline JSON; ConfigError naming the flag otherwise.
nlohmann::json json_flag(const std::string& flag, const std::string& text);
// --model/--student NAME [--...-config JSON]: a preset or architecture, optionally with its config (a whole model
// config {"arch": ..., "<arch>": {...}} or just the architecture's own object), read strictly.
models::ModelConfig model_from_flags(const std::string& name, const std::string& config_text, const std::string& flag);

// Refuses an output file that is one of the input run folder's own files (train::kRunFiles): `engine build --out
// RUN/model.pt` replaced the trained weights. Outputs are written next to inputs, never over them.
void refuse_output_over_run(const std::string& flag, const std::string& out, const std::string& run_dir);

// "0.5,0.9" -> {0.5, 0.9}; ConfigError naming the flag for an item that is not a number.
std::vector<double> parse_number_list(const std::string& flag, const std::string& text);

// Prints one JSON object on stdout (the --json contract).
void print_json(const nlohmann::json& j);

// Prints a finished training record for humans (stdout) or as JSON; returns the process exit code.
int report_training(const RunRecord& record, const std::string& out_dir, const OutputFlags& flags);

// Each command registers itself on the root app.
void register_data(CLI::App& app);
void register_train(CLI::App& app);
void register_doctor(CLI::App& app);
void register_run(CLI::App& app);
void register_demo(CLI::App& app);
void register_quant(CLI::App& app);
void register_fpga(CLI::App& app);
void register_engine(CLI::App& app);
void register_kd(CLI::App& app);
void register_evolve(CLI::App& app);
void register_export(CLI::App& app);  // cmd_export.cpp
void register_latency(CLI::App& app);  // cmd_latency.cpp
void register_report(CLI::App& app);   // cmd_report.cpp
void register_choose(CLI::App& app);   // cmd_choose.cpp
void register_import(CLI::App& app);   // cmd_import.cpp

// Exit code of the command that ran (callbacks cannot return one through CLI11).
int& exit_code();

}  // namespace nemokd::cli
