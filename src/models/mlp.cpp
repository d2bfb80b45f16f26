#include "models/mlp.h"

#include <fmt/format.h>
#include <torch/nn.h>

#include "core/error.h"
#include "core/json_config.h"
#include "models/layer_table.h"
#include "models/integer_mlp.h"

namespace nemokd::models {

std::string InputShape::str() const { return fmt::format("{}x{}x{}", channels, height, width); }

InputShape InputShape::parse(const std::string& text) {
  InputShape s;
  char x1 = 0, x2 = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c%d%n", &s.channels, &x1, &s.height, &x2, &s.width, &consumed) != 5 ||
      x1 != 'x' || x2 != 'x' || consumed != static_cast<int>(text.size()) || s.channels <= 0 || s.height <= 0 ||
      s.width <= 0)
    throw ConfigError(fmt::format("input: '{}' is not a shape like 1x28x28", text));
  return s;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

nlohmann::json to_json(const LayerSummary& l) {
  return {{"name", l.name},         {"kind", l.kind},         {"detail", l.detail},
          {"output", l.output},     {"parameters", l.parameters}, {"macs", l.macs}};
}

int64_t ClassifierImpl::macs() const {
  const auto rows = layers();
  if (rows.empty()) return -1;
  int64_t n = 0;
  for (const auto& r : rows) n += r.macs;
  return n;
}

void MlpConfig::validate(const std::string& key) const {
  if (hidden.empty()) throw ConfigError(key + ".hidden: at least one hidden layer is needed");
  for (int w : hidden)
    if (w <= 0 || w > 65536) throw ConfigError(fmt::format("{}.hidden: width {} is out of range [1, 65536]", key, w));
  check_range(key + ".dropout", dropout, 0.0, 0.95);
  check_one_of(key + ".activation", activation, {"relu", "tanh", "hardtanh"});
  if (quantized) validate_quant(quant, hidden.size() + 1, hidden.size(), activation, key + ".quant");
}

void validate_quant(const MlpQuantConfig& q, size_t weighted, size_t activations, const std::string& activation,
                    const std::string& qk) {
  if (q.weight_bits.size() != weighted)
    throw ConfigError(fmt::format("{}.weight_bits: {} entries for {} layers with weights", qk, q.weight_bits.size(),
                                  weighted));
  if (q.act_bits.size() != activations)
    throw ConfigError(fmt::format("{}.act_bits: {} entries for {} hidden activations", qk, q.act_bits.size(),
                                  activations));
  for (int b : q.weight_bits) quant::check_bits(qk + ".weight_bits", b);
  for (int b : q.act_bits) {
    quant::check_bits(qk + ".act_bits", b);
    if (b == 1 && activation == "relu")
      throw ConfigError(qk + ".act_bits: 1-bit activations are sign (bipolar); use --activation tanh or hardtanh");
  }
  check_one_of(qk + ".input", q.input, {"float", "u8", "signed"});
  if (q.input == "signed" && (q.input_bits < 1 || q.input_bits > 8))
    throw ConfigError(fmt::format("{}.input_bits: {} is out of range [1, 8]", qk, q.input_bits));
  if (activation == "relu") check_range(qk + ".relu_max", q.relu_max, 1e-3, 1e3);
}

void expand_bits(MlpQuantConfig& q, const std::vector<int>& w, const std::vector<int>& a, size_t weighted,
                 size_t activations) {
  q.weight_bits = w.size() == 1 ? std::vector<int>(weighted, w[0]) : w;
  q.act_bits = a.size() == 1 ? std::vector<int>(activations, a[0]) : a;
}

std::string required_normalization(const MlpQuantConfig& q) {
  if (q.input == "float") return "";
  return q.input == "u8" ? "unit" : "signed";
}

void MlpConfig::set_bits(const std::vector<int>& w, const std::vector<int>& a) {
  expand_bits(quant, w, a, hidden.size() + 1, hidden.size());
  quantized = true;
}

std::string MlpConfig::required_normalization() const {
  return quantized ? models::required_normalization(quant) : "";
}

nlohmann::json to_json(const MlpQuantConfig& q) {
  return {{"weight_bits", q.weight_bits},
          {"act_bits", q.act_bits},
          {"scheme", quant::to_string(q.scheme)},
          {"granularity", q.granularity == quant::ScaleGranularity::channel ? "channel" : "tensor"},
          {"learned_scale", q.learned_scale},
          {"relu_max", q.relu_max},
          {"learned_range", q.learned_range},
          {"input", q.input},
          {"input_bits", q.input_bits}};
}

MlpQuantConfig mlp_quant_config_from_json(const nlohmann::json& j, const std::string& path) {
  MlpQuantConfig q;
  JsonReader r(j, path);
  std::string scheme = quant::to_string(q.scheme), gran = "channel";
  r.get("weight_bits", q.weight_bits).get("act_bits", q.act_bits).get("scheme", scheme).get("granularity", gran);
  r.get("learned_scale", q.learned_scale).get("relu_max", q.relu_max).get("learned_range", q.learned_range);
  r.get("input", q.input).get("input_bits", q.input_bits);
  r.finish();
  q.scheme = quant::parse_weight_scheme(scheme);
  check_one_of(r.key_path("granularity"), gran, {"tensor", "channel"});
  q.granularity = gran == "tensor" ? quant::ScaleGranularity::tensor : quant::ScaleGranularity::channel;
  return q;
}

nlohmann::json to_json(const MlpConfig& c) {
  nlohmann::json j = {
      {"hidden", c.hidden}, {"batchnorm", c.batchnorm}, {"dropout", c.dropout}, {"activation", c.activation}};
  if (c.quantized) j["quant"] = to_json(c.quant);
  return j;
}

MlpConfig mlp_config_from_json(const nlohmann::json& j, const std::string& path) {
  MlpConfig c;
  JsonReader r(j, path);
  r.get("hidden", c.hidden).get("batchnorm", c.batchnorm).get("dropout", c.dropout).get("activation", c.activation);
  if (const auto* q = r.child("quant")) {
    c.quantized = true;
    c.quant = mlp_quant_config_from_json(*q, r.key_path("quant"));
  }
  r.finish();
  c.validate(path);
  return c;
}

std::vector<int> mlp_preset_widths(const std::string& name) {
  if (name == "tfc") return {64, 64, 64};
  if (name == "sfc") return {256, 256, 256};
  if (name == "lfc") return {1024, 1024, 1024};
  throw ConfigError(fmt::format("preset: '{}' is not one of tfc, sfc, lfc", name));
}

quant::Levels InputQuantImpl::levels() const {
  if (mode_ == "signed") return quant::signed_activation_levels(bits_);
  if (mode_ == "u8") return quant::unsigned_activation_levels(8, 1.0);
  throw ConfigError("input levels: a float input has no levels");
}

torch::Tensor InputQuantImpl::forward(const torch::Tensor& x) {
  if (mode_ != "signed") return x;
  if (bits_ == 1) return quant::fake_quant_sign(x);
  return quant::fake_quant_uniform(x, -1.0, 1.0, (int64_t(1) << bits_) - 2);
}

namespace {
torch::nn::AnyModule float_activation(const std::string& kind) {
  if (kind == "relu") return torch::nn::AnyModule(torch::nn::ReLU());
  if (kind == "tanh") return torch::nn::AnyModule(torch::nn::Tanh());
  return torch::nn::AnyModule(torch::nn::Hardtanh());
}
}  // namespace

MlpImpl::MlpImpl(const MlpConfig& config, InputShape input, int classes)
    : config_(config), input_(input), classes_(classes) {
  config_.validate();
  if (classes < 2) throw ConfigError(fmt::format("classes: {} (need >= 2)", classes));
  int64_t in = input.numel();
  detail::LayerTable table;
  if (!config_.quantized) {
    torch::nn::Sequential seq;
    for (int width : config_.hidden) {
      // Without BatchNorm the linear layer needs its own bias; with it the bias would be redundant.
      seq->push_back(table.linear(in, width, !config_.batchnorm));
      if (config_.batchnorm) seq->push_back(table.bn1d(width));
      seq->push_back(float_activation(config_.activation));
      if (config_.dropout > 0) seq->push_back(torch::nn::Dropout(config_.dropout));
    }
    seq->push_back(table.linear(in, classes, true));
    body_ = register_module("body", seq);
    layers_ = table.rows(*this);
    return;
  }
  // Quantized: input quantizer, then per hidden layer QuantLinear -> BatchNorm -> QuantActivation
  // (-> dropout), and a QuantLinear output layer followed by BatchNorm, as FINN's reference MLPs.
  const auto& qc = config_.quant;
  integer_exact_ = integer_exact_blocker(config_).empty();
  q_.input = register_module("input_quant", InputQuant(qc.input, qc.input_bits));
  const auto act_kind = quant::parse_act_kind(config_.activation);
  const size_t layers = config_.hidden.size() + 1;
  for (size_t i = 0; i < layers; ++i) {
    const bool last = i + 1 == layers;
    const int64_t out = last ? classes : config_.hidden[i];
    quant::WeightQuantConfig wq;
    wq.bits = qc.weight_bits[i];
    wq.scheme = qc.scheme;
    wq.granularity = qc.granularity;
    wq.learned_scale = qc.learned_scale;
    // No bias when BatchNorm follows (it would be absorbed); the integer engine folds BN into thresholds.
    q_.linears.push_back(
        register_module(fmt::format("fc{}", i), quant::QuantLinear(in, out, wq, !config_.batchnorm)));
    table.record(*q_.linears.back(), "linear", fmt::format("{}->{} W{}", in, out, wq.bits), {out}, in * out);
    if (config_.batchnorm) q_.norms.push_back(register_module(fmt::format("bn{}", i), table.bn1d(out)));
    if (!last) {
      quant::ActQuantConfig aq;
      aq.bits = qc.act_bits[i];
      aq.kind = act_kind;
      aq.relu_max = qc.relu_max;
      aq.learned_range = qc.learned_range;
      q_.acts.push_back(register_module(fmt::format("act{}", i), quant::QuantActivation(aq)));
      table.record(*q_.acts.back(), "act", fmt::format("{} A{}", config_.activation, aq.bits), {out}, 0);
      if (config_.dropout > 0)
        dropouts_.push_back(register_module(fmt::format("drop{}", i), torch::nn::Dropout(config_.dropout)));
    }
    in = out;
  }
  layers_ = table.rows(*this);
}

torch::Tensor MlpImpl::forward(torch::Tensor x) {
  x = x.flatten(1);
  if (!config_.quantized) return body_->forward(x);
  // Eval mode computes in integers exactly as the hardware (and nemokd's integer engine) will: same levels,
  // same weights, exact accumulators instead of float sums whose rounding depends on the summation order.
  if (!is_training() && integer_exact_) return integer_forward(integer_view(*this), x).to(x.device());
  return forward_fake_quant(x);
}

torch::Tensor MlpImpl::forward_fake_quant(torch::Tensor x) {
  x = x.flatten(1);
  x = q_.input->forward(x);
  for (size_t i = 0; i < q_.linears.size(); ++i) {
    x = q_.linears[i]->forward(x);
    if (config_.batchnorm) x = q_.norms[i]->forward(x);
    if (i < q_.acts.size()) {
      x = q_.acts[i]->forward(x);
      if (!dropouts_.empty()) x = dropouts_[i]->forward(x);
    }
  }
  return x;
}

nlohmann::json MlpImpl::describe() const {
  return {{"arch", "mlp"},
          {"mlp", to_json(config_)},
          {"input", input_.str()},
          {"classes", classes_},
          {"parameters", parameter_count(*this)},
          {"macs", macs()}};
}

}  // namespace nemokd::models
