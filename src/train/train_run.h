// A complete training run as one reproducible unit: dataset + model + training options, resolved into a
// config that serialises to run.json; running it loads the data, builds the model, trains, evaluates and
// records everything (so `nemokd train ...` and `nemokd run run.json` are the same code path).
#pragma once
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
  int threads = 0;       // torch threads; 0 = all cores
  int blas_threads = 0;  // OpenBLAS's own pool; 0 = 1 (see core/runtime.h)
};
nlohmann::json to_json(const TrainRunConfig& c);
TrainRunConfig train_run_config_from_json(const nlohmann::json& j);

struct RunContext {
  std::string out_dir;  // required: run.json, checkpoint.pt, metrics.json, model.pt go here
  bool resume = false;
  bool progress = true;
};

// Runs the training and returns its record (also written to out_dir/run.json). Throws nemokd::Error for
// bad input; a diverged loss is returned as status "diverged" with the record written.
RunRecord run_training(const TrainRunConfig& config, const RunContext& ctx);

}  // namespace nemokd::train
