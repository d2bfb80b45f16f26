// A distillation run: a student trained by the ordinary training loop (train/train_run.h) with the KD loss
// against a teacher, recorded as command "kd train" (re-runnable with `nemokd run`). Teacher logits come from
// the on-disk cache (kd/cache.h) when the training images are not augmented, else from the teacher per batch.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "kd/loss.h"
#include "train/train_run.h"

namespace nemokd::kd {

struct KdSettings {
  std::string teacher;       // run folder or TorchScript file
  KdLossConfig loss;
  std::string cache = "auto";  // auto: use the teacher-output cache when augmentation is off; off: never
  std::string cache_dir;       // empty: <data cache>/teacher-logits (not part of the identity of a run)
  // Input normalisation the teacher expects; empty = the student's (and for run-folder teachers, the one
  // recorded in the teacher's run, which must then match the student's).
  std::string teacher_normalization;
  void validate(const std::string& key) const;
};

struct KdRunConfig {
  train::TrainRunConfig base;  // dataset, student model, training options
  KdSettings kd;
};
nlohmann::json to_json(const KdRunConfig& c);
KdRunConfig kd_run_config_from_json(const nlohmann::json& j);
// What a finished or checkpointed distillation must match (train/train_run.h run_identity: threads aside).
inline nlohmann::json identity(const KdRunConfig& c) { return train::run_identity(to_json(c)); }

// The reference training recipe (RepDistiller) for teachers and students: SGD momentum 0.9, weight decay 5e-4,
// batch 64, lr 0.05 (0.01 for MobileNetV2), x0.1 at 150/180/210 of 240 epochs — scaled to `epochs`.
void apply_reference_recipe(train::TrainOptions& options, models::Family family, int epochs);

RunRecord run_kd(const KdRunConfig& config, const train::RunContext& ctx);

// Computes the teacher-output cache for this config's training set now, if the run would use one (cache "auto",
// no augmentation) and it is missing: a grid or search does this once before its parallel runs (or MPI ranks,
// which find it in the shared data cache) instead of each computing it. `trainings_elsewhere`: the runs train on
// other machines (MPI ranks), so a CUDA device this coordinating process lacks is not an error: the (device-
// independent) logits are computed on its CPU, and it says so.
void prepare_teacher_cache(const KdRunConfig& config, bool trainings_elsewhere = false);

}  // namespace nemokd::kd
