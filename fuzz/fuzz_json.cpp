// libFuzzer target for user JSON: parse_json (the one entry point of run.json, model configs, evolve.json, --space,
// --devices, reports' inputs and JSON kept in state.db or a model file), every strict conversion a config reader
// makes (detail::strict_get, what JsonReader::get uses), JsonReader's key bookkeeping, and the FPGA device table
// reader (--devices). Any input may be rejected with nemokd::ConfigError; anything else — another exception (an
// nlohmann type_error escaping, say), a sanitizer report, a stack overflow on deep nesting — is a bug. A value that
// parses must survive what readers do with it: copying and dumping.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json_config.h"
#include "hw/fpga/devices.h"

namespace {

using nemokd::Json;

template <typename T>
void try_as(const Json& value, const std::string& key) {
  T out{};
  try {
    nemokd::detail::strict_get(value, key, out);
  } catch (const nemokd::ConfigError&) {
  }
}

// Every type a config field has (core/json_config.h: JsonReader::get).
void convert_all(const Json& value, const std::string& key) {
  try_as<int>(value, key);
  try_as<int64_t>(value, key);
  try_as<uint64_t>(value, key);
  try_as<double>(value, key);
  try_as<bool>(value, key);
  try_as<std::string>(value, key);
  try_as<std::vector<int>>(value, key);
  try_as<std::vector<double>>(value, key);
  try_as<std::vector<std::string>>(value, key);
  try_as<std::vector<std::vector<int>>>(value, key);
  try_as<std::vector<std::vector<double>>>(value, key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Json j;
  try {
    j = nemokd::parse_json(text, "fuzz.json");
  } catch (const nemokd::ConfigError&) {
    return 0;
  }
  const Json copy = j;  // deep nesting would overflow the stack here: parse_json must have refused it
  if (copy.dump() != j.dump()) std::abort();
  convert_all(j, "value");
  if (j.is_object()) {
    try {
      nemokd::JsonReader r(j, "fuzz");
      for (auto it = j.begin(); it != j.end(); ++it) {
        convert_all(it.value(), it.key());
        if (it.value().is_object()) (void)r.child(it.key());
      }
      r.finish();
    } catch (const nemokd::ConfigError&) {
    }
  }
  try {
    nemokd::hw::fpga::parse_device_table(j, "fuzz.json");
  } catch (const nemokd::ConfigError&) {
  } catch (const nemokd::DataError&) {
  }
  return 0;
}
