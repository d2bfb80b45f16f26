// Strict JSON <-> config struct helpers. Configs reject unknown keys and out-of-range values with a message
// naming the full key path, so a typo in run.json is an error rather than a silently ignored setting.
#pragma once
#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace nemokd {

using Json = nlohmann::json;

// Reads fields of one JSON object, remembering which keys were consumed; finish() rejects the rest.
class JsonReader {
 public:
  JsonReader(const Json& object, std::string path);

  // Reads `key` into `out` if present (out keeps its default otherwise).
  template <typename T>
  JsonReader& get(const std::string& key, T& out) {
    used_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return *this;
    try {
      out = it->get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw ConfigError(path_ + key + ": wrong type (" + std::string(it->type_name()) + ")");
    }
    return *this;
  }

  // The JSON value of a nested object (for sub-configs); null if absent.
  const Json* child(const std::string& key);

  // Throws ConfigError naming the first key that was not consumed.
  void finish() const;

  std::string key_path(const std::string& key) const { return path_ + key; }
  const std::string& path() const { return path_; }

 private:
  const Json& object_;
  std::string path_;  // "a.b." prefix
  std::set<std::string> used_;
};

// Range checks that name the key in their message.
void check_range(const std::string& key, double value, double lo, double hi);
void check_positive(const std::string& key, double value);
void check_one_of(const std::string& key, const std::string& value, const std::vector<std::string>& allowed);

// Parses "64,64,64" into integers; throws ConfigError naming `key` on bad input.
std::vector<int> parse_int_list(const std::string& key, const std::string& text);

// Parses "1-8", "2,4,8" or "1-3,8" into an ascending list without duplicates.
std::vector<int> parse_int_ranges(const std::string& key, const std::string& text);

// A copy of a JSON object without the given top-level keys (absent ones are fine). Configs use it to define their
// identity(): the fields that change no result (thread counts, parallel jobs) or may grow on a resume.
Json without(Json object, std::initializer_list<const char*> keys);

Json read_json_file(const std::string& path);
void write_json_file(const std::string& path, const Json& value);  // atomic: temp file + rename

}  // namespace nemokd
