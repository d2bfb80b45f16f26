// Published FINN / BNN-PYNQ designs with their published estimates or synthesis results
// (../shared/docs/reference/finn-cost-model.md): the checks behind `nemokd fpga check`, the unit tests, and the
// error figures of docs/FPGA.md. The flip-flop estimate is compared here, never fitted to these numbers.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/cost_model.h"

namespace nemokd::hw::fpga {

struct ReferenceDesign {
  std::string name, what;
  Design design;
  CostOptions options;
  // Published synthesis results (post-synthesis on XC7Z020), where there are any.
  std::optional<int64_t> synth_lut, synth_ff;
};

// FINN v0.7's published estimate example: MLP 600-64-64-64-1, W2, folding (16,40),(1,64),(1,64),(1,1).
ReferenceDesign finn_validation_mlp();
// BNN-PYNQ LFC (input padded 784 -> 832, output 10 -> 64), folding (32,64),(64,32),(32,64),(16,8); abits 1 or 2.
ReferenceDesign bnn_pynq_lfc(int abits);
std::vector<ReferenceDesign> reference_designs();

struct ReferenceCheck {
  std::string name;
  Estimate estimate;
  std::optional<int64_t> synth_lut, synth_ff;
  std::optional<double> lut_error, ff_error;  // (estimate - published) / published
  nlohmann::json to_json() const;
};
std::vector<ReferenceCheck> check_reference_designs();

}  // namespace nemokd::hw::fpga
