// The hardware columns of a table row (a sweep cell, a `nemokd fpga grid` row): one estimate per model at a
// stated folding, clock and device, with both fit verdicts and both throughputs (estimated, expected on board).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/cnn.h"
#include "hw/fpga/cost_model.h"
#include "hw/fpga/design.h"
#include "hw/fpga/devices.h"

namespace nemokd::hw::fpga {

// Defaults: the paper's Q2 folding (PE = SIMD = 16 on every layer, adjusted down to a legal divisor where 16
// does not divide), 100 MHz, legacy formulas, on the paper's XC7Z020.
struct HwPointConfig {
  std::string device = "xc7z020";
  int pe = 16, simd = 16;
  double fclk_mhz = 100.0;
  std::string formulas = "legacy";
  std::string threshold_ram = "distributed";  // current formulas: where MVAU thresholds live

  void validate(const std::string& key = "hw") const;  // ConfigError naming the key
  nlohmann::json to_json() const;
  CostOptions cost_options() const;
};
// Strict: unknown keys are errors; absent keys keep their defaults.
HwPointConfig hw_point_config_from_json(const nlohmann::json& j, const std::string& path = "hw");

struct HwPoint {
  bool ok = false;  // false: the model cannot be costed (message says why), the numbers are empty
  std::string message;
  Resources total;
  int64_t max_cycles = 0;
  Throughput fps;  // estimated and expected on the board
  FitReport fit;   // fits at FINN's planning shares, fits the device
  nlohmann::json to_json() const;

  // The columns a table carries for it, and one row's values (empty fields when !ok). Every FPS column says
  // whether it is estimated or expected; both fit verdicts are there.
  static std::vector<std::string> csv_columns();
  std::vector<std::string> csv_fields() const;
};

// Never throw for a model that cannot be costed (float layers, a layer FINN cannot map): ok = false with the
// reason. The folding is uniform or per MVAU (design.h).
HwPoint hw_point(const Design& design, const Folding& folding, const CostOptions& options, const Device& device,
                 const UsableFractions& usable = {});
// At the config's uniform folding, clock and formulas.
HwPoint hw_point(const Design& design, const HwPointConfig& config, const Device& device,
                 const UsableFractions& usable = {});
HwPoint hw_point(const models::MlpConfig& mlp, const MlpShape& shape, const HwPointConfig& config,
                 const Device& device, const UsableFractions& usable = {});
HwPoint hw_point(const CnnSpec& cnn, const HwPointConfig& config, const Device& device,
                 const UsableFractions& usable = {});

// Writes a table: a temp file beside `path`, checked, renamed over it; ConfigError naming `flag` on failure
// (the temp file removed, an existing table untouched).
void write_table_file(const std::string& path, const std::string& text, const std::string& flag);

}  // namespace nemokd::hw::fpga
