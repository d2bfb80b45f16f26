// FINN-compatible analytical cost model of a dataflow FPGA accelerator, lowered the way FINN lowers a network:
// every FC layer is one matrix-vector-activation unit (MVAU); a convolution is a sliding-window unit (FINN's
// ConvolutionInputGenerator, with FMPadding in front when padded) feeding an MVAU with MW = K^2 * Cin,
// MH = Cout over OFM^2 vectors; max-pooling a streaming max-pool unit; the input quantizer a standalone
// thresholding unit. Formulas follow FINN's own estimators (docs/FPGA.md cites the FINN files); both
// generations are implemented, `legacy` (FINN v0.5b-v0.9, the one FINN's published estimate report checks)
// and `current` (v0.10+). FINN has no flip-flop model; ours is a structural estimate (ff_* in cost_model.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nemokd::hw::fpga {

enum class Formulas { legacy, current };
enum class WeightMode { embedded, decoupled, external };  // FINN mem_mode const | decoupled | external
enum class RamStyle { automatic, block, distributed, ultra };
enum class Multipliers { lut, dsp };
enum class ThresholdRam { distributed, block };  // where an MVAU's thresholds live (current formulas)

std::string to_string(Formulas f);
std::string to_string(WeightMode m);
std::string to_string(RamStyle s);
std::string to_string(Multipliers m);
std::string to_string(ThresholdRam t);
// Parsers throw ConfigError naming `key` and listing the accepted values.
Formulas parse_formulas(const std::string& key, const std::string& text);
WeightMode parse_weight_mode(const std::string& key, const std::string& text);
RamStyle parse_ram_style(const std::string& key, const std::string& text);
Multipliers parse_multipliers(const std::string& key, const std::string& text);
ThresholdRam parse_threshold_ram(const std::string& key, const std::string& text);

// How the design is built and which estimator generation prices it. Defaults are the published validation
// vector's settings (decoupled weights, automatic RAM style, LUT multipliers).
struct CostOptions {
  Formulas formulas = Formulas::legacy;
  WeightMode weight_mode = WeightMode::decoupled;
  RamStyle ram_style = RamStyle::automatic;
  Multipliers multipliers = Multipliers::lut;
  // Only the current formulas ask where thresholds live: block RAM removes the threshold LUT terms (FINN then
  // counts that memory nowhere). Distributed keeps the cost visible, so it is our default.
  ThresholdRam threshold_ram = ThresholdRam::distributed;
  // Line buffer of the sliding-window units: FINN's default is distributed (LUTRAM); block and ultra are the
  // other choices (auto prices as block, as FINN does).
  RamStyle window_ram = RamStyle::distributed;
  double fclk_mhz = 100.0;

  void validate() const;  // throws ConfigError naming the option
  nlohmann::json to_json() const;
};

// FINN's sliding-window unit (ConvolutionInputGenerator) in front of a convolution's MVAU: square K x K
// windows over a square map, `simd` of the `channels` in parallel. With pad > 0 an FMPadding unit precedes
// it (FINN inserts one). Its SIMD follows the MVAU's (the largest common divisor of the MVAU's SIMD and
// Cin: FINN's folding configs set them equal; where the MVAU reads more than Cin per cycle FINN adds a
// width converter).
struct ConvWindow {
  int64_t channels = 0;  // Cin
  int64_t ifm = 0;       // input map side, before padding
  int k = 3, stride = 1, pad = 0;
  int bits = 8;          // input element bits
  int simd = 1;
  int64_t padded() const { return ifm + 2 * int64_t(pad); }
  int64_t ofm() const { return (padded() - k) / stride + 1; }
  nlohmann::json to_json() const;
};

// FINN's StreamingMaxPool after an MVAU (pooling on its output codes, as FINN's streamlining arranges):
// k x k windows, stride k, over a square map whose side k divides.
struct MaxPool {
  int64_t channels = 0;
  int64_t ifm = 0;  // input map side
  int k = 2;
  int bits = 1;
  int64_t ofm() const { return ifm / k; }
  nlohmann::json to_json() const;
};

// One FC layer, or the matrix part of a convolution, as an MVAU with its folding: PE output rows and SIMD
// input columns in parallel.
struct MvauLayer {
  std::string name;         // "fc0", ...
  int64_t mw = 0, mh = 0;   // matrix width (inputs) and height (outputs, after any padding)
  int64_t vectors = 1;      // input vectors per frame (1 for FC)
  int wbits = 1, abits = 1; // weight and input bits
  bool input_signed = true; // only the current formulas' accumulator width reads it
  // Output activation: bits and thresholds per output channel; 0/0 = no activation (the output layer, whose
  // accumulators leave as they are), which also makes TMEM 0.
  int obits = 0;
  int64_t thresholds = 0;
  int64_t mh_unpadded = 0;  // MH before padding the output layer (0 = not padded)
  int pe = 1, simd = 1;
  std::string note;  // why the folding differs from what was asked, if it does
  std::optional<ConvWindow> window;  // a convolution: the sliding-window unit feeding this MVAU
  std::optional<MaxPool> pool;       // a max-pool unit on this MVAU's output

  bool has_activation() const { return thresholds > 0; }
  int64_t nf() const { return mh / pe; }
  int64_t sf() const { return mw / simd; }
  int64_t cycles() const { return vectors * nf() * sf(); }
  int64_t wmem() const { return mw * mh / (int64_t(pe) * simd); }
  int64_t tmem() const { return has_activation() ? mh / pe : 0; }
  // Throws ConfigError naming the layer and the legal divisors when PE does not divide MH or SIMD MW.
  void check_folding() const;
  nlohmann::json to_json() const;
};

// Standalone thresholding unit: the input quantizer (UINT8 pixels in, `out_bits` codes out). For an image
// input, channels = C and vectors = H * W.
struct ThresholdLayer {
  std::string name = "input";
  int64_t channels = 0;
  int64_t vectors = 1;
  int in_bits = 8, out_bits = 1;
  int64_t thresholds = 1;  // per channel
  int pe = 1;
  ThresholdRam ram = ThresholdRam::distributed;  // FINN's default for standalone thresholding
  std::string note;

  int64_t cycles() const { return vectors * channels / pe; }
  int64_t tmem() const { return channels / pe; }
  void check_folding() const;
  nlohmann::json to_json() const;
};

// A dataflow pipeline: optional input thresholding, then the MVAUs in order (each with its sliding-window
// unit and max-pool, if any).
struct Design {
  std::optional<ThresholdLayer> input;
  std::vector<MvauLayer> layers;
  nlohmann::json to_json() const;
  void check_folding() const;
};

// Resource counts of a layer or a whole design.
struct Resources {
  int64_t lut = 0, ff = 0, bram18 = 0, uram = 0, dsp = 0;
  Resources& operator+=(const Resources& o);
  nlohmann::json to_json() const;
};

struct LayerCost {
  std::string name, kind;  // kind: "mvau" | "thresholding" | "swu" | "fmpad" | "maxpool"
  int pe = 1, simd = 1;
  int64_t cycles = 0;
  Resources res;
  double bram_efficiency = 0;  // useful weight bits / allocated BRAM bits; NaN when no BRAM is used
  std::string note;
  nlohmann::json to_json() const;
};

// Throughput on a board: the cost model's estimate (clock / slowest unit) times the efficiency measured
// on published FINN designs (calibration.h), with its spread. Never one without the other's label.
struct Throughput {
  double estimated = 0;    // FINN's estimate: f_clk / max cycles
  double expected = 0;     // expected on the board: estimated * mean efficiency
  double expected_sd = 0;  // estimated * sd of the efficiency
  nlohmann::json to_json() const;  // fps_estimated, fps_expected, fps_expected_sd, fps_expected_basis
};
Throughput throughput(double fclk_mhz, int64_t max_cycles);

struct Estimate {
  std::vector<LayerCost> layers;  // every unit, in pipeline order
  Resources total;
  int64_t max_cycles = 0;     // initiation interval of the pipeline
  int64_t critical_path = 0;  // sum of the units' cycles (FINN's pessimistic latency)
  std::string bottleneck;     // the slowest unit
  double fclk_mhz = 0, latency_us = 0;
  Throughput fps;
  nlohmann::json to_json() const;
};

// Per-layer pieces, exposed for tests and the folding search.
LayerCost mvau_cost(const MvauLayer& layer, const CostOptions& options);
LayerCost threshold_cost(const ThresholdLayer& layer, const CostOptions& options);
LayerCost window_cost(const std::string& name, const ConvWindow& window, const CostOptions& options);
LayerCost fmpad_cost(const std::string& name, const ConvWindow& window, const CostOptions& options);
LayerCost maxpool_cost(const std::string& name, const MaxPool& pool, const CostOptions& options);
// The costs of one MVAU together with its sliding-window/padding unit and max-pool, in pipeline order.
std::vector<LayerCost> mvau_group_cost(const MvauLayer& layer, const CostOptions& options);
Estimate estimate(const Design& design, const CostOptions& options);
// Cycles of a sliding-window unit with its padding unit (the slower of the two).
int64_t window_group_cycles(const ConvWindow& window, Formulas formulas);
// The initiation interval alone (no resources, no throughput): what the calibration needs.
int64_t max_cycles(const Design& design, const CostOptions& options);

// Ascending divisors of n (the legal PE or SIMD values of a dimension n).
std::vector<int64_t> divisors(int64_t n);

}  // namespace nemokd::hw::fpga
