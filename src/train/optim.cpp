#include "train/optim.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::train {

void OptimConfig::validate(const std::string& key) const {
  check_one_of(key + ".name", name, {"sgd", "adam"});
  check_range(key + ".lr", lr, 1e-8, 10.0);
  check_range(key + ".momentum", momentum, 0.0, 0.999);
  check_range(key + ".weight_decay", weight_decay, 0.0, 1.0);
  check_one_of(key + ".schedule", schedule, {"none", "multistep", "cosine"});
  check_range(key + ".gamma", gamma, 1e-6, 1.0);
  check_range(key + ".min_lr", min_lr, 0.0, lr);
  if (nesterov && (name != "sgd" || momentum == 0))
    throw ConfigError(key + ".nesterov: needs sgd with momentum > 0");
  int prev = 0;
  for (int m : milestones) {
    if (m <= prev) throw ConfigError(fmt::format("{}.milestones: must be positive and increasing", key));
    prev = m;
  }
  if (schedule == "multistep" && milestones.empty())
    throw ConfigError(key + ".milestones: multistep schedule needs at least one milestone");
}

nlohmann::json to_json(const OptimConfig& c) {
  return {{"name", c.name},         {"lr", c.lr},         {"momentum", c.momentum},
          {"nesterov", c.nesterov}, {"weight_decay", c.weight_decay}, {"schedule", c.schedule},
          {"milestones", c.milestones}, {"gamma", c.gamma}, {"min_lr", c.min_lr}};
}

OptimConfig optim_config_from_json(const nlohmann::json& j, const std::string& path) {
  OptimConfig c;
  JsonReader r(j, path);
  r.get("name", c.name).get("lr", c.lr).get("momentum", c.momentum).get("nesterov", c.nesterov);
  r.get("weight_decay", c.weight_decay).get("schedule", c.schedule).get("milestones", c.milestones);
  r.get("gamma", c.gamma).get("min_lr", c.min_lr);
  r.finish();
  c.validate(path);
  return c;
}

double learning_rate_at(const OptimConfig& c, int epoch, int total_epochs) {
  if (c.schedule == "multistep") {
    double lr = c.lr;
    for (int m : c.milestones)
      if (epoch >= m) lr *= c.gamma;
    return lr;
  }
  if (c.schedule == "cosine") {
    const double progress = total_epochs > 0 ? double(epoch) / total_epochs : 0.0;
    return c.min_lr + 0.5 * (c.lr - c.min_lr) * (1.0 + std::cos(M_PI * progress));
  }
  return c.lr;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& c,
                                                        const std::vector<torch::Tensor>& params) {
  if (c.name == "adam") {
    return std::make_unique<torch::optim::Adam>(params,
                                                torch::optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(c.nesterov).weight_decay(c.weight_decay));
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

}  // namespace nemokd::train
