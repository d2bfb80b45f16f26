// Export of nemokd models to ONNX (deployment: OpenCV DNN, OpenVINO, onnxruntime, ...) and QONNX (FINN).
// The graphs are built with ONNX's own protobuf classes (Debian's libonnx-dev) and every file is checked
// with onnx::checker before it is written; this header does not pull ONNX or protobuf in.
//
// Plain ONNX (export_onnx / export_model_onnx): the eval-mode graph of any zoo model — Conv (grouped for
// depthwise), BatchNormalization (running statistics, NOT folded), Relu/Tanh/Clip, MaxPool,
// GlobalAveragePool, Add (residuals), Flatten, Gemm — standard opset 11, float32. A quantized MLP becomes its
// fake-quantized arithmetic in standard ops: the quantized weights as float initializers and each quantizer
// as Clip -> Mul(1/step) -> Add(0.5) -> Floor -> Mul(step) (round half up, as training), 1 bit as
// Sign -> Mul(2) -> Add(1) -> Clip(-1, 1) (x >= 0 -> +1).
//
// QONNX (export_qonnx, quantized MLPs and CNNs): standard opset 11 plus domain qonnx.custom_op.general version 1
// — [Quant on the graph input] -> [Flatten] -> per layer MatMul(x, Quant(W^T) or BipolarQuant(W^T)) -> [Add bias]
// -> BatchNormalization -> activation quantizer (Quant, preceded by Relu or Tanh as trained; BipolarQuant for
// 1 bit) ... -> logits; a CNN starts with [Pad (its padded input)] -> Conv(x, Quant(W)) -> BatchNormalization ->
// activation quantizer -> [MaxPool] blocks, then Flatten and the same MatMul layers. Every Quant has
// signed/narrow/rounding_mode set explicitly; Quant/BipolarQuant outputs carry finn_datatype annotations. See
// docs/EXPORT.md for the layout and the FINN / OpenVINO hand-offs.
//
// The graph input takes images exactly as nemokd's loader feeds the model (normalised floats, the run's
// normalisation); the output is the logits.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"


namespace nemokd::onnx_export {

enum class InputLayout { nchw, flat };  // graph input [N, C, H, W] or [N, C*H*W]
std::string to_string(InputLayout l);
InputLayout parse_input_layout(const std::string& s);  // "nchw" | "flat"; else ConfigError

struct ExportOptions {
  InputLayout layout = InputLayout::nchw;
  int64_t batch = 1;  // batch size of the graph input/output; 0 = symbolic dimension "N"
  // QONNX Quant nodes: "HALF_UP" (QONNX: half away from zero — nemokd's floor(x + 1/2) for every tie except
  // exact negative ones) or "ROUND" (half to even, QONNX's default and what older FINN/qonnx releases accept).
  std::string rounding_mode = "HALF_UP";
  std::string doc;  // stored as the model's doc_string (e.g. the run folder it came from)
};

struct ExportResult {
  std::string path;                 // the file written
  std::string format;               // "onnx" | "qonnx"
  std::string arch;                 // the model family's name
  int64_t ir_version = 0, opset = 0;
  int64_t nodes = 0, initializers = 0, bytes = 0;
  std::map<std::string, int64_t> ops;  // op_type -> count
  std::vector<int64_t> input_shape, output_shape;  // batch 0 = symbolic
  nlohmann::json to_json() const;
};

// Plain ONNX of any zoo model (resnet, flexresnet8x4, mobilenetv2, flexstudent, mlp float or quantized, the
// quantized CNNs cnv and qflexstudent),
// built for `input` (must be the shape the model was built for). Throws ConfigError for an unsupported model.
ExportResult export_model_onnx(const models::ClassifierImpl& model, models::InputShape input, const std::string& path,
                               const ExportOptions& options = {});

// The same, returning the path written: what a latency probe calls before running a user command on the file
// (hw/latency's `command` probe substitutes it for {model}).
std::string export_onnx(const models::ClassifierImpl& model, models::InputShape input, const std::string& path,
                        ExportOptions options = {});

// export_onnx with the defaults into DIR/model.onnx, returning that path: the signature of hw/latency's
// Materializer (std::function<std::string(const ClassifierImpl&, InputShape, const std::string& dir)>), so the
// `command` probe can take `onnx_export::export_onnx_to_dir` as it is.
std::string export_onnx_to_dir(const models::ClassifierImpl& model, models::InputShape input, const std::string& dir);

// QONNX of a quantized MLP (config().quantized) or CNN (cnv, qflexstudent). Throws ConfigError for any other
// model.
ExportResult export_qonnx(const models::ClassifierImpl& model, models::InputShape input, const std::string& path,
                          const ExportOptions& options = {});

// Runs onnx::checker::check_model on a file; throws DataError naming the file and the checker's message.
void check_onnx_file(const std::string& path);

}  // namespace nemokd::onnx_export
