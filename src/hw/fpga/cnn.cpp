#include "hw/fpga/cnn.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"
#include "quant/layers.h"
#include "quant/quantizer.h"

namespace nemokd::hw::fpga {

namespace {

const std::vector<std::pair<std::string, CnnOp>> kOps = {
    {"conv", CnnOp::conv}, {"maxpool", CnnOp::maxpool}, {"fc", CnnOp::fc}};

// Layer names as the design shows them: conv0, conv1, ..., fc0, ...; a pool is named after the layer it follows.
std::vector<std::string> layer_names(const CnnSpec& s) {
  std::vector<std::string> names;
  int conv = 0, fc = 0, pool = 0;
  for (const auto& l : s.layers) {
    if (l.op == CnnOp::conv) names.push_back(fmt::format("conv{}", conv++));
    else if (l.op == CnnOp::fc) names.push_back(fmt::format("fc{}", fc++));
    else names.push_back(fmt::format("pool{}", pool++));
  }
  return names;
}

void require_fixed_point(const std::string& what, int bits) {
  if (bits == quant::kFloatBits)
    throw ConfigError(fmt::format("{}: 32 bits is float; the FPGA cost model prices quantized layers only (1..8 bits)",
                                  what));
  if (bits < 1 || bits > 8) throw ConfigError(fmt::format("{}: {} bits (need 1..8)", what, bits));
}

// Thresholds per channel of a hidden activation with `bits` output bits, and whether its codes are signed.
std::pair<int64_t, bool> activation_thresholds(const std::string& activation, int bits) {
  if (activation == "bnn-pynq") return {bits, bits > 1};  // finn-hlslib ThresholdsActivation<..., NumTH = A>
  if (quant::parse_act_kind(activation) == quant::ActKind::relu)
    return {quant::unsigned_activation_levels(bits, 1.0).count() - 1, false};
  const auto levels = quant::signed_activation_levels(bits);
  return {levels.count() - 1, true};
}

}  // namespace

std::string to_string(CnnOp op) {
  for (const auto& [name, v] : kOps)
    if (v == op) return name;
  return "?";
}

nlohmann::json CnnLayer::to_json() const {
  nlohmann::json j = {{"op", to_string(op)}};
  if (op == CnnOp::maxpool) {
    j["k"] = k;
    return j;
  }
  j["out"] = out;
  if (op == CnnOp::conv) {
    j["k"] = k;
    j["stride"] = stride;
    j["pad"] = pad;
  }
  j["wbits"] = wbits;
  j["abits"] = abits;
  return j;
}

int CnnSpec::weighted_layers() const {
  int n = 0;
  for (const auto& l : layers) n += l.op != CnnOp::maxpool;
  return n;
}

void CnnSpec::set_bits(const std::vector<int>& wbits, const std::vector<int>& abits) {
  const int n = weighted_layers();
  auto check = [n](const char* key, const std::vector<int>& v) {
    if (v.size() != 1 && int(v.size()) != n)
      throw ConfigError(fmt::format("{}: {} values for {} conv/fc layers (give one for all, or one per layer)", key,
                                    v.size(), n));
  };
  check("wbits", wbits);
  check("abits", abits);
  int i = 0;
  for (auto& l : layers) {
    if (l.op == CnnOp::maxpool) continue;
    l.wbits = wbits.size() == 1 ? wbits[0] : wbits[size_t(i)];
    l.abits = abits.size() == 1 ? abits[0] : abits[size_t(i)];
    ++i;
  }
}

nlohmann::json CnnSpec::to_json() const {
  nlohmann::json ls = nlohmann::json::array();
  for (const auto& l : layers) ls.push_back(l.to_json());
  return {{"name", name},         {"channels", channels},   {"size", size},
          {"input", input},       {"input_bits", input_bits}, {"activation", activation},
          {"pad_output_to", pad_output_to}, {"layers", ls}};
}

CnnSpec cnn_spec_from_json(const nlohmann::json& j, const std::string& path) {
  CnnSpec s;
  JsonReader r(j, path);
  r.get("name", s.name).get("channels", s.channels).get("size", s.size).get("input", s.input);
  r.get("input_bits", s.input_bits).get("activation", s.activation).get("pad_output_to", s.pad_output_to);
  const auto* ls = r.child("layers");
  r.finish();
  if (!ls || !ls->is_array()) throw ConfigError(path + ".layers: expected an array of layers");
  for (size_t i = 0; i < ls->size(); ++i) {
    const std::string at = fmt::format("{}.layers[{}]", path, i);
    CnnLayer l;
    std::string op;
    JsonReader lr((*ls)[i], at);
    lr.get("op", op).get("out", l.out).get("k", l.k).get("stride", l.stride).get("pad", l.pad);
    lr.get("wbits", l.wbits).get("abits", l.abits);
    lr.finish();
    bool known = false;
    for (const auto& [name, v] : kOps)
      if (name == op) l.op = v, known = true;
    if (!known) throw ConfigError(fmt::format("{}.op: '{}' is not one of conv, maxpool, fc", at, op));
    if (l.op == CnnOp::maxpool && !(*ls)[i].contains("k")) l.k = 2;
    s.layers.push_back(l);
  }
  s.validate();
  return s;
}

void CnnSpec::validate() const {
  if (channels < 1 || size < 1)
    throw ConfigError(fmt::format("{}: input {}x{}x{} is empty", name, channels, size, size));
  if (input != "signed" && input != "u8")
    throw ConfigError(fmt::format("{}.input: '{}': a float input has no FPGA cost; use signed (a thresholding unit) "
                                  "or u8 pixels",
                                  name, input));
  if (input == "signed") require_fixed_point(name + ".input_bits", input_bits);
  if (activation != "bnn-pynq") quant::parse_act_kind(activation);  // throws naming the value
  if (pad_output_to < 0) throw ConfigError(fmt::format("{}.pad_output_to: {} (need >= 0)", name, pad_output_to));
  if (layers.empty() || layers.back().op != CnnOp::fc)
    throw ConfigError(fmt::format("{}: the last layer must be an fc layer (the classifier)", name));
  const auto names = layer_names(*this);
  int64_t map = size;
  bool flat = false;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    const std::string& n = names[i];
    if (l.op == CnnOp::maxpool) {
      if (i == 0 || layers[i - 1].op != CnnOp::conv)
        throw ConfigError(fmt::format("{}: FINN pools the output codes of a convolution; a max-pool must follow a "
                                      "conv layer",
                                      n));
      if (l.k < 2) throw ConfigError(fmt::format("{}: pool size {} (need >= 2)", n, l.k));
      if (map % l.k)
        throw ConfigError(fmt::format("{}: FINN's StreamingMaxPool needs the map side ({}) to be a multiple of the "
                                      "pool size ({})",
                                      n, map, l.k));
      map /= l.k;
      continue;
    }
    if (l.out < 1) throw ConfigError(fmt::format("{}: {} outputs (need >= 1)", n, l.out));
    require_fixed_point(n + ": weight", l.wbits);
    if (i + 1 < layers.size()) require_fixed_point(n + ": activation", l.abits);
    if (l.op == CnnOp::fc) {
      flat = true;
      continue;
    }
    if (flat) throw ConfigError(fmt::format("{}: a convolution after an fc layer cannot be mapped", n));
    if (l.k < 1 || l.stride < 1 || l.pad < 0)
      throw ConfigError(fmt::format("{}: kernel {}, stride {}, pad {} (need k >= 1, stride >= 1, pad >= 0)", n, l.k,
                                    l.stride, l.pad));
    if (l.k == 1 && l.stride > 1)
      throw ConfigError(fmt::format("{}: FINN lowers a strided 1x1 convolution to a DownSampler, which nemokd does "
                                    "not price",
                                    n));
    if (l.k > map + 2 * l.pad)
      throw ConfigError(fmt::format("{}: kernel {} is larger than its {}x{} input (padded {})", n, l.k, map, map,
                                    map + 2 * l.pad));
    map = (map + 2 * l.pad - l.k) / l.stride + 1;
  }
}

CnnSpec cnv_spec(int wbits, int abits, int classes) {
  CnnSpec s;
  s.name = "cnv";
  s.channels = 3;
  s.size = 32;
  auto conv = [&](int64_t out) { return CnnLayer{CnnOp::conv, out, 3, 1, 0, wbits, abits}; };
  auto pool = [] { return CnnLayer{CnnOp::maxpool, 0, 2, 2, 0, 0, 0}; };
  auto fc = [&](int64_t out) { return CnnLayer{CnnOp::fc, out, 1, 1, 0, wbits, abits}; };
  s.layers = {conv(64),  conv(64),  pool(),  conv(128), conv(128), pool(),
              conv(256), conv(256), fc(512), fc(512),   fc(classes)};
  return s;
}

bool is_cnn_topology(const std::string& name) { return name == "cnv"; }

CnnSpec cnn_topology(const std::string& name, int classes) {
  if (name == "cnv") return cnv_spec(1, 1, classes);
  throw ConfigError(fmt::format("topology: '{}' is not a known CNN (known: cnv)", name));
}

Design cnn_design(const CnnSpec& s) {
  s.validate();
  const auto names = layer_names(s);
  Design d;
  int in_bits = 8;
  bool in_signed = false;
  if (s.input == "signed") {
    ThresholdLayer t;
    t.channels = s.channels;
    t.vectors = s.size * s.size;
    t.in_bits = 8;  // UINT8 pixels
    t.out_bits = s.input_bits;
    t.thresholds = quant::signed_activation_levels(s.input_bits).count() - 1;
    d.input = t;
    in_bits = s.input_bits;
    in_signed = true;
  }
  int64_t map = s.size, ch = s.channels;
  bool flat = false;
  int64_t flat_width = 0;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const auto& l = s.layers[i];
    const bool last = i + 1 == s.layers.size();
    if (l.op == CnnOp::maxpool) {
      auto& prev = d.layers.back();
      prev.pool = MaxPool{ch, map, l.k, in_bits};
      map /= l.k;
      continue;
    }
    MvauLayer m;
    m.name = names[i];
    m.wbits = l.wbits;
    m.abits = in_bits;
    m.input_signed = in_signed;
    m.mh = l.out;
    if (l.op == CnnOp::conv) {
      m.mw = int64_t(l.k) * l.k * ch;
      const int64_t out_map = (map + 2 * l.pad - l.k) / l.stride + 1;
      m.vectors = out_map * out_map;
      if (!(l.k == 1 && l.pad == 0))  // FINN maps a pointwise convolution straight to a matrix product
        m.window = ConvWindow{ch, map, l.k, l.stride, l.pad, in_bits, 1};
      map = out_map;
    } else {
      if (!flat) {
        flat = true;
        flat_width = ch * map * map;
      }
      m.mw = flat_width;
      m.vectors = 1;
    }
    if (last && s.pad_output_to > 1) {
      const int64_t padded = (m.mh + s.pad_output_to - 1) / s.pad_output_to * s.pad_output_to;
      if (padded != m.mh) m.mh_unpadded = m.mh;
      m.mh = padded;
    }
    if (!last) {
      const auto [thr, sgn] = activation_thresholds(s.activation, l.abits);
      m.obits = l.abits;
      m.thresholds = thr;
      in_bits = l.abits;
      in_signed = sgn;
    }
    ch = l.out;
    flat_width = l.op == CnnOp::fc ? l.out : flat_width;
    d.layers.push_back(m);
  }
  return d;
}

}  // namespace nemokd::hw::fpga
