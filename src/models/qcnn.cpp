#include "models/qcnn.h"

#include <fmt/format.h>
#include <torch/nn.h>

#include "core/error.h"
#include "core/json_config.h"
#include "models/layer_table.h"

namespace nemokd::models {

// ---- configs ----------------------------------------------------------------------------------------------------

MlpQuantConfig CnvConfig::default_quant(size_t weighted, size_t activations) {
  MlpQuantConfig q;
  expand_bits(q, {2}, {2}, weighted, activations);
  q.input = "signed";
  q.input_bits = 8;
  return q;
}

namespace {

void check_convs(const std::string& key, const std::vector<QConvLayer>& convs) {
  if (convs.empty() || convs.size() > 16) throw ConfigError(fmt::format("{}: {} conv layers (1..16)", key, convs.size()));
  for (size_t i = 0; i < convs.size(); ++i) {
    const auto& c = convs[i];
    const std::string k = fmt::format("{}[{}]", key, i);
    check_range(k + ".channels", c.channels, 1, 4096);
    check_range(k + ".kernel", c.kernel, 1, 7);
    check_range(k + ".padding", c.padding, 0, c.kernel - 1);
  }
}

void check_fc(const std::string& key, const std::vector<int>& widths) {
  if (widths.size() > 8) throw ConfigError(fmt::format("{}: {} hidden FC layers, at most 8", key, widths.size()));
  detail::check_widths(key, widths, -1, 65536, "");
}

nlohmann::json convs_json(const std::vector<QConvLayer>& convs) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& c : convs)
    j.push_back({{"channels", c.channels}, {"kernel", c.kernel}, {"padding", c.padding}, {"pool", c.pool}});
  return j;
}

std::vector<QConvLayer> convs_from_json(const nlohmann::json& j, const std::string& key) {
  if (!j.is_array()) throw ConfigError(fmt::format("{}: expected a list of conv layers", key));
  std::vector<QConvLayer> out;
  for (size_t i = 0; i < j.size(); ++i) {
    QConvLayer c;
    JsonReader r(j[i], fmt::format("{}[{}]", key, i));
    r.get("channels", c.channels).get("kernel", c.kernel).get("padding", c.padding).get("pool", c.pool);
    r.finish();
    out.push_back(c);
  }
  return out;
}

// The quantization block of a quantized family (every layer quantized; "quant" absent = the family's default).
void read_quant(JsonReader& r, MlpQuantConfig& q) {
  if (const auto* j = r.child("quant")) q = mlp_quant_config_from_json(*j, r.key_path("quant"));
}

}  // namespace

void CnvConfig::validate(const std::string& key) const {
  check_convs(key + ".convs", convs);
  check_fc(key + ".fc_widths", fc_widths);
  if (pad_to != 0) check_range(key + ".pad_to", pad_to, 1, 4096);
  check_range(key + ".dropout", dropout, 0.0, 0.95);
  check_one_of(key + ".activation", activation, {"relu", "tanh", "hardtanh"});
  validate_quant(quant, convs.size() + fc_widths.size() + 1, convs.size() + fc_widths.size(), activation, key + ".quant");
}

void CnvConfig::set_bits(const std::vector<int>& w, const std::vector<int>& a) {
  expand_bits(quant, w, a, convs.size() + fc_widths.size() + 1, convs.size() + fc_widths.size());
}

QCnnSpec CnvConfig::spec(InputShape input, const std::string& key) const {
  validate(key);
  QCnnSpec s;
  s.convs = convs;
  s.fc_widths = fc_widths;
  s.dropout = dropout;
  s.activation = activation;
  s.quant = quant;
  if (pad_to > 0 && (input.height < pad_to || input.width < pad_to)) {
    if (input.height != input.width || (pad_to - input.height) % 2 != 0)
      throw ConfigError(fmt::format("{}.pad_to: a {}x{} image cannot be centred in {}x{} (square images with an even "
                                    "difference only; pad_to 0 turns padding off)",
                                    key, input.height, input.width, pad_to, pad_to));
    s.input_pad = (pad_to - input.height) / 2;
    if (convs[0].padding != 0)
      throw ConfigError(fmt::format("{}.convs[0].padding: the first conv of a padded input must be unpadded", key));
  }
  return s;
}

nlohmann::json to_json(const CnvConfig& c) {
  return {{"convs", convs_json(c.convs)}, {"fc_widths", c.fc_widths}, {"pad_to", c.pad_to},
          {"dropout", c.dropout},        {"activation", c.activation}, {"quant", to_json(c.quant)}};
}

CnvConfig cnv_config_from_json(const nlohmann::json& j, const std::string& path) {
  CnvConfig c;
  JsonReader r(j, path);
  if (const auto* convs = r.child("convs")) c.convs = convs_from_json(*convs, r.key_path("convs"));
  r.get("fc_widths", c.fc_widths).get("pad_to", c.pad_to).get("dropout", c.dropout).get("activation", c.activation);
  c.quant = CnvConfig::default_quant(c.convs.size() + c.fc_widths.size() + 1, c.convs.size() + c.fc_widths.size());
  read_quant(r, c.quant);
  r.finish();
  c.validate(path);
  return c;
}

void QFlexStudentConfig::validate(const std::string& key) const {
  net.validate(key);
  if (net.conv_layers() == 0) throw ConfigError(key + ".conv_channels: a quantized FlexStudent needs a conv layer");
  check_one_of(key + ".activation", activation, {"relu", "tanh", "hardtanh"});
  validate_quant(quant, size_t(net.weighted_layers()), size_t(net.weighted_layers() - 1), activation, key + ".quant");
}

void QFlexStudentConfig::set_bits(const std::vector<int>& w, const std::vector<int>& a) {
  expand_bits(quant, w, a, size_t(net.weighted_layers()), size_t(net.weighted_layers() - 1));
}

QCnnSpec QFlexStudentConfig::spec(InputShape input, const std::string& key) const {
  validate(key);
  QCnnSpec s;
  const auto pooled = net.resolved_pool(input, key);
  for (int i = 0; i < net.conv_layers(); ++i) s.convs.push_back({net.conv_channels[size_t(i)], 3, 1, pooled[size_t(i)]});
  s.fc_widths = net.fc_widths;
  s.dropout = net.dropout;
  s.activation = activation;
  s.quant = quant;
  return s;
}

nlohmann::json to_json(const QFlexStudentConfig& c) {
  auto j = to_json(c.net);
  j["activation"] = c.activation;
  j["quant"] = to_json(c.quant);
  return j;
}

QFlexStudentConfig qflexstudent_config_from_json(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw ConfigError(fmt::format("{}: expected an object", path));
  QFlexStudentConfig c;
  auto net = j;  // the FlexStudent keys go to its own strict reader
  if (net.contains("activation")) {
    if (!net["activation"].is_string()) throw ConfigError(path + ".activation: expected a string");
    c.activation = net["activation"].get<std::string>();
    net.erase("activation");
  }
  nlohmann::json quant;
  if (net.contains("quant")) {
    quant = net["quant"];
    net.erase("quant");
  }
  c.net = flexstudent_config_from_json(net, path);
  c.quant = CnvConfig::default_quant(size_t(c.net.weighted_layers()), size_t(c.net.weighted_layers() - 1));
  if (!quant.is_null()) c.quant = mlp_quant_config_from_json(quant, path + ".quant");
  c.validate(path);
  return c;
}

// ---- the network ---------------------------------------------------------------------------------------------

namespace {
quant::WeightQuantConfig weight_config(const MlpQuantConfig& q, size_t layer) {
  quant::WeightQuantConfig w;
  w.bits = q.weight_bits[layer];
  w.scheme = q.scheme;
  w.granularity = q.granularity;
  w.learned_scale = q.learned_scale;
  return w;
}
quant::ActQuantConfig act_config(const QCnnSpec& s, size_t layer) {
  quant::ActQuantConfig a;
  a.bits = s.quant.act_bits[layer];
  a.kind = quant::parse_act_kind(s.activation);
  a.relu_max = s.quant.relu_max;
  a.learned_range = s.quant.learned_range;
  return a;
}
std::string bits_text(int bits) { return bits == quant::kFloatBits ? "float" : fmt::format("{}", bits); }
}  // namespace

QCnnImpl::QCnnImpl(Family family, nlohmann::json config, const QCnnSpec& spec, InputShape input, int classes)
    : family_(family), config_(std::move(config)), spec_(spec), input_(input), classes_(classes) {
  if (classes < 2) throw ConfigError(fmt::format("classes: {} (need >= 2)", classes));
  validate_quant(spec_.quant, spec_.weighted_layers(), spec_.activations(), spec_.activation, family_name(family_) + ".quant");
  const auto& qc = spec_.quant;
  q_.input = register_module("input_quant", InputQuant(qc.input, qc.input_bits));
  if (spec_.input_pad > 0 && qc.input != "float") {
    const auto l = q_.input->levels();
    q_.pad_value = l.value(l.min_code);
  }
  detail::LayerTable t;
  detail::Map x{input.channels, input.height + 2 * spec_.input_pad, input.width + 2 * spec_.input_pad};
  size_t w = 0, a = 0;  // weighted layer, activation
  for (size_t i = 0; i < spec_.convs.size(); ++i, ++w, ++a) {
    const auto& c = spec_.convs[i];
    const std::string name = fmt::format("conv{}", i + 1);
    const detail::Map y{c.channels, x.h + 2 * c.padding - c.kernel + 1, x.w + 2 * c.padding - c.kernel + 1};
    if (y.h < 1 || y.w < 1)
      throw ConfigError(fmt::format("{}: {}x{} kernel on a {}x{} map leaves nothing (input {}; too many unpadded conv "
                                    "layers or pools for it)",
                                    name, c.kernel, c.kernel, x.h, x.w, input.str()));
    const auto wq = weight_config(qc, w);
    q_.convs.push_back(register_module(name, quant::QuantConv2d(x.c, c.channels, c.kernel, 1, c.padding, wq, false)));
    t.record(*q_.convs.back(), "conv",
             fmt::format("{}x{} p{} {}->{} W{}", c.kernel, c.kernel, c.padding, x.c, c.channels, bits_text(wq.bits)),
             y.dims(), int64_t(c.channels) * x.c * c.kernel * c.kernel * y.h * y.w);
    x = y;
    q_.conv_norms.push_back(register_module(name + "_bn", t.bn(x)));
    const auto aq = act_config(spec_, a);
    q_.conv_acts.push_back(register_module(name + "_act", quant::QuantActivation(aq)));
    t.record(*q_.conv_acts.back(), "act", fmt::format("{} A{}", spec_.activation, bits_text(aq.bits)), x.dims(), 0);
    if (c.pool) {
      if (x.h < 2 || x.w < 2)
        throw ConfigError(fmt::format("{}: a 2x2 max-pool on a {}x{} map (input {})", name, x.h, x.w, input.str()));
      q_.pools.push_back(register_module(name + "_pool", t.max_pool(x)));
    } else {
      q_.pools.push_back(torch::nn::MaxPool2d(nullptr));
    }
  }
  int64_t features = x.c * x.h * x.w;
  for (size_t j = 0; j <= spec_.fc_widths.size(); ++j, ++w) {
    const bool last = j == spec_.fc_widths.size();
    const int64_t out = last ? classes : spec_.fc_widths[j];
    const std::string name = last ? "classifier" : fmt::format("fc{}", j + 1);
    const auto wq = weight_config(qc, w);
    q_.fcs.push_back(register_module(name, quant::QuantLinear(features, out, wq, false)));
    t.record(*q_.fcs.back(), "linear", fmt::format("{}->{} W{}", features, out, bits_text(wq.bits)), {out},
             features * out);
    q_.fc_norms.push_back(register_module(name + "_bn", t.bn1d(out)));
    features = out;
    if (last) break;
    const auto aq = act_config(spec_, a++);
    q_.fc_acts.push_back(register_module(name + "_act", quant::QuantActivation(aq)));
    t.record(*q_.fc_acts.back(), "act", fmt::format("{} A{}", spec_.activation, bits_text(aq.bits)), {out}, 0);
    if (spec_.dropout > 0)
      dropouts_.push_back(register_module(name + "_drop", torch::nn::Dropout(spec_.dropout)));
  }
  layers_ = t.rows(*this);
  integer_exact_ = integer_exact_blocker().empty();
}

std::string QCnnSpec::float_part() const {
  const auto& q = quant;
  if (q.input == "float") return "its input is float (train with --input u8 or --input signed)";
  size_t w = 0;
  for (size_t i = 0; i < convs.size(); ++i, ++w) {
    if (q.weight_bits[w] == quant::kFloatBits) return fmt::format("layer conv{} has float (32-bit) weights", i + 1);
    if (q.act_bits[i] == quant::kFloatBits) return fmt::format("layer conv{} has float (32-bit) activations", i + 1);
  }
  for (size_t j = 0; j <= fc_widths.size(); ++j, ++w) {
    const std::string name = j == fc_widths.size() ? "classifier" : fmt::format("fc{}", j + 1);
    if (q.weight_bits[w] == quant::kFloatBits) return fmt::format("layer {} has float (32-bit) weights", name);
    if (j < fc_widths.size() && q.act_bits[convs.size() + j] == quant::kFloatBits)
      return fmt::format("layer {} has float (32-bit) activations", name);
  }
  return "";
}

std::string QCnnImpl::integer_exact_blocker() const { return spec_.float_part(); }

torch::Tensor QCnnImpl::forward(torch::Tensor x) {
  // Eval mode computes in integers exactly as the integer engine will (see models/integer_net.h).
  if (!is_training() && integer_exact_) return integer_forward(integer_view(*this), x).to(x.device());
  return forward_fake_quant(x);
}

torch::Tensor QCnnImpl::forward_fake_quant(torch::Tensor x) {
  x = q_.input->forward(x);
  if (spec_.input_pad > 0) {
    const int64_t p = spec_.input_pad;
    x = torch::constant_pad_nd(x, {p, p, p, p}, q_.pad_value);
  }
  for (size_t i = 0; i < q_.convs.size(); ++i) {
    x = q_.conv_acts[i]->forward(q_.conv_norms[i]->forward(q_.convs[i]->forward(x)));
    if (q_.pools[i]) x = q_.pools[i]->forward(x);
  }
  x = x.flatten(1);
  for (size_t j = 0; j < q_.fcs.size(); ++j) {
    x = q_.fc_norms[j]->forward(q_.fcs[j]->forward(x));
    if (j < q_.fc_acts.size()) {
      x = q_.fc_acts[j]->forward(x);
      if (!dropouts_.empty()) x = dropouts_[j]->forward(x);
    }
  }
  return x;
}

nlohmann::json QCnnImpl::describe() const {
  return {{"arch", family_name(family_)}, {family_name(family_), config_},
          {"input", input_.str()}, {"classes", classes_},
          {"parameters", parameter_count(*this)}, {"macs", macs()}};
}

IntegerNet integer_view(const QCnnImpl& cnn) {
  if (auto why = cnn.integer_exact_blocker(); !why.empty())
    throw ConfigError(fmt::format("integer model: not available because {}", why));
  torch::NoGradGuard no_grad;
  const auto& q = cnn.quant_layers();
  const auto& spec = cnn.spec();
  IntegerNet out;
  detail::set_input(out, q.input->mode(), q.input->levels(), cnn.input_shape());
  quant::Levels in_levels = out.input_levels;
  InputShape map = cnn.input_shape();
  for (size_t i = 0; i < q.convs.size(); ++i) {
    const auto& bn = q.conv_norms[i];
    const auto& c = spec.convs[i];
    auto L = detail::weighted_layer(IntegerOp::conv, fmt::format("conv{}", i + 1), *q.convs[i], in_levels, bn->weight,
                                    bn->bias, bn->running_mean, bn->running_var, bn->options.eps());
    L.kernel = c.kernel;
    L.padding = c.padding;
    L.in_shape = map;
    if (i == 0 && spec.input_pad > 0) {  // the padded input: black pixels, i.e. the lowest input value
      L.padding = spec.input_pad;        // (its magnitude is within the input range: the bound is unchanged)
      L.pad_value = in_levels.bipolar ? -1 : in_levels.min_code;
    }
    detail::set_activation(L, *q.conv_acts[i]);
    in_levels = L.output_levels;
    map = InputShape{c.channels, map.height + 2 * int(L.padding) - c.kernel + 1, map.width + 2 * int(L.padding) - c.kernel + 1};
    out.layers.push_back(std::move(L));
    if (q.pools[i]) {
      IntegerLayer P;
      P.op = IntegerOp::maxpool;
      P.name = fmt::format("conv{}_pool", i + 1);
      P.kernel = 2;
      P.stride = 2;
      P.in_shape = map;
      P.input_levels = P.output_levels = in_levels;
      out.layers.push_back(std::move(P));
      map = InputShape{map.channels, map.height / 2, map.width / 2};
    }
  }
  IntegerLayer F;
  F.op = IntegerOp::flatten;
  F.name = "flatten";
  F.in_shape = map;
  F.input_levels = F.output_levels = in_levels;
  out.layers.push_back(std::move(F));
  for (size_t j = 0; j < q.fcs.size(); ++j) {
    const auto& bn = q.fc_norms[j];
    const bool last = j + 1 == q.fcs.size();
    auto L = detail::weighted_layer(IntegerOp::dense, last ? "classifier" : fmt::format("fc{}", j + 1), *q.fcs[j],
                                    in_levels, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                                    bn->options.eps());
    L.is_output = last;
    if (!last) {
      detail::set_activation(L, *q.fc_acts[j]);
      in_levels = L.output_levels;
    }
    out.layers.push_back(std::move(L));
  }
  return out;
}

}  // namespace nemokd::models
