#include "kd/loss.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::kd {

void KdLossConfig::validate(const std::string& key) const {
  check_range(key + ".alpha", alpha, 0.0, 1.0);
  check_range(key + ".temperature", temperature, 1e-3, 1e3);
  check_one_of(key + ".form", form, {"paper", "gamma"});
  if (form == "gamma") check_range(key + ".gamma", gamma, 0.0, 1e3);
}

nlohmann::json to_json(const KdLossConfig& c) {
  return {{"alpha", c.alpha}, {"temperature", c.temperature}, {"form", c.form}, {"gamma", c.gamma}};
}

KdLossParts kd_loss(const torch::Tensor& student, const torch::Tensor& teacher, const torch::Tensor& targets,
                    const KdLossConfig& config) {
  namespace F = torch::nn::functional;
  if (student.sizes() != teacher.sizes())
    throw ConfigError(fmt::format("distillation: student logits {} and teacher logits {} differ in shape (classes?)",
                                  student.size(-1), teacher.size(-1)));
  const double T = config.temperature;
  KdLossParts p;
  p.ce = F::cross_entropy(student, targets);
  auto log_p_s = F::log_softmax(student / T, F::LogSoftmaxFuncOptions(1));
  auto log_p_t = F::log_softmax(teacher.detach().to(student.scalar_type()) / T, F::LogSoftmaxFuncOptions(1));
  // KL(p_t || p_s) summed over classes, averaged over the batch ("batchmean"), times T^2.
  p.kd = (log_p_t.exp() * (log_p_t - log_p_s)).sum() / double(student.size(0)) * (T * T);
  p.total = config.ce_weight() * p.ce + config.alpha * p.kd;
  return p;
}

}  // namespace nemokd::kd
