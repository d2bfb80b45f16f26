#include "core/json_config.h"

#include "core/atomic_file.h"

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

std::vector<int> parse_int_ranges(const std::string& key, const std::string& text, int lo, int hi) {
  std::set<int> values;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto dash = item.find('-', 1);
    if (dash == std::string::npos) {
      for (int v : parse_int_list(key, item)) values.insert(v);
      continue;
    }
    const int first = parse_int_list(key, item.substr(0, dash)).at(0);
    const int last = parse_int_list(key, item.substr(dash + 1)).at(0);
    if (last < first) throw ConfigError(fmt::format("{}: range '{}' runs backwards", key, item));
    check_range(key, first, lo, hi);
    check_range(key, last, lo, hi);
    for (int v = first; v <= last; ++v) values.insert(v);
  }
  for (int v : values) check_range(key, v, lo, hi);
  if (values.empty()) throw ConfigError(fmt::format("{}: empty list", key));
  return {values.begin(), values.end()};
}

Json without(Json object, std::initializer_list<const char*> keys) {
  if (object.is_object())
    for (const char* k : keys) object.erase(k);
  return object;
}

namespace detail {

namespace {
std::string short_text(const Json& value) {
  std::string text = value.dump();
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}
}  // namespace

void throw_wrong_type(const std::string& key, const char* expected, const Json& value) {
  throw ConfigError(
      fmt::format("{}: wrong type: expected {}, got {} ({})", key, expected, short_text(value), value.type_name()));
}

void throw_out_of_range(const std::string& key, const Json& value, long double lo, long double hi) {
  throw ConfigError(fmt::format("{}: {} is out of range [{}, {}]", key, short_text(value),
                                fmt::format("{:.0f}", lo), fmt::format("{:.0f}", hi)));
}

}  // namespace detail

Json parse_json(std::string_view text, const std::string& what) {
  // The callback sees each value's depth as the (iterative) parser reaches it, before anything nests deeper.
  const Json::parser_callback_t bound_depth = [&what](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      throw ConfigError(fmt::format("{}: JSON nested deeper than {} levels", what, kMaxJsonDepth));
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), bound_depth);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number beyond a double (1e309).
    throw ConfigError(fmt::format("{}: invalid JSON ({})", what, e.what()));
  }
}

Json read_json_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError(fmt::format("{}: is a folder, expected a JSON file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(fmt::format("{}: cannot read", path));
  return parse_json(text.str(), path);
}

void write_text_file(const std::string& path, const std::string& text) { write_file_atomically(path, text); }

void write_json_file(const std::string& path, const Json& value) { write_text_file(path, value.dump(2) + "\n"); }

}  // namespace nemokd
