#include "models/registry.h"

#include <map>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::models {

namespace {
struct Preset {
  PresetInfo info;
  ModelConfig config;
};

ModelConfig resnet_preset(int depth, std::vector<int> widths) { return ResNetConfig{depth, std::move(widths)}; }

ModelConfig mlp_preset(const std::string& name) {
  MlpConfig c;
  c.hidden = mlp_preset_widths(name);
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
       ModelConfig(Family::mobilenetv2)},
      {{"tfc", "mlp", "MLP 64, 64, 64 (FINN TFC topology, float)"}, mlp_preset("tfc")},
      {{"sfc", "mlp", "MLP 256, 256, 256 (FINN SFC topology, float)"}, mlp_preset("sfc")},
      {{"lfc", "mlp", "MLP 1024, 1024, 1024 (FINN LFC topology, float)"}, mlp_preset("lfc")},
      {{"cnv", "cnv", "FINN CNV W2A2, 8-bit signed input (set the bits with --wbits/--abits)"}, ModelConfig(Family::cnv)},
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

nlohmann::json to_json(const FileModelConfig& c) { return {{"file", c.file}, {"sha256", c.sha256}}; }

FileModelConfig file_model_config_from_json(const nlohmann::json& j, const std::string& path) {
  FileModelConfig c;
  JsonReader r(j, path);
  r.get("file", c.file).get("sha256", c.sha256);
  r.finish();
  if (c.file.empty()) throw ConfigError(r.key_path("file") + ": missing");
  return c;
}

namespace {
// The builders of families read from files, registered by the areas above (interop).
std::map<Family, FileModelBuilder>& file_model_builders() {
  static std::map<Family, FileModelBuilder> builders;
  return builders;
}

// ---- the hooks, one small function per family and operation ----
template <class C>
nlohmann::json json_of(const FamilyConfig& v) {
  return to_json(std::get<C>(v));
}
template <class C, C (*Read)(const nlohmann::json&, const std::string&)>
FamilyConfig read(const nlohmann::json& j, const std::string& path) {
  return Read(j, path);
}
template <class Impl, class C>
Classifier make(const FamilyConfig& v, InputShape input, int classes) {
  return std::make_shared<Impl>(std::get<C>(v), input, classes);
}
// The quantized CNN families: QCnnImpl from the config's resolved layers.
template <class C, Family F>
QCnnSpec cnn_spec_of(const FamilyConfig& v, InputShape input) {
  return std::get<C>(v).spec(input, "model." + family_name(F));
}
template <class C, Family F>
Classifier make_qcnn(const FamilyConfig& v, InputShape input, int classes) {
  return std::make_shared<QCnnImpl>(F, to_json(std::get<C>(v)), cnn_spec_of<C, F>(v, input), input, classes);
}
template <class C>
const MlpQuantConfig* quant_of(const FamilyConfig& v) {
  return &std::get<C>(v).quant;
}
template <class C>
std::string* activation_of(FamilyConfig& v) {
  return &std::get<C>(v).activation;
}
template <class C>
void set_bits_of(FamilyConfig& v, const std::vector<int>& w, const std::vector<int>& a) {
  std::get<C>(v).set_bits(w, a);
}
Classifier make_file_model(const FamilyConfig& v, InputShape input, int classes) {
  const auto it = file_model_builders().find(Family::qonnx);
  if (it == file_model_builders().end())
    throw ConfigError("model.arch 'qonnx': this program has no QONNX importer registered (interop::register_qonnx_family)");
  return it->second(std::get<FileModelConfig>(v), input, classes);
}

using Builder = Classifier (*)(const FamilyConfig&, InputShape, int);

// What every entry has: the config type C (its defaults and JSON) and how it is built.
template <class C, C (*Read)(const nlohmann::json&, const std::string&)>
FamilyTraits entry(Family family, const char* name, const char* description, Builder build) {
  FamilyTraits f;
  f.family = family;
  f.name = name;
  f.description = description;
  f.defaults = C{};
  f.to_json = json_of<C>;
  f.from_json = read<C, Read>;
  f.build = build;
  return f;
}

// Route Q's accessors, for a config with `quant`, `activation` and `set_bits`; such a model exports to QONNX too.
template <class C>
FamilyTraits quantized(FamilyTraits f) {
  f.exports = Exports::onnx_and_qonnx;
  f.quant = quant_of<C>;
  f.activation = activation_of<C>;
  f.set_bits = set_bits_of<C>;
  return f;
}

// A quantized CNN: a QCnnImpl of the config's resolved layers, lowered to FINN's units from those layers.
template <class C, Family F, C (*Read)(const nlohmann::json&, const std::string&)>
FamilyTraits quantized_cnn(const char* name, const char* description) {
  auto f = quantized<C>(entry<C, Read>(F, name, description, make_qcnn<C, F>));
  f.lowering = Lowering::cnn;
  f.cnn_spec = cnn_spec_of<C, F>;
  return f;
}

std::vector<FamilyTraits> make_table() {
  auto mlp = quantized<MlpConfig>(entry<MlpConfig, mlp_config_from_json>(
      Family::mlp, "mlp", "multi-layer perceptron on flattened pixels (hidden widths, BatchNorm, dropout, activation)",
      make<MlpImpl, MlpConfig>));
  mlp.lowering = Lowering::mlp;
  mlp.quant = [](const FamilyConfig& v) -> const MlpQuantConfig* {  // a float MLP has none
    const auto& c = std::get<MlpConfig>(v);
    return c.quantized ? &c.quant : nullptr;
  };
  // Read from a file by the importer registered from interop/ (register_file_model_family); its FPGA lowering and
  // integer view live there too (interop/qonnx_model.h).
  auto qonnx = entry<FileModelConfig, file_model_config_from_json>(
      Family::qonnx, "qonnx", "a QONNX graph read from a file (Brevitas/FINN export; `--model NAME.onnx`)",
      make_file_model);
  qonnx.by_name = false;
  qonnx.exports = Exports::none;
  return {
      mlp,
      entry<ResNetConfig, resnet_config_from_json>(
          Family::resnet, "resnet", "CIFAR ResNet with basic blocks: depth 6n+2, widths (stem, stage 1, 2, 3)",
          make<ResNetImpl, ResNetConfig>),
      entry<MobileNetV2Config, mobilenetv2_config_from_json>(
          Family::mobilenetv2, "mobilenetv2",
          "MobileNetV2 for small images (inverted residuals, expansion 6, width multiplier)",
          make<MobileNetV2Impl, MobileNetV2Config>),
      entry<FlexStudentConfig, flexstudent_config_from_json>(
          Family::flexstudent, "flexstudent",
          "FlexStudent: conv3x3-BN-ReLU(-pool) blocks, then FC-BN-ReLU layers; default = the 5-layer baseline (conv "
          "32, 64, 128; FC 256, classes)",
          make<FlexStudentImpl, FlexStudentConfig>),
      entry<FlexResNet8x4Config, flexresnet8x4_config_from_json>(
          Family::flexresnet8x4, "flexresnet8x4",
          "ResNet8x4 (depth 8) with evolvable stage widths (stem, stage 1, 2, 3)",
          make<ResNetImpl, FlexResNet8x4Config>),
      quantized_cnn<CnvConfig, Family::cnv, cnv_config_from_json>(
          "cnv",
          "FINN's CNV, quantized: conv 64-64-pool-128-128-pool-256-256 (3x3 unpadded), FC 512-512-classes; "
          "per-layer weight/activation bits; images below 32x32 padded to it"),
      quantized_cnn<QFlexStudentConfig, Family::qflexstudent, qflexstudent_config_from_json>(
          "qflexstudent", "FlexStudent with every layer quantized (the FlexStudent JSON plus activation and quant)"),
      qonnx,
  };
}

// The table's order is the enum's and the variant's.
static_assert(std::variant_size_v<FamilyConfig> == kFamilyCount);
static_assert(std::is_same_v<std::variant_alternative_t<size_t(Family::mlp), FamilyConfig>, MlpConfig>);
static_assert(std::is_same_v<std::variant_alternative_t<size_t(Family::resnet), FamilyConfig>, ResNetConfig>);
static_assert(std::is_same_v<std::variant_alternative_t<size_t(Family::mobilenetv2), FamilyConfig>, MobileNetV2Config>);
static_assert(std::is_same_v<std::variant_alternative_t<size_t(Family::flexstudent), FamilyConfig>, FlexStudentConfig>);
static_assert(
    std::is_same_v<std::variant_alternative_t<size_t(Family::flexresnet8x4), FamilyConfig>, FlexResNet8x4Config>);
static_assert(std::is_same_v<std::variant_alternative_t<size_t(Family::cnv), FamilyConfig>, CnvConfig>);
static_assert(std::is_same_v<std::variant_alternative_t<size_t(Family::qflexstudent), FamilyConfig>, QFlexStudentConfig>);
static_assert(std::is_same_v<std::variant_alternative_t<size_t(Family::qonnx), FamilyConfig>, FileModelConfig>);

const std::vector<FamilyTraits>& table() {
  static const std::vector<FamilyTraits> t = [] {
    auto list = make_table();
    if (list.size() != kFamilyCount) throw Error("models: the family table is incomplete");
    for (size_t i = 0; i < list.size(); ++i)
      if (size_t(list[i].family) != i || list[i].defaults.index() != i)
        throw Error(fmt::format("models: family table entry {} ({}) is out of order", i, list[i].name));
    return list;
  }();
  return t;
}
}  // namespace

const FamilyTraits& family_traits(Family family) { return table().at(size_t(family)); }

const std::string& family_name(Family family) { return family_traits(family).name; }

std::vector<std::string> family_names() {
  std::vector<std::string> names;
  for (const auto& f : table()) names.push_back(f.name);
  return names;
}

std::optional<Family> find_family(const std::string& name) {
  for (const auto& f : table())
    if (f.name == name) return f.family;
  return std::nullopt;
}

Family parse_family(const std::string& name, const std::string& key) {
  if (auto f = find_family(name)) return *f;
  throw ConfigError(fmt::format("{}: unknown architecture '{}'; known: {}", key, name, fmt::join(family_names(), ", ")));
}

const std::vector<ArchInfo>& architectures() {
  static const std::vector<ArchInfo> list = [] {
    std::vector<ArchInfo> out;
    for (const auto& f : table()) {
      if (!f.by_name) continue;
      ArchInfo a{f.name, f.description, {}};
      for (const auto& p : presets())
        if (p.config.family() == f.family) a.presets.push_back(p.info.name);
      out.push_back(a);
    }
    return out;
  }();
  return list;
}

void register_file_model_family(Family family, FileModelBuilder builder) {
  file_model_builders()[family] = std::move(builder);
}

ModelConfig::ModelConfig(Family family) : config(family_traits(family).defaults) {}

void ModelConfig::set_family(Family f) {
  if (family() != f) config = family_traits(f).defaults;
}

void ModelConfig::wrong_family(size_t wanted) const {
  throw ConfigError(fmt::format("model.arch is '{}', not '{}'", family_name(family()), family_name(Family(wanted))));
}

ModelConfig preset_model(const std::string& name) {
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".onnx") == 0) return FileModelConfig{name, ""};
  for (const auto& p : presets())
    if (p.info.name == name) return p.config;
  std::vector<std::string> names;
  for (const auto& a : architectures()) {
    if (a.name == name) return ModelConfig(parse_family(name));
    names.push_back(a.name);
  }
  for (const auto& p : presets())
    if (p.info.name != p.info.arch) names.push_back(p.info.name);
  throw ConfigError(fmt::format("model: '{}' is not a preset or architecture; valid: {}", name, fmt::join(names, ", ")));
}

nlohmann::json to_json(const ModelConfig& c) {
  const auto& f = family_traits(c.family());
  return {{"arch", f.name}, {f.name, f.to_json(c.config)}};
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& path) {
  JsonReader r(j, path);
  std::string arch = "mlp";
  r.get("arch", arch);
  const auto& f = family_traits(parse_family(arch, r.key_path("arch")));
  ModelConfig c(f.family);
  // Only the chosen family's block is read; a block for another family is an unknown key.
  if (const auto* m = r.child(f.name)) c.config = f.from_json(*m, r.key_path(f.name));
  r.finish();
  return c;
}

const MlpQuantConfig* quant_config(const ModelConfig& c) {
  const auto& f = family_traits(c.family());
  return f.quant ? f.quant(c.config) : nullptr;
}

MlpQuantConfig* quant_config(ModelConfig& c) {
  return const_cast<MlpQuantConfig*>(quant_config(static_cast<const ModelConfig&>(c)));
}

std::string* quant_activation(ModelConfig& c) {
  const auto& f = family_traits(c.family());
  return f.activation ? f.activation(c.config) : nullptr;
}

namespace {
std::string names_with(bool (*has)(const FamilyTraits&)) {
  std::vector<std::string> names;
  for (const auto& f : table())
    if (has(f)) names.push_back(f.name);
  return fmt::format("{}", fmt::join(names, ", "));
}
}  // namespace

void set_quant_bits(ModelConfig& c, const std::vector<int>& w, const std::vector<int>& a) {
  const auto& f = family_traits(c.family());
  if (!f.set_bits)
    throw ConfigError(fmt::format("model: '{}' is not a quantized family ({})", f.name,
                                  names_with([](const FamilyTraits& t) { return t.set_bits != nullptr; })));
  f.set_bits(c.config, w, a);
}

QCnnSpec quant_cnn_spec(const ModelConfig& c, InputShape input) {
  const auto& f = family_traits(c.family());
  if (!f.cnn_spec)
    throw ConfigError(fmt::format("model: '{}' is not a quantized CNN ({})", f.name,
                                  names_with([](const FamilyTraits& t) { return t.cnn_spec != nullptr; })));
  return f.cnn_spec(c.config, input);
}

std::string required_normalization(const ModelConfig& c) {
  const auto* q = quant_config(c);
  return q ? required_normalization(*q) : "";
}

Classifier build_model(const ModelConfig& config, InputShape input, int classes) {
  return family_traits(config.family()).build(config.config, input, classes);
}

}  // namespace nemokd::models
