// Inside the cost area: the backends' factories and the run-folder reading they share (not part of cost.h, so that
// header stays free of torch).
#pragma once
#include <memory>
#include <string>

#include "cost/cost.h"
#include "models/registry.h"

namespace nemokd::cost {

// A training run's model config and the shape of its dataset's images (run.json: command train or kd train).
struct RunModel {
  models::ModelConfig model;
  models::InputShape input;
  int classes = 10;
};
// ConfigError naming the folder or file when it holds no training run.
RunModel read_run_model(const std::string& run_dir);

std::unique_ptr<CostBackend> make_fpga_cost(const CostSpec& spec, const CostContext& context);
std::unique_ptr<CostBackend> make_engine_cost(const CostSpec& spec, const CostContext& context);
std::unique_ptr<CostBackend> make_probe_cost(const CostSpec& spec, const CostContext& context);

}  // namespace nemokd::cost
