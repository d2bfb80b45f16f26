#include "hw/fpga/reference.h"

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
}  // namespace

ReferenceDesign finn_validation_mlp() {
  ReferenceDesign r;
  r.name = "finn-v0.7-mlp";
  r.what = "FINN v0.7 estimate example: MLP 600-64-64-64-1, W2, A1 in / A2 hidden, B2 hidden / B1 last; "
           "decoupled weights, auto RAM, LUT multipliers; synthesis on XC7Z020";
  // Its thresholds follow FINN's n_steps = 2^B - 1 (unsigned outputs), and the last layer has a 1-bit activation.
  r.design.layers = {mvau("fc0", 600, 64, 2, 1, 2, 3, 16, 40), mvau("fc1", 64, 64, 2, 2, 2, 3, 1, 64),
                     mvau("fc2", 64, 64, 2, 2, 2, 3, 1, 64), mvau("fc3", 64, 1, 2, 2, 1, 1, 1, 1)};
  r.options.weight_mode = WeightMode::decoupled;
  r.synth_lut = 8667;
  r.synth_ff = 9063;
  return r;
}

ReferenceDesign bnn_pynq_lfc(int abits) {
  ReferenceDesign r;
  r.name = abits == 1 ? "bnn-pynq-lfc-w1a1" : "bnn-pynq-lfc-w1a2";
  r.what = "BNN-PYNQ LFC W1A" + std::to_string(abits) +
           " on XC7Z020 at 100 MHz: binarised input padded to 832, 1024x3 hidden, output padded to 64 without "
           "activation; weights embedded in the HLS design; 512 cycles";
  const int64_t thr = (int64_t(1) << abits) - 1;  // unsigned activations, 2^A - 1 thresholds
  r.design.layers = {mvau("fc0", 832, 1024, 1, 1, abits, thr, 32, 64),
                     mvau("fc1", 1024, 1024, 1, abits, abits, thr, 64, 32),
                     mvau("fc2", 1024, 1024, 1, abits, abits, thr, 32, 64),
                     mvau("fc3", 1024, 64, 1, abits, 0, 0, 16, 8)};
  r.options.weight_mode = WeightMode::embedded;
  r.synth_lut = abits == 1 ? 28360 : 48981;
  r.synth_ff = abits == 1 ? 33470 : 45338;
  return r;
}

std::vector<ReferenceDesign> reference_designs() { return {finn_validation_mlp(), bnn_pynq_lfc(1), bnn_pynq_lfc(2)}; }

nlohmann::json ReferenceCheck::to_json() const {
  auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"name", name},
          {"estimate", estimate.total.to_json()},
          {"max_cycles", estimate.max_cycles},
          {"synth_lut", opt(synth_lut)},
          {"synth_ff", opt(synth_ff)},
          {"lut_error", opt(lut_error)},
          {"ff_error", opt(ff_error)}};
}

std::vector<ReferenceCheck> check_reference_designs() {
  std::vector<ReferenceCheck> out;
  for (const auto& r : reference_designs()) {
    ReferenceCheck c{r.name, estimate(r.design, r.options), r.synth_lut, r.synth_ff, {}, {}};
    if (r.synth_lut) c.lut_error = double(c.estimate.total.lut - *r.synth_lut) / double(*r.synth_lut);
    if (r.synth_ff) c.ff_error = double(c.estimate.total.ff - *r.synth_ff) / double(*r.synth_ff);
    out.push_back(c);
  }
  return out;
}

}  // namespace nemokd::hw::fpga
