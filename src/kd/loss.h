// The knowledge-distillation loss (Hinton et al.; as in RepDistiller): a weighted sum of the cross-entropy
// with the labels and T^2 times the batch-mean KL divergence between the temperature-softened teacher and
// student distributions. T^2 keeps the soft term's gradient scale independent of T.
#pragma once
#include <string>

#include <nlohmann/json.hpp>
#include <torch/types.h>

namespace nemokd::kd {

struct KdLossConfig {
  double alpha = 0.9;        // weight of the KD term
  double temperature = 4.0;  // softmax temperature T (> 0)
  // "paper": (1 - alpha) CE + alpha KD (the NEMOKD paper's form); "gamma": gamma CE + alpha KD (RepDistiller's
  // form, published runs gamma = 0.1, alpha = 0.9).
  std::string form = "paper";
  double gamma = 0.1;  // used by form "gamma" only
  double ce_weight() const { return form == "paper" ? 1.0 - alpha : gamma; }
  void validate(const std::string& key) const;  // ConfigError naming the key
};
nlohmann::json to_json(const KdLossConfig& c);

struct KdLossParts {
  torch::Tensor total, ce, kd;  // kd already includes T^2
};
// student, teacher: logits [B, classes]; targets: int64 [B]. The teacher gets no gradient.
KdLossParts kd_loss(const torch::Tensor& student, const torch::Tensor& teacher, const torch::Tensor& targets,
                    const KdLossConfig& config);

}  // namespace nemokd::kd
