#include "core/json_config.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace nemokd {

JsonReader::JsonReader(const Json& object, std::string path) : object_(object), path_(std::move(path)) {
  if (!path_.empty() && path_.back() != '.') path_ += '.';
  if (!object_.is_object()) {
    throw ConfigError(fmt::format("{}: expected a JSON object, got {}",
                                  path_.empty() ? "config" : path_.substr(0, path_.size() - 1),
                                  object_.type_name()));
  }
}

const Json* JsonReader::child(const std::string& key) {
  used_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void JsonReader::finish() const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (!used_.count(it.key())) {
      throw ConfigError(fmt::format("{}{}: unknown key", path_, it.key()));
    }
  }
}

void check_range(const std::string& key, double value, double lo, double hi) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    throw ConfigError(fmt::format("{}: {} is out of range [{}, {}]", key, value, lo, hi));
  }
}

void check_positive(const std::string& key, double value) {
  if (!std::isfinite(value) || value <= 0) {
    throw ConfigError(fmt::format("{}: must be > 0 (got {})", key, value));
  }
}

void check_one_of(const std::string& key, const std::string& value, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == value) return;
  throw ConfigError(fmt::format("{}: '{}' is not one of {}", key, value, fmt::join(allowed, ", ")));
}

std::vector<int> parse_int_list(const std::string& key, const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) {
      throw ConfigError(fmt::format("{}: '{}' is not a comma-separated list of integers", key, text));
    }
    out.push_back(v);
  }
  if (out.empty()) throw ConfigError(fmt::format("{}: empty list", key));
  return out;
}

std::vector<int> parse_int_ranges(const std::string& key, const std::string& text) {
  std::set<int> values;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto dash = item.find('-', 1);
    if (dash == std::string::npos) {
      for (int v : parse_int_list(key, item)) values.insert(v);
      continue;
    }
    const int lo = parse_int_list(key, item.substr(0, dash)).at(0);
    const int hi = parse_int_list(key, item.substr(dash + 1)).at(0);
    if (hi < lo) throw ConfigError(fmt::format("{}: range '{}' runs backwards", key, item));
    for (int v = lo; v <= hi; ++v) values.insert(v);
  }
  if (values.empty()) throw ConfigError(fmt::format("{}: empty list", key));
  return {values.begin(), values.end()};
}

Json without(Json object, std::initializer_list<const char*> keys) {
  if (object.is_object())
    for (const char* k : keys) object.erase(k);
  return object;
}

Json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("{}: cannot open", path));
  try {
    return Json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(fmt::format("{}: invalid JSON ({})", path, e.what()));
  }
}

void write_json_file(const std::string& path, const Json& value) {
  namespace fs = std::filesystem;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw Error(fmt::format("{}: cannot write", tmp));
    out << value.dump(2) << '\n';
    if (!out) throw Error(fmt::format("{}: write failed", tmp));
  }
  fs::rename(tmp, path);
}

}  // namespace nemokd
