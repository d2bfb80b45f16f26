// The training loop shared by every route: any Classifier, any dataset, SGD/Adam with a schedule,
// per-epoch metrics (train loss/accuracy, validation and test accuracy) to JSON, checkpoints with resume,
// determinism given a seed on CPU, and NaN/Inf detection that stops the run instead of writing garbage.
// The loss is pluggable so distillation reuses this loop unchanged.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/loader.h"
#include "models/classifier.h"
#include "train/optim.h"

namespace torch::serialize {
class InputArchive;
}

namespace nemokd::train {

struct TrainOptions {
  int epochs = 1;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 1000;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool augment = false;
  data::Normalization normalization = data::Normalization::standard;
  OptimConfig optim;
  bool eval_test_each_epoch = true;  // test accuracy per epoch (Route Q reads 10/20/30/50/100-epoch points)
  std::vector<int> test_eval_epochs;  // if non-empty: evaluate the test set only after these epochs (+ the last)
  std::string out_dir;               // checkpoints + metrics.json go here; empty = none
  bool resume = false;               // continue from out_dir/checkpoint.pt
  bool progress = true;              // per-epoch progress lines on stderr
  double progress_interval_s = 15;   // in-epoch progress line at most this often

  void validate(const std::string& key = "train") const;
};
nlohmann::json to_json(const TrainOptions& o);
// Reads the fields of a TrainOptions object (out_dir/resume/progress are not part of a config).
TrainOptions train_options_from_json(const nlohmann::json& j, const std::string& path = "train");

struct EpochMetrics {
  int epoch = 0;  // 1-based
  double lr = 0;
  double train_loss = 0, train_accuracy = 0;
  double val_loss = NAN, val_accuracy = NAN;    // NaN when there is no validation split
  double test_loss = NAN, test_accuracy = NAN;  // NaN when not evaluated this epoch
  double train_seconds = 0, eval_seconds = 0;
  double images_per_second = 0;  // training throughput of this epoch
};
nlohmann::json to_json(const EpochMetrics& m);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& j);

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
};

struct TrainResult {
  std::string status = "completed";  // completed | diverged
  std::string message;
  std::vector<EpochMetrics> history;  // every epoch, including those before a resume
  int resumed_from_epoch = 0;         // 0 = fresh start
  double seconds = 0;                 // wall time in this process
  double images_per_second = 0;       // mean training throughput of the epochs run in this process
  nlohmann::json to_json() const;
};

// Seeds torch's generators (call before building the model so the initialisation is reproducible).
void seed_everything(uint64_t seed);

class Trainer {
 public:
  // Loss from the model's logits and the batch (targets, sample indices). Default: cross-entropy.
  using LossFn = std::function<torch::Tensor(const torch::Tensor& logits, const data::Batch& batch)>;
  using EpochCallback = std::function<void(const EpochMetrics&)>;

  Trainer(models::Classifier model, const data::Dataset& dataset, TrainOptions options);

  void set_loss(LossFn loss) { loss_ = std::move(loss); }
  void set_epoch_callback(EpochCallback cb) { on_epoch_ = std::move(cb); }
  // Settings a checkpoint must have been written with to be resumed (model and optimiser config, seed...).
  void set_resume_key(nlohmann::json key) { resume_key_ = std::move(key); }

  // Before anything is written: if the output folder holds a checkpoint, refuses it without `resume`, and with it
  // refuses a damaged file, one from another configuration, or one already past `epochs` (ConfigError naming it).
  void check_checkpoint() const;
  TrainResult fit();
  Evaluation evaluate(const data::ImageSet& set);

  models::Classifier model() const { return model_; }
  std::string checkpoint_path() const;

 private:
  void save_checkpoint(int epoch, const std::vector<EpochMetrics>& history);
  int load_checkpoint(std::vector<EpochMetrics>& history);  // returns the epoch it was written after
  // Loads and verifies the checkpoint archive; returns its state (checked against the resume key and epochs).
  nlohmann::json open_checkpoint(torch::serialize::InputArchive& root, const torch::Device& device) const;

  models::Classifier model_;
  const data::Dataset& dataset_;
  TrainOptions options_;
  torch::Device device_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  LossFn loss_;
  EpochCallback on_epoch_;
  nlohmann::json resume_key_ = nlohmann::json::object();
};

}  // namespace nemokd::train
