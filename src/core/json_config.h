// Strict JSON <-> config struct helpers. Configs reject unknown keys and out-of-range values with a message
// naming the full key path, so a typo in run.json is an error rather than a silently ignored setting.
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace nemokd {

using Json = nlohmann::json;

// Strict conversion of one JSON value to a config field's type: an integer field takes an integer (or a float with
// an integral value) that fits the type — 1.5, true, "3", 2^40 into an int or -1 into an unsigned are errors
// naming the key; a bool takes only true/false; a number only a number. nlohmann's own get<T>() would silently
// truncate 1.5 to 1, read true as 1 and wrap 2^40 to 0 or -1 to 2^64-1.
namespace detail {
[[noreturn]] void throw_wrong_type(const std::string& key, const char* expected, const Json& value);
[[noreturn]] void throw_out_of_range(const std::string& key, const Json& value, long double lo, long double hi);

template <typename T>
struct is_vector : std::false_type {};
template <typename T, typename A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <typename T>
void strict_get(const Json& j, const std::string& key, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) throw_wrong_type(key, "true or false", j);
    out = j.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    constexpr long double lo = static_cast<long double>(std::numeric_limits<T>::min());
    constexpr long double hi = static_cast<long double>(std::numeric_limits<T>::max());
    if (j.is_number_unsigned()) {
      const auto v = j.get<uint64_t>();
      if (static_cast<long double>(v) > hi) throw_out_of_range(key, j, lo, hi);
      out = static_cast<T>(v);
    } else if (j.is_number_integer()) {
      const auto v = j.get<int64_t>();
      if (static_cast<long double>(v) < lo || static_cast<long double>(v) > hi) throw_out_of_range(key, j, lo, hi);
      out = static_cast<T>(v);
    } else if (j.is_number_float()) {
      const double v = j.get<double>();
      if (v != std::floor(v)) throw_wrong_type(key, "an integer", j);
      if (static_cast<long double>(v) < lo || static_cast<long double>(v) > hi) throw_out_of_range(key, j, lo, hi);
      out = static_cast<T>(v);
    } else {
      throw_wrong_type(key, "an integer", j);
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!j.is_number()) throw_wrong_type(key, "a number", j);
    out = j.get<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) throw_wrong_type(key, "a string", j);
    out = j.get<std::string>();
  } else if constexpr (is_vector<T>::value) {
    if (!j.is_array()) throw_wrong_type(key, "a list", j);
    T values(j.size());
    for (size_t i = 0; i < j.size(); ++i) strict_get(j[i], key + "[" + std::to_string(i) + "]", values[i]);
    out = std::move(values);
  } else {
    try {
      out = j.get<T>();
    } catch (const nlohmann::json::exception&) {
      throw_wrong_type(key, "another type", j);
    }
  }
}
}  // namespace detail

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
    detail::strict_get(*it, path_ + key, out);
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

// Parses "1-8", "2,4,8" or "1-3,8" into an ascending list without duplicates. Every number must lie in [lo, hi],
// checked before a range is expanded (so "1-2147483647" is an error, not gigabytes of integers).
std::vector<int> parse_int_ranges(const std::string& key, const std::string& text, int lo, int hi);

// A copy of a JSON object without the given top-level keys (absent ones are fine). Configs use it to define their
// identity(): the fields that change no result (thread counts, parallel jobs) or may grow on a resume.
Json without(Json object, std::initializer_list<const char*> keys);

// The one way user JSON comes in (run.json, model configs, evolve.json, --space, --devices, reports' inputs, JSON
// kept in state.db or a model file). Nesting deeper than kMaxJsonDepth is refused before it is built (a value
// 150 000 levels deep would overflow the stack when copied), and every defect — invalid JSON, a number beyond a
// double (1e309), too deep — is one ConfigError naming `what` (the file or the flag).
inline constexpr int kMaxJsonDepth = 64;
Json parse_json(std::string_view text, const std::string& what);
Json read_json_file(const std::string& path);  // parse_json of the file's contents, `what` = path
// Atomic and checked: PATH.tmp, then a rename. A failed write (a full disk) is one Error; the temp file is removed
// and PATH keeps what it held.
void write_text_file(const std::string& path, const std::string& text);
void write_json_file(const std::string& path, const Json& value);

}  // namespace nemokd
