// A quantized CNN described by its structure alone (no torch model needed), and its lowering to FINN's
// dataflow units: conv -> [FMPadding] + sliding-window unit + MVAU (MW = K^2 * Cin, MH = Cout, OFM^2 vectors),
// max-pool -> StreamingMaxPool on the previous layer's output codes, FC -> MVAU, the input quantizer -> a
// thresholding unit. Bits per layer; a 32-bit (float) layer, or a layer FINN cannot map, is a ConfigError
// naming the layer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/cost_model.h"

namespace nemokd::hw::fpga {

enum class CnnOp { conv, maxpool, fc };
std::string to_string(CnnOp op);

struct CnnLayer {
  CnnOp op = CnnOp::conv;
  int64_t out = 0;                  // conv: output channels; fc: outputs (the last fc: the classes)
  int k = 3, stride = 1, pad = 0;   // conv: kernel, stride, zero padding; maxpool: k (stride k)
  int wbits = 1;                    // conv/fc weight bits (1..8; 32 = float, refused)
  int abits = 1;                    // conv/fc output activation bits; ignored on the last layer (no activation)
  nlohmann::json to_json() const;
};

struct CnnSpec {
  std::string name = "cnn";
  int64_t channels = 3, size = 32;  // input image: channels x size x size
  // Input: "signed" = UINT8 pixels through a thresholding unit to input_bits codes (FINN's input quantizer);
  // "u8" = the 8-bit pixels straight into the first conv (BNN-PYNQ's CNV does this).
  std::string input = "signed";
  int input_bits = 8;
  // Hidden activations: relu (2^B - 1 thresholds per channel), tanh/hardtanh (2^B - 2; 1 bit: 1 threshold)
  // or "bnn-pynq" (B thresholds: finn-hlslib's ThresholdsActivation as BNN-PYNQ instantiates it).
  std::string activation = "relu";
  int pad_output_to = 0;            // pad the last layer's MH up to a multiple (BNN-PYNQ: 64)
  std::vector<CnnLayer> layers;

  void validate() const;            // ConfigError naming the layer
  nlohmann::json to_json() const;
  // Per-layer bits: one value for every layer or one per weighted layer (conv/fc), in order.
  void set_bits(const std::vector<int>& wbits, const std::vector<int>& abits);
  int weighted_layers() const;
};
// Strict: unknown keys and bad values are errors naming the key (path.layers[i].k ...).
CnnSpec cnn_spec_from_json(const nlohmann::json& j, const std::string& path = "cnn");

// FINN's CNV (Umuroglu et al., FINN, FPGA 2017; BNN-PYNQ): 32x32x3 input, conv3x3 64-64-pool-128-128-pool-
// 256-256 (unpadded), FC 512-512-classes, every layer W weight bits and A activation bits.
CnnSpec cnv_spec(int wbits, int abits, int classes = 10);
// Known names: "cnv".
bool is_cnn_topology(const std::string& name);
CnnSpec cnn_topology(const std::string& name, int classes = 10);

// The dataflow design: MVAUs named conv0.., fc0.. (their sliding-window, padding and pool units are
// <name>.swu, <name>.pad, <name>.pool); every unit at PE = SIMD = 1.
Design cnn_design(const CnnSpec& spec);

}  // namespace nemokd::hw::fpga
