// A complete training run as one reproducible unit: dataset + model + training options, resolved into a
// config that serialises to run.json; running it loads the data, builds the model, trains, evaluates and
// records everything (so `nemokd train ...` and `nemokd run run.json` are the same code path).
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/run_record.h"
#include "data/config.h"
#include "models/registry.h"
#include "train/trainer.h"

namespace nemokd::train {

struct TrainRunConfig {
  data::DataConfig dataset;
  models::ModelConfig model;
  TrainOptions train;
  int threads = 0;       // torch threads; 0 = the idle cores (configure_threads)
  int blas_threads = 0;  // OpenBLAS's own pool; 0 = 1 (see core/runtime.h)
};
nlohmann::json to_json(const TrainRunConfig& c);
TrainRunConfig train_run_config_from_json(const nlohmann::json& j);

// The identity of a run: what a finished run or a checkpoint must match to be reused or resumed. It is the run's
// config without its speed settings (threads, blas_threads: they change no result). Works on any run config's
// JSON whose speed settings sit at the top level (train, and extended runs such as "kd train").
nlohmann::json run_identity(const nlohmann::json& run_config);
inline nlohmann::json identity(const TrainRunConfig& c) { return run_identity(to_json(c)); }

// The QAT recipe nemokd uses by default (after the FINN reference MLPs and their authors' training code):
// TFC topology, FINN fixed-point weights, tanh activations, BatchNorm, dropout 0.2, input pixels mapped to
// [-1, 1] and quantized to 8 bits, Adam lr 0.01 without weight decay, cosine schedule, batch 100.
TrainRunConfig default_qat_config();

// How a run that extends plain training (distillation, ...) plugs into run_training without copying it:
// its own command name and full config for the record, and a hook that adjusts the Trainer (e.g. its loss)
// once the data and the model exist.
struct RunExtension {
  std::string command;    // recorded in run.json ("kd train"); `nemokd run` dispatches on it
  nlohmann::json config;  // the extended run's whole config (replaces the TrainRunConfig in run.json)
  std::function<void(Trainer& trainer, const data::Dataset& dataset)> prepare;
  std::function<void(nlohmann::json& results)> finish;  // extra results (optional)
};

struct RunContext {
  std::string out_dir;  // required: run.json, checkpoint.pt, metrics.json, model.pt go here
  bool resume = false;  // continue the checkpoint in out_dir; without it a non-empty out_dir is refused...
  bool progress = true;
  const RunExtension* extension = nullptr;
  bool force = false;   // ...unless this is set: the run's files there (kRunFiles) are removed first
};
// The files a run writes into its folder.
inline constexpr const char* kRunFiles[] = {"run.json", "model.pt", "checkpoint.pt", "metrics.json",
                                            "run.json.tmp", "model.pt.tmp", "checkpoint.pt.tmp", "metrics.json.tmp"};

// Runs the training and returns its record (also written to out_dir/run.json). Throws nemokd::Error for
// bad input; a diverged loss is returned as status "diverged" with the record written.
RunRecord run_training(const TrainRunConfig& config, const RunContext& ctx);

// A completed run read back: its resolved config, its record, and the trained model (CPU, eval mode).
struct TrainedRun {
  std::string dir;
  TrainRunConfig config;
  RunRecord record;
  models::Classifier model;
};
// Reads DIR/run.json and DIR/model.pt. Throws DataError naming the file when either is missing or unreadable,
// or when the run did not complete.
TrainedRun load_trained_run(const std::string& dir);
// Writes DIR/run.json + DIR/model.pt for a model trained elsewhere (or untrained, for tests and benchmarks),
// exactly what load_trained_run reads back.
void save_trained_run(const std::string& dir, const TrainRunConfig& config, const models::ClassifierImpl& model,
                      models::InputShape input, int classes);

}  // namespace nemokd::train
