// Published FINN / BNN-PYNQ designs with their published estimates or Vivado resource reports: the checks
// behind `nemokd fpga check`, the unit tests, the estimator comparison and the error figures of docs/FPGA.md
// (which cites each source file). The FF estimate and the formulas are compared here, never fitted to them.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/cost_model.h"

namespace nemokd::hw::fpga {

struct ReferenceDesign {
  std::string name, what;
  std::string source;  // where the design and its figures are published (repository, path, commit)
  Design design;
  CostOptions options;
  // Published Vivado resource figures on the XC7Z020 (post-implementation or out-of-context synthesis, as
  // `what` says), where there are any. BRAM18 counts a RAMB36 as two.
  std::optional<int64_t> synth_lut, synth_ff, synth_bram18;
};

// FINN v0.7's published estimate example (the cybersecurity MLP): 600-64-64-64-1, W2, folding
// (16,40),(1,64),(1,64),(1,1); out-of-context synthesis 8,667 LUT, 9,063 FF, 22 BRAM36.
ReferenceDesign finn_validation_mlp();
// BNN-PYNQ LFC (input padded 784 -> 832, output 10 -> 64), folding (32,64),(64,32),(32,64),(16,8); abits 1 or 2.
ReferenceDesign bnn_pynq_lfc(int abits);
// BNN-PYNQ CNV W1A1, W1A2 or W2A2 at its published folding (config.h): 8-bit pixels straight into conv0,
// A thresholds per channel (finn-hlslib ThresholdsActivation<..., NumTH = A>), output padded to 64, weights
// embedded in the HLS design; post-implementation utilisation from the network's README.
ReferenceDesign bnn_pynq_cnv(int wbits, int abits);
// FINN's TFC-W1A1 example: binarised input (thresholding unit, PE 49), folding (16,49),(8,8),(8,8),(10,8).
ReferenceDesign finn_tfc_w1a1();
// finn-examples CNV-W1A1 (CIFAR-10) or its GTSRB variant (43 classes, output padded to 44 for PE 4): FINN's
// input quantizer (UINT8 -> 8-bit, PE 1), the BNN-PYNQ folding.
ReferenceDesign finn_examples_cnv_w1a1(bool gtsrb = false);

// The designs with published resource figures (`fpga check`): the MLPs and the CNV rows. The throughput
// calibration's designs are in calibration.h.
std::vector<ReferenceDesign> reference_designs();

struct ReferenceCheck {
  std::string name, what, source;
  Estimate estimate;
  std::optional<int64_t> synth_lut, synth_ff, synth_bram18;
  // estimate / published (1.0 = exact), where published exists
  std::optional<double> lut_ratio, ff_ratio, bram_ratio;
  nlohmann::json to_json() const;
};
std::vector<ReferenceCheck> check_reference_designs();
ReferenceCheck check_reference_design(const ReferenceDesign& r);

// The LUT estimators FINN has had, and where they put the MVAU thresholds, against every published figure:
// `legacy` (v0.5b-v0.9; thresholds always priced as LUTs), `current` with thresholds in distributed RAM, and
// `current` with thresholds in block RAM (their LUT terms vanish). Error = mean |ln(estimate / published)| over
// the designs (a factor-of-two miss either way counts the same); bias = mean ln(estimate / published).
struct EstimatorVariant {
  std::string name;
  Formulas formulas = Formulas::legacy;
  ThresholdRam threshold_ram = ThresholdRam::distributed;
  std::vector<double> lut_ratio;  // per reference design, in reference_designs() order
  double lut_error = 0, lut_bias = 0;
  nlohmann::json to_json() const;
};
std::vector<EstimatorVariant> compare_lut_estimators();
// The variant with the smallest error: the defaults of CostOptions follow it (a test holds them together).
EstimatorVariant best_lut_estimator();

}  // namespace nemokd::hw::fpga
