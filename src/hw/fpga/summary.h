// The hardware columns of a W x A table (the sweep's results, `nemokd fpga grid`): one estimate per model at a
// stated uniform folding, clock and device.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "hw/fpga/cost_model.h"
#include "hw/fpga/design.h"
#include "hw/fpga/devices.h"

namespace nemokd::hw::fpga {

// Defaults: the paper's Q2 folding (PE = SIMD = 16 on every layer, adjusted down to a legal divisor where 16
// does not divide), 100 MHz, legacy formulas, on the paper's XC7Z020 with FINN's usable fractions.
struct HwPointConfig {
  std::string device = "xc7z020";
  int pe = 16, simd = 16;
  double fclk_mhz = 100.0;
  std::string formulas = "legacy";

  void validate(const std::string& key = "hw") const;  // ConfigError naming the key
  nlohmann::json to_json() const;
};
// Strict: unknown keys are errors; absent keys keep their defaults.
HwPointConfig hw_point_config_from_json(const nlohmann::json& j, const std::string& path = "hw");

struct HwPoint {
  bool ok = false;     // false: the model cannot be costed (message says why), the numbers are empty
  std::string message;
  Resources total;
  int64_t max_cycles = 0;
  double fps = 0;
  bool fits = false;
  std::string fit_summary;
  nlohmann::json to_json() const;
};

// Never throws for a model that cannot be costed (float layers): returns ok = false with the reason.
HwPoint hw_point(const models::MlpConfig& mlp, const MlpShape& shape, const HwPointConfig& config,
                 const Device& device, const UsableFractions& usable = {});

}  // namespace nemokd::hw::fpga
