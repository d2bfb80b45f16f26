// The NEMOKD genome: integer genes that describe a student architecture, decoded by a pure function into a model
// config. Each searchable family's genome is a list of layer groups (space.cpp's codec table), each group an
// optional depth gene and one choice gene per layer slot; genes beyond the active depth are carried (NSGA-II's
// crossover keeps them) but unused. FlexStudent: [conv layers, channel choice of conv 1..Cmax, FC layers, width choice
// of hidden FC 1..Fmax-1]. Flexible ResNet8x4: [stem, stage 1, stage 2, stage 3 channel choices] (depth fixed).
// MLP: [hidden layers, width choice of hidden 1..Hmax]. Quantized FlexStudent (qflexstudent): FlexStudent's genes,
// pooled so that FINN can lower every design (see `image`). CNV (qcnv): FINN's CNV topology with a channel choice per
// conv (6, from cnv_channels) and a width choice per hidden FC (2, from neurons). A quantized family without a bits
// tail gives every hidden layer the baseline's first-layer bits and the classifier the baseline's classifier bits.
// Equal models share one canonical key whatever their unused genes, so a phenotype is trained once.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/registry.h"

namespace nemokd::search {

struct SearchSpace {
  models::Family family = models::Family::flexstudent;  // a searchable family (searchable()); JSON "arch"
  // flexstudent
  int min_conv = 1, max_conv = 5;
  std::vector<int> channels{8, 16, 32, 64, 128};
  int min_fc = 1, max_fc = 3;  // FC layers including the classifier (FlexStudent's count)
  std::vector<int> neurons{16, 32, 64, 128, 256, 512};
  // flexresnet8x4: choices for each of stem, stage 1, 2, 3
  std::vector<int> stage_channels{8, 16, 32, 64, 128, 256};
  // mlp (float, or quantized "qmlp" when the baseline is): hidden layers and their width choices
  int min_hidden = 1, max_hidden = 3;
  std::vector<int> widths{32, 64, 128, 256, 512};
  // cnv (quantized, "qcnv"): output channels of each of CNV's 6 convs (its hidden FCs take `neurons`)
  std::vector<int> cnv_channels{16, 32, 64, 128, 256};
  // qflexstudent: the image (height, width) the pooling is planned for. A 2x2 pool follows a conv block while its map
  // is even and at least 4x4 (28: 28 -> 14 -> 7, then none; 32: 32 -> 16 -> 8 -> 4 -> 2): FINN's StreamingMaxPool
  // needs an even map, so every decoded design can be lowered. JSON "image": [H, W]; an evolve config fills it from
  // its dataset when absent (and refuses another).
  int image_height = 0, image_width = 0;
  // Bit genes after a quantized family's genes (qmlp): "none" (the baseline's bits, as the family's codec sets
  // them), "uniform" (two genes, one weight and one activation width for every layer, the classifier included: route
  // Q's setting) or "per-layer" (one weight gene per weighted-layer slot, one activation gene per activation slot;
  // hidden slot i uses W[i] and A[i], the classifier the last W slot, so its bits do not move with the depth; genes
  // of inactive slots are carried, unused). Genes index weight_bits / act_bits. JSON keys only when bits != none.
  std::string bits = "none";
  std::vector<int> weight_bits{1, 2, 3, 4, 5, 6, 7, 8}, act_bits{1, 2, 3, 4, 5, 6, 7, 8};

  void validate(const std::string& key = "space") const;  // ConfigError naming the key
  size_t genes() const;
  std::vector<double> lower() const;
  std::vector<double> upper() const;
  // Genome (integral values within the bounds) -> the student's config; `base` supplies everything the genome
  // does not set (pooling rule, dropout). Throws ConfigError for a genome outside the bounds.
  models::ModelConfig decode(const std::vector<double>& genome, const models::ModelConfig& base) const;
  // The inverse: a genome that decodes (with `base`) to exactly `m` (same canonical_key), or nullopt with the
  // reason in `why` ("conv channels 48 not in space.channels [8, 16, 32]", a depth outside the bounds, a field the
  // genome does not set that differs from the base's). Unused genes are 0. Seeds the initial population.
  std::optional<std::vector<double>> encode(const models::ModelConfig& m, const models::ModelConfig& base,
                                            std::string* why = nullptr) const;
  // Human-readable summary: "conv 16-64-32 | fc 128-10" / "resnet8x4 32-64-128-256".
  std::string summary(const models::ModelConfig& decoded) const;
};
nlohmann::json to_json(const SearchSpace& s);
// The families with a genome (a codec in space.cpp): flexstudent, flexresnet8x4, mlp, cnv, qflexstudent.
bool searchable(models::Family family);
// Whether the family's genome plans its pooling for the input image (SearchSpace::image_height/width): qflexstudent.
bool needs_image(models::Family family);
// The pooling of `conv_layers` 3x3 pad-1 conv blocks on an h x w image that FINN can lower: a 2x2 pool after a block
// while its map is even and at least 4x4.
std::vector<bool> finn_pools(int conv_layers, int height, int width);
SearchSpace search_space_from_json(const nlohmann::json& j, const std::string& path = "space");

// Canonical identity of a decoded model: equal configs give equal keys (the memo key of an evaluation).
std::string canonical_key(const models::ModelConfig& decoded);

}  // namespace nemokd::search
