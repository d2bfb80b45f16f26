#include "search/space.h"

#include <algorithm>
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

// ---- one genome codec per searchable family ----
namespace {
struct GenomeCodec {
  models::Family family;
  void (*validate)(const SearchSpace&, const std::string& key);
  size_t (*genes)(const SearchSpace&);
  std::vector<double> (*lower)(const SearchSpace&);
  std::vector<double> (*upper)(const SearchSpace&);
  // Sets the genes' fields of `m` (already of the family, the rest from the baseline).
  void (*decode)(const SearchSpace&, const std::vector<double>& genome, models::ModelConfig& m);
  std::string (*summary)(const models::ModelConfig&);
  nlohmann::json (*to_json)(const SearchSpace&);  // the family's keys
  // The genes of `m` (of the family); "" or the reason it has none.
  std::string (*encode)(const SearchSpace&, const models::ModelConfig& m, std::vector<double>& genome);
  // Quantized families: the most weighted layers and activations a genome can activate (the bit genes' slots; the
  // classifier is the last weighted layer). Null: no bit genes.
  std::pair<int, int> (*bit_slots)(const SearchSpace&) = nullptr;
};

// Index of `value` among the choices, -1 if absent.
int choice_of(const std::vector<int>& choices, int value) {
  const auto it = std::find(choices.begin(), choices.end(), value);
  return it == choices.end() ? -1 : int(it - choices.begin());
}

// FlexStudent: [conv layers, channel choice of conv 1..Cmax, FC layers, width choice of hidden FC 1..Fmax-1].
void flexstudent_validate(const SearchSpace& s, const std::string& key) {
  check_range(key + ".min_conv", s.min_conv, 0, models::FlexStudentConfig::kMaxConvLayers);
  check_range(key + ".max_conv", s.max_conv, 1, models::FlexStudentConfig::kMaxConvLayers);
  if (s.min_conv >= s.max_conv)
    throw ConfigError(fmt::format("{}.max_conv: must exceed min_conv ({} >= {}): NSGA-II needs every gene to vary",
                                  key, s.min_conv, s.max_conv));
  check_range(key + ".min_fc", s.min_fc, 1, models::FlexStudentConfig::kMaxHiddenFc + 1);
  check_range(key + ".max_fc", s.max_fc, 2, models::FlexStudentConfig::kMaxHiddenFc + 1);
  if (s.min_fc >= s.max_fc)
    throw ConfigError(fmt::format("{}.max_fc: must exceed min_fc ({} >= {})", key, s.min_fc, s.max_fc));
  check_choices(key + ".channels", s.channels);
  check_choices(key + ".neurons", s.neurons);
}

size_t flexstudent_genes(const SearchSpace& s) { return size_t(1 + s.max_conv + 1 + (s.max_fc - 1)); }

std::vector<double> flexstudent_lower(const SearchSpace& s) {
  std::vector<double> lo;
  lo.push_back(s.min_conv);
  lo.insert(lo.end(), size_t(s.max_conv), 0.0);
  lo.push_back(s.min_fc);
  lo.insert(lo.end(), size_t(s.max_fc - 1), 0.0);
  return lo;
}

std::vector<double> flexstudent_upper(const SearchSpace& s) {
  std::vector<double> hi;
  hi.push_back(s.max_conv);
  hi.insert(hi.end(), size_t(s.max_conv), double(s.channels.size() - 1));
  hi.push_back(s.max_fc);
  hi.insert(hi.end(), size_t(s.max_fc - 1), double(s.neurons.size() - 1));
  return hi;
}

void flexstudent_decode(const SearchSpace& s, const std::vector<double>& g, models::ModelConfig& m) {
  const auto lo = flexstudent_lower(s), hi = flexstudent_upper(s);
  size_t i = 0;
  const int n_conv = gene(g, i, lo[i], hi[i]);
  ++i;
  auto& fs = m.flexstudent();
  fs.conv_channels.clear();
  for (int c = 0; c < s.max_conv; ++c, ++i) {
    const int choice = gene(g, i, lo[i], hi[i]);
    if (c < n_conv) fs.conv_channels.push_back(s.channels[size_t(choice)]);
  }
  const int n_fc = gene(g, i, lo[i], hi[i]);
  ++i;
  fs.fc_widths.clear();
  for (int f = 0; f < s.max_fc - 1; ++f, ++i) {
    const int choice = gene(g, i, lo[i], hi[i]);
    if (f < n_fc - 1) fs.fc_widths.push_back(s.neurons[size_t(choice)]);
  }
  // An explicit per-layer pool list would not match a varying depth: evolved students use the auto rule.
  if (!fs.pool.empty() && fs.pool.size() != fs.conv_channels.size()) fs.pool.clear();
}

std::string flexstudent_encode(const SearchSpace& s, const models::ModelConfig& m, std::vector<double>& g) {
  const auto& fs = m.flexstudent();
  const int n_conv = fs.conv_layers(), n_fc = fs.fc_layers();
  if (n_conv < s.min_conv || n_conv > s.max_conv)
    return fmt::format("{} conv layers, the space has {}..{} (space.min_conv, max_conv)", n_conv, s.min_conv, s.max_conv);
  if (n_fc < s.min_fc || n_fc > s.max_fc)
    return fmt::format("{} FC layers (classifier included), the space has {}..{} (space.min_fc, max_fc)", n_fc,
                       s.min_fc, s.max_fc);
  g.assign(flexstudent_genes(s), 0.0);
  size_t i = 0;
  g[i++] = n_conv;
  for (int c = 0; c < s.max_conv; ++c, ++i) {
    if (c >= n_conv) continue;
    const int k = choice_of(s.channels, fs.conv_channels[size_t(c)]);
    if (k < 0)
      return fmt::format("conv channels {} not in space.channels [{}]", fs.conv_channels[size_t(c)], fmt::join(s.channels, ", "));
    g[i] = k;
  }
  g[i++] = n_fc;
  for (int f = 0; f < s.max_fc - 1; ++f, ++i) {
    if (f >= n_fc - 1) continue;
    const int k = choice_of(s.neurons, fs.fc_widths[size_t(f)]);
    if (k < 0)
      return fmt::format("FC width {} not in space.neurons [{}]", fs.fc_widths[size_t(f)], fmt::join(s.neurons, ", "));
    g[i] = k;
  }
  return "";
}

std::string flexstudent_summary(const models::ModelConfig& d) {
  const auto& fs = d.flexstudent();
  return fmt::format("conv {} | fc {}{}", fs.conv_channels.empty() ? "-" : fmt::format("{}", fmt::join(fs.conv_channels, "-")),
                     fmt::join(fs.fc_widths, "-"), fs.fc_widths.empty() ? "classifier" : "-classifier");
}

nlohmann::json flexstudent_json(const SearchSpace& s) {
  return {{"min_conv", s.min_conv}, {"max_conv", s.max_conv}, {"channels", s.channels},
          {"min_fc", s.min_fc},     {"max_fc", s.max_fc},     {"neurons", s.neurons}};
}

// Flexible ResNet8x4: [stem, stage 1, 2, 3 channel choices] (depth fixed).
void flexresnet8x4_validate(const SearchSpace& s, const std::string& key) {
  check_choices(key + ".stage_channels", s.stage_channels);
}
size_t flexresnet8x4_genes(const SearchSpace&) { return 4; }
std::vector<double> flexresnet8x4_lower(const SearchSpace&) { return std::vector<double>(4, 0.0); }
std::vector<double> flexresnet8x4_upper(const SearchSpace& s) {
  return std::vector<double>(4, double(s.stage_channels.size() - 1));
}
void flexresnet8x4_decode(const SearchSpace& s, const std::vector<double>& g, models::ModelConfig& m) {
  const auto hi = flexresnet8x4_upper(s);
  auto& widths = m.flexresnet8x4().widths;
  widths.clear();
  for (size_t i = 0; i < 4; ++i) widths.push_back(s.stage_channels[size_t(gene(g, i, 0.0, hi[i]))]);
}
std::string flexresnet8x4_encode(const SearchSpace& s, const models::ModelConfig& m, std::vector<double>& g) {
  const auto& widths = m.flexresnet8x4().widths;
  if (widths.size() != 4) return fmt::format("{} widths, the genome has 4 (stem, stages 1-3)", widths.size());
  g.clear();
  for (int w : widths) {
    const int k = choice_of(s.stage_channels, w);
    if (k < 0) return fmt::format("width {} not in space.stage_channels [{}]", w, fmt::join(s.stage_channels, ", "));
    g.push_back(k);
  }
  return "";
}

std::string flexresnet8x4_summary(const models::ModelConfig& d) {
  return fmt::format("resnet8x4 {}", fmt::join(d.flexresnet8x4().widths, "-"));
}
nlohmann::json flexresnet8x4_json(const SearchSpace& s) { return {{"stage_channels", s.stage_channels}}; }

// MLP: [hidden layers, width choice of hidden 1..Hmax]. A quantized baseline (qmlp) keeps its quantization; its
// bit lists follow the depth (first hidden layer's bits for every hidden layer, the classifier's for the classifier).
constexpr int kMaxHidden = 8;
void mlp_validate(const SearchSpace& s, const std::string& key) {
  check_range(key + ".min_hidden", s.min_hidden, 1, kMaxHidden - 1);
  check_range(key + ".max_hidden", s.max_hidden, 2, kMaxHidden);
  if (s.min_hidden >= s.max_hidden)
    throw ConfigError(fmt::format("{}.max_hidden: must exceed min_hidden ({} >= {})", key, s.min_hidden, s.max_hidden));
  check_choices(key + ".widths", s.widths);
}
size_t mlp_genes(const SearchSpace& s) { return size_t(1 + s.max_hidden); }
std::vector<double> mlp_lower(const SearchSpace& s) {
  std::vector<double> lo{double(s.min_hidden)};
  lo.insert(lo.end(), size_t(s.max_hidden), 0.0);
  return lo;
}
std::vector<double> mlp_upper(const SearchSpace& s) {
  std::vector<double> hi{double(s.max_hidden)};
  hi.insert(hi.end(), size_t(s.max_hidden), double(s.widths.size() - 1));
  return hi;
}
void mlp_decode(const SearchSpace& s, const std::vector<double>& g, models::ModelConfig& m) {
  const auto lo = mlp_lower(s), hi = mlp_upper(s);
  const int n = gene(g, 0, lo[0], hi[0]);
  auto& mlp = m.mlp();
  std::vector<int> hidden;
  for (int i = 0; i < s.max_hidden; ++i) {
    const int choice = gene(g, size_t(1 + i), lo[size_t(1 + i)], hi[size_t(1 + i)]);
    if (i < n) hidden.push_back(s.widths[size_t(choice)]);
  }
  mlp.hidden = hidden;
  if (mlp.quantized && !mlp.quant.weight_bits.empty() && !mlp.quant.act_bits.empty()) {
    const int w_hidden = mlp.quant.weight_bits.front(), w_out = mlp.quant.weight_bits.back();
    const int a = mlp.quant.act_bits.front();
    std::vector<int> w(size_t(n), w_hidden);
    w.push_back(w_out);
    mlp.set_bits(w, std::vector<int>(size_t(n), a));
  }
}
std::string mlp_encode(const SearchSpace& s, const models::ModelConfig& m, std::vector<double>& g) {
  const auto& hidden = m.mlp().hidden;
  const int n = int(hidden.size());
  if (n < s.min_hidden || n > s.max_hidden)
    return fmt::format("{} hidden layers, the space has {}..{} (space.min_hidden, max_hidden)", n, s.min_hidden,
                       s.max_hidden);
  g.assign(mlp_genes(s), 0.0);
  g[0] = n;
  for (int i = 0; i < n; ++i) {
    const int k = choice_of(s.widths, hidden[size_t(i)]);
    if (k < 0) return fmt::format("hidden width {} not in space.widths [{}]", hidden[size_t(i)], fmt::join(s.widths, ", "));
    g[size_t(1 + i)] = k;
  }
  return "";
}
std::string mlp_summary(const models::ModelConfig& d) {
  const auto& mlp = d.mlp();
  const std::string arch = fmt::format("mlp {}", fmt::join(mlp.hidden, "-"));
  if (!mlp.quantized) return arch;
  return fmt::format("{} W{} A{}", arch, fmt::join(mlp.quant.weight_bits, "-"), fmt::join(mlp.quant.act_bits, "-"));
}
std::pair<int, int> mlp_bit_slots(const SearchSpace& s) { return {s.max_hidden + 1, s.max_hidden}; }
nlohmann::json mlp_json(const SearchSpace& s) {
  return {{"min_hidden", s.min_hidden}, {"max_hidden", s.max_hidden}, {"widths", s.widths}};
}

const std::vector<GenomeCodec>& codecs() {
  static const std::vector<GenomeCodec> list = {
      {models::Family::flexstudent, flexstudent_validate, flexstudent_genes, flexstudent_lower, flexstudent_upper,
       flexstudent_decode, flexstudent_summary, flexstudent_json, flexstudent_encode},
      {models::Family::flexresnet8x4, flexresnet8x4_validate, flexresnet8x4_genes, flexresnet8x4_lower,
       flexresnet8x4_upper, flexresnet8x4_decode, flexresnet8x4_summary, flexresnet8x4_json, flexresnet8x4_encode},
      {models::Family::mlp, mlp_validate, mlp_genes, mlp_lower, mlp_upper, mlp_decode, mlp_summary, mlp_json,
       mlp_encode, mlp_bit_slots},
  };
  return list;
}

const GenomeCodec* find_codec(models::Family family) {
  for (const auto& c : codecs())
    if (c.family == family) return &c;
  return nullptr;
}

// The codec of the space's family; ConfigError naming the searchable families for another.
const GenomeCodec& codec(models::Family family, const std::string& key) {
  if (const auto* c = find_codec(family)) return *c;
  std::vector<std::string> names;
  for (const auto& c : codecs()) names.push_back(models::family_name(c.family));
  throw ConfigError(fmt::format("{}: '{}' is not one of {}", key, models::family_name(family), fmt::join(names, ", ")));
}
// ---- the bit genes (SearchSpace::bits), after the family's genes ----
size_t bit_genes(const SearchSpace& s, const GenomeCodec& c) {
  if (s.bits == "uniform") return 2;
  if (s.bits == "per-layer") {
    const auto [w, a] = c.bit_slots(s);
    return size_t(w + a);
  }
  return 0;
}

void validate_bits(const SearchSpace& s, const GenomeCodec& c, const std::string& key) {
  check_one_of(key + ".bits", s.bits, {"none", "uniform", "per-layer"});
  if (s.bits == "none") return;
  if (!c.bit_slots)
    throw ConfigError(fmt::format("{}.bits: '{}' needs a quantized family; {} has no bit genes", key, s.bits,
                                  models::family_name(s.family)));
  for (const auto& [name, list] : {std::pair{"weight_bits", &s.weight_bits}, std::pair{"act_bits", &s.act_bits}}) {
    if (list->size() < 2)
      throw ConfigError(fmt::format("{}.{}: at least two choices are needed (a gene must vary)", key, name));
    for (int b : *list)
      if (b < 1 || b > 8)
        throw ConfigError(fmt::format("{}.{}: {} is out of range [1, 8] (float layers are not searched)", key, name, b));
  }
}

// Sets the decoded model's bits from the bit genes at `at`.
void decode_bits(const SearchSpace& s, const GenomeCodec& c, const std::vector<double>& g, size_t at,
                 models::ModelConfig& m) {
  if (s.bits == "none") return;
  const auto* q = models::quant_config(m);
  if (!q)
    throw ConfigError(fmt::format("space.bits: '{}' needs a quantized baseline student (qmlp), this one is float",
                                  s.bits));
  auto pick = [&](size_t i, const std::vector<int>& list) {
    return list[size_t(gene(g, i, 0.0, double(list.size() - 1)))];
  };
  if (s.bits == "uniform") {
    models::set_quant_bits(m, {pick(at, s.weight_bits)}, {pick(at + 1, s.act_bits)});
    return;
  }
  const auto [w_slots, a_slots] = c.bit_slots(s);
  const size_t weighted = q->weight_bits.size(), acts = q->act_bits.size();  // the active depth, as decoded
  std::vector<int> w, a;
  for (size_t i = 0; i + 1 < weighted; ++i) w.push_back(pick(at + i, s.weight_bits));
  w.push_back(pick(at + size_t(w_slots) - 1, s.weight_bits));  // the classifier: always the last slot
  for (size_t i = 0; i < acts; ++i) a.push_back(pick(at + size_t(w_slots) + i, s.act_bits));
  (void)a_slots;
  models::set_quant_bits(m, w, a);
}

// The bit genes of `m`; "" or why it has none.
std::string encode_bits(const SearchSpace& s, const GenomeCodec& c, const models::ModelConfig& m,
                        std::vector<double>& g) {
  if (s.bits == "none") return "";
  const auto* q = models::quant_config(m);
  if (!q) return "a float model; space.bits needs a quantized one";
  auto index = [&](int bits, const std::vector<int>& list, const char* name, double& out) -> std::string {
    const int k = choice_of(list, bits);
    if (k < 0) return fmt::format("{} {} not in space.{} [{}]", name, bits, name, fmt::join(list, ", "));
    out = k;
    return "";
  };
  const size_t at = g.size();
  g.resize(at + bit_genes(s, c), 0.0);
  if (s.bits == "uniform") {
    for (int b : q->weight_bits)
      if (b != q->weight_bits.front()) return "per-layer weight bits; space.bits is uniform";
    for (int b : q->act_bits)
      if (b != q->act_bits.front()) return "per-layer activation bits; space.bits is uniform";
    if (auto e = index(q->weight_bits.front(), s.weight_bits, "weight_bits", g[at]); !e.empty()) return e;
    if (q->act_bits.empty()) return "";
    return index(q->act_bits.front(), s.act_bits, "act_bits", g[at + 1]);
  }
  const int w_slots = c.bit_slots(s).first;
  for (size_t i = 0; i + 1 < q->weight_bits.size(); ++i)
    if (auto e = index(q->weight_bits[i], s.weight_bits, "weight_bits", g[at + i]); !e.empty()) return e;
  if (auto e = index(q->weight_bits.back(), s.weight_bits, "weight_bits", g[at + size_t(w_slots) - 1]); !e.empty())
    return e;
  for (size_t i = 0; i < q->act_bits.size(); ++i)
    if (auto e = index(q->act_bits[i], s.act_bits, "act_bits", g[at + size_t(w_slots) + i]); !e.empty()) return e;
  return "";
}
}  // namespace

bool searchable(models::Family family) { return find_codec(family) != nullptr; }

void SearchSpace::validate(const std::string& key) const {
  const auto& c = codec(family, key + ".arch");
  c.validate(*this, key);
  validate_bits(*this, c, key);
}

size_t SearchSpace::genes() const {
  const auto& c = codec(family, "space.arch");
  return c.genes(*this) + bit_genes(*this, c);
}

std::vector<double> SearchSpace::lower() const {
  const auto& c = codec(family, "space.arch");
  auto lo = c.lower(*this);
  lo.resize(lo.size() + bit_genes(*this, c), 0.0);
  return lo;
}

std::vector<double> SearchSpace::upper() const {
  const auto& c = codec(family, "space.arch");
  auto hi = c.upper(*this);
  if (bits == "uniform") {
    hi.push_back(double(weight_bits.size() - 1));
    hi.push_back(double(act_bits.size() - 1));
  } else if (bits == "per-layer") {
    const auto [w, a] = c.bit_slots(*this);
    hi.insert(hi.end(), size_t(w), double(weight_bits.size() - 1));
    hi.insert(hi.end(), size_t(a), double(act_bits.size() - 1));
  }
  return hi;
}

models::ModelConfig SearchSpace::decode(const std::vector<double>& g, const models::ModelConfig& base) const {
  const auto& c = codec(family, "space.arch");
  if (g.size() != genes()) throw ConfigError(fmt::format("genome: {} genes, the space has {}", g.size(), genes()));
  models::ModelConfig m = base;
  m.set_family(family);
  c.decode(*this, g, m);
  decode_bits(*this, c, g, c.genes(*this), m);
  return m;
}

std::optional<std::vector<double>> SearchSpace::encode(const models::ModelConfig& m, const models::ModelConfig& base,
                                                       std::string* why) const {
  auto fail = [&](std::string reason) -> std::optional<std::vector<double>> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (m.family() != family)
    return fail(fmt::format("arch {}, the space searches {}", models::family_name(m.family()), models::family_name(family)));
  std::vector<double> g;
  if (auto reason = codec(family, "space.arch").encode(*this, m, g); !reason.empty()) return fail(reason);
  if (auto reason = encode_bits(*this, codec(family, "space.arch"), m, g); !reason.empty()) return fail(reason);
  // What the genome does not set comes from the base (pooling rule, dropout): it must be the same.
  const auto wanted = models::to_json(m), got = models::to_json(decode(g, base));
  if (wanted != got) {
    const auto op = nlohmann::json::diff(got, wanted).at(0);
    const nlohmann::json::json_pointer at(op.at("path").get<std::string>());
    return fail(fmt::format("{} is {}, the baseline student's {} (a field the genome does not set)",
                            at.to_string().substr(1), wanted.contains(at) ? wanted.at(at).dump() : "absent",
                            got.contains(at) ? got.at(at).dump() : "absent"));
  }
  return g;
}

std::string SearchSpace::summary(const models::ModelConfig& d) const {
  return codec(d.family(), "model.arch").summary(d);
}

nlohmann::json to_json(const SearchSpace& s) {
  nlohmann::json j = {{"arch", models::family_name(s.family)}};
  j.update(codec(s.family, "space.arch").to_json(s));
  if (s.bits != "none") {  // absent otherwise: the identities of searches without bit genes stay as they were
    j["bits"] = s.bits;
    j["weight_bits"] = s.weight_bits;
    j["act_bits"] = s.act_bits;
  }
  return j;
}

SearchSpace search_space_from_json(const nlohmann::json& j, const std::string& path) {
  SearchSpace s;
  JsonReader r(j, path);
  std::string arch = models::family_name(s.family);
  r.get("arch", arch).get("min_conv", s.min_conv).get("max_conv", s.max_conv).get("channels", s.channels);
  r.get("min_fc", s.min_fc).get("max_fc", s.max_fc).get("neurons", s.neurons).get("stage_channels", s.stage_channels);
  r.get("min_hidden", s.min_hidden).get("max_hidden", s.max_hidden).get("widths", s.widths);
  r.get("bits", s.bits).get("weight_bits", s.weight_bits).get("act_bits", s.act_bits);
  r.finish();
  s.family = models::parse_family(arch, r.key_path("arch"));
  s.validate(path);
  return s;
}

std::string canonical_key(const models::ModelConfig& decoded) { return models::to_json(decoded).dump(); }

}  // namespace nemokd::search
