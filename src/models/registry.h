// Model descriptions: a named architecture plus its config struct, serialisable to JSON, from which the
// model is built for a given input shape and class count. Named presets (resnet8x4, mobilenetv2, tfc, ...)
// resolve to an (arch, config) pair. The zoo is described in docs/MODELS.md.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"
#include "models/flexstudent.h"
#include "models/mlp.h"
#include "models/mobilenetv2.h"
#include "models/qcnn.h"
#include "models/resnet.h"

namespace nemokd::models {

struct ModelConfig {
  std::string arch = "mlp";           // see architectures(); only the member of that name is used
  MlpConfig mlp;                      // "mlp"
  ResNetConfig resnet;                // "resnet"
  MobileNetV2Config mobilenetv2;      // "mobilenetv2"
  FlexStudentConfig flexstudent;      // "flexstudent"
  FlexResNet8x4Config flexresnet8x4;  // "flexresnet8x4"
  CnvConfig cnv;                      // "cnv" (quantized)
  QFlexStudentConfig qflexstudent;    // "qflexstudent" (quantized)
};
// {"arch": A, A: config of A} — the other members are not written.
nlohmann::json to_json(const ModelConfig& c);
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& path = "model");

struct ArchInfo {
  std::string name, description;
  std::vector<std::string> presets;  // preset names that resolve to this arch
};
const std::vector<ArchInfo>& architectures();

struct PresetInfo {
  std::string name, arch, description;
};
const std::vector<PresetInfo>& model_presets();

// A preset (resnet8, resnet20, resnet32, resnet8x4, resnet32x4, mobilenetv2, tfc, sfc, lfc) or an
// architecture name (its default config: flexstudent = the 5-layer baseline, flexresnet8x4 = ResNet8x4's
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
