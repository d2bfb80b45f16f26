// W x A sweeps: one quantized model (MLP, CNV or quantized FlexStudent) trained for every (weight bits, activation
// bits) cell (every layer at those bits), each a child run of the campaign (campaign/campaign.h): its own
// `nemokd run` process, up to `jobs` at a time with the threads split between them, or spread over MPI ranks
// (campaign/executor.h). Resumable: a cell whose run.json says completed (with the same identity) is never
// retrained; a cell killed midway continues from its checkpoint. Results go to one table (results.csv +
// results.json) with the FPGA estimate of every cell.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "campaign/campaign.h"
#include "hw/fpga/summary.h"
#include "train/train_run.h"

namespace nemokd::campaign {

using train::TrainRunConfig;

struct QuantCell {
  int wbits = 32, abits = 32;
  std::string name() const;  // "w2a2"
  bool operator==(const QuantCell& o) const { return wbits == o.wbits && abits == o.abits; }
};

struct SweepConfig {
  TrainRunConfig base;          // quantized model + training setup; bits are replaced per cell
  std::vector<QuantCell> cells;
  std::vector<int> eval_at;     // epochs whose test accuracy is reported (the last epoch always is)
  int jobs = 1;                 // trainings at a time; threads are split between them
  std::string preset;           // "q1", "q2" or "" (custom)
  // Hardware columns of the table: every cell costed at this folding, clock and device (default XC7Z020 at
  // PE = SIMD = 16, 100 MHz, legacy formulas). Absent from older sweep.json files: the defaults apply, and
  // a resume ignores it (it changes no training).
  hw::fpga::HwPointConfig hw;

  void validate() const;
  TrainRunConfig cell_config(const QuantCell& cell) const;  // the exact config a cell trains with
};
nlohmann::json to_json(const SweepConfig& c);
SweepConfig sweep_config_from_json(const nlohmann::json& j);
// What a resumed sweep must keep: everything but jobs and the threads (speed), the cells (a sweep may grow) and hw
// (the table's hardware columns change no training).
nlohmann::json identity(const SweepConfig& c);

// The paper's presets: q1 = MNIST, TFC, W1..8 x A1..8, 100 epochs, test accuracy at 10/20/30/50/100;
// q2 = Fashion-MNIST, TFC, W2A2/W3A3/W4A4, 40 epochs; cnv-cifar10 = CIFAR-10, CNV, W1A1/W1A2/W2A2, 300 epochs.
// `scale` multiplies the epochs and eval points.
SweepConfig sweep_preset(const std::string& name, double scale);

struct SweepRow {
  QuantCell cell;
  std::string run_dir;
  RunSummary run;        // status requested until trained (completed | diverged | failed)
  bool reused = false;   // finished in an earlier invocation, not retrained
  hw::fpga::HwPoint hw;  // FPGA estimate of the cell's model (SweepConfig::hw); independent of training
};

struct SweepResult {
  std::vector<SweepRow> rows;
  int ran = 0, reused = 0, failed = 0;
  nlohmann::json to_json() const;
};

using SweepContext = Context;

SweepResult run_sweep(const SweepConfig& config, const SweepContext& ctx);
// The FPGA estimate of one cell (ok = false with a reason if it cannot be costed, e.g. unknown device or a CNN).
hw::fpga::HwPoint sweep_cell_hw(const SweepConfig& config, const QuantCell& cell);
// results.csv and results.json in out_dir.
void write_sweep_table(const SweepConfig& config, const SweepResult& result, const std::string& out_dir);

}  // namespace nemokd::campaign
