// From a trained model's configuration to the FPGA design it costs — what `nemokd fpga estimate|fold --model RUN`
// and the hardware columns of a `quant sweep` table price: a quantized MLP (design.h) or a quantized CNN (cnv,
// qflexstudent; models/qcnn.h) lowered through the structural CNN description (cnn.h).
#pragma once
#include <string>

#include "hw/fpga/cnn.h"
#include "hw/fpga/design.h"

namespace nemokd::models {
struct ModelConfig;
struct QCnnSpec;
}  // namespace nemokd::models

namespace nemokd::hw::fpga {

// A quantized CNN's resolved layers (QCnnSpec) for `input` images and `classes`: each conv block is a conv layer
// with its weight and activation bits (the input padding of a small image, e.g. CNV's 28 -> 32, becomes the first
// conv's padding: FINN's padding unit) and its 2x2 max-pool, then the FC layers and the classifier. ConfigError,
// naming the layer, for a float input or layer (`qflexstudent: layer classifier has float (32-bit) weights; ...`),
// a non-square image, and — prefixed with `name` — whatever FINN's lowering refuses (cnn.h: an odd map before a pool).
CnnSpec cnn_spec_of(const models::QCnnSpec& q, const models::InputShape& input, int classes, const std::string& name);

// The design of a model config (arch mlp, cnv or qflexstudent) for `input` images and `classes`, every unit at
// PE = SIMD = 1; `pad_output_to` pads the classifier's MH (BNN-PYNQ: 64). ConfigError for another arch.
Design model_design(const models::ModelConfig& model, const models::InputShape& input, int classes,
                    int pad_output_to = 0);

}  // namespace nemokd::hw::fpga
