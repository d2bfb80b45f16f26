// Optimiser and learning-rate schedule configs. The schedule is a pure function of the epoch, so a resumed
// run sets exactly the learning rate the uninterrupted run would have had.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

namespace nemokd::train {

struct OptimConfig {
  std::string name = "sgd";  // sgd | adam
  double lr = 0.05;
  double momentum = 0.9;       // sgd
  bool nesterov = false;       // sgd
  double weight_decay = 5e-4;
  std::string schedule = "none";  // none | multistep | cosine
  std::vector<int> milestones;    // multistep: epochs (1-based, as the recipes state) after which lr *= gamma
  double gamma = 0.1;
  double min_lr = 0.0;            // cosine floor

  void validate(const std::string& key = "optim") const;
};
nlohmann::json to_json(const OptimConfig& c);
OptimConfig optim_config_from_json(const nlohmann::json& j, const std::string& path = "optim");

// Learning rate for 0-based `epoch` of `total_epochs`.
double learning_rate_at(const OptimConfig& c, int epoch, int total_epochs);

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& c,
                                                        const std::vector<torch::Tensor>& params);
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

}  // namespace nemokd::train
