#include "hw/fpga/devices.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

#ifndef NEMOKD_SOURCE_DIR
#define NEMOKD_SOURCE_DIR "."
#endif

namespace nemokd::hw::fpga {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}
}  // namespace

nlohmann::json Device::to_json() const {
  auto j = total.to_json();
  j["name"] = name;
  j["part"] = part;
  j["boards"] = boards;
  j["source"] = source;
  return j;
}

const Device& DeviceTable::find(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& d : devices) {
    if (d.name == lower(name)) return d;
    names.push_back(d.name);
  }
  throw ConfigError(fmt::format("device: '{}' is not in {} (known: {})", name, path, fmt::join(names, ", ")));
}

namespace {
// Parses without the file name; parse_device_table prefixes it to every message.
DeviceTable parse_devices(const nlohmann::json& j) {
  DeviceTable t;
  if (!j.is_object()) throw ConfigError("expected an object with a \"devices\" array");
  JsonReader r(j, "");
  std::string comment;
  r.get("comment", comment);
  const auto* list = r.child("devices");
  r.finish();
  if (!list || !list->is_array() || list->empty()) throw ConfigError("devices: expected a non-empty array");
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const auto& dj = (*list)[i];
    const std::string at = fmt::format("devices[{}].", i);
    if (!dj.is_object()) throw ConfigError(fmt::format("devices[{}]: expected an object", i));
    Device d;
    JsonReader dr(dj, at);
    dr.get("name", d.name).get("part", d.part).get("boards", d.boards).get("source", d.source);
    dr.get("lut", d.total.lut).get("ff", d.total.ff).get("bram18", d.total.bram18).get("uram", d.total.uram);
    dr.get("dsp", d.total.dsp);
    dr.finish();
    if (d.name.empty()) throw ConfigError(at + "name: missing");
    if (d.name != lower(d.name)) throw ConfigError(fmt::format("{}name: '{}' must be lower case", at, d.name));
    if (!seen.insert(d.name).second) throw ConfigError(fmt::format("{}name: '{}' listed twice", at, d.name));
    if (d.source.empty()) throw ConfigError(at + "source: missing (say where the figures come from)");
    for (const auto& [key, v] : std::vector<std::pair<std::string, int64_t>>{
             {"lut", d.total.lut}, {"ff", d.total.ff}, {"bram18", d.total.bram18}, {"uram", d.total.uram},
             {"dsp", d.total.dsp}})
      if (v < 0) throw ConfigError(fmt::format("{}{}: {} is negative", at, key, v));
    if (d.total.lut <= 0 || d.total.ff <= 0)
      throw ConfigError(fmt::format("{}lut: a part needs LUTs and FFs (got {} LUT, {} FF)", at, d.total.lut, d.total.ff));
    t.devices.push_back(d);
  }
  return t;
}
}  // namespace

DeviceTable parse_device_table(const nlohmann::json& j, const std::string& path) {
  try {
    auto t = parse_devices(j);
    t.path = path;
    return t;
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", path, e.what()));
  }
}

DeviceTable load_device_table(const std::string& path) { return parse_device_table(read_json_file(path), path); }

std::string default_device_table_path() {
  if (const char* env = std::getenv("NEMOKD_FPGA_DEVICES"); env && *env) return env;
  return std::string(NEMOKD_SOURCE_DIR) + "/data/fpga-devices.json";
}

void UsableFractions::validate() const {
  for (const auto& [key, v] : std::vector<std::pair<std::string, double>>{
           {"lut", lut}, {"ff", ff}, {"bram", bram18}, {"uram", uram}, {"dsp", dsp}})
    if (!(v > 0 && v <= 1)) throw ConfigError(fmt::format("usable.{}: {} is outside (0, 1]", key, v));
}

nlohmann::json UsableFractions::to_json() const {
  return {{"lut", lut}, {"ff", ff}, {"bram18", bram18}, {"uram", uram}, {"dsp", dsp}};
}

UsableFractions parse_usable_fractions(const std::string& key, const std::string& text) {
  UsableFractions u;
  if (lower(text) == "finn") return u;
  if (lower(text) == "device") return UsableFractions{1, 1, 1, 1, 1};
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      throw ConfigError(fmt::format("{}: '{}' is not resource=fraction, e.g. lut=0.7", key, item));
    const std::string name = lower(item.substr(0, eq));
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw ConfigError(fmt::format("{}: '{}' is not a number", key, item.substr(eq + 1)));
    }
    if (name == "lut") u.lut = v;
    else if (name == "ff") u.ff = v;
    else if (name == "bram" || name == "bram18") u.bram18 = v;
    else if (name == "uram") u.uram = v;
    else if (name == "dsp") u.dsp = v;
    else throw ConfigError(fmt::format("{}: '{}' is not one of lut, ff, bram, uram, dsp", key, name));
  }
  try {
    u.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", key, e.what()));
  }
  return u;
}

nlohmann::json ResourceUse::to_json() const {
  return {{"resource", resource}, {"used", used}, {"available", available}, {"fraction", fraction},
          {"budget", budget},     {"within_planning_share", ok}, {"within_device", on_device}};
}

std::string FitReport::summary() const {
  auto verdict = [](bool fits, const char* what, const std::vector<std::string>& failing) {
    return fits ? fmt::format("fits {}", what) : fmt::format("does not fit {} ({})", what, fmt::join(failing, ", "));
  };
  return fmt::format("{}: {}; {}", device, verdict(fits_planning, "at FINN's planning shares", failing_planning),
                     verdict(fits_device, "the device", failing_device));
}

nlohmann::json FitReport::to_json() const {
  nlohmann::json res = nlohmann::json::array();
  for (const auto& r : resources) res.push_back(r.to_json());
  return {{"device", device},
          {"fits_planning", fits_planning},
          {"fits_device", fits_device},
          {"resources", res},
          {"failing_planning", failing_planning},
          {"failing_device", failing_device},
          {"summary", summary()}};
}

FitReport check_fit(const Resources& used, const Device& device, const UsableFractions& usable) {
  usable.validate();
  FitReport f;
  f.device = device.name;
  const std::vector<std::tuple<std::string, int64_t, int64_t, double>> rows = {
      {"LUT", used.lut, device.total.lut, usable.lut},
      {"FF", used.ff, device.total.ff, usable.ff},
      {"BRAM18", used.bram18, device.total.bram18, usable.bram18},
      {"URAM", used.uram, device.total.uram, usable.uram},
      {"DSP", used.dsp, device.total.dsp, usable.dsp}};
  for (const auto& [name, u, avail, frac] : rows) {
    ResourceUse r{name, u, avail, frac, double(avail) * frac, true, true};
    r.ok = double(u) <= r.budget;
    r.on_device = u <= avail;
    if (!r.ok) {
      f.fits_planning = false;
      f.failing_planning.push_back(fmt::format("{} {} > {:.0f} ({:g} of {})", name, u, r.budget, frac, avail));
    }
    if (!r.on_device) {
      f.fits_device = false;
      f.failing_device.push_back(fmt::format("{} {} > {}", name, u, avail));
    }
    f.resources.push_back(r);
  }
  return f;
}

}  // namespace nemokd::hw::fpga
