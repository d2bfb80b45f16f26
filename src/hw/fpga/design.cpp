#include "hw/fpga/design.h"

#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "quant/layers.h"
#include "quant/quantizer.h"

namespace nemokd::hw::fpga {

namespace {

void require_fixed_point(const std::string& key, int bits) {
  if (bits == quant::kFloatBits)
    throw ConfigError(fmt::format("{}: 32 bits is float; the FPGA cost model prices quantized layers only (1..8 bits)",
                                  key));
  quant::check_bits(key, bits);
}

// The output levels of a hidden activation; thresholds = levels - 1 (quant::Levels is the one source).
quant::Levels activation_levels(const models::MlpConfig& m, int bits) {
  if (quant::parse_act_kind(m.activation) == quant::ActKind::relu)
    return quant::unsigned_activation_levels(bits, m.quant.relu_max);
  return quant::signed_activation_levels(bits);
}

}  // namespace

int64_t divisor_at_most(int64_t n, int64_t value) {
  int64_t best = 1;
  for (int64_t d : divisors(n))
    if (d <= value) best = d;
  return best;
}

Design mlp_design(const models::MlpConfig& m, const MlpShape& shape) {
  if (!m.quantized) throw ConfigError("model: a float MLP has no FPGA cost; quantize it (mlp.quant)");
  m.validate("mlp");
  if (shape.in_features <= 0) throw ConfigError(fmt::format("input features: {} (need > 0)", shape.in_features));
  if (shape.classes < 2) throw ConfigError(fmt::format("classes: {} (need >= 2)", shape.classes));
  if (shape.pad_output_to < 0) throw ConfigError(fmt::format("pad_output_to: {} (need >= 0)", shape.pad_output_to));
  const auto& q = m.quant;
  Design d;
  int in_bits = 0;
  bool in_signed = true;
  if (q.input == "float") {
    throw ConfigError("mlp.quant.input: a float input has no FPGA cost; use signed (quantized) or u8 pixels");
  } else if (q.input == "u8") {
    in_bits = 8;  // pixels stream straight into the first MVAU
    in_signed = false;
  } else {
    require_fixed_point("mlp.quant.input_bits", q.input_bits);
    const auto levels = quant::signed_activation_levels(q.input_bits);
    ThresholdLayer t;
    t.channels = shape.in_features;
    t.in_bits = 8;  // UINT8 pixels, as in FINN's reference flow
    t.out_bits = q.input_bits;
    t.thresholds = levels.count() - 1;
    d.input = t;
    in_bits = q.input_bits;
  }
  const size_t n = m.hidden.size() + 1;
  int64_t mw = shape.in_features;
  for (size_t i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    MvauLayer l;
    l.name = fmt::format("fc{}", i);
    l.mw = mw;
    l.mh = last ? shape.classes : m.hidden[i];
    if (last && shape.pad_output_to > 1) {
      const int64_t padded = (l.mh + shape.pad_output_to - 1) / shape.pad_output_to * shape.pad_output_to;
      if (padded != l.mh) l.mh_unpadded = l.mh;
      l.mh = padded;
    }
    require_fixed_point(fmt::format("mlp.quant.weight_bits[{}]", i), q.weight_bits[i]);
    l.wbits = q.weight_bits[i];
    l.abits = in_bits;
    l.input_signed = in_signed;
    if (!last) {
      const int b = q.act_bits[i];
      require_fixed_point(fmt::format("mlp.quant.act_bits[{}]", i), b);
      const auto levels = activation_levels(m, b);
      l.obits = b;
      l.thresholds = levels.count() - 1;
      in_bits = b;
      in_signed = levels.is_signed || levels.bipolar;
    }
    d.layers.push_back(l);
    mw = l.mh;
  }
  return d;
}

nlohmann::json Folding::to_json() const { return {{"pe", pe}, {"simd", simd}}; }

void sync_dependent_units(Design& d) {
  for (auto& l : d.layers)
    if (l.window) l.window->simd = int(std::gcd<int64_t>(l.window->channels, l.simd));
  if (!d.input || d.layers.empty()) return;
  const int pe = int(std::gcd<int64_t>(d.input->channels, d.layers[0].simd));
  d.input->pe = pe;
  d.input->note = pe == d.layers[0].simd ? fmt::format("PE = SIMD of {} (keeps pace with it)", d.layers[0].name)
                                         : fmt::format("PE = gcd(channels, SIMD of {})", d.layers[0].name);
}

void apply_folding(Design& d, const Folding& f) {
  const size_t n = d.layers.size();
  auto check_count = [n](const std::string& key, const std::vector<int>& v) {
    if (v.size() != 1 && v.size() != n)
      throw ConfigError(fmt::format("{}: {} values for {} layers (give one for all, or one per layer)", key, v.size(), n));
    for (int x : v)
      if (x < 1) throw ConfigError(fmt::format("{}: {} (need >= 1)", key, x));
  };
  check_count("pe", f.pe);
  check_count("simd", f.simd);
  for (size_t i = 0; i < n; ++i) {
    auto& l = d.layers[i];
    std::vector<std::string> notes;
    auto pick = [&](const std::vector<int>& v, int64_t dim, const char* what, const char* dim_name) -> int {
      if (v.size() != 1) return v[i];  // per layer: strict, checked below
      const int64_t legal = divisor_at_most(dim, v[0]);
      if (legal != v[0]) notes.push_back(fmt::format("{} {} does not divide {} {}; using {}", what, v[0], dim_name, dim, legal));
      return int(legal);
    };
    l.pe = pick(f.pe, l.mh, "PE", "MH");
    l.simd = pick(f.simd, l.mw, "SIMD", "MW");
    l.note = fmt::format("{}", fmt::join(notes, "; "));
    l.check_folding();
  }
  sync_dependent_units(d);
}

}  // namespace nemokd::hw::fpga
