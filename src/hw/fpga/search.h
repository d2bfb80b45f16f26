// Folding search: FINN's SetFolding (a target FPS), the fastest folding that fits a device, and the Pareto
// set of foldings over (FPS, LUT, BRAM18).
#pragma once
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/cost_model.h"
#include "hw/fpga/design.h"
#include "hw/fpga/devices.h"

namespace nemokd::hw::fpga {

struct FoldedDesign {
  Design design;
  Estimate estimate;
  FitReport fit;
  nlohmann::json to_json() const;  // folding per layer + estimate + fit
};
FoldedDesign evaluate(const Design& design, const CostOptions& options, const Device& device,
                      const UsableFractions& usable);

// FINN's SetFolding. T = floor(f_clk / target_fps) cycles. Per MVAU from PE = SIMD = 1: SIMD rises through the
// divisors of MW until the layer's cycles < T, but stops (keeping the previous SIMD) once W * SIMD exceeds
// `weight_width_max` unless that SIMD already met T; then PE rises through the divisors of MH until cycles < T.
// The input thresholding unit raises its PE the same way, and each sliding-window unit its SIMD through the
// divisors of Cin (FINN folds them separately; a max-pool unit has no folding). If the slowest unit still
// needs more than T, the whole pass runs once more with T = that maximum, which balances the pipeline.
// `options` gives the clock and the formula generation (the units' cycle formulas differ between them).
struct SetFoldingOptions {
  double target_fps = 0;
  int64_t weight_width_max = 36;  // FINN's mvau_wwidth_max default
  bool two_pass = true;
};
Design set_folding(const Design& design, const CostOptions& options, const SetFoldingOptions& so);

// "Fits" in the searches means within `usable` (FINN's planning shares by default; UsableFractions of 1 =
// the whole device); the result's FitReport still carries both verdicts.
//
// Fastest folding (fewest cycles per frame) whose estimate fits the device. Candidates: every legal (PE, SIMD)
// per layer; for each achievable cycle budget T (ascending) each layer keeps its options with cycles <= T that
// no other option beats on all five resources, and a depth-first search with budget pruning looks for a
// combination that fits. The first T with one is the answer, so no faster folding fits. nullopt when nothing
// fits, not even PE = SIMD = 1.
std::optional<FoldedDesign> fastest_fit(const Design& design, const CostOptions& options, const Device& device,
                                        const UsableFractions& usable);

// Non-dominated foldings over (max cycles, LUT, BRAM18), fastest first. Per cycle budget T each layer keeps
// its (LUT, BRAM18)-non-dominated options with cycles <= T; layers are combined by a Pareto-filtered sum, then
// the union over T is filtered once more. only_fitting drops designs that do not fit the device (LUT and BRAM
// budgets prune early; FF, URAM and DSP are checked on the finished design).
std::vector<FoldedDesign> pareto_foldings(const Design& design, const CostOptions& options, const Device& device,
                                          const UsableFractions& usable, bool only_fitting);

}  // namespace nemokd::hw::fpga
