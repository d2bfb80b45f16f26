// Phase 1 of NEMOKD: the (alpha, T) grid. The baseline student is distilled once per (alpha, temperature)
// and trained once without distillation; each cell is a child run of the campaign (campaign/campaign.h), `jobs`
// at a time or over MPI ranks, resumable cell by cell. The teacher-output cache is filled once, before any cell
// starts. Output: the error surface (results.csv, results.json) with the no-KD baseline and the best (alpha, T).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "campaign/campaign.h"
#include "kd/kd_run.h"

namespace nemokd::campaign {

using kd::KdRunConfig;

struct KdGridConfig {
  KdRunConfig base;  // teacher, student, training; alpha and temperature are set per cell
  std::vector<double> alphas{0.1, 0.3, 0.5, 0.7, 0.9};
  std::vector<double> temperatures{1, 2, 4, 8, 16};
  bool baseline = true;  // also train the student without distillation
  int jobs = 1;          // cells at a time; threads are split between them
  std::string preset;    // "k1", "k2", "k3", "k-fmnist" or "" (custom)
  void validate() const;
  KdRunConfig cell_config(double alpha, double temperature) const;
  train::TrainRunConfig baseline_config() const;
};
nlohmann::json to_json(const KdGridConfig& c);
KdGridConfig kd_grid_config_from_json(const nlohmann::json& j);
// What a resumed grid must keep: everything but jobs and threads (speed) and the cells (alphas, temperatures,
// baseline: a grid may grow).
nlohmann::json identity(const KdGridConfig& c);

// The paper's presets (SPEC.md): k1 = CIFAR-10, MobileNetV2 teacher; k2 = CIFAR-100, ResNet32x4 teacher,
// FlexStudent; k3 = CIFAR-100, ResNet32x4 -> ResNet8x4 (flexresnet8x4); all 30 epochs per cell. `teacher` is
// the teacher's run folder (from `nemokd kd teacher`); `scale` multiplies the epochs.
KdGridConfig kd_grid_preset(const std::string& name, const std::string& teacher, double scale);

struct KdGridRow {
  std::string name;  // "a0.5-t4" or "no-kd"
  bool kd = true;
  double alpha = 0, temperature = 0;
  std::string run_dir;
  RunSummary run;
  bool reused = false;
};

struct KdGridResult {
  std::vector<KdGridRow> rows;
  int ran = 0, reused = 0, failed = 0;
  nlohmann::json to_json() const;  // rows + baseline + best + whether KD beats the baseline
};

using KdGridContext = Context;

KdGridResult run_kd_grid(const KdGridConfig& config, const KdGridContext& ctx);

}  // namespace nemokd::campaign
