#include "hw/fpga/reference.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hw/fpga/cnn.h"
#include "hw/fpga/design.h"

namespace nemokd::hw::fpga {

namespace {
MvauLayer mvau(const std::string& name, int64_t mw, int64_t mh, int w, int a, int obits, int64_t thresholds, int pe,
               int simd) {
  MvauLayer l;
  l.name = name;
  l.mw = mw;
  l.mh = mh;
  l.wbits = w;
  l.abits = a;
  l.obits = obits;
  l.thresholds = thresholds;
  l.pe = pe;
  l.simd = simd;
  return l;
}

// PE/SIMD per MVAU (conv and fc alike) of BNN-PYNQ's CNV config.h files, which finn-examples reuses.
Folding cnv_folding(int wbits) {
  if (wbits == 1) return Folding{{16, 32, 16, 16, 4, 1, 1, 1, 4}, {3, 32, 32, 32, 32, 32, 4, 8, 1}};
  return Folding{{8, 16, 8, 8, 4, 1, 1, 2, 4}, {3, 16, 16, 16, 8, 8, 2, 2, 1}};
}

const char* kBnnPynq = "Xilinx/BNN-PYNQ@d39c1c75";
}  // namespace

ReferenceDesign finn_validation_mlp() {
  ReferenceDesign r;
  r.name = "finn-v0.7-mlp";
  r.what = "FINN v0.7 estimate example: MLP 600-64-64-64-1, W2, A1 in / A2 hidden, B2 hidden / B1 last; "
           "decoupled weights, auto RAM, LUT multipliers; out-of-context synthesis on XC7Z020";
  r.source = "Xilinx/finn@v0.7 notebooks/end2end_example/cybersecurity/3-build-accelerator-with-finn.ipynb";
  // Its thresholds follow FINN's n_steps = 2^B - 1 (unsigned outputs), and the last layer has a 1-bit activation.
  r.design.layers = {mvau("fc0", 600, 64, 2, 1, 2, 3, 16, 40), mvau("fc1", 64, 64, 2, 2, 2, 3, 1, 64),
                     mvau("fc2", 64, 64, 2, 2, 2, 3, 1, 64), mvau("fc3", 64, 1, 2, 2, 1, 1, 1, 1)};
  r.options.formulas = Formulas::legacy;  // the generation that published it
  r.options.weight_mode = WeightMode::decoupled;
  r.synth_lut = 8667;
  r.synth_ff = 9063;
  r.synth_bram18 = 2 * 22;  // 22 block RAM tiles (36 Kb)
  return r;
}

ReferenceDesign bnn_pynq_lfc(int abits) {
  ReferenceDesign r;
  r.name = abits == 1 ? "bnn-pynq-lfc-w1a1" : "bnn-pynq-lfc-w1a2";
  r.what = "BNN-PYNQ LFC W1A" + std::to_string(abits) +
           " on XC7Z020 at 100 MHz: binarised input padded to 832, 1024x3 hidden, output padded to 64 without "
           "activation; weights embedded in the HLS design; 512 cycles; post-implementation (Vivado 2018.2)";
  r.source = fmt::format("{} bnn/src/network/lfcW1A{}/hw/config.h, hw/top.cpp, README.md", kBnnPynq, abits);
  // finn-hlslib's ThresholdsActivation<..., NumTH = A>: A thresholds per channel (top.cpp).
  const int64_t thr = abits;
  r.design.layers = {mvau("fc0", 832, 1024, 1, 1, abits, thr, 32, 64),
                     mvau("fc1", 1024, 1024, 1, abits, abits, thr, 64, 32),
                     mvau("fc2", 1024, 1024, 1, abits, abits, thr, 32, 64),
                     mvau("fc3", 1024, 64, 1, abits, 0, 0, 16, 8)};
  r.options.formulas = Formulas::legacy;
  r.options.weight_mode = WeightMode::embedded;
  r.synth_lut = abits == 1 ? 28360 : 48981;
  r.synth_ff = abits == 1 ? 33470 : 45338;
  r.synth_bram18 = 2 * 6 + 208;  // 6 RAMB36 + 208 RAMB18, both precisions
  return r;
}

ReferenceDesign bnn_pynq_cnv(int wbits, int abits) {
  ReferenceDesign r;
  r.name = fmt::format("bnn-pynq-cnv-w{}a{}", wbits, abits);
  r.what = fmt::format("BNN-PYNQ CNV W{}A{} on XC7Z020 at 100 MHz: 8-bit pixels into conv0, conv 64-64-pool-128-128-"
                       "pool-256-256, FC 512-512-10 padded to 64; weights embedded; post-implementation (Vivado "
                       "2018.2)",
                       wbits, abits);
  r.source = fmt::format("{} bnn/src/network/cnvW{}A{}/hw/config.h, hw/top.cpp, README.md", kBnnPynq, wbits, abits);
  auto spec = cnv_spec(wbits, abits, 10);
  spec.input = "u8";
  spec.activation = "bnn-pynq";
  spec.pad_output_to = 64;
  r.design = cnn_design(spec);
  apply_folding(r.design, cnv_folding(wbits));
  r.options.formulas = Formulas::legacy;
  r.options.weight_mode = WeightMode::embedded;
  r.options.window_ram = RamStyle::automatic;  // finn-hlslib's line buffers, left to HLS
  struct Published {
    int64_t lut, ff, ramb36, ramb18;
  };
  const Published p = wbits == 2 ? Published{37302, 51386, 138, 4}
                      : abits == 2 ? Published{40321, 56276, 90, 83}
                                   : Published{26072, 41312, 76, 96};
  r.synth_lut = p.lut;
  r.synth_ff = p.ff;
  r.synth_bram18 = 2 * p.ramb36 + p.ramb18;
  return r;
}

ReferenceDesign finn_tfc_w1a1() {
  ReferenceDesign r;
  r.name = "finn-tfc-w1a1";
  r.what = "FINN's TFC-W1A1 end-to-end example on PYNQ-Z1: binarised input (thresholding unit, PE 49), 784-64-64-64-10, "
           "folding (16,49),(8,8),(8,8),(10,8); 64 cycles";
  r.source = "Xilinx/finn@v0.7 notebooks/end2end_example/bnn-pynq/tfc_end2end_example.ipynb";
  ThresholdLayer t;
  t.channels = 784;
  t.in_bits = 8;
  t.out_bits = 1;
  t.thresholds = 1;
  t.pe = 49;
  r.design.input = t;
  r.design.layers = {mvau("fc0", 784, 64, 1, 1, 1, 1, 16, 49), mvau("fc1", 64, 64, 1, 1, 1, 1, 8, 8),
                     mvau("fc2", 64, 64, 1, 1, 1, 1, 8, 8), mvau("fc3", 64, 10, 1, 1, 0, 0, 10, 8)};
  r.options.formulas = Formulas::legacy;
  return r;
}

ReferenceDesign finn_examples_cnv_w1a1(bool gtsrb) {
  ReferenceDesign r;
  r.name = gtsrb ? "finn-examples-cnv-w1a1-gtsrb" : "finn-examples-cnv-w1a1";
  r.what = gtsrb ? "finn-examples CNV-W1A1 on GTSRB (43 classes, output padded to 44 for PE 4) on PYNQ-Z1"
                 : "finn-examples CNV-W1A1 on CIFAR-10 on PYNQ-Z1: FINN input quantizer (PE 1), BNN-PYNQ folding";
  r.source = gtsrb ? "Xilinx/finn-examples@810a1e77 build/gtsrb/folding_config/gtsrb_folding_config.json"
                   : "Xilinx/finn-examples@810a1e77 build/bnn-pynq/folding_config/cnv-w1a1_folding_config.json";
  auto spec = cnv_spec(1, 1, gtsrb ? 43 : 10);
  spec.pad_output_to = gtsrb ? 4 : 0;
  r.design = cnn_design(spec);
  auto f = cnv_folding(1);
  f.pe.back() = gtsrb ? 4 : 5;
  apply_folding(r.design, f);
  r.design.input->pe = 1;  // the folding config's Thresholding PE
  r.options.formulas = Formulas::legacy;
  r.options.weight_mode = WeightMode::decoupled;
  return r;
}

std::vector<ReferenceDesign> reference_designs() {
  return {finn_validation_mlp(), bnn_pynq_lfc(1),    bnn_pynq_lfc(2),
          bnn_pynq_cnv(1, 1),    bnn_pynq_cnv(1, 2), bnn_pynq_cnv(2, 2)};
}

nlohmann::json ReferenceCheck::to_json() const {
  auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  auto j = estimate.fps.to_json();
  j.update({{"name", name},
            {"what", what},
            {"source", source},
            {"estimate", estimate.total.to_json()},
            {"max_cycles", estimate.max_cycles},
            {"published_lut", opt(synth_lut)},
            {"published_ff", opt(synth_ff)},
            {"published_bram18", opt(synth_bram18)},
            {"lut_ratio", opt(lut_ratio)},
            {"ff_ratio", opt(ff_ratio)},
            {"bram18_ratio", opt(bram_ratio)}});
  return j;
}

ReferenceCheck check_reference_design(const ReferenceDesign& r) {
  ReferenceCheck c{r.name, r.what, r.source, estimate(r.design, r.options), r.synth_lut, r.synth_ff, r.synth_bram18,
                   {}, {}, {}};
  if (r.synth_lut) c.lut_ratio = double(c.estimate.total.lut) / double(*r.synth_lut);
  if (r.synth_ff) c.ff_ratio = double(c.estimate.total.ff) / double(*r.synth_ff);
  if (r.synth_bram18) c.bram_ratio = double(c.estimate.total.bram18) / double(*r.synth_bram18);
  return c;
}

std::vector<ReferenceCheck> check_reference_designs() {
  std::vector<ReferenceCheck> out;
  for (const auto& r : reference_designs()) out.push_back(check_reference_design(r));
  return out;
}

nlohmann::json EstimatorVariant::to_json() const {
  return {{"name", name},           {"formulas", to_string(formulas)}, {"threshold_ram", to_string(threshold_ram)},
          {"lut_ratio", lut_ratio}, {"lut_error", lut_error},           {"lut_bias", lut_bias}};
}

std::vector<EstimatorVariant> compare_lut_estimators() {
  std::vector<EstimatorVariant> out = {{"legacy", Formulas::legacy, ThresholdRam::distributed, {}, 0, 0},
                                       {"current, thresholds in LUTRAM", Formulas::current, ThresholdRam::distributed,
                                        {}, 0, 0},
                                       {"current, thresholds in BRAM", Formulas::current, ThresholdRam::block, {}, 0, 0}};
  const auto refs = reference_designs();
  for (auto& v : out) {
    for (const auto& r : refs) {
      CostOptions o = r.options;
      o.formulas = v.formulas;
      o.threshold_ram = v.threshold_ram;
      const double ratio = double(estimate(r.design, o).total.lut) / double(*r.synth_lut);
      v.lut_ratio.push_back(ratio);
      v.lut_error += std::abs(std::log(ratio)) / double(refs.size());
      v.lut_bias += std::log(ratio) / double(refs.size());
    }
  }
  return out;
}

EstimatorVariant best_lut_estimator() {
  const auto all = compare_lut_estimators();
  return *std::min_element(all.begin(), all.end(),
                           [](const auto& a, const auto& b) { return a.lut_error < b.lut_error; });
}

}  // namespace nemokd::hw::fpga
