// Reading a QONNX file (Brevitas' export, qonnx's cleanup, FINN's ConvertQONNXtoFINN and streamlining) with the
// ONNX library's protobuf classes, and recognising the MLP it holds as a chain of stages (interop/graph.h).
//
// Accepted (docs/IMPORT.md): one float image input (NCHW or flat, fixed batch 1 or symbolic), one output; standard
// ops MatMul/Gemm with constant weights, BatchNormalization, Mul/Add/Sub/Div by constants, Relu, Tanh, Clip,
// Reshape/Flatten (flattening only), Identity/Dropout/Cast-to-float; QONNX ops Quant, BipolarQuant, Trunc
// (domains onnx.brevitas, qonnx.custom_op.general) and FINN's MultiThreshold (also finn.custom_op.general);
// anything computed from constants only (weight quantizers, Transpose of weights, the Pow of a TensorNorm, the
// Shape/Gather/Concat of a reshape) is folded. Everything else — another op, a branch or residual connection, a
// run-time scale — is refused with one DataError line naming the file, the node and what would be needed.
//
// Hostile files (truncated, cycles, dangling names, huge or negative dimensions, wrong data types, external data)
// are refused the same way, before anything large is allocated.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "interop/graph.h"

namespace nemokd::interop {

struct ReadLimits {
  int64_t max_nodes = 100000;
  int64_t max_tensor_elements = int64_t(1) << 26;  // 64 Mi values per tensor
  int64_t max_total_elements = int64_t(1) << 27;   // all constants together
  int64_t max_features = int64_t(1) << 24;         // width of any activation
};

// Throws DataError ("FILE: ...") for anything it cannot import.
Graph read_qonnx(const std::string& path, const ReadLimits& limits = {});
Graph parse_qonnx(const void* data, size_t size, const std::string& name, const ReadLimits& limits = {});

}  // namespace nemokd::interop
