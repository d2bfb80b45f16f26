// A model named by its topology (an MLP: tfc, sfc, lfc or hidden widths such as "512,256"; a CNN: cnv) and the
// W x A grid of FPGA estimates over such models (`nemokd fpga grid`, the hardware half of a Q1 sweep).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/summary.h"

namespace nemokd::hw::fpga {

struct TopologyModel {
  std::string topology = "tfc";
  // MLPs and CNNs alike: the input quantizer and the hidden activations (design.h, cnn.h).
  std::string input = "signed";
  int input_bits = 8;
  std::string activation = "tanh";
  // MLPs only (a CNN topology fixes its input shape): flattened inputs and classes; both: output padding.
  int64_t inputs = 784;
  int classes = 10;
  int pad_output = 0;

  bool is_cnn() const;
  // Bits: one value for every layer, or one per layer (MLP: weights per layer, activations per hidden layer;
  // CNN: per conv/fc layer).
  Design design(const std::vector<int>& wbits, const std::vector<int>& abits) const;
  nlohmann::json describe() const;  // the model, with its layer list
};

struct GridSpec {
  TopologyModel model;                // its topology is replaced by each of `topologies`
  std::vector<std::string> topologies{"tfc"};
  std::vector<int> wbits, abits;      // every W x A pair is one row (W on every layer, A on every activation)
  Folding folding;                    // uniform or per MVAU
  CostOptions options;
  void validate() const;
};

struct GridRow {
  std::string topology;
  int wbits = 0, abits = 0;
  HwPoint hw;
};

std::vector<GridRow> run_grid(const GridSpec& spec, const Device& device, const UsableFractions& usable);
// The table: topology,wbits,abits,pe,simd,max_cycles, the HwPoint columns, uram, failing_planning, failing_device.
// Per-layer foldings cannot go in one pe/simd column: ConfigError. Written to a temp file, checked, renamed.
std::string grid_csv(const GridSpec& spec, const std::vector<GridRow>& rows);
void write_grid_csv(const std::string& path, const GridSpec& spec, const std::vector<GridRow>& rows);
nlohmann::json grid_json(const GridSpec& spec, const std::vector<GridRow>& rows);

}  // namespace nemokd::hw::fpga
