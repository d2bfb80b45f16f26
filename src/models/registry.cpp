#include "models/registry.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::models {

const std::vector<ArchInfo>& architectures() {
  static const std::vector<ArchInfo> list = {
      {"mlp", "multi-layer perceptron on flattened pixels (hidden widths, BatchNorm, dropout, activation)",
       {"tfc", "sfc", "lfc"}},
      {"resnet", "CIFAR ResNet with basic blocks: depth 6n+2, widths (stem, stage 1, 2, 3)",
       {"resnet8", "resnet20", "resnet32", "resnet8x4", "resnet32x4"}},
      {"mobilenetv2", "MobileNetV2 for small images (inverted residuals, expansion 6, width multiplier)",
       {"mobilenetv2"}},
      {"flexstudent", "FlexStudent: conv3x3-BN-ReLU(-pool) blocks, then FC-BN-ReLU layers; default = the 5-layer "
                      "baseline (conv 32, 64, 128; FC 256, classes)",
       {}},
      {"flexresnet8x4", "ResNet8x4 (depth 8) with evolvable stage widths (stem, stage 1, 2, 3)", {}},
      {"cnv", "FINN's CNV, quantized: conv 64-64-pool-128-128-pool-256-256 (3x3 unpadded), FC 512-512-classes; "
              "per-layer weight/activation bits; images below 32x32 padded to it",
       {"cnv"}},
      {"qflexstudent", "FlexStudent with every layer quantized (the FlexStudent JSON plus activation and quant)", {}},
  };
  return list;
}

namespace {
struct Preset {
  PresetInfo info;
  ModelConfig config;
};

ModelConfig arch_config(const std::string& arch) {
  ModelConfig c;
  c.arch = arch;
  return c;
}

ModelConfig resnet_preset(int depth, std::vector<int> widths) {
  auto c = arch_config("resnet");
  c.resnet = ResNetConfig{depth, std::move(widths)};
  return c;
}

ModelConfig mlp_preset(const std::string& name) {
  auto c = arch_config("mlp");
  c.mlp.hidden = mlp_preset_widths(name);
  return c;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> list = {
      {{"resnet8", "resnet", "CIFAR ResNet-8 (widths 16, 16, 32, 64)"}, resnet_preset(8, {16, 16, 32, 64})},
      {{"resnet20", "resnet", "CIFAR ResNet-20 (widths 16, 16, 32, 64)"}, resnet_preset(20, {16, 16, 32, 64})},
      {{"resnet32", "resnet", "CIFAR ResNet-32 (widths 16, 16, 32, 64)"}, resnet_preset(32, {16, 16, 32, 64})},
      {{"resnet8x4", "resnet", "CIFAR ResNet-8, 4x wide (widths 32, 64, 128, 256)"},
       resnet_preset(8, {32, 64, 128, 256})},
      {{"resnet32x4", "resnet", "CIFAR ResNet-32, 4x wide (widths 32, 64, 128, 256)"},
       resnet_preset(32, {32, 64, 128, 256})},
      {{"mobilenetv2", "mobilenetv2", "MobileNetV2 x0.5 for 32x32 inputs (the distillation reference)"},
       arch_config("mobilenetv2")},
      {{"tfc", "mlp", "MLP 64, 64, 64 (FINN TFC topology, float)"}, mlp_preset("tfc")},
      {{"sfc", "mlp", "MLP 256, 256, 256 (FINN SFC topology, float)"}, mlp_preset("sfc")},
      {{"lfc", "mlp", "MLP 1024, 1024, 1024 (FINN LFC topology, float)"}, mlp_preset("lfc")},
      {{"cnv", "cnv", "FINN CNV W2A2, 8-bit signed input (set the bits with --wbits/--abits)"}, arch_config("cnv")},
  };
  return list;
}
}  // namespace

const std::vector<PresetInfo>& model_presets() {
  static const std::vector<PresetInfo> list = [] {
    std::vector<PresetInfo> out;
    for (const auto& p : presets()) out.push_back(p.info);
    return out;
  }();
  return list;
}

ModelConfig preset_model(const std::string& name) {
  for (const auto& p : presets())
    if (p.info.name == name) return p.config;
  std::vector<std::string> names;
  for (const auto& a : architectures()) {
    if (a.name == name) return arch_config(name);
    names.push_back(a.name);
  }
  for (const auto& p : presets())
    if (p.info.name != p.info.arch) names.push_back(p.info.name);
  throw ConfigError(fmt::format("model: '{}' is not a preset or architecture; valid: {}", name, fmt::join(names, ", ")));
}

nlohmann::json to_json(const ModelConfig& c) {
  nlohmann::json j = {{"arch", c.arch}};
  if (c.arch == "mlp") j["mlp"] = to_json(c.mlp);
  if (c.arch == "resnet") j["resnet"] = to_json(c.resnet);
  if (c.arch == "mobilenetv2") j["mobilenetv2"] = to_json(c.mobilenetv2);
  if (c.arch == "flexstudent") j["flexstudent"] = to_json(c.flexstudent);
  if (c.arch == "flexresnet8x4") j["flexresnet8x4"] = to_json(c.flexresnet8x4);
  if (c.arch == "cnv") j["cnv"] = to_json(c.cnv);
  if (c.arch == "qflexstudent") j["qflexstudent"] = to_json(c.qflexstudent);
  return j;
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  JsonReader r(j, path);
  r.get("arch", c.arch);
  std::vector<std::string> names;
  for (const auto& a : architectures()) names.push_back(a.name);
  check_one_of(r.key_path("arch"), c.arch, names);
  // Only the chosen arch's member is read; a block for another arch is an unknown key.
  if (const auto* m = r.child(c.arch)) {
    const std::string key = r.key_path(c.arch);
    if (c.arch == "mlp") c.mlp = mlp_config_from_json(*m, key);
    if (c.arch == "resnet") c.resnet = resnet_config_from_json(*m, key);
    if (c.arch == "mobilenetv2") c.mobilenetv2 = mobilenetv2_config_from_json(*m, key);
    if (c.arch == "flexstudent") c.flexstudent = flexstudent_config_from_json(*m, key);
    if (c.arch == "flexresnet8x4") c.flexresnet8x4 = flexresnet8x4_config_from_json(*m, key);
    if (c.arch == "cnv") c.cnv = cnv_config_from_json(*m, key);
    if (c.arch == "qflexstudent") c.qflexstudent = qflexstudent_config_from_json(*m, key);
  }
  r.finish();
  return c;
}

const MlpQuantConfig* quant_config(const ModelConfig& c) {
  if (c.arch == "mlp") return c.mlp.quantized ? &c.mlp.quant : nullptr;
  if (c.arch == "cnv") return &c.cnv.quant;
  if (c.arch == "qflexstudent") return &c.qflexstudent.quant;
  return nullptr;
}

MlpQuantConfig* quant_config(ModelConfig& c) {
  return const_cast<MlpQuantConfig*>(quant_config(static_cast<const ModelConfig&>(c)));
}

std::string* quant_activation(ModelConfig& c) {
  if (c.arch == "mlp") return &c.mlp.activation;
  if (c.arch == "cnv") return &c.cnv.activation;
  if (c.arch == "qflexstudent") return &c.qflexstudent.activation;
  return nullptr;
}

void set_quant_bits(ModelConfig& c, const std::vector<int>& w, const std::vector<int>& a) {
  if (c.arch == "mlp") return c.mlp.set_bits(w, a);
  if (c.arch == "cnv") return c.cnv.set_bits(w, a);
  if (c.arch == "qflexstudent") return c.qflexstudent.set_bits(w, a);
  throw ConfigError(fmt::format("model: '{}' is not a quantized family (mlp, cnv, qflexstudent)", c.arch));
}

QCnnSpec quant_cnn_spec(const ModelConfig& c, InputShape input) {
  if (c.arch == "cnv") return c.cnv.spec(input, "model.cnv");
  if (c.arch == "qflexstudent") return c.qflexstudent.spec(input, "model.qflexstudent");
  throw ConfigError(fmt::format("model: '{}' is not a quantized CNN (cnv, qflexstudent)", c.arch));
}

std::string required_normalization(const ModelConfig& c) {
  const auto* q = quant_config(c);
  return q ? required_normalization(*q) : "";
}

Classifier build_model(const ModelConfig& config, InputShape input, int classes) {
  if (config.arch == "mlp") return std::make_shared<MlpImpl>(config.mlp, input, classes);
  if (config.arch == "resnet") return std::make_shared<ResNetImpl>(config.resnet, input, classes);
  if (config.arch == "mobilenetv2") return std::make_shared<MobileNetV2Impl>(config.mobilenetv2, input, classes);
  if (config.arch == "flexstudent") return std::make_shared<FlexStudentImpl>(config.flexstudent, input, classes);
  if (config.arch == "flexresnet8x4")
    return std::make_shared<ResNetImpl>(config.flexresnet8x4, input, classes);
  if (config.arch == "cnv")
    return std::make_shared<QCnnImpl>("cnv", to_json(config.cnv), config.cnv.spec(input, "model.cnv"), input, classes);
  if (config.arch == "qflexstudent")
    return std::make_shared<QCnnImpl>("qflexstudent", to_json(config.qflexstudent),
                                      config.qflexstudent.spec(input, "model.qflexstudent"), input, classes);
  throw ConfigError(fmt::format("model.arch: unknown architecture '{}'", config.arch));
}

}  // namespace nemokd::models
