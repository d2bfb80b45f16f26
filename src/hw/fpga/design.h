// From a quantized MLP description to a dataflow design (MVAU per FC layer, thresholding unit for the input
// quantizer; CNNs: cnn.h), and folding: uniform (one PE/SIMD for every layer, adjusted per layer to a legal divisor) or
// per layer (strict: an illegal value is an error naming the layer and the legal divisors).
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/cost_model.h"
#include "models/mlp.h"

namespace nemokd::hw::fpga {

// What the cost model needs to know about a model besides its MlpConfig.
struct MlpShape {
  int64_t in_features = 784;  // flattened input (C*H*W)
  int classes = 10;
  // Pad the output layer's MH up to a multiple of this (BNN-PYNQ pads 10 classes to 64 so PE can be large);
  // 0 or 1 = no padding.
  int pad_output_to = 0;
};

// Bits per layer come from the MLP config: layer i has weight_bits[i]; its input bits are the input
// quantizer's (signed: input_bits, u8: 8) for i = 0 and act_bits[i-1] after; a hidden layer outputs
// act_bits[i] through thresholds (Levels::count() - 1 per channel: 2^B - 2 signed narrow (tanh/hard-tanh),
// 2^B - 1 unsigned (ReLU), 1 bipolar); the output layer has no activation (TMEM = 0). A "signed" input
// becomes a thresholding unit on UINT8 pixels; "u8" feeds the pixels straight in. Float anywhere (32 bits,
// input "float") has no FPGA cost: ConfigError naming the key. Every layer starts at PE = SIMD = 1.
Design mlp_design(const models::MlpConfig& mlp, const MlpShape& shape);

// PE and SIMD: one value = uniform (every layer; a value that does not divide a layer's MH/MW becomes the
// nearest legal divisor below, with a note on the layer), or one value per MVAU (strict).
struct Folding {
  std::vector<int> pe{1}, simd{1};
  nlohmann::json to_json() const;
};
void apply_folding(Design& design, const Folding& folding);

// Units without a folding of their own keep pace with the MVAU they feed: the input thresholding unit runs
// at PE = gcd(its channels, the first MVAU's SIMD) (= that SIMD for an MLP, whose MW is the channel count),
// and each sliding-window unit at SIMD = gcd(Cin, its MVAU's SIMD). Folding and searches call this after
// changing an MVAU.
void sync_dependent_units(Design& design);

// Largest divisor of n that is <= value (at least 1).
int64_t divisor_at_most(int64_t n, int64_t value);

}  // namespace nemokd::hw::fpga
