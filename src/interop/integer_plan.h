// The integer view of an imported QONNX MLP: how its chain maps onto nemokd's integer model (engine/integer_model.h)
// — FINN's streamlining, done by evaluation instead of algebra. Plain data and scalar code (no torch).
//
// Shape it needs: [input mapping] -> quantizer -> (MatMul -> [elementwise] -> quantizer)* -> MatMul -> [Mul/Add/Div].
// Each quantizer (Quant, BipolarQuant, MultiThreshold; 2..256 levels) with the elementwise stages after it, up to
// the next MatMul, must produce integer multiples of one scale: value = value_scale * u with u integer — found by
// evaluating the stages on every level, so rounding modes, zero points and FINN's Add/Mul after MultiThreshold all
// work. The codes the engine stores are u itself (signed narrow, unsigned), u - base (an unsigned code with an
// offset, for non-narrow signed levels such as INT8's -128..127) or (u + 1) / 2 (bipolar).
//
// A hidden layer's map from the engine's integer accumulator to the next code is the graph's own float32 arithmetic
// on the exact accumulator: pre = float(acc_u * value_scale * weight_scale[o]), then the stages after the MatMul,
// then the quantizer with its rounding mode. It is monotone per channel (its direction is the sign product of the
// stages' slopes), which is what lets the engine replace it by thresholds found with this very function. The
// output layer's logits are the engine's float(acc * scale + bias) with the trailing Mul/Add/Div folded in double.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/integer_model.h"
#include "interop/graph.h"

namespace nemokd::interop {

// An integer operand as the engine encodes it (engine/integer_model.h), plus an offset: the engine's value of a code
// is operand's value, and the graph's integer u is that value + base (base != 0 only for unsigned codes standing for
// levels that reach below zero, such as INT8's -128..127).
struct OperandCode {
  engine::Operand operand;
  int64_t base = 0;
  int32_t code(int64_t u) const {
    return operand.encoding == engine::Encoding::bipolar ? int32_t((u + 1) / 2) : int32_t(u - base);
  }
  int64_t max_abs_value() const { return std::max(-int64_t(operand.min_value()), int64_t(operand.max_value())); }
  std::string describe() const;  // "s2", "u8-128", "bipolar"
};

// A quantizer and the elementwise stages after it, up to the next MatMul.
struct PlanAct {
  size_t quant_stage = 0;  // index into Graph::stages
  size_t next_linear = 0;  // the MatMul it feeds
  std::vector<int64_t> raw;  // the quantizer's raw codes, ascending
  std::vector<int64_t> u;    // the integer behind each raw code's value (value = value_scale * u)
  double value_scale = 1;
  int u_direction = 1;  // +1: u grows with the raw code; -1: it falls
  OperandCode operand;
  int declared_bits = 0;         // as the graph declares it (the FPGA cost model's bits)
  bool declared_signed = true;   // some level below zero
  int64_t thresholds = 0;        // levels - 1
  int64_t u_of(int64_t raw_code) const;
};

struct PlanLayer {
  size_t linear_stage = 0;
  size_t post_end = 0;  // stages (linear_stage, post_end) come after the MatMul
  int64_t in = 0, out = 0;
  OperandCode weight;
  int declared_weight_bits = 0;
  bool weight_signed = true;
  std::vector<int8_t> weights;       // [out][in], the engine's values (bipolar: -1 / +1)
  std::vector<int64_t> rowsum;       // [out]: sum over the row (input offsets fold through it)
  std::vector<double> weight_scale;  // [out]
  bool is_output = false;
  std::vector<int> direction;                   // hidden: +1 / -1 / 0 per output channel
  std::vector<double> logit_scale, logit_bias;  // output: logit = float(acc * scale + bias)
};

struct IntegerPlan {
  int64_t channels = 1, pixels_per_channel = 1;  // image channels and pixels per channel of the input
  std::vector<PlanAct> acts;      // acts[i]: the input of layers[i]
  std::vector<PlanLayer> layers;  // hidden layers, then the output layer

  // The first layer's code for a value of image channel `channel` as the loader delivers it.
  int32_t input_code(const Graph& g, int64_t channel, float x) const;
  // Hidden layer `layer`: the next code of output `o` for the engine's accumulator `acc`.
  int32_t hidden_code(const Graph& g, size_t layer, int64_t o, int64_t acc) const;
  // in * max|weight value| * max|input value| (the engine's bound).
  int64_t accumulator_bound(size_t layer) const;
};

// Why the graph has no integer view, naming the node ("" when it has one).
std::string integer_blocker(const Graph& g);
// Throws ConfigError with integer_blocker's message when there is none.
IntegerPlan plan_integer(const Graph& g);

}  // namespace nemokd::interop
