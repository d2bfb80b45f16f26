// FPGA parts and whether a design fits one. The table is a JSON file in the repository
// (data/fpga-devices.json); users extend it by pointing --devices / NEMOKD_FPGA_DEVICES at their own copy.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/cost_model.h"

namespace nemokd::hw::fpga {

struct Device {
  std::string name;   // lookup key, lower case: "xc7z020"
  std::string part;   // full part name
  std::string boards; // boards carrying it, informational
  Resources total;    // LUT, FF, BRAM18, URAM, DSP of the whole part
  std::string source; // where the figures come from
  nlohmann::json to_json() const;
};

struct DeviceTable {
  std::string path;  // file it was read from
  std::vector<Device> devices;
  // Throws ConfigError listing the known names when `name` is unknown (case-insensitive).
  const Device& find(const std::string& name) const;
};

// Parses a device table; every defect is a ConfigError naming the file and the key.
DeviceTable parse_device_table(const nlohmann::json& j, const std::string& path);
DeviceTable load_device_table(const std::string& path);
// $NEMOKD_FPGA_DEVICES if set, else the table in the source tree this binary was built from.
std::string default_device_table_path();

// Share of each resource a design may use. FINN's defaults (its planning budget, the shares its resource
// checks use): LUT 0.7, FF 0.5, BRAM 0.8, URAM 0.8, DSP 0.8 — routing and the shell need the rest. A design
// over these shares may still place and route (docs/FPGA.md: "Two verdicts"), so every fit is reported twice.
struct UsableFractions {
  double lut = 0.7, ff = 0.5, bram18 = 0.8, uram = 0.8, dsp = 0.8;
  void validate() const;
  nlohmann::json to_json() const;
};
// "lut=0.8,bram=0.9" (keys lut, ff, bram or bram18, uram, dsp) over the defaults, or "device" (every share 1)
// or "finn" (the defaults); ConfigError naming `key`.
UsableFractions parse_usable_fractions(const std::string& key, const std::string& text);

struct ResourceUse {
  std::string resource;  // "LUT", "FF", "BRAM18", "URAM", "DSP"
  int64_t used = 0, available = 0;
  double fraction = 1;   // usable share
  double budget = 0;     // available * fraction
  bool ok = true;        // used <= budget (the planning verdict)
  bool on_device = true; // used <= available (the device verdict)
  nlohmann::json to_json() const;
};

// Two verdicts: within the planning shares (what FINN's flow budgets for), and within the part (100 %: what a
// design may reach when synthesis packs better than the estimate, as published designs do).
struct FitReport {
  std::string device;
  bool fits_planning = true;
  bool fits_device = true;
  std::vector<ResourceUse> resources;
  std::vector<std::string> failing_planning;  // e.g. "BRAM18 412 > 224 (0.8 of 280)"
  std::vector<std::string> failing_device;    // e.g. "BRAM18 412 > 280"
  // "xc7z020: fits at FINN's planning shares; fits the device" or, naming what is over,
  // "xc7z020: does not fit at FINN's planning shares (LUT 40000 > 37240 (0.7 of 53200)); fits the device"
  std::string summary() const;
  nlohmann::json to_json() const;  // fits_planning, fits_device, failing_planning, failing_device, summary
};

FitReport check_fit(const Resources& used, const Device& device, const UsableFractions& usable);

}  // namespace nemokd::hw::fpga
