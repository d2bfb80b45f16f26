// FlexStudent: the plain CNN student that NEMOKD distils into and evolves (Route K, K1/K2).
//
//   conv block i (i < conv_channels.size()): conv3x3 (pad 1, stride 1, no bias) -> BatchNorm2d -> ReLU
//                                             [-> 2x2 max-pool, stride 2, if pool[i]]
//   flatten
//   hidden FC j (j < fc_widths.size()):       Linear (no bias) -> BatchNorm1d -> ReLU [-> dropout]
//   classifier:                               Linear (with bias) -> classes
//
// Pooling: `pool` lists one flag per conv block; empty (JSON "auto", the default) applies the rule "pool after
// a block while its map is at least 4x4 in both dimensions" — so the pooled map never gets smaller than 2x2,
// and 32x32 goes 16, 8, 4, 2, 2, ...; 28x28 goes 14, 7, 3, 3, .... An explicit pool flag on a block whose map
// is smaller than 2x2 is an error (too many pooled conv layers for the input).
//
// The default is the "5-layer baseline": 5 = weighted layers = 3 conv layers + 2 FC layers, where the
// classifier Linear is one of the FC layers: conv 32 -> 64 -> 128 (each pooled by the auto rule; 3x32x32 ->
// 128x4x4, 1x28x28 -> 128x3x3), FC 256, FC classes. No dropout. (With a CIFAR-100 head: 643,972 parameters,
// 10.87M MACs.)
//
// Genome (what NEMOKD evolves): number of conv layers = conv_channels.size() (0..8), number of FC layers =
// fc_widths.size() + 1 (1..9, the classifier included), conv output channels (1..4096 each), FC neurons
// (1..65536 each).
#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"

namespace nemokd::models {

struct FlexStudentConfig {
  static constexpr int kMaxConvLayers = 8, kMaxHiddenFc = 8;
  std::vector<int> conv_channels{32, 64, 128};
  std::vector<bool> pool;  // one per conv layer; empty = the auto rule (JSON "auto"; true/false = all)
  std::vector<int> fc_widths{256};  // hidden FC layers (the classifier comes after them)
  double dropout = 0.0;             // after each hidden FC layer's ReLU, [0, 0.95]

  void validate(const std::string& key = "flexstudent") const;  // throws ConfigError naming the key
  // The pooling of each conv block for this input (auto rule applied); throws ConfigError naming
  // `key`.pool[i] when an explicit pool does not fit the input.
  std::vector<bool> resolved_pool(InputShape input, const std::string& key = "flexstudent") const;
  int conv_layers() const { return static_cast<int>(conv_channels.size()); }
  int fc_layers() const { return static_cast<int>(fc_widths.size()) + 1; }  // classifier included
  int weighted_layers() const { return conv_layers() + fc_layers(); }       // 5 for the default
};
nlohmann::json to_json(const FlexStudentConfig& c);
FlexStudentConfig flexstudent_config_from_json(const nlohmann::json& j, const std::string& path = "flexstudent");

class FlexStudentImpl : public ClassifierImpl {
 public:
  FlexStudentImpl(const FlexStudentConfig& config, InputShape input, int classes);
  torch::Tensor forward(torch::Tensor x) override;
  nlohmann::json describe() const override;
  Family family() const override { return Family::flexstudent; }
  InputShape input_shape() const override { return input_; }
  int classes() const override { return classes_; }
  std::vector<LayerSummary> layers() const override { return layers_; }
  const FlexStudentConfig& config() const { return config_; }

 private:
  FlexStudentConfig config_;
  InputShape input_;
  int classes_;
  struct Parts;  // the registered layers (flexstudent.cpp)
  std::shared_ptr<Parts> parts_;
  std::vector<LayerSummary> layers_;
};

}  // namespace nemokd::models
