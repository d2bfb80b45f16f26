// Throughput calibration: published board measurements of FINN designs beside the cost model's estimate of the
// same design at the clock the measurement reports. Their ratio (measured / estimated) is the board
// efficiency; its mean over the pairs, with the standard deviation and range, turns every estimated FPS into an
// "expected on the board" figure (cost_model.h, Throughput). Sources and the table: docs/FPGA.md.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/cost_model.h"

namespace nemokd::hw::fpga {

struct BoardMeasurement {
  std::string name;    // "finn-v0.7-tfc-w1a1"
  std::string design;  // what was built
  std::string board;   // "PYNQ-Z1"
  std::string source;  // repository@commit path (cell) of the measurement
  double fclk_mhz = 100;
  double measured_fps = 0;  // the throughput test's images/s (accelerator + DMA, no host packing)
  int batch = 0;
  bool in_fit = true;  // false: listed, but its clock or board is not stated in the source
  std::string note;
  int64_t max_cycles = 0;     // the cost model's initiation interval of the design
  double estimated_fps = 0;   // fclk / max_cycles
  double ratio() const { return measured_fps / estimated_fps; }
  nlohmann::json to_json() const;
};

struct BoardEfficiency {
  std::vector<BoardMeasurement> pairs;
  int used = 0;                  // pairs in the fit
  double mean = 1, sd = 0;       // of measured / estimated over the pairs in the fit (sample sd)
  double min = 1, max = 1;
  std::string basis() const;     // "expected = estimated x 0.67 (sd 0.21, range 0.43-0.99, 7 board measurements)"
  nlohmann::json to_json() const;
};

// Computed once from the pairs (the estimate side through the cost model).
const BoardEfficiency& board_efficiency();

}  // namespace nemokd::hw::fpga
