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
using models::ModelConfig;

// One group of genes: a depth gene (when the depth varies between the space's min and max) and one choice gene per
// layer slot. Decoded: the first `depth - uncounted` slots' choices (an FC group's depth counts the classifier, which
// has no gene).
struct LayerGenes {
  const char* what;  // the depth in messages: "conv layers"
  const char* item;  // one layer's choice in messages: "conv channels"
  const char* choices_key;
  std::vector<int> SearchSpace::*choices;
  // Varying depth: the space's bounds (keys and fields) and what they may be; fixed depth (min == nullptr): `fixed`.
  const char* min_key = nullptr;
  const char* max_key = nullptr;
  int SearchSpace::*min = nullptr;
  int SearchSpace::*max = nullptr;
  int limit_lo = 0, limit_hi = 0;
  int uncounted = 0;
  int fixed = 0;
  // The group's decoded values in the model (read for encode, written by decode).
  std::vector<int> (*get)(const ModelConfig&) = nullptr;
  void (*set)(ModelConfig&, const std::vector<int>&) = nullptr;

  bool varies() const { return min != nullptr; }
  int slots(const SearchSpace& s) const { return varies() ? s.*max - uncounted : fixed; }
};

// A family's genome: its groups in gene order, plus what the groups do not say. Adding a family = one entry in
// codecs() (and a summary function).
struct GenomeCodec {
  models::Family family;
  std::vector<LayerGenes> groups;
  std::string (*summary)(const ModelConfig&);
  bool bit_genes = false;  // quantized: a bits tail may follow (one weight and activation slot per layer slot)
  // After the groups are set: what follows from them (pooling), or nullptr.
  void (*finish)(const SearchSpace&, ModelConfig&) = nullptr;
};

// Index of `value` among the choices, -1 if absent.
int choice_of(const std::vector<int>& choices, int value) {
  const auto it = std::find(choices.begin(), choices.end(), value);
  return it == choices.end() ? -1 : int(it - choices.begin());
}

std::string flexstudent_summary(const models::FlexStudentConfig& fs) {
  return fmt::format("conv {} | fc {}{}", fs.conv_channels.empty() ? "-" : fmt::format("{}", fmt::join(fs.conv_channels, "-")),
                     fmt::join(fs.fc_widths, "-"), fs.fc_widths.empty() ? "classifier" : "-classifier");
}
std::string bits_summary(const models::MlpQuantConfig& q) {
  return fmt::format("W{} A{}", fmt::join(q.weight_bits, "-"), fmt::join(q.act_bits, "-"));
}

// FlexStudent's groups, on the FlexStudentConfig `Net` returns (the float student's, or the quantized one's net).
template <models::FlexStudentConfig& (*Net)(ModelConfig&)>
std::vector<LayerGenes> flexstudent_groups(int min_conv_limit) {
  LayerGenes conv{"conv layers", "conv channels", "channels", &SearchSpace::channels, "min_conv", "max_conv",
                  &SearchSpace::min_conv, &SearchSpace::max_conv, min_conv_limit,
                  models::FlexStudentConfig::kMaxConvLayers};
  conv.get = [](const ModelConfig& m) { return Net(const_cast<ModelConfig&>(m)).conv_channels; };
  conv.set = [](ModelConfig& m, const std::vector<int>& v) { Net(m).conv_channels = v; };
  LayerGenes fc{"FC layers (classifier included)", "FC width", "neurons", &SearchSpace::neurons, "min_fc", "max_fc",
                &SearchSpace::min_fc, &SearchSpace::max_fc, 1, models::FlexStudentConfig::kMaxHiddenFc + 1, 1};
  fc.get = [](const ModelConfig& m) { return Net(const_cast<ModelConfig&>(m)).fc_widths; };
  fc.set = [](ModelConfig& m, const std::vector<int>& v) { Net(m).fc_widths = v; };
  return {conv, fc};
}
models::FlexStudentConfig& flex_net(ModelConfig& m) { return m.flexstudent(); }
models::FlexStudentConfig& qflex_net(ModelConfig& m) { return m.qflexstudent().net; }

const std::vector<GenomeCodec>& codecs() {
  static const std::vector<GenomeCodec> list = [] {
    std::vector<GenomeCodec> l;
    // FlexStudent: an explicit per-layer pool list would not match a varying depth: evolved students use the auto rule.
    l.push_back({models::Family::flexstudent, flexstudent_groups<flex_net>(0),
                 [](const ModelConfig& d) { return flexstudent_summary(d.flexstudent()); }, false,
                 [](const SearchSpace&, ModelConfig& m) {
                   auto& fs = m.flexstudent();
                   if (!fs.pool.empty() && fs.pool.size() != fs.conv_channels.size()) fs.pool.clear();
                 }});
    // Flexible ResNet8x4: [stem, stage 1, 2, 3 channel choices] (depth fixed).
    LayerGenes stages{"widths", "width", "stage_channels", &SearchSpace::stage_channels};
    stages.fixed = 4;
    stages.get = [](const ModelConfig& m) { return m.flexresnet8x4().widths; };
    stages.set = [](ModelConfig& m, const std::vector<int>& v) { m.flexresnet8x4().widths = v; };
    l.push_back({models::Family::flexresnet8x4, {stages},
                 [](const ModelConfig& d) { return fmt::format("resnet8x4 {}", fmt::join(d.flexresnet8x4().widths, "-")); }});
    // MLP: [hidden layers, width choice of hidden 1..Hmax]; quantized (qmlp) when the baseline is.
    LayerGenes hidden{"hidden layers", "hidden width", "widths", &SearchSpace::widths, "min_hidden", "max_hidden",
                      &SearchSpace::min_hidden, &SearchSpace::max_hidden, 1, 8};
    hidden.get = [](const ModelConfig& m) { return m.mlp().hidden; };
    hidden.set = [](ModelConfig& m, const std::vector<int>& v) { m.mlp().hidden = v; };
    l.push_back({models::Family::mlp, {hidden},
                 [](const ModelConfig& d) {
                   const auto& mlp = d.mlp();
                   const std::string arch = fmt::format("mlp {}", fmt::join(mlp.hidden, "-"));
                   return mlp.quantized ? arch + " " + bits_summary(mlp.quant) : arch;
                 },
                 true});
    // CNV (qcnv): FINN's topology (depth, kernels, pools, pad_to fixed), a channel choice per conv and a width choice
    // per hidden FC.
    LayerGenes convs{"conv layers", "conv channels", "cnv_channels", &SearchSpace::cnv_channels};
    convs.fixed = 6;
    convs.get = [](const ModelConfig& m) {
      std::vector<int> v;
      for (const auto& c : m.cnv().convs) v.push_back(c.channels);
      return v;
    };
    convs.set = [](ModelConfig& m, const std::vector<int>& v) {
      auto& layers = m.cnv().convs;
      if (layers.size() != v.size())
        throw ConfigError(fmt::format("space.arch: the cnv genome sets {} conv layers (FINN's CNV), the baseline student "
                                      "has {}",
                                      v.size(), layers.size()));
      for (size_t i = 0; i < v.size(); ++i) layers[i].channels = v[i];
    };
    LayerGenes fcs{"FC layers", "FC width", "neurons", &SearchSpace::neurons};
    fcs.fixed = 2;
    fcs.get = [](const ModelConfig& m) { return m.cnv().fc_widths; };
    fcs.set = [](ModelConfig& m, const std::vector<int>& v) { m.cnv().fc_widths = v; };
    l.push_back({models::Family::cnv, {convs, fcs},
                 [](const ModelConfig& d) {
                   std::vector<int> ch;
                   for (const auto& c : d.cnv().convs) ch.push_back(c.channels);
                   return fmt::format("cnv {} | fc {}-classifier {}", fmt::join(ch, "-"), fmt::join(d.cnv().fc_widths, "-"),
                                      bits_summary(d.cnv().quant));
                 },
                 true});
    // Quantized FlexStudent: FlexStudent's genes (at least one conv), pooled for the image so FINN can lower it.
    l.push_back({models::Family::qflexstudent, flexstudent_groups<qflex_net>(1),
                 [](const ModelConfig& d) {
                   return flexstudent_summary(d.qflexstudent().net) + " " + bits_summary(d.qflexstudent().quant);
                 },
                 true,
                 [](const SearchSpace& s, ModelConfig& m) {
                   auto& net = m.qflexstudent().net;
                   net.pool = finn_pools(net.conv_layers(), s.image_height, s.image_width);
                 }});
    return l;
  }();
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

// ---- the architecture genes, from the codec's groups ----
void validate_arch(const SearchSpace& s, const GenomeCodec& c, const std::string& key) {
  for (const auto& g : c.groups) {
    if (g.varies()) {
      check_range(key + "." + g.min_key, s.*g.min, g.limit_lo, g.limit_hi);
      check_range(key + "." + g.max_key, s.*g.max, g.limit_lo + 1, g.limit_hi);
      if (s.*g.min >= s.*g.max)
        throw ConfigError(fmt::format("{}.{}: must exceed {} ({} >= {}): NSGA-II needs every gene to vary", key,
                                      g.max_key, g.min_key, s.*g.min, s.*g.max));
    }
    check_choices(key + "." + g.choices_key, s.*g.choices);
  }
  if (needs_image(c.family)) {
    if (s.image_height < 1 || s.image_width < 1)
      throw ConfigError(fmt::format("{}.image: {} plans its pooling for the input image: give [height, width] (an "
                                    "evolve config takes its dataset's)",
                                    key, models::family_name(c.family)));
    check_range(key + ".image", s.image_height, 1, 4096);
    check_range(key + ".image", s.image_width, 1, 4096);
  }
}

size_t arch_genes(const SearchSpace& s, const GenomeCodec& c) {
  size_t n = 0;
  for (const auto& g : c.groups) n += size_t(g.varies()) + size_t(g.slots(s));
  return n;
}

void arch_bounds(const SearchSpace& s, const GenomeCodec& c, std::vector<double>& lo, std::vector<double>& hi) {
  for (const auto& g : c.groups) {
    if (g.varies()) {
      lo.push_back(s.*g.min);
      hi.push_back(s.*g.max);
    }
    lo.insert(lo.end(), size_t(g.slots(s)), 0.0);
    hi.insert(hi.end(), size_t(g.slots(s)), double((s.*g.choices).size() - 1));
  }
}

void decode_arch(const SearchSpace& s, const GenomeCodec& c, const std::vector<double>& genome, ModelConfig& m) {
  size_t i = 0;
  for (const auto& g : c.groups) {
    int active = g.fixed;
    if (g.varies()) {
      active = gene(genome, i, s.*g.min, s.*g.max) - g.uncounted;
      ++i;
    }
    const auto& choices = s.*g.choices;
    std::vector<int> values;
    for (int k = 0; k < g.slots(s); ++k, ++i) {
      const int choice = gene(genome, i, 0.0, double(choices.size() - 1));
      if (k < active) values.push_back(choices[size_t(choice)]);
    }
    g.set(m, values);
  }
  if (c.finish) c.finish(s, m);
}

// The architecture genes of `m`; "" or the reason it has none.
std::string encode_arch(const SearchSpace& s, const GenomeCodec& c, const ModelConfig& m, std::vector<double>& genome) {
  genome.assign(arch_genes(s, c), 0.0);
  size_t i = 0;
  for (const auto& g : c.groups) {
    const auto values = g.get(m);
    const int n = int(values.size());
    if (g.varies()) {
      const int depth = n + g.uncounted;
      if (depth < s.*g.min || depth > s.*g.max)
        return fmt::format("{} {}, the space has {}..{} (space.{}, {})", depth, g.what, s.*g.min, s.*g.max, g.min_key,
                           g.max_key);
      genome[i++] = depth;
    } else if (n != g.fixed) {
      return fmt::format("{} {}, the genome has {}", n, g.what, g.fixed);
    }
    const auto& choices = s.*g.choices;
    for (int k = 0; k < g.slots(s); ++k, ++i) {
      if (k >= n) continue;
      const int choice = choice_of(choices, values[size_t(k)]);
      if (choice < 0)
        return fmt::format("{} {} not in space.{} [{}]", g.item, values[size_t(k)], g.choices_key,
                           fmt::join(choices, ", "));
      genome[i] = choice;
    }
  }
  return "";
}

// The bit slot of each hidden (weighted, activated) layer of `m`, in layer order: group by group, slot i of a group
// for its i-th layer, so a group's bits do not move when an earlier group's depth changes.
std::vector<size_t> hidden_slots(const SearchSpace& s, const GenomeCodec& c, const ModelConfig& m) {
  std::vector<size_t> out;
  size_t at = 0;
  for (const auto& g : c.groups) {
    const size_t n = g.get(m).size();
    for (size_t k = 0; k < n; ++k) out.push_back(at + k);
    at += size_t(g.slots(s));
  }
  return out;
}
// (weight slots, activation slots): one per layer slot, and the classifier's weight slot last.
std::pair<size_t, size_t> bit_slots(const SearchSpace& s, const GenomeCodec& c) {
  size_t n = 0;
  for (const auto& g : c.groups) n += size_t(g.slots(s));
  return {n + 1, n};
}

// A quantized model whose bits have no genes: every hidden layer the baseline's first-layer bits, the classifier the
// baseline's classifier bits (the lists follow the decoded depth).
void bits_follow_depth(const SearchSpace& s, const GenomeCodec& c, ModelConfig& m) {
  const auto* q = models::quant_config(m);
  if (!q || q->weight_bits.empty() || q->act_bits.empty()) return;
  const size_t hidden = hidden_slots(s, c, m).size();
  std::vector<int> w(hidden, q->weight_bits.front());
  w.push_back(q->weight_bits.back());
  const std::vector<int> a(hidden, q->act_bits.front());
  models::set_quant_bits(m, w, a);
}
// ---- the bit genes (SearchSpace::bits), after the family's genes ----
size_t bit_genes(const SearchSpace& s, const GenomeCodec& c) {
  if (s.bits == "uniform") return 2;
  if (s.bits == "per-layer") {
    const auto [w, a] = bit_slots(s, c);
    return w + a;
  }
  return 0;
}

void validate_bits(const SearchSpace& s, const GenomeCodec& c, const std::string& key) {
  check_one_of(key + ".bits", s.bits, {"none", "uniform", "per-layer"});
  if (s.bits == "none") return;
  if (!c.bit_genes)
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

// Sets the decoded model's bits from the bit genes at `at`: uniform, one weight and one activation width for every
// layer; per-layer, hidden layer i from its slot (hidden_slots), the classifier from the last weight slot.
void decode_bits(const SearchSpace& s, const GenomeCodec& c, const std::vector<double>& g, size_t at,
                 models::ModelConfig& m) {
  if (s.bits == "none") return;
  if (!models::quant_config(m))
    throw ConfigError(fmt::format("space.bits: '{}' needs a quantized baseline student (qmlp, qcnv, qflexstudent), "
                                  "this one is float",
                                  s.bits));
  auto pick = [&](size_t i, const std::vector<int>& list) {
    return list[size_t(gene(g, i, 0.0, double(list.size() - 1)))];
  };
  if (s.bits == "uniform") {
    models::set_quant_bits(m, {pick(at, s.weight_bits)}, {pick(at + 1, s.act_bits)});
    return;
  }
  const size_t w_slots = bit_slots(s, c).first;
  std::vector<int> w, a;
  for (size_t slot : hidden_slots(s, c, m)) {
    w.push_back(pick(at + slot, s.weight_bits));
    a.push_back(pick(at + w_slots + slot, s.act_bits));
  }
  w.push_back(pick(at + w_slots - 1, s.weight_bits));  // the classifier: always the last slot
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
  const size_t w_slots = bit_slots(s, c).first;
  const auto slots = hidden_slots(s, c, m);
  if (q->weight_bits.size() != slots.size() + 1 || q->act_bits.size() != slots.size())
    return fmt::format("{} weight and {} activation widths for {} weighted layers", q->weight_bits.size(),
                       q->act_bits.size(), slots.size() + 1);
  for (size_t i = 0; i < slots.size(); ++i) {
    if (auto e = index(q->weight_bits[i], s.weight_bits, "weight_bits", g[at + slots[i]]); !e.empty()) return e;
    if (auto e = index(q->act_bits[i], s.act_bits, "act_bits", g[at + w_slots + slots[i]]); !e.empty()) return e;
  }
  return index(q->weight_bits.back(), s.weight_bits, "weight_bits", g[at + w_slots - 1]);
}
}  // namespace

bool searchable(models::Family family) { return find_codec(family) != nullptr; }

bool needs_image(models::Family family) { return family == models::Family::qflexstudent; }

std::vector<bool> finn_pools(int conv_layers, int height, int width) {
  std::vector<bool> out;
  for (int i = 0; i < conv_layers; ++i) {  // conv3x3 pad 1 keeps the map size
    const bool p = height >= 4 && width >= 4 && height % 2 == 0 && width % 2 == 0;
    if (p) {
      height /= 2;
      width /= 2;
    }
    out.push_back(p);
  }
  return out;
}

void SearchSpace::validate(const std::string& key) const {
  const auto& c = codec(family, key + ".arch");
  validate_arch(*this, c, key);
  validate_bits(*this, c, key);
}

size_t SearchSpace::genes() const {
  const auto& c = codec(family, "space.arch");
  return arch_genes(*this, c) + bit_genes(*this, c);
}

std::vector<double> SearchSpace::lower() const {
  const auto& c = codec(family, "space.arch");
  std::vector<double> lo, hi;
  arch_bounds(*this, c, lo, hi);
  lo.resize(lo.size() + bit_genes(*this, c), 0.0);
  return lo;
}

std::vector<double> SearchSpace::upper() const {
  const auto& c = codec(family, "space.arch");
  std::vector<double> lo, hi;
  arch_bounds(*this, c, lo, hi);
  if (bits == "uniform") {
    hi.push_back(double(weight_bits.size() - 1));
    hi.push_back(double(act_bits.size() - 1));
  } else if (bits == "per-layer") {
    const auto [w, a] = bit_slots(*this, c);
    hi.insert(hi.end(), w, double(weight_bits.size() - 1));
    hi.insert(hi.end(), a, double(act_bits.size() - 1));
  }
  return hi;
}

models::ModelConfig SearchSpace::decode(const std::vector<double>& g, const models::ModelConfig& base) const {
  const auto& c = codec(family, "space.arch");
  if (g.size() != genes()) throw ConfigError(fmt::format("genome: {} genes, the space has {}", g.size(), genes()));
  models::ModelConfig m = base;
  m.set_family(family);
  decode_arch(*this, c, g, m);
  bits_follow_depth(*this, c, m);
  decode_bits(*this, c, g, arch_genes(*this, c), m);
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
  const auto& c = codec(family, "space.arch");
  std::vector<double> g;
  if (auto reason = encode_arch(*this, c, m, g); !reason.empty()) return fail(reason);
  if (auto reason = encode_bits(*this, c, m, g); !reason.empty()) return fail(reason);
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
  for (const auto& g : codec(s.family, "space.arch").groups) {
    j[g.choices_key] = s.*g.choices;
    if (g.varies()) {
      j[g.min_key] = s.*g.min;
      j[g.max_key] = s.*g.max;
    }
  }
  // Unset (0) only before an evolve config takes its dataset's: written once set.
  if (needs_image(s.family) && (s.image_height != 0 || s.image_width != 0)) j["image"] = {s.image_height, s.image_width};
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
  std::vector<int> image;
  r.get("arch", arch).get("min_conv", s.min_conv).get("max_conv", s.max_conv).get("channels", s.channels);
  r.get("min_fc", s.min_fc).get("max_fc", s.max_fc).get("neurons", s.neurons).get("stage_channels", s.stage_channels);
  r.get("min_hidden", s.min_hidden).get("max_hidden", s.max_hidden).get("widths", s.widths);
  r.get("cnv_channels", s.cnv_channels).get("image", image);
  r.get("bits", s.bits).get("weight_bits", s.weight_bits).get("act_bits", s.act_bits);
  r.finish();
  s.family = models::parse_family(arch, r.key_path("arch"));
  if (!image.empty()) {
    if (image.size() != 2) throw ConfigError(r.key_path("image") + ": expected [height, width]");
    s.image_height = image[0];
    s.image_width = image[1];
  }
  s.validate(path);
  return s;
}

std::string canonical_key(const models::ModelConfig& decoded) { return models::to_json(decoded).dump(); }

}  // namespace nemokd::search
