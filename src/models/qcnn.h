// Quantized CNNs for route Q: FINN's CNV and the quantized FlexStudent, both built by one QCnnImpl from a
// resolved layer list (QCnnSpec):
//
//   input quantizer [-> padding of the image with its lowest value (black) to `pad_to`]
//   conv block i:   QuantConv2d kxk (stride 1, padding p, no bias) -> BatchNorm2d -> QuantActivation
//                   [-> 2x2 max-pool, stride 2]
//   flatten
//   FC block j:     QuantLinear (no bias) -> BatchNorm1d -> QuantActivation [-> dropout]
//   classifier:     QuantLinear (no bias) -> BatchNorm1d -> logits
//
// Every weighted layer has its own weight bits and every activation its own bits (1..8, or 32 = float for a
// layer a user wants in float; such a model trains, but has no integer view). Pooling comes after the
// activation quantizer, so the integer engine pools integer codes exactly (max of codes = code of the max). The
// classifier ends in BatchNorm like FINN's reference networks (their TensorNorm), which keeps the logits of
// binary dot products in range; the integer engine folds it into the logit affine.
//
// CNV (arch "cnv", FINN/BNN-PYNQ's CIFAR-10 network): conv 64, 64, pool, 128, 128, pool, 256, 256 (3x3,
// unpadded), FC 512, 512, classes; 8-bit signed input; hard-tanh activations (1 bit = sign). It needs 32x32
// images (3x3 unpadded convs take 32 -> 1); smaller images are padded to `pad_to` = 32 with black pixels,
// centred (28x28 -> 2 pixels on every side), as LeNet-5 fed MNIST's 28x28 digits in a 32x32 field (see
// docs/MODELS.md).
//
// Quantized FlexStudent (arch "qflexstudent"): the route-K student (models/flexstudent.h) — conv3x3 pad 1
// blocks with the same pooling rule, FC layers, classifier — with every layer quantized; its JSON is the
// FlexStudent JSON plus "activation" and "quant".
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/pooling.h>

#include "models/classifier.h"
#include "models/flexstudent.h"
#include "models/integer_net.h"
#include "models/mlp.h"

namespace nemokd::models {

struct QConvLayer {
  int channels = 64;
  int kernel = 3;
  int padding = 0;
  bool pool = false;  // 2x2 max-pool (stride 2) after the activation
  bool operator==(const QConvLayer& o) const {
    return channels == o.channels && kernel == o.kernel && padding == o.padding && pool == o.pool;
  }
};

// The resolved network QCnnImpl builds: layers, input padding, quantization.
struct QCnnSpec {
  std::vector<QConvLayer> convs;
  std::vector<int> fc_widths;
  int input_pad = 0;                 // pixels of black added on every side of the image
  double dropout = 0.0;              // after each hidden FC activation
  std::string activation = "hardtanh";  // relu | tanh | hardtanh
  MlpQuantConfig quant;              // weight_bits: convs, FCs, classifier; act_bits: convs, FCs
  size_t weighted_layers() const { return convs.size() + fc_widths.size() + 1; }
  size_t activations() const { return convs.size() + fc_widths.size(); }
  // "" when the input and every layer are quantized; otherwise the first float part, named as the model names
  // its layers ("layer conv2 has float (32-bit) weights"). Neither the integer view nor the FPGA lowering take one.
  std::string float_part() const;
};

// FINN's CNV topology (the default) or a variant of it.
struct CnvConfig {
  std::vector<QConvLayer> convs = {{64, 3, 0, false},  {64, 3, 0, true},   {128, 3, 0, false},
                                   {128, 3, 0, true},  {256, 3, 0, false}, {256, 3, 0, false}};
  std::vector<int> fc_widths{512, 512};
  int pad_to = 32;  // images smaller than pad_to x pad_to are padded to it (centred, black); 0 = never
  double dropout = 0.0;
  std::string activation = "hardtanh";
  MlpQuantConfig quant = default_quant();

  void validate(const std::string& key = "cnv") const;
  void set_bits(const std::vector<int>& weight_bits, const std::vector<int>& act_bits);
  QCnnSpec spec(InputShape input, const std::string& key = "cnv") const;  // throws ConfigError for an odd pad
  // W2A2 with FINN's 8-bit signed input, fixed-point weights.
  static MlpQuantConfig default_quant(size_t weighted = 9, size_t activations = 8);
};
nlohmann::json to_json(const CnvConfig& c);
CnvConfig cnv_config_from_json(const nlohmann::json& j, const std::string& path = "cnv");

struct QFlexStudentConfig {
  FlexStudentConfig net;  // conv_channels, pool, fc_widths, dropout
  std::string activation = "hardtanh";
  MlpQuantConfig quant = CnvConfig::default_quant(5, 4);

  void validate(const std::string& key = "qflexstudent") const;
  void set_bits(const std::vector<int>& weight_bits, const std::vector<int>& act_bits);
  QCnnSpec spec(InputShape input, const std::string& key = "qflexstudent") const;
};
nlohmann::json to_json(const QFlexStudentConfig& c);
QFlexStudentConfig qflexstudent_config_from_json(const nlohmann::json& j, const std::string& path = "qflexstudent");

class QCnnImpl : public ClassifierImpl {
 public:
  // `family` and `config` (its JSON) are what describe() reports; `spec` is what gets built.
  QCnnImpl(Family family, nlohmann::json config, const QCnnSpec& spec, InputShape input, int classes);
  // Training mode: fake quantization. Eval mode with an integer view: the integer view (exact, like the
  // integer engine); otherwise the fake-quant arithmetic.
  torch::Tensor forward(torch::Tensor x) override;
  torch::Tensor forward_fake_quant(torch::Tensor x);
  nlohmann::json describe() const override;
  std::vector<LayerSummary> layers() const override { return layers_; }
  const QCnnSpec& spec() const { return spec_; }
  Family family() const override { return family_; }
  InputShape input_shape() const override { return input_; }
  int classes() const override { return classes_; }
  // "" when eval mode runs the integer view; otherwise why not, naming the layer.
  std::string integer_exact_blocker() const;

  // Structured access for the tools that read a trained quantized CNN (integer engine, cost model, export).
  struct QuantLayers {
    InputQuant input{nullptr};
    double pad_value = 0;  // value of the input padding (the input quantizer's lowest level; 0 for float input)
    std::vector<quant::QuantConv2d> convs;
    std::vector<torch::nn::BatchNorm2d> conv_norms;
    std::vector<quant::QuantActivation> conv_acts;
    std::vector<torch::nn::MaxPool2d> pools;  // null where a block has no pool
    std::vector<quant::QuantLinear> fcs;      // hidden FC layers, then the classifier
    std::vector<torch::nn::BatchNorm1d> fc_norms;
    std::vector<quant::QuantActivation> fc_acts;  // hidden FC layers
  };
  const QuantLayers& quant_layers() const { return q_; }

 private:
  Family family_;
  nlohmann::json config_;
  QCnnSpec spec_;
  InputShape input_;
  int classes_;
  QuantLayers q_;
  std::vector<torch::nn::Dropout> dropouts_;
  bool integer_exact_ = false;
  std::vector<LayerSummary> layers_;
};

// The integer view of a quantized CNN (models/integer_net.h); ConfigError naming the layer when there is none.
IntegerNet integer_view(const QCnnImpl& cnn);

}  // namespace nemokd::models
