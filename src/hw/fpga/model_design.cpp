#include "hw/fpga/model_design.h"

#include <fmt/format.h>

#include "core/error.h"
#include "models/qcnn.h"
#include "models/registry.h"

namespace nemokd::hw::fpga {

CnnSpec cnn_spec_of(const models::QCnnSpec& q, const models::InputShape& input, int classes, const std::string& name) {
  if (auto why = q.float_part(); !why.empty())
    throw ConfigError(fmt::format("{}: {}; the FPGA cost model prices quantized layers only (1..8 bits)", name, why));
  if (input.height != input.width)
    throw ConfigError(fmt::format("{}: a {} image is not square; FINN's sliding-window units here take square images",
                                  name, input.str()));
  CnnSpec s;
  s.name = name;
  s.channels = input.channels;
  s.size = input.height;
  s.input = q.quant.input;
  s.input_bits = q.quant.input_bits;
  s.activation = q.activation;
  size_t w = 0, a = 0;
  for (size_t i = 0; i < q.convs.size(); ++i, ++w, ++a) {
    const auto& c = q.convs[i];
    // The padded input (its lowest code, black) is what FINN's padding unit adds in front of the first conv.
    const int pad = c.padding + (i == 0 ? q.input_pad : 0);
    s.layers.push_back(CnnLayer{CnnOp::conv, c.channels, c.kernel, 1, pad, q.quant.weight_bits[w], q.quant.act_bits[a]});
    if (c.pool) s.layers.push_back(CnnLayer{CnnOp::maxpool, 0, 2, 2, 0, 0, 0});
  }
  for (size_t j = 0; j <= q.fc_widths.size(); ++j, ++w) {
    const bool last = j == q.fc_widths.size();
    s.layers.push_back(CnnLayer{CnnOp::fc, last ? classes : q.fc_widths[j], 1, 1, 0, q.quant.weight_bits[w],
                                last ? 0 : q.quant.act_bits[a++]});
  }
  try {
    s.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{} lowered to FINN's units (conv0.., pool0.., fc0..): {}", name, e.what()));
  }
  return s;
}

Design model_design(const models::ModelConfig& model, const models::InputShape& input, int classes,
                    int pad_output_to) {
  const auto& family = models::family_traits(model.family());
  if (family.lowering == models::Lowering::mlp)
    return mlp_design(model.mlp(), MlpShape{int64_t(input.channels) * input.height * input.width, classes, pad_output_to});
  if (family.lowering != models::Lowering::cnn)
    throw ConfigError(fmt::format("model.arch '{}': the FPGA cost model prices quantized MLPs and CNNs (mlp, cnv, "
                                  "qflexstudent); describe another CNN layer by layer (`fpga estimate --cnn`)",
                                  family.name));
  auto cnn = cnn_spec_of(models::quant_cnn_spec(model, input), input, classes, family.name);
  cnn.pad_output_to = pad_output_to;
  return cnn_design(cnn);
}

}  // namespace nemokd::hw::fpga
