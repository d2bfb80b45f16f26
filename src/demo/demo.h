// The end-to-end tour behind `nemokd demo`: every capability on real MNIST / Fashion-MNIST, each stage into its own
// folder under `out`, one summary.json and one HTML report. Above every other area (it calls them all); only the
// command line uses it.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "hw/fpga/summary.h"

namespace nemokd::demo {

struct DemoOptions {
  std::string out = "runs/demo";
  int epochs = 1;      // the float stages
  int qat_epochs = 3;  // the quantization-aware stages (QAT run, sweep)
  int kd_epochs = 1;   // the distillation students (grid cells, evolution)
  // The teacher trains longer than the students: at equal epochs (1) ResNet-8 reaches ~83 % on Fashion-MNIST and
  // FlexStudent ~88 %, so distillation would look harmful; at 3 epochs ResNet-8 reaches ~89 %.
  int teacher_epochs = 3;
  int threads = 0;
  int64_t train_limit = 0;
  bool resume = false;
  bool progress = true;
};

struct DemoResult {
  nlohmann::json summary;  // what summary.json holds
  hw::fpga::HwPoint fpga;  // the FPGA estimate of the QAT stage
  bool distributed = false;
  int ranks = 1;
  int exit_code = 0;  // 0, 1 (a sweep/grid cell failed, the engine not bit-exact) or 3 (a run did not complete)
};

// Runs the stages in order: (1), (2) float MLPs; (3) QAT TFC W2A2 and its FPGA estimate; (4) a W x A sweep;
// (5) the integer engine from (3); (6) a ResNet-8 teacher and an (alpha, T) grid; (7) a small evolution;
// (8) QONNX/ONNX export; (9) the report. Writes out/summary.json. A folder that already holds a demo is refused
// without `resume` (ConfigError).
DemoResult run_demo(const DemoOptions& options);

// The results for a human: one line per stage's run, then the FPGA, engine, distillation, evolution and export lines.
std::string summary_text(const DemoOptions& options, const DemoResult& result);

}  // namespace nemokd::demo
