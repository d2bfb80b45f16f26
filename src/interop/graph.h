// An imported QONNX graph, recognised: the chain of operations an MLP applies to one flattened image, as plain
// data (no torch, no protobuf) — what interop/reader.h produces from a file and what the imported model
// (interop/qonnx_model.h), its integer plan (interop/integer_plan.h) and the FPGA lowering read.
//
// Every activation is a [N, F] tensor of float32 (F features; an NCHW input is flattened in C, H, W order, the
// order Flatten/Reshape give). Elementwise stages act per feature with constants that are either one value or
// one per feature; they compute in float32, one rounding per operation, in the order the graph gives — the
// arithmetic of the QONNX reference executor (qonnx, numpy float32) and of Brevitas (PyTorch float32).
// Sub(x, c) is stored as Add(-c) (the same float result), c - x as Mul(-1) then Add(c), BatchNormalization as
// Add(-mean), Div(sqrt(var + eps)), Mul(scale), Add(bias) (ONNX's definition, each step rounded).
//
// Quantizer semantics follow the qonnx reference implementation (github.com/fastmachinelearning/qonnx,
// src/qonnx/custom_op/general/{intquant,bipolar_quant,trunc,multithreshold}.py); see docs/IMPORT.md.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace nemokd::interop {

// QONNX rounding modes. ROUND and HALF_EVEN: half to even (numpy's round); HALF_UP: half away from zero;
// HALF_DOWN: half towards zero; UP: away from zero; DOWN: towards zero; CEIL; FLOOR.
enum class Rounding { half_even, half_up, half_down, up, down, ceil, floor };
// QONNX's names, case-insensitive; false for anything else.
bool parse_rounding(const std::string& name, Rounding* out);
const char* to_string(Rounding r);  // "ROUND" for half_even, else the QONNX name
// The integer y rounds to, exactly (ties decided on y itself, never on y + 0.5 rounded).
float round_integer(float y, Rounding r);

// A constant broadcast over the F features of an activation: one value for all, or one per feature.
struct PerFeature {
  std::vector<float> values;  // size 1 or F
  float at(int64_t feature) const { return values.size() == 1 ? values[0] : values[size_t(feature)]; }
  bool uniform() const;  // every feature has the same value
};

struct Mul { PerFeature c; };
struct Add { PerFeature c; };
struct Div { PerFeature c; };  // x / c
struct Relu {};
struct Tanh {};  // float(tanh(double(x)))
struct Clip { float lo, hi; };
// Quant: y = x / scale + zero_point; signed 1-bit: (y >= 0 ? 1 : -1); else clamp to [qmin, qmax], round;
// out = (q - zero_point) * scale.
struct Quant {
  int bits = 8;
  bool is_signed = true, narrow = false;
  Rounding rounding = Rounding::half_even;
  PerFeature scale, zero_point;
  bool bipolar() const { return bits == 1 && is_signed; }
  int64_t qmin() const;
  int64_t qmax() const;
};
// BipolarQuant: (x >= 0 ? 1 : -1) * scale.
struct BipolarQuant { PerFeature scale; };
// Trunc (qonnx version 1: 5 inputs; version 2: 6 inputs with an output scale and clamping).
struct Trunc {
  int version = 1;
  PerFeature scale, zero_point, out_scale;  // out_scale: version 2
  int in_bits = 8, out_bits = 8;
  bool is_signed = true, narrow = false;  // version 2
  Rounding rounding = Rounding::floor;
};
// MultiThreshold (FINN): out = out_scale * #{k : x >= t[row][k]} + out_bias; one row shared or one per feature.
struct MultiThreshold {
  int64_t steps = 0;
  std::vector<float> thresholds;  // [rows][steps], rows = 1 or F
  float out_scale = 1, out_bias = 0;
  std::string out_dtype;  // FINN data type name of the count, e.g. "UINT2", "INT2", "BIPOLAR"
  float at(int64_t feature, int64_t k) const {
    return thresholds.size() == size_t(steps) ? thresholds[size_t(k)] : thresholds[size_t(feature * steps + k)];
  }
};
// What is known about a weight matrix's integers: codes with value = code * scale[out] (or one scale).
struct WeightQuant {
  bool integer = false;  // false: float weights (no integer view)
  std::string origin;    // "Quant", "BipolarQuant", "integer initializer"
  int bits = 0;          // declared bits (Quant's bit width; 1 for bipolar; data type or range otherwise)
  bool is_signed = true, narrow = true, bipolar = false;
  std::vector<int32_t> codes;  // [in][out]: the integer each weight is (bipolar: -1 / +1)
  std::vector<float> scale;    // size 1 or out
  std::string why_not;         // when !integer: why (zero point, scale varying along the input dim, ...)
};
// MatMul(x, W) with a constant W [in, out] (Gemm is a Linear followed by Mul(alpha) and Add(beta * C)).
struct Linear {
  int64_t in = 0, out = 0;
  std::vector<float> weight;  // [in][out], float32 values the graph multiplies with
  WeightQuant wq;
};

using Op = std::variant<Mul, Add, Div, Relu, Tanh, Clip, Quant, BipolarQuant, Trunc, MultiThreshold, Linear>;
const char* op_name(const Op& op);  // "Mul", "Quant", "MatMul", ...
bool is_quantizer(const Op& op);    // Quant, BipolarQuant, Trunc, MultiThreshold

struct Stage {
  std::string node;     // the ONNX node it came from (for messages)
  int64_t features = 0; // F of the activation it reads
  Op op;
};

struct Graph {
  std::string file;      // as given to the reader
  std::string producer;  // producer_name + version
  std::vector<std::pair<std::string, int64_t>> opsets;  // domain ("" = ai.onnx), version
  std::vector<int64_t> input_dims;  // per image, e.g. {1, 28, 28} (the batch dimension left out)
  int64_t classes = 0;
  std::vector<Stage> stages;
  int64_t features() const;  // product of input_dims
  // One line per stage: "Quant(2b signed narrow ROUND)", "MatMul 784x64 (Quant 2b)", ...
  std::vector<std::string> summary() const;
};

// ---- scalar semantics (float32), shared by the imported model and its integer plan ----
// An elementwise stage (anything but Linear) on one value of feature f.
float apply(const Op& op, int64_t feature, float x);
// In place over rows x features (row-major); Linear throws.
void apply_rows(const Op& op, float* x, int64_t rows, int64_t features);
// The integer a quantizer stage produces before it rescales: Quant's q (bipolar: -1/+1), BipolarQuant's -1/+1,
// MultiThreshold's count. Trunc has none here (throws).
int64_t raw_code(const Op& op, int64_t feature, float x);
// Quant's rounding for one value with the given scale and zero point (q's own ones unused): the clamped,
// rounded y (signed 1-bit: -1 / +1). What constant folding of weight quantizers uses.
float quant_round(const Quant& q, float scale, float zero_point, float x);
// What the quantizer outputs for raw code q (Quant: (q - zero_point) * scale, ...), in float32.
float dequantize(const Op& op, int64_t feature, int64_t q);
// Raw codes a quantizer can produce, ascending (Quant: qmin..qmax, or -1, 1; MultiThreshold: 0..steps).
std::vector<int64_t> raw_levels(const Op& op);
// The bits a quantizer declares (Quant's bit width, 1 for bipolar, the MultiThreshold data type or its steps).
int declared_bits(const Op& op);

}  // namespace nemokd::interop
