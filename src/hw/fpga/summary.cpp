#include "hw/fpga/summary.h"

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
}

nlohmann::json HwPointConfig::to_json() const {
  return {{"device", device}, {"pe", pe}, {"simd", simd}, {"fclk_mhz", fclk_mhz}, {"formulas", formulas}};
}

HwPointConfig hw_point_config_from_json(const nlohmann::json& j, const std::string& path) {
  HwPointConfig c;
  JsonReader r(j, path);
  r.get("device", c.device).get("pe", c.pe).get("simd", c.simd).get("fclk_mhz", c.fclk_mhz).get("formulas", c.formulas);
  r.finish();
  c.validate(path);
  return c;
}

nlohmann::json HwPoint::to_json() const {
  if (!ok) return {{"ok", false}, {"message", message}};
  auto j = total.to_json();
  j["ok"] = true;
  j["max_cycles"] = max_cycles;
  j["fps"] = fps;
  j["fits"] = fits;
  j["fit"] = fit_summary;
  return j;
}

HwPoint hw_point(const models::MlpConfig& mlp, const MlpShape& shape, const HwPointConfig& config,
                 const Device& device, const UsableFractions& usable) {
  HwPoint p;
  try {
    config.validate();
    Design d = mlp_design(mlp, shape);
    apply_folding(d, Folding{{config.pe}, {config.simd}});
    CostOptions o;
    o.formulas = parse_formulas("hw.formulas", config.formulas);
    o.fclk_mhz = config.fclk_mhz;
    const auto e = estimate(d, o);
    const auto fit = check_fit(e.total, device, usable);
    p.ok = true;
    p.total = e.total;
    p.max_cycles = e.max_cycles;
    p.fps = e.fps;
    p.fits = fit.fits;
    p.fit_summary = fit.summary();
  } catch (const ConfigError& e) {
    p.ok = false;
    p.message = e.what();
  }
  return p;
}

}  // namespace nemokd::hw::fpga
