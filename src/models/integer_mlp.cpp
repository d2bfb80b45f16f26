#include "models/integer_mlp.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/mlp.h"

namespace nemokd::models {

std::string integer_exact_blocker(const MlpConfig& c) {
  if (!c.quantized) return "the MLP is not quantized";
  if (c.quant.input == "float") return "its input is float (train with --input u8 or --input signed)";
  for (size_t i = 0; i < c.quant.weight_bits.size(); ++i)
    if (c.quant.weight_bits[i] == quant::kFloatBits) return fmt::format("layer fc{} has float (32-bit) weights", i);
  for (size_t i = 0; i < c.quant.act_bits.size(); ++i)
    if (c.quant.act_bits[i] == quant::kFloatBits) return fmt::format("layer act{} has float (32-bit) activations", i);
  return "";
}

IntegerNet integer_view(const MlpImpl& mlp) {
  const auto& config = mlp.config();
  if (auto why = integer_exact_blocker(config); !why.empty())
    throw ConfigError(fmt::format("integer model: not available because {}", why));
  torch::NoGradGuard no_grad;
  const auto& q = mlp.quant_layers();
  IntegerNet out;
  detail::set_input(out, q.input->mode(), q.input->levels(), mlp.input_shape());
  quant::Levels in_levels = out.input_levels;
  for (size_t i = 0; i < q.linears.size(); ++i) {
    torch::Tensor w, b, mean, var;
    double eps = 0;
    if (config.batchnorm) {
      const auto& bn = q.norms[i];
      w = bn->weight, b = bn->bias, mean = bn->running_mean, var = bn->running_var, eps = bn->options.eps();
    }
    auto L = detail::weighted_layer(IntegerOp::dense, fmt::format("fc{}", i), *q.linears[i], in_levels, w, b, mean,
                                    var, eps);
    L.is_output = i + 1 == q.linears.size();
    if (!L.is_output) {
      detail::set_activation(L, *q.acts[i]);
      in_levels = L.output_levels;
    }
    out.layers.push_back(std::move(L));
  }
  return out;
}

}  // namespace nemokd::models
