#include "search/space.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::search {

namespace {
void check_choices(const std::string& key, const std::vector<int>& v) {
  if (v.size() < 2) throw ConfigError(fmt::format("{}: at least two choices are needed (a gene must vary)", key));
  for (int c : v)
    if (c < 1 || c > 4096) throw ConfigError(fmt::format("{}: {} is out of range [1, 4096]", key, c));
}
int gene(const std::vector<double>& g, size_t i, double lo, double hi) {
  const double v = g.at(i);
  if (!(v >= lo && v <= hi) || v != std::floor(v))
    throw ConfigError(fmt::format("genome: gene {} = {} is not an integer in [{}, {}]", i, v, lo, hi));
  return int(v);
}
}  // namespace

void SearchSpace::validate(const std::string& key) const {
  check_one_of(key + ".arch", arch, {"flexstudent", "flexresnet8x4"});
  if (arch == "flexresnet8x4") {
    check_choices(key + ".stage_channels", stage_channels);
    return;
  }
  check_range(key + ".min_conv", min_conv, 0, models::FlexStudentConfig::kMaxConvLayers);
  check_range(key + ".max_conv", max_conv, 1, models::FlexStudentConfig::kMaxConvLayers);
  if (min_conv >= max_conv)
    throw ConfigError(fmt::format("{}.max_conv: must exceed min_conv ({} >= {}): NSGA-II needs every gene to vary",
                                  key, min_conv, max_conv));
  check_range(key + ".min_fc", min_fc, 1, models::FlexStudentConfig::kMaxHiddenFc + 1);
  check_range(key + ".max_fc", max_fc, 2, models::FlexStudentConfig::kMaxHiddenFc + 1);
  if (min_fc >= max_fc)
    throw ConfigError(fmt::format("{}.max_fc: must exceed min_fc ({} >= {})", key, min_fc, max_fc));
  check_choices(key + ".channels", channels);
  check_choices(key + ".neurons", neurons);
}

size_t SearchSpace::genes() const {
  if (arch == "flexresnet8x4") return 4;
  return size_t(1 + max_conv + 1 + (max_fc - 1));
}

std::vector<double> SearchSpace::lower() const {
  if (arch == "flexresnet8x4") return std::vector<double>(4, 0.0);
  std::vector<double> lo;
  lo.push_back(min_conv);
  lo.insert(lo.end(), size_t(max_conv), 0.0);
  lo.push_back(min_fc);
  lo.insert(lo.end(), size_t(max_fc - 1), 0.0);
  return lo;
}

std::vector<double> SearchSpace::upper() const {
  if (arch == "flexresnet8x4") return std::vector<double>(4, double(stage_channels.size() - 1));
  std::vector<double> hi;
  hi.push_back(max_conv);
  hi.insert(hi.end(), size_t(max_conv), double(channels.size() - 1));
  hi.push_back(max_fc);
  hi.insert(hi.end(), size_t(max_fc - 1), double(neurons.size() - 1));
  return hi;
}

models::ModelConfig SearchSpace::decode(const std::vector<double>& g, const models::ModelConfig& base) const {
  if (g.size() != genes()) throw ConfigError(fmt::format("genome: {} genes, the space has {}", g.size(), genes()));
  const auto lo = lower(), hi = upper();
  models::ModelConfig m = base;
  m.arch = arch;
  if (arch == "flexresnet8x4") {
    m.flexresnet8x4.widths.clear();
    for (size_t i = 0; i < 4; ++i) m.flexresnet8x4.widths.push_back(stage_channels[size_t(gene(g, i, lo[i], hi[i]))]);
    return m;
  }
  size_t i = 0;
  const int n_conv = gene(g, i, lo[i], hi[i]);
  ++i;
  auto& fs = m.flexstudent;
  fs.conv_channels.clear();
  for (int c = 0; c < max_conv; ++c, ++i) {
    const int choice = gene(g, i, lo[i], hi[i]);
    if (c < n_conv) fs.conv_channels.push_back(channels[size_t(choice)]);
  }
  const int n_fc = gene(g, i, lo[i], hi[i]);
  ++i;
  fs.fc_widths.clear();
  for (int f = 0; f < max_fc - 1; ++f, ++i) {
    const int choice = gene(g, i, lo[i], hi[i]);
    if (f < n_fc - 1) fs.fc_widths.push_back(neurons[size_t(choice)]);
  }
  // An explicit per-layer pool list would not match a varying depth: evolved students use the auto rule.
  if (!fs.pool.empty() && fs.pool.size() != fs.conv_channels.size()) fs.pool.clear();
  return m;
}

std::string SearchSpace::summary(const models::ModelConfig& d) const {
  if (d.arch == "flexresnet8x4") return fmt::format("resnet8x4 {}", fmt::join(d.flexresnet8x4.widths, "-"));
  const auto& fs = d.flexstudent;
  return fmt::format("conv {} | fc {}{}", fs.conv_channels.empty() ? "-" : fmt::format("{}", fmt::join(fs.conv_channels, "-")),
                     fmt::join(fs.fc_widths, "-"), fs.fc_widths.empty() ? "classifier" : "-classifier");
}

nlohmann::json to_json(const SearchSpace& s) {
  if (s.arch == "flexresnet8x4") return {{"arch", s.arch}, {"stage_channels", s.stage_channels}};
  return {{"arch", s.arch},         {"min_conv", s.min_conv}, {"max_conv", s.max_conv}, {"channels", s.channels},
          {"min_fc", s.min_fc},     {"max_fc", s.max_fc},     {"neurons", s.neurons}};
}

SearchSpace search_space_from_json(const nlohmann::json& j, const std::string& path) {
  SearchSpace s;
  JsonReader r(j, path);
  r.get("arch", s.arch).get("min_conv", s.min_conv).get("max_conv", s.max_conv).get("channels", s.channels);
  r.get("min_fc", s.min_fc).get("max_fc", s.max_fc).get("neurons", s.neurons).get("stage_channels", s.stage_channels);
  r.finish();
  s.validate(path);
  return s;
}

std::string canonical_key(const models::ModelConfig& decoded) { return models::to_json(decoded).dump(); }

}  // namespace nemokd::search
