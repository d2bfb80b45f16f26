// The NEMOKD genome: integer genes that describe a student architecture, decoded by a pure function into a model
// config. FlexStudent: [conv layers, channel choice of conv 1..Cmax, FC layers, width choice of hidden FC
// 1..Fmax-1] — genes beyond the active depth are carried (NSGA-II's crossover keeps them) but unused. Flexible
// ResNet8x4: [stem, stage 1, stage 2, stage 3 channel choices] (depth fixed). MLP: [hidden layers, width choice of
// hidden 1..Hmax]; a quantized MLP without a bits tail gives every hidden layer the baseline's first-layer bits and
// the classifier the baseline's classifier bits. Equal models share one canonical
// key whatever their unused genes, so a phenotype is trained once.
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
// The families with a genome (a codec in space.cpp): flexstudent, flexresnet8x4, mlp.
bool searchable(models::Family family);
SearchSpace search_space_from_json(const nlohmann::json& j, const std::string& path = "space");

// Canonical identity of a decoded model: equal configs give equal keys (the memo key of an evaluation).
std::string canonical_key(const models::ModelConfig& decoded);

}  // namespace nemokd::search
