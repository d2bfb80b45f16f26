// A small, independent ONNX/QONNX reader-executor in double precision: the check that an exported QONNX file
// means what the trained model computes. It reads the protobuf file and evaluates, node by node, with the
// operator definitions of the ONNX spec and of QONNX (docs/EXPORT.md; the QONNX operator spec, https://github.com/fastmachinelearning/qonnx/tree/main/docs/qonnx-custom-ops): Quant (clamp, then the
// node's rounding_mode: ROUND/HALF_EVEN, HALF_UP (half away from zero), HALF_DOWN, UP, DOWN, CEIL, FLOOR),
// BipolarQuant (x >= 0 -> +scale, else -scale), MatMul, Gemm, BatchNormalization, Relu, Tanh, Clip, Sign,
// Floor, Flatten, Reshape, Identity, Add, Sub, Mul, Div (numpy broadcasting), Conv (2-D, groups, pads,
// strides, dilations), MaxPool (2-D, floor), Pad (constant). It shares no code with the training-side quantizers
// (quant/), so agreement is evidence, not a tautology. Plain loops in double: slow for big CNNs.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nemokd::onnx_export {

struct ExecTensor {
  std::vector<int64_t> shape;
  std::vector<double> values;  // row-major
  int64_t numel() const;
};

class OnnxExecutor {
 public:
  explicit OnnxExecutor(const std::string& path);  // throws DataError for an unreadable file or unsupported op
  ~OnnxExecutor();
  OnnxExecutor(OnnxExecutor&&) noexcept;

  // Evaluates the graph for one input (any batch size along dim 0 where the graph allows it) and returns its
  // first output.
  ExecTensor run(const ExecTensor& input) const;

  std::vector<int64_t> input_shape() const;  // declared graph input shape; 0 for a symbolic dimension
  // Quant inputs that landed exactly on a rounding tie (x/scale + zeropt = k + 1/2) over all run() calls: the
  // only places where QONNX rounding modes differ from each other.
  int64_t quant_ties() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nemokd::onnx_export
