#include "hw/fpga/summary.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::hw::fpga {

void HwPointConfig::validate(const std::string& key) const {
  if (device.empty()) throw ConfigError(key + ".device: empty");
  check_range(key + ".pe", pe, 1, 65536);
  check_range(key + ".simd", simd, 1, 65536);
  check_range(key + ".fclk_mhz", fclk_mhz, 1, 2000);
  parse_formulas(key + ".formulas", formulas);
  parse_threshold_ram(key + ".threshold_ram", threshold_ram);
}

nlohmann::json HwPointConfig::to_json() const {
  return {{"device", device},     {"pe", pe},
          {"simd", simd},         {"fclk_mhz", fclk_mhz},
          {"formulas", formulas}, {"threshold_ram", threshold_ram}};
}

CostOptions HwPointConfig::cost_options() const {
  CostOptions o;
  o.formulas = parse_formulas("hw.formulas", formulas);
  o.threshold_ram = parse_threshold_ram("hw.threshold_ram", threshold_ram);
  o.fclk_mhz = fclk_mhz;
  return o;
}

HwPointConfig hw_point_config_from_json(const nlohmann::json& j, const std::string& path) {
  HwPointConfig c;
  JsonReader r(j, path);
  r.get("device", c.device).get("pe", c.pe).get("simd", c.simd).get("fclk_mhz", c.fclk_mhz).get("formulas", c.formulas);
  r.get("threshold_ram", c.threshold_ram);
  r.finish();
  c.validate(path);
  return c;
}

nlohmann::json HwPoint::to_json() const {
  if (!ok) return {{"ok", false}, {"message", message}};
  auto j = total.to_json();
  j.update(fps.to_json());
  j["ok"] = true;
  j["max_cycles"] = max_cycles;
  j["fits_planning"] = fit.fits_planning;
  j["fits_device"] = fit.fits_device;
  j["failing_planning"] = fit.failing_planning;
  j["failing_device"] = fit.failing_device;
  j["fit"] = fit.summary();
  return j;
}

std::vector<std::string> HwPoint::csv_columns() {
  return {"lut",           "ff",          "bram18",        "dsp",          "fits_planning",
          "fits_device",   "fps_estimated", "fps_expected", "fps_expected_sd"};
}

std::vector<std::string> HwPoint::csv_fields() const {
  if (!ok) return std::vector<std::string>(csv_columns().size());
  auto yes = [](bool b) { return std::string(b ? "yes" : "no"); };
  return {std::to_string(total.lut),
          std::to_string(total.ff),
          std::to_string(total.bram18),
          std::to_string(total.dsp),
          yes(fit.fits_planning),
          yes(fit.fits_device),
          fmt::format("{:.1f}", fps.estimated),
          fmt::format("{:.1f}", fps.expected),
          fmt::format("{:.1f}", fps.expected_sd)};
}

HwPoint hw_point(const Design& base, const Folding& folding, const CostOptions& options, const Device& device,
                 const UsableFractions& usable) {
  HwPoint p;
  try {
    Design d = base;
    apply_folding(d, folding);
    const auto e = estimate(d, options);
    p.fit = check_fit(e.total, device, usable);
    p.ok = true;
    p.total = e.total;
    p.max_cycles = e.max_cycles;
    p.fps = e.fps;
  } catch (const ConfigError& e) {
    p.ok = false;
    p.message = e.what();
  }
  return p;
}

namespace {
HwPoint not_costed(const ConfigError& e) {
  HwPoint p;
  p.message = e.what();
  return p;
}
}  // namespace

HwPoint hw_point(const Design& design, const HwPointConfig& config, const Device& device,
                 const UsableFractions& usable) {
  try {
    config.validate();
    return hw_point(design, Folding{{config.pe}, {config.simd}}, config.cost_options(), device, usable);
  } catch (const ConfigError& e) {
    return not_costed(e);
  }
}

HwPoint hw_point(const models::MlpConfig& mlp, const MlpShape& shape, const HwPointConfig& config,
                 const Device& device, const UsableFractions& usable) {
  try {
    return hw_point(mlp_design(mlp, shape), config, device, usable);
  } catch (const ConfigError& e) {
    return not_costed(e);
  }
}

HwPoint hw_point(const CnnSpec& cnn, const HwPointConfig& config, const Device& device, const UsableFractions& usable) {
  try {
    return hw_point(cnn_design(cnn), config, device, usable);
  } catch (const ConfigError& e) {
    return not_costed(e);
  }
}

void write_table_file(const std::string& path, const std::string& text, const std::string& flag) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw ConfigError(fmt::format("{}: cannot write {}", flag, path));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw ConfigError(fmt::format("{}: cannot write {}: {}", flag, path, ec.message()));
  }
}

}  // namespace nemokd::hw::fpga
