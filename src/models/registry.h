// Model descriptions: a named architecture plus its config struct, serialisable to JSON, from which the
// model is built for a given input shape and class count. Named presets (resnet8x4, mobilenetv2, tfc, ...)
// resolve to an (arch, config) pair. The zoo is described in docs/MODELS.md.
#pragma once
#include <functional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"
#include "models/family.h"
#include "models/flexstudent.h"
#include "models/mlp.h"
#include "models/mobilenetv2.h"
#include "models/qcnn.h"
#include "models/resnet.h"

namespace nemokd::models {

// A model read from a file another tool wrote: "qonnx" (a QONNX graph exported by Brevitas/FINN). The family is
// built above this area (interop/) and registers its builder at start-up (interop::register_qonnx_family()).
struct FileModelConfig {
  std::string file;    // the file as given (a run folder's model.pt also carries its bytes)
  std::string sha256;  // of those bytes; "" = whatever the file holds
};
nlohmann::json to_json(const FileModelConfig& c);
FileModelConfig file_model_config_from_json(const nlohmann::json& j, const std::string& path);
using FileModelBuilder = std::function<Classifier(const FileModelConfig&, InputShape input, int classes)>;
void register_file_model_family(Family family, FileModelBuilder builder);

// One config struct per family; the alternative's index is the Family (checked in registry.cpp).
using FamilyConfig = std::variant<MlpConfig, ResNetConfig, MobileNetV2Config, FlexStudentConfig, FlexResNet8x4Config,
                                  CnvConfig, QFlexStudentConfig, FileModelConfig>;

// A model config: the family is which config the variant holds.
struct ModelConfig {
  FamilyConfig config;  // default: the MLP

  ModelConfig() = default;
  explicit ModelConfig(Family family);  // that family's default config
  template <class C, class = std::enable_if_t<std::is_constructible_v<FamilyConfig, C>>>
  ModelConfig(C c) : config(std::move(c)) {}  // NOLINT: a family's config is a model config

  Family family() const { return Family(config.index()); }
  // Switches to `family`'s default config unless it already is that family (then nothing changes).
  void set_family(Family family);

  // The config of one family; ConfigError "model.arch is 'X', not 'Y'" for another.
  template <class C> C& as() {
    if (auto* c = std::get_if<C>(&config)) return *c;
    wrong_family(FamilyConfig(std::in_place_type<C>).index());
  }
  template <class C> const C& as() const { return const_cast<ModelConfig*>(this)->as<C>(); }
  MlpConfig& mlp() { return as<MlpConfig>(); }
  const MlpConfig& mlp() const { return as<MlpConfig>(); }
  ResNetConfig& resnet() { return as<ResNetConfig>(); }
  const ResNetConfig& resnet() const { return as<ResNetConfig>(); }
  MobileNetV2Config& mobilenetv2() { return as<MobileNetV2Config>(); }
  const MobileNetV2Config& mobilenetv2() const { return as<MobileNetV2Config>(); }
  FlexStudentConfig& flexstudent() { return as<FlexStudentConfig>(); }
  const FlexStudentConfig& flexstudent() const { return as<FlexStudentConfig>(); }
  FlexResNet8x4Config& flexresnet8x4() { return as<FlexResNet8x4Config>(); }
  const FlexResNet8x4Config& flexresnet8x4() const { return as<FlexResNet8x4Config>(); }
  CnvConfig& cnv() { return as<CnvConfig>(); }
  const CnvConfig& cnv() const { return as<CnvConfig>(); }
  QFlexStudentConfig& qflexstudent() { return as<QFlexStudentConfig>(); }
  const QFlexStudentConfig& qflexstudent() const { return as<QFlexStudentConfig>(); }
  FileModelConfig& qonnx() { return as<FileModelConfig>(); }
  const FileModelConfig& qonnx() const { return as<FileModelConfig>(); }

 private:
  [[noreturn]] void wrong_family(size_t wanted) const;
};
// {"arch": A, A: config of A} — the other families are not written.
nlohmann::json to_json(const ModelConfig& c);
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& path = "model");

// How the FPGA cost model (hw/fpga) and the integer engine lower a family: not at all, as an MLP (`mlp_design` of
// its MlpConfig), or as a quantized CNN (the `cnn_spec` hook's layers). The lowering itself lives above this area.
enum class Lowering { none, mlp, cnn };
// Which exporter (export/) writes a family: none, ONNX only (float), ONNX and QONNX (quantized; an MLP only when
// its config is quantized).
enum class Exports { none, onnx, onnx_and_qonnx };

// One entry per family (like ggml's type_traits table): everything the areas need to know about it. Adding a family
// = a config struct and a Classifier in this area, one entry in the table (registry.cpp), one alternative in
// FamilyConfig and one name in Family (family.h); see docs/ARCHITECTURE.md for the areas above that switch on it.
struct FamilyTraits {
  Family family = Family::mlp;
  std::string name, description;
  bool by_name = true;  // buildable from its name alone (false: qonnx, read from a file)
  Lowering lowering = Lowering::none;
  Exports exports = Exports::onnx;
  FamilyConfig defaults;  // the config of `--model NAME`
  nlohmann::json (*to_json)(const FamilyConfig&) = nullptr;
  FamilyConfig (*from_json)(const nlohmann::json& j, const std::string& path) = nullptr;
  Classifier (*build)(const FamilyConfig&, InputShape input, int classes) = nullptr;
  // Route Q's quantized families; nullptr for a float family. `quant` is nullptr for a float config (an MLP without
  // `quantized`).
  const MlpQuantConfig* (*quant)(const FamilyConfig&) = nullptr;
  std::string* (*activation)(FamilyConfig&) = nullptr;
  void (*set_bits)(FamilyConfig&, const std::vector<int>& weight_bits, const std::vector<int>& act_bits) = nullptr;
  // The resolved layers of a quantized CNN (lowering == cnn only).
  QCnnSpec (*cnn_spec)(const FamilyConfig&, InputShape input) = nullptr;
};
const FamilyTraits& family_traits(Family family);

struct ArchInfo {
  std::string name, description;
  std::vector<std::string> presets;  // preset names that resolve to this arch
};
const std::vector<ArchInfo>& architectures();

struct PresetInfo {
  std::string name, arch, description;  // arch: the family's name (for listings)
};
const std::vector<PresetInfo>& model_presets();

// A preset (resnet8, resnet20, resnet32, resnet8x4, resnet32x4, mobilenetv2, tfc, sfc, lfc), a QONNX file
// (NAME.onnx: arch "qonnx") or an architecture name (its default config: flexstudent = the 5-layer baseline, flexresnet8x4 = ResNet8x4's
// widths, ...). Throws ConfigError listing the valid names.
ModelConfig preset_model(const std::string& name);

// Route Q's quantized families: a quantized MLP, cnv, qflexstudent. Their shared quantization settings (nullptr
// for a float model), their activation, and every layer's bits from one value for all or one per layer
// (ConfigError for a float family; list lengths are checked when the config is validated).
const MlpQuantConfig* quant_config(const ModelConfig& c);
MlpQuantConfig* quant_config(ModelConfig& c);
std::string* quant_activation(ModelConfig& c);
void set_quant_bits(ModelConfig& c, const std::vector<int>& weight_bits, const std::vector<int>& act_bits);

// The resolved layers of a quantized CNN family (cnv, qflexstudent) for `input`; ConfigError for another arch.
QCnnSpec quant_cnn_spec(const ModelConfig& c, InputShape input);

// The pixel normalisation a quantized input mode needs ("unit" for u8, "signed" for signed; "" = any).
std::string required_normalization(const ModelConfig& config);

// Builds the model (on CPU); throws ConfigError for an unknown arch or invalid config.
Classifier build_model(const ModelConfig& config, InputShape input, int classes);

}  // namespace nemokd::models
