// The paper's hardware table from a W x A sweep folder (issue 18 §1; `nemokd fpga table`): every trained cell's
// accuracy loss against a float reference beside its FPGA estimate at one stated folding, the ranges of
// BRAM18, FF and LUT over the designs, and how many fit a device by BRAM, by FF and by every resource — under
// both verdicts (FINN's planning shares and the whole device).
#pragma once
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/summary.h"
#include "models/registry.h"

namespace nemokd::hw::fpga {

struct SweepCellResult {
  int wbits = 0, abits = 0;
  std::string status;  // completed | diverged | failed
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();  // final test accuracy
};

// What the table needs from a sweep folder: results.csv (wbits, abits, status, final_test_acc) and sweep.json
// (the base model — a quantized MLP or CNN: mlp, cnv, qflexstudent —, the dataset name, the epochs). DataError
// naming the file on anything malformed.
struct SweepFolder {
  std::string dir, dataset;
  int epochs = 0;
  models::ModelConfig model;
  std::vector<SweepCellResult> cells;
};
SweepFolder read_sweep_folder(const std::string& dir);
// The final test accuracy recorded in a run folder's run.json (results.final_test_accuracy).
double float_run_accuracy(const std::string& run_dir);

struct SweepTableSpec {
  Folding folding;      // per MVAU or uniform
  CostOptions options;
  models::InputShape input{1, 28, 28};  // from the dataset (the caller knows the dataset table)
  int classes = 10;
  double float_accuracy = std::numeric_limits<double>::quiet_NaN();  // NaN: no loss column
  std::string float_source;
  UsableFractions usable;
};

struct SweepHwCell {
  SweepCellResult result;
  double loss = std::numeric_limits<double>::quiet_NaN();  // float - quantized, in accuracy points (0..1)
  HwPoint hw;
};

struct ResourceRange {
  int64_t min = 0, max = 0;
};

struct SweepHwTable {
  std::string dir, dataset, device, folding_text, float_source;
  int epochs = 0;
  double float_accuracy = std::numeric_limits<double>::quiet_NaN();
  CostOptions options;
  std::vector<SweepHwCell> cells;
  int designs = 0;  // cells that trained and could be costed
  // Indices into cells: best = smallest loss, worst = largest (-1 without a float reference)
  int best = -1, worst = -1;
  ResourceRange bram18, ff, lut;
  // How many designs fit: by BRAM18 alone, by FF alone, by every resource; at FINN's planning shares / the device.
  int bram_planning = 0, bram_device = 0, ff_planning = 0, ff_device = 0, all_planning = 0, all_device = 0;

  std::string markdown() const;
  nlohmann::json to_json() const;
};

SweepHwTable sweep_hw_table(const SweepFolder& sweep, const SweepTableSpec& spec, const Device& device);
void write_sweep_table_csv(const std::string& path, const SweepHwTable& table);

}  // namespace nemokd::hw::fpga
