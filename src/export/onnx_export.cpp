#include "export/onnx_export.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/run_record.h"
#include "models/flexstudent.h"
#include "models/mlp.h"
#include "models/mobilenetv2.h"
#include "models/qcnn.h"
#include "models/registry.h"
#include "models/resnet.h"

namespace nemokd::onnx_export {

namespace {

constexpr int64_t kIrVersion = 6;  // the IR of opset 11 (ONNX 1.6): readable by old consumers, FINN included
constexpr int64_t kOpset = 11;
constexpr const char* kQonnxDomain = "qonnx.custom_op.general";
constexpr const char* kInputName = "input";
constexpr const char* kOutputName = "logits";

using Modules = torch::OrderedDict<std::string, std::shared_ptr<torch::nn::Module>>;

// ---- attributes ----
void attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void attr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
void attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

// Builds one graph: unique value names, float32 initializers (raw little-endian data), nodes.
class Graph {
 public:
  explicit Graph(onnx::GraphProto* g) : g_(g) {}

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; used_.count(name); ++k) name = fmt::format("{}_{}", base, k);
    used_.insert(name);
    return name;
  }

  // float32 initializer holding `t` (any dtype/device; copied to CPU float32).
  std::string tensor(const std::string& base, const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    auto* p = g_->add_initializer();
    p->set_name(fresh(base));
    p->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : c.sizes()) p->add_dims(d);
    p->set_raw_data(std::string(reinterpret_cast<const char*>(c.data_ptr<float>()), size_t(c.numel()) * sizeof(float)));
    return p->name();
  }
  // Rank-0 float32 initializer.
  std::string scalar(const std::string& base, double v) {
    const float f = static_cast<float>(v);
    auto* p = g_->add_initializer();
    p->set_name(fresh(base));
    p->set_data_type(onnx::TensorProto::FLOAT);
    p->set_raw_data(std::string(reinterpret_cast<const char*>(&f), sizeof f));
    return p->name();
  }
  std::string int64s(const std::string& base, const std::vector<int64_t>& v) {
    auto* p = g_->add_initializer();
    p->set_name(fresh(base));
    p->set_data_type(onnx::TensorProto::INT64);
    p->add_dims(int64_t(v.size()));
    p->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t)));
    return p->name();
  }

  // A node with one output named after `base`; returns the node (its output: out(n)).
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& base,
                        const std::string& domain = "") {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(fresh_node(base));
    if (!domain.empty()) n->set_domain(domain);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(fresh(base));
    return n;
  }
  static std::string out(const onnx::NodeProto* n) { return n->output(0); }

  void annotate(const std::string& tensor_name, const std::string& finn_datatype) {
    auto* a = g_->add_quantization_annotation();
    a->set_tensor_name(tensor_name);
    auto* e = a->add_quant_parameter_tensor_names();
    e->set_key("finn_datatype");
    e->set_value(finn_datatype);
  }

  // Renames the graph's last value (the output of the last node) to `name`.
  void rename_last_output(const std::string& current, const std::string& name) {
    for (int i = g_->node_size() - 1; i >= 0; --i) {
      auto* n = g_->mutable_node(i);
      for (int k = 0; k < n->output_size(); ++k)
        if (n->output(k) == current) {
          n->set_output(k, name);
          used_.insert(name);
          return;
        }
    }
    // The input is the output (no node): an Identity keeps the graph valid.
    auto* n = g_->add_node();
    n->set_op_type("Identity");
    n->set_name(fresh_node("output"));
    n->add_input(current);
    n->add_output(name);
  }

  onnx::GraphProto* proto() { return g_; }

 private:
  std::string fresh_node(const std::string& base) {
    std::string name = base;
    for (int k = 1; node_names_.count(name); ++k) name = fmt::format("{}_{}", base, k);
    node_names_.insert(name);
    return name;
  }
  onnx::GraphProto* g_;
  std::set<std::string> used_, node_names_;
};

// ---- standard layers ----
std::string conv_node(Graph& g, const std::string& x, const std::string& weight, const std::string& bias,
                      std::vector<int64_t> kernel, std::vector<int64_t> strides, std::vector<int64_t> pads,
                      std::vector<int64_t> dilations, int64_t groups, const std::string& name) {
  std::vector<std::string> in{x, weight};
  if (!bias.empty()) in.push_back(bias);
  auto* n = g.node("Conv", in, name);
  attr(n, "kernel_shape", kernel);
  attr(n, "strides", strides);
  attr(n, "pads", pads);
  attr(n, "dilations", dilations);
  attr(n, "group", groups);
  return Graph::out(n);
}
std::string conv(Graph& g, const std::string& x, const torch::nn::Conv2dImpl& c, const std::string& name) {
  const auto& o = c.options;
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (!pad) throw ConfigError(fmt::format("export: {}: 'same'/'valid' padding is not supported", name));
  const auto& k = *o.kernel_size();
  const auto& s = *o.stride();
  const auto& d = *o.dilation();
  return conv_node(g, x, g.tensor(name + ".weight", c.weight), c.bias.defined() ? g.tensor(name + ".bias", c.bias) : "",
                   {k[0], k[1]}, {s[0], s[1]}, {(**pad)[0], (**pad)[1], (**pad)[0], (**pad)[1]}, {d[0], d[1]},
                   int64_t(o.groups()), name);
}
// Constant padding of an NCHW tensor by p on every side of H and W (opset 11 Pad: pads and value as inputs).
std::string pad_node(Graph& g, const std::string& x, int64_t p, double value, const std::string& name) {
  return Graph::out(g.node("Pad", {x, g.int64s(name + ".pads", {0, 0, p, p, 0, 0, p, p}), g.scalar(name + ".value", value)},
                           name));
}

// BatchNormalization with the running statistics (eval mode); BatchNorm1d on [N, C] or BatchNorm2d on NCHW.
template <class BN>
std::string batchnorm(Graph& g, const std::string& x, const BN& bn, const std::string& name) {
  if (!bn.running_mean.defined() || !bn.running_var.defined())
    throw ConfigError(fmt::format("export: {}: BatchNorm without running statistics", name));
  const int64_t c = bn.running_mean.numel();
  auto w = bn.weight.defined() ? bn.weight : torch::ones({c});
  auto b = bn.bias.defined() ? bn.bias : torch::zeros({c});
  auto* n = g.node("BatchNormalization",
                   {x, g.tensor(name + ".weight", w), g.tensor(name + ".bias", b),
                    g.tensor(name + ".running_mean", bn.running_mean), g.tensor(name + ".running_var", bn.running_var)},
                   name);
  attr(n, "epsilon", float(bn.options.eps()));
  return Graph::out(n);
}

std::string unary(Graph& g, const std::string& op, const std::string& x, const std::string& name) {
  return Graph::out(g.node(op, {x}, name));
}
std::string binary(Graph& g, const std::string& op, const std::string& a, const std::string& b, const std::string& name) {
  return Graph::out(g.node(op, {a, b}, name));
}
std::string clip(Graph& g, const std::string& x, double lo, double hi, const std::string& name) {
  return Graph::out(g.node("Clip", {x, g.scalar(name + ".min", lo), g.scalar(name + ".max", hi)}, name));
}
// Clip written with Relu, Mul and Add only, for consumers that lack opset-11 Clip with min/max inputs (OpenCV
// DNN 4.6 among them): hi - Relu(hi - (lo + Relu(x - lo))). Exact on integers (the quantizers clamp codes);
// on other values within an ulp of the clipped value.
std::string relu_clip(Graph& g, const std::string& x, double lo, double hi, const std::string& name) {
  auto y = binary(g, "Add", x, g.scalar(name + ".neg_lo", -lo), name + ".sub_lo");
  y = binary(g, "Add", Graph::out(g.node("Relu", {y}, name + ".relu_lo")), g.scalar(name + ".lo", lo), name + ".add_lo");
  y = binary(g, "Mul", y, g.scalar(name + ".minus_one", -1.0), name + ".neg");
  y = binary(g, "Add", y, g.scalar(name + ".hi", hi), name + ".sub_hi");
  y = binary(g, "Mul", Graph::out(g.node("Relu", {y}, name + ".relu_hi")), g.scalar(name + ".minus_one", -1.0),
             name + ".neg2");
  return binary(g, "Add", y, g.scalar(name + ".hi", hi), name);
}
std::string flatten(Graph& g, const std::string& x, const std::string& name) {
  auto* n = g.node("Flatten", {x}, name);
  attr(n, "axis", int64_t(1));
  return Graph::out(n);
}
std::string max_pool(Graph& g, const std::string& x, const torch::nn::MaxPool2dImpl& m, const std::string& name) {
  const auto& o = m.options;
  const auto& k = *o.kernel_size();
  const auto& s = *o.stride();
  const auto& p = *o.padding();
  const auto& d = *o.dilation();
  if (d[0] != 1 || d[1] != 1) throw ConfigError(fmt::format("export: {}: dilated max-pool is not supported", name));
  auto* n = g.node("MaxPool", {x}, name);
  attr(n, "kernel_shape", std::vector<int64_t>{k[0], k[1]});
  attr(n, "strides", std::vector<int64_t>{s[0], s[1]});
  attr(n, "pads", std::vector<int64_t>{p[0], p[1], p[0], p[1]});
  attr(n, "ceil_mode", int64_t(o.ceil_mode() ? 1 : 0));
  return Graph::out(n);
}
// y = x W^T + b with W [out, in] as stored by torch (Gemm transB = 1).
std::string gemm(Graph& g, const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias,
                 const std::string& name) {
  std::vector<std::string> in{x, g.tensor(name + ".weight", weight)};
  if (bias.defined()) in.push_back(g.tensor(name + ".bias", bias));
  auto* n = g.node("Gemm", in, name);
  attr(n, "transB", int64_t(1));
  return Graph::out(n);
}

// ---- module lookup ----
template <class T>
const T& module_at(const Modules& mods, const std::string& name) {
  const auto* m = mods.find(name);
  const T* t = m ? (*m)->template as<T>() : nullptr;
  if (!t) throw Error(fmt::format("export: the model has no module '{}' of the expected type", name));
  return *t;
}
bool has_module(const Modules& mods, const std::string& name) { return mods.find(name) != nullptr; }

// ---- architectures ----
std::string export_resnet(Graph& g, std::string x, const models::ResNetImpl& m) {
  const auto mods = m.named_modules("", false);
  x = unary(g, "Relu", batchnorm(g, conv(g, x, module_at<torch::nn::Conv2dImpl>(mods, "conv1"), "conv1"),
                                  module_at<torch::nn::BatchNorm2dImpl>(mods, "bn1"), "bn1"),
            "relu");
  for (int stage = 1; stage <= 3; ++stage)
    for (int b = 0; b < m.config().blocks_per_stage(); ++b) {
      const std::string p = fmt::format("layer{}.{}.", stage, b);
      auto y = conv(g, x, module_at<torch::nn::Conv2dImpl>(mods, p + "conv1"), p + "conv1");
      y = unary(g, "Relu", batchnorm(g, y, module_at<torch::nn::BatchNorm2dImpl>(mods, p + "bn1"), p + "bn1"),
                p + "relu1");
      y = conv(g, y, module_at<torch::nn::Conv2dImpl>(mods, p + "conv2"), p + "conv2");
      y = batchnorm(g, y, module_at<torch::nn::BatchNorm2dImpl>(mods, p + "bn2"), p + "bn2");
      std::string shortcut = x;
      if (has_module(mods, p + "shortcut")) {
        shortcut = conv(g, x, module_at<torch::nn::Conv2dImpl>(mods, p + "shortcut.0"), p + "shortcut.0");
        shortcut = batchnorm(g, shortcut, module_at<torch::nn::BatchNorm2dImpl>(mods, p + "shortcut.1"), p + "shortcut.1");
      }
      x = unary(g, "Relu", binary(g, "Add", y, shortcut, p + "add"), p + "relu2");
    }
  x = flatten(g, unary(g, "GlobalAveragePool", x, "avgpool"), "flatten");
  const auto& fc = module_at<torch::nn::LinearImpl>(mods, "fc");
  return gemm(g, x, fc.weight, fc.bias, "fc");
}

std::string export_mobilenetv2(Graph& g, std::string x, const models::MobileNetV2Impl& m) {
  const auto mods = m.named_modules("", false);
  x = unary(g, "Relu", batchnorm(g, conv(g, x, module_at<torch::nn::Conv2dImpl>(mods, "conv1"), "conv1"),
                                  module_at<torch::nn::BatchNorm2dImpl>(mods, "bn1"), "bn1"),
            "relu");
  for (int i = 0; has_module(mods, fmt::format("blocks.{}", i)); ++i) {
    const std::string p = fmt::format("blocks.{}.", i);
    const auto& expand = module_at<torch::nn::Conv2dImpl>(mods, p + "expand");
    const auto& dw = module_at<torch::nn::Conv2dImpl>(mods, p + "dw");
    const auto& project = module_at<torch::nn::Conv2dImpl>(mods, p + "project");
    auto y = unary(g, "Relu",
                   batchnorm(g, conv(g, x, expand, p + "expand"), module_at<torch::nn::BatchNorm2dImpl>(mods, p + "bn1"),
                             p + "bn1"),
                   p + "relu1");
    y = unary(g, "Relu",
              batchnorm(g, conv(g, y, dw, p + "dw"), module_at<torch::nn::BatchNorm2dImpl>(mods, p + "bn2"), p + "bn2"),
              p + "relu2");
    y = batchnorm(g, conv(g, y, project, p + "project"), module_at<torch::nn::BatchNorm2dImpl>(mods, p + "bn3"),
                  p + "bn3");
    const bool residual = (*dw.options.stride())[0] == 1 && expand.options.in_channels() == project.options.out_channels();
    x = residual ? binary(g, "Add", x, y, p + "add") : y;
  }
  x = unary(g, "Relu", batchnorm(g, conv(g, x, module_at<torch::nn::Conv2dImpl>(mods, "conv2"), "conv2"),
                                  module_at<torch::nn::BatchNorm2dImpl>(mods, "bn2"), "bn2"),
            "relu2");
  x = flatten(g, unary(g, "GlobalAveragePool", x, "avgpool"), "flatten");
  const auto& fc = module_at<torch::nn::LinearImpl>(mods, "classifier");
  return gemm(g, x, fc.weight, fc.bias, "classifier");
}

std::string export_flexstudent(Graph& g, std::string x, const models::FlexStudentImpl& m) {
  const auto mods = m.named_modules("", false);
  for (int i = 1; i <= m.config().conv_layers(); ++i) {
    const std::string p = fmt::format("conv{}", i);
    x = conv(g, x, module_at<torch::nn::Conv2dImpl>(mods, p), p);
    x = unary(g, "Relu", batchnorm(g, x, module_at<torch::nn::BatchNorm2dImpl>(mods, p + "_bn"), p + "_bn"),
              p + "_relu");
    if (has_module(mods, p + "_pool")) x = max_pool(g, x, module_at<torch::nn::MaxPool2dImpl>(mods, p + "_pool"), p + "_pool");
  }
  x = flatten(g, x, "flatten");
  for (size_t j = 1; j <= m.config().fc_widths.size(); ++j) {
    const std::string p = fmt::format("fc{}", j);
    const auto& fc = module_at<torch::nn::LinearImpl>(mods, p);
    x = gemm(g, x, fc.weight, fc.bias, p);
    x = unary(g, "Relu", batchnorm(g, x, module_at<torch::nn::BatchNorm1dImpl>(mods, p + "_bn"), p + "_bn"),
              p + "_relu");
  }
  const auto& fc = module_at<torch::nn::LinearImpl>(mods, "classifier");
  return gemm(g, x, fc.weight, fc.bias, "classifier");
}

std::string export_float_mlp(Graph& g, std::string x, const models::MlpImpl& m) {
  const auto mods = m.named_modules("", false);
  const auto* body = mods.find("body");
  if (!body) throw Error("export: the float MLP has no 'body'");
  int k = 0;
  for (const auto& child : (*body)->children()) {
    const std::string p = fmt::format("body.{}", k++);
    if (const auto* l = child->as<torch::nn::LinearImpl>())
      x = gemm(g, x, l->weight, l->bias, p);
    else if (const auto* bn = child->as<torch::nn::BatchNorm1dImpl>())
      x = batchnorm(g, x, *bn, p);
    else if (child->as<torch::nn::ReLUImpl>())
      x = unary(g, "Relu", x, p);
    else if (child->as<torch::nn::TanhImpl>())
      x = unary(g, "Tanh", x, p);
    else if (const auto* h = child->as<torch::nn::HardtanhImpl>())
      x = relu_clip(g, x, h->options.min_val(), h->options.max_val(), p);
    else if (child->as<torch::nn::DropoutImpl>())
      continue;  // identity in eval mode
    else
      throw ConfigError(fmt::format("export: MLP layer {} ({}) is not supported", p, child->name()));
  }
  return x;
}

// ---- quantizers in standard ops (plain ONNX of a quantized MLP) ----
// Levels lo + k * step, k in [0, steps], round half up — quant::fake_quant_uniform in ops every ONNX consumer
// has (Mul, Add, Floor, Relu): symmetric grids (lo = -steps * step / 2) take code = floor(x / step + 1/2)
// clamped to [-steps/2, steps/2] and value code * step, others k = floor((x - lo) / step + 1/2) clamped to
// [0, steps] and value lo + k * step, as the training kernel does. (It clamps x before rounding, we clamp the
// integer codes: the same result, and the clamp is exact.)
std::string uniform_quant_ops(Graph& g, const std::string& x, double lo, double step, int64_t steps,
                              const std::string& name) {
  const bool symmetric = lo < 0 && steps % 2 == 0;
  std::string y = (symmetric || lo == 0) ? x : binary(g, "Add", x, g.scalar(name + ".neg_lo", -lo), name + ".shift");
  y = binary(g, "Mul", y, g.scalar(name + ".inv_step", 1.0 / step), name + ".scale");
  y = unary(g, "Floor", binary(g, "Add", y, g.scalar(name + ".half", 0.5), name + ".half"), name + ".floor");
  y = symmetric ? relu_clip(g, y, -double(steps / 2), double(steps / 2), name + ".clamp")
                : relu_clip(g, y, 0.0, double(steps), name + ".clamp");
  y = binary(g, "Mul", y, g.scalar(name + ".step", step), name + ".rescale");
  return (symmetric || lo == 0) ? y : binary(g, "Add", y, g.scalar(name + ".lo", lo), name + ".unshift");
}
// x >= 0 -> +1, else -1: 1 - 2 Relu(-Sign(x)).
std::string sign_ops(Graph& g, const std::string& x, const std::string& name) {
  auto s = unary(g, "Sign", x, name + ".sign");
  s = binary(g, "Mul", s, g.scalar(name + ".minus_one", -1.0), name + ".neg");
  s = binary(g, "Mul", unary(g, "Relu", s, name + ".relu"), g.scalar(name + ".minus_two", -2.0), name + ".double");
  return binary(g, "Add", s, g.scalar(name + ".one", 1.0), name);
}

std::string quant_mlp_activation_ops(Graph& g, const std::string& x, const quant::QuantActivationImpl& act,
                                     const std::string& name) {
  const auto& c = act.config();
  if (c.bits == quant::kFloatBits) {
    if (c.kind == quant::ActKind::tanh) return unary(g, "Tanh", x, name);
    if (c.kind == quant::ActKind::hardtanh) return relu_clip(g, x, -1.0, 1.0, name);
    return unary(g, "Relu", x, name);
  }
  if (c.bits == 1) return sign_ops(g, x, name);
  const int64_t steps_signed = (int64_t(1) << c.bits) - 2;
  switch (c.kind) {
    case quant::ActKind::tanh:
      return uniform_quant_ops(g, unary(g, "Tanh", x, name + ".tanh"), -1.0, 2.0 / double(steps_signed),
                               steps_signed, name);
    case quant::ActKind::hardtanh:
      return uniform_quant_ops(g, x, -1.0, 2.0 / double(steps_signed), steps_signed, name);
    case quant::ActKind::relu: {
      const auto l = act.levels();
      return uniform_quant_ops(g, x, 0.0, l.scale, l.max_code, name);
    }
  }
  return x;
}

// The input quantizer: "signed" -> levels on [-1, 1] (1 bit: sign); "u8" and "float" -> as it is.
std::string input_quant_ops(Graph& g, const std::string& x, const models::MlpQuantConfig& qc) {
  if (qc.input != "signed") return x;
  if (qc.input_bits == 1) return sign_ops(g, x, "input_quant");
  return uniform_quant_ops(g, x, -1.0, 2.0 / double((int64_t(1) << qc.input_bits) - 2), (int64_t(1) << qc.input_bits) - 2,
                           "input_quant");
}

std::string export_quant_mlp_plain(Graph& g, std::string x, const models::MlpImpl& m) {
  const auto& q = m.quant_layers();
  x = input_quant_ops(g, x, m.config().quant);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < q.linears.size(); ++i) {
    const auto& lin = *q.linears[i];
    x = gemm(g, x, lin.quantized_weight(), lin.bias, fmt::format("fc{}", i));
    if (m.config().batchnorm) x = batchnorm(g, x, *q.norms[i], fmt::format("bn{}", i));
    if (i < q.acts.size()) x = quant_mlp_activation_ops(g, x, *q.acts[i], fmt::format("act{}", i));
  }
  return x;
}

// ---- QONNX ----
std::string int_datatype(bool is_signed, int bits) {
  if (bits == 1) return is_signed ? "BIPOLAR" : "BINARY";
  return fmt::format("{}INT{}", is_signed ? "" : "U", bits);
}

struct QuantSpec {
  int bits = 8;
  bool is_signed = true, narrow = true;
  torch::Tensor scale;  // scalar or broadcastable (per channel)
};

// qmin/qmax of a QONNX Quant (docs/EXPORT.md) must be the codes nemokd's Levels use.
void check_range(const quant::Levels& l, const std::string& name) {
  const int64_t half = int64_t(1) << (l.bits - 1), full = int64_t(1) << l.bits;
  const int64_t qmin = l.is_signed ? (l.narrow ? -half + 1 : -half) : 0;
  const int64_t qmax = l.is_signed ? half - 1 : (l.narrow ? full - 2 : full - 1);
  if (qmin != l.min_code || qmax != l.max_code)
    throw Error(fmt::format("export: {}: codes [{}, {}] are not a QONNX Quant range ([{}, {}])", name, l.min_code,
                            l.max_code, qmin, qmax));
}

std::string quant_node(Graph& g, const std::string& x, const QuantSpec& q, const std::string& name,
                       const std::string& rounding_mode) {
  auto* n = g.node("Quant",
                   {x, g.tensor(name + ".scale", q.scale), g.scalar(name + ".zeropt", 0.0),
                    g.scalar(name + ".bitwidth", double(q.bits))},
                   name, kQonnxDomain);
  attr(n, "signed", int64_t(q.is_signed ? 1 : 0));
  attr(n, "narrow", int64_t(q.narrow ? 1 : 0));
  attr(n, "rounding_mode", rounding_mode);
  const bool unit = (q.scale == 1.0).all().item<bool>();
  g.annotate(Graph::out(n), unit ? int_datatype(q.is_signed, q.bits) : fmt::format("SCALEDINT<{}>", q.bits));
  return Graph::out(n);
}
std::string bipolar_node(Graph& g, const std::string& x, const torch::Tensor& scale, const std::string& name) {
  auto* n = g.node("BipolarQuant", {x, g.tensor(name + ".scale", scale)}, name, kQonnxDomain);
  const bool unit = (scale == 1.0).all().item<bool>();
  g.annotate(Graph::out(n), unit ? "BIPOLAR" : "SCALEDINT<1>");
  return Graph::out(n);
}
// A quantizer given by Levels with a per-tensor scale.
std::string levels_node(Graph& g, const std::string& x, const quant::Levels& l, const std::string& name,
                        const std::string& rounding_mode) {
  const auto scale = torch::tensor(float(l.scale));  // rank 0
  if (l.bipolar) return bipolar_node(g, x, scale, name);
  check_range(l, name);
  return quant_node(g, x, QuantSpec{l.bits, l.is_signed, l.narrow, scale}, name, rounding_mode);
}

// The quantized weight of a layer as an initializer `w` (already in the consumer's layout) behind its Quant or
// BipolarQuant node; per-output-channel scales take `channel_shape` (MatMul [1, out], Conv [out, 1, 1, 1]).
// A float (32-bit) layer keeps the plain initializer.
std::string quantized_weight(Graph& g, const quant::QuantWeightLayer& layer, const torch::Tensor& w,
                             const std::vector<int64_t>& channel_shape, const std::string& p,
                             const std::string& rounding_mode) {
  std::string name = g.tensor(p + ".weight", w);
  if (layer.config().bits == quant::kFloatBits) return name;
  const auto levels = layer.weight_levels();
  torch::Tensor scale;
  if (levels.size() == 1) {
    scale = torch::tensor(float(levels[0].scale));
  } else {
    scale = torch::empty({int64_t(levels.size())});
    for (size_t o = 0; o < levels.size(); ++o) scale[int64_t(o)] = float(levels[o].scale);
    scale = scale.reshape(channel_shape);
  }
  if (levels[0].bipolar) return bipolar_node(g, name, scale, p + ".weight_quant");
  check_range(levels[0], p + ".weight_quant");
  return quant_node(g, name, QuantSpec{levels[0].bits, true, true, scale}, p + ".weight_quant", rounding_mode);
}

// A hidden layer's activation: Quant (preceded by Relu or Tanh as trained), BipolarQuant for 1 bit, or the float
// activation for 32 bits.
std::string activation_qonnx(Graph& g, std::string x, const quant::QuantActivationImpl& act, const std::string& a,
                             const std::string& rounding_mode) {
  const auto& ac = act.config();
  if (ac.bits == quant::kFloatBits)
    return ac.kind == quant::ActKind::tanh       ? unary(g, "Tanh", x, a)
           : ac.kind == quant::ActKind::hardtanh ? clip(g, x, -1.0, 1.0, a)
                                                 : unary(g, "Relu", x, a);
  const auto l = act.levels();
  // 1 bit: sign (sign(tanh(z)) = sign(z), so no Tanh). Tanh for n >= 2 as trained; hard-tanh is the Quant's
  // own clamp to [-1, 1]; ReLU stays a Relu before the unsigned Quant (the pattern FINN converts).
  if (!l.bipolar && ac.kind == quant::ActKind::tanh) x = unary(g, "Tanh", x, a + ".tanh");
  if (!l.bipolar && ac.kind == quant::ActKind::relu) x = unary(g, "Relu", x, a + ".relu");
  return levels_node(g, x, l, a + ".quant", rounding_mode);
}

std::string export_quant_mlp_qonnx(Graph& g, std::string x, const models::MlpImpl& m, bool flatten_input,
                                   const std::string& rounding_mode) {
  const auto& q = m.quant_layers();
  const auto& config = m.config();
  torch::NoGradGuard no_grad;
  if (config.quant.input != "float") x = levels_node(g, x, q.input->levels(), "input_quant", rounding_mode);
  if (flatten_input) x = flatten(g, x, "flatten");
  for (size_t i = 0; i < q.linears.size(); ++i) {
    const auto& lin = *q.linears[i];
    const std::string p = fmt::format("fc{}", i);
    // MatMul weight layout [in, out]; per-output-channel scales [1, out].
    const auto w = quantized_weight(g, lin, lin.quantized_weight().detach().t().contiguous(), {1, -1}, p, rounding_mode);
    x = binary(g, "MatMul", x, w, p);
    if (lin.bias.defined()) x = binary(g, "Add", x, g.tensor(p + ".bias", lin.bias), p + ".bias_add");
    if (config.batchnorm) x = batchnorm(g, x, *q.norms[i], fmt::format("bn{}", i));
    if (i >= q.acts.size()) break;
    x = activation_qonnx(g, x, *q.acts[i], fmt::format("act{}", i), rounding_mode);
  }
  return x;
}

// QONNX of a quantized CNN: [input Quant] -> [Pad (black) for a padded input] -> per block Conv(x, Quant(W)) ->
// BatchNormalization -> activation Quant -> [MaxPool] ... -> Flatten -> MatMul(x, Quant(W^T)) -> BatchNormalization
// -> ... -> logits.
std::string export_quant_cnn_qonnx(Graph& g, std::string x, const models::QCnnImpl& m, const std::string& rounding_mode) {
  const auto& q = m.quant_layers();
  const auto& spec = m.spec();
  torch::NoGradGuard no_grad;
  if (spec.quant.input != "float") x = levels_node(g, x, q.input->levels(), "input_quant", rounding_mode);
  if (spec.input_pad > 0) x = pad_node(g, x, spec.input_pad, q.pad_value, "input_pad");
  for (size_t i = 0; i < q.convs.size(); ++i) {
    const auto& c = spec.convs[i];
    const std::string p = fmt::format("conv{}", i + 1);
    const auto w = quantized_weight(g, *q.convs[i], q.convs[i]->quantized_weight().detach(), {-1, 1, 1, 1}, p,
                                    rounding_mode);
    x = conv_node(g, x, w, "", {c.kernel, c.kernel}, {1, 1}, {c.padding, c.padding, c.padding, c.padding}, {1, 1}, 1, p);
    x = batchnorm(g, x, *q.conv_norms[i], p + "_bn");
    x = activation_qonnx(g, x, *q.conv_acts[i], p + "_act", rounding_mode);
    if (q.pools[i]) x = max_pool(g, x, *q.pools[i], p + "_pool");
  }
  x = flatten(g, x, "flatten");
  for (size_t j = 0; j < q.fcs.size(); ++j) {
    const auto& lin = *q.fcs[j];
    const bool last = j + 1 == q.fcs.size();
    const std::string p = last ? "classifier" : fmt::format("fc{}", j + 1);
    const auto w = quantized_weight(g, lin, lin.quantized_weight().detach().t().contiguous(), {1, -1}, p, rounding_mode);
    x = binary(g, "MatMul", x, w, p);
    x = batchnorm(g, x, *q.fc_norms[j], p + "_bn");
    if (!last) x = activation_qonnx(g, x, *q.fc_acts[j], p + "_act", rounding_mode);
  }
  return x;
}

// Plain ONNX of a quantized CNN: the fake-quant arithmetic in standard ops (see export_quant_mlp_plain).
std::string export_quant_cnn_plain(Graph& g, std::string x, const models::QCnnImpl& m) {
  const auto& q = m.quant_layers();
  const auto& spec = m.spec();
  torch::NoGradGuard no_grad;
  x = input_quant_ops(g, x, spec.quant);
  if (spec.input_pad > 0) x = pad_node(g, x, spec.input_pad, q.pad_value, "input_pad");
  for (size_t i = 0; i < q.convs.size(); ++i) {
    const auto& c = spec.convs[i];
    const std::string p = fmt::format("conv{}", i + 1);
    x = conv_node(g, x, g.tensor(p + ".weight", q.convs[i]->quantized_weight()), "", {c.kernel, c.kernel}, {1, 1},
                  {c.padding, c.padding, c.padding, c.padding}, {1, 1}, 1, p);
    x = batchnorm(g, x, *q.conv_norms[i], p + "_bn");
    x = quant_mlp_activation_ops(g, x, *q.conv_acts[i], p + "_act");
    if (q.pools[i]) x = max_pool(g, x, *q.pools[i], p + "_pool");
  }
  x = flatten(g, x, "flatten");
  for (size_t j = 0; j < q.fcs.size(); ++j) {
    const bool last = j + 1 == q.fcs.size();
    const std::string p = last ? "classifier" : fmt::format("fc{}", j + 1);
    x = gemm(g, x, q.fcs[j]->quantized_weight(), q.fcs[j]->bias, p);
    x = batchnorm(g, x, *q.fc_norms[j], p + "_bn");
    if (!last) x = quant_mlp_activation_ops(g, x, *q.fc_acts[j], p + "_act");
  }
  return x;
}

// ---- model plumbing ----
void set_shape(onnx::ValueInfoProto* vi, const std::string& name, const std::vector<int64_t>& dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  for (auto d : dims) {
    auto* dim = shape->add_dim();
    if (d > 0)
      dim->set_dim_value(d);
    else
      dim->set_dim_param("N");
  }
}

std::string arch_of(const models::ClassifierImpl& model) { return models::family_name(model.family()); }

// The input shape the model was built for must be the one asked (flatten sizes and the MLP depend on it).
void check_input(const models::ClassifierImpl& model, models::InputShape input) {
  if (model.input_shape().str() != input.str())
    throw ConfigError(fmt::format("export: the model was built for input {}, not {}", model.input_shape().str(),
                                  input.str()));
}

// The model's class as its family says (checked: a Classifier from elsewhere claiming a family is refused).
template <class Impl>
const Impl& impl_of(const models::ClassifierImpl& model) {
  if (const auto* m = dynamic_cast<const Impl*>(&model)) return *m;
  throw Error(fmt::format("export: this '{}' model is not the family's own class", arch_of(model)));
}

void write_atomically(const onnx::ModelProto& model, const std::string& path) {
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error(fmt::format("export: could not serialise the model for {}", path));
  const auto target = std::filesystem::path(path);
  if (target.has_parent_path() && !target.parent_path().empty())
    std::filesystem::create_directories(target.parent_path());
  try {
    write_file_atomically(path, bytes);
  } catch (const Error& e) {
    throw DataError(fmt::format("export: {}", e.what()));
  }
}

// The ONNX checker's complaint on one line, or "" when the model passes.
std::string checker_failure(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    return msg;
  }
  return "";
}

void check_proto(const onnx::ModelProto& model, const std::string& what) {
  if (const auto msg = checker_failure(model); !msg.empty())
    throw Error(fmt::format("export: {} fails the ONNX checker: {}", what, msg));
}

ExportResult finish(onnx::ModelProto& model, const std::string& format, const std::string& arch,
                    const std::string& path, const std::vector<int64_t>& in_shape, const std::vector<int64_t>& out_shape) {
  check_proto(model, path);
  write_atomically(model, path);
  ExportResult r;
  r.path = path;
  r.format = format;
  r.arch = arch;
  r.ir_version = model.ir_version();
  r.opset = kOpset;
  r.nodes = model.graph().node_size();
  r.initializers = model.graph().initializer_size();
  r.bytes = int64_t(std::filesystem::file_size(path));
  for (const auto& n : model.graph().node()) ++r.ops[n.op_type()];
  r.input_shape = in_shape;
  r.output_shape = out_shape;
  return r;
}

onnx::ModelProto new_model(const ExportOptions& o, bool qonnx) {
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("nemokd");
  model.set_producer_version(version_string());
  if (!o.doc.empty()) model.set_doc_string(o.doc);
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(kOpset);
  if (qonnx) {
    auto* q = model.add_opset_import();
    q->set_domain(kQonnxDomain);
    q->set_version(1);
  }
  return model;
}

std::vector<int64_t> input_dims(models::InputShape s, const ExportOptions& o) {
  if (o.layout == InputLayout::flat) return {o.batch, s.numel()};
  return {o.batch, s.channels, s.height, s.width};
}

void check_options(const ExportOptions& o) {
  if (o.batch < 0) throw ConfigError(fmt::format("export: batch {} (use >= 1, or 0 for a symbolic batch)", o.batch));
  static const std::set<std::string> modes{"ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN", "UP", "DOWN", "CEIL", "FLOOR"};
  if (!modes.count(o.rounding_mode))
    throw ConfigError(fmt::format("export: rounding mode '{}' is not a QONNX rounding mode", o.rounding_mode));
}

}  // namespace

std::string to_string(InputLayout l) { return l == InputLayout::flat ? "flat" : "nchw"; }
InputLayout parse_input_layout(const std::string& s) {
  if (s == "nchw") return InputLayout::nchw;
  if (s == "flat") return InputLayout::flat;
  throw ConfigError(fmt::format("--input-shape: '{}' is not one of nchw, flat", s));
}

nlohmann::json ExportResult::to_json() const {
  return {{"path", path},         {"format", format},           {"arch", arch},
          {"ir_version", ir_version}, {"opset", opset},         {"nodes", nodes},
          {"initializers", initializers}, {"bytes", bytes},     {"ops", ops},
          {"input_shape", input_shape}, {"output_shape", output_shape}};
}

ExportResult export_model_onnx(const models::ClassifierImpl& model, models::InputShape input, const std::string& path,
                               const ExportOptions& options) {
  check_options(options);
  check_input(model, input);
  const std::string arch = arch_of(model);
  auto proto = new_model(options, false);
  auto* gp = proto.mutable_graph();
  gp->set_name(fmt::format("nemokd_{}", arch));
  Graph g(gp);
  const auto in_dims = input_dims(input, options);
  set_shape(gp->add_input(), kInputName, in_dims);
  g.fresh(kInputName);
  std::string x = kInputName;
  if (models::family_traits(model.family()).exports == models::Exports::none)
    throw ConfigError(fmt::format("export: architecture '{}' has no ONNX exporter", arch));
  const bool flat_model = model.family() == models::Family::mlp;  // reads flattened pixels
  if (flat_model) {
    if (options.layout == InputLayout::nchw) x = flatten(g, x, "flatten");
  } else if (options.layout == InputLayout::flat) {
    x = Graph::out(g.node("Reshape", {x, g.int64s("input_shape", {-1, input.channels, input.height, input.width})},
                          "reshape"));
  }
  torch::NoGradGuard no_grad;
  switch (model.family()) {  // one exporter per family (a new family without one is a -Wswitch warning here)
    case models::Family::resnet:
    case models::Family::flexresnet8x4:
      x = export_resnet(g, x, impl_of<models::ResNetImpl>(model));
      break;
    case models::Family::mobilenetv2:
      x = export_mobilenetv2(g, x, impl_of<models::MobileNetV2Impl>(model));
      break;
    case models::Family::flexstudent:
      x = export_flexstudent(g, x, impl_of<models::FlexStudentImpl>(model));
      break;
    case models::Family::mlp: {
      const auto& mlp = impl_of<models::MlpImpl>(model);
      x = mlp.config().quantized ? export_quant_mlp_plain(g, x, mlp) : export_float_mlp(g, x, mlp);
      break;
    }
    case models::Family::cnv:
    case models::Family::qflexstudent:
      x = export_quant_cnn_plain(g, x, impl_of<models::QCnnImpl>(model));
      break;
    case models::Family::qonnx:
      throw ConfigError(fmt::format("export: architecture '{}' has no ONNX exporter", arch));
  }
  g.rename_last_output(x, kOutputName);
  const std::vector<int64_t> out_dims{options.batch, model.classes()};
  set_shape(gp->add_output(), kOutputName, out_dims);
  return finish(proto, "onnx", arch, path, in_dims, out_dims);
}

std::string export_onnx(const models::ClassifierImpl& model, models::InputShape input, const std::string& path,
                        ExportOptions options) {
  return export_model_onnx(model, input, path, options).path;
}

std::string export_onnx_to_dir(const models::ClassifierImpl& model, models::InputShape input, const std::string& dir) {
  return export_onnx(model, input, (std::filesystem::path(dir) / "model.onnx").string());
}

ExportResult export_qonnx(const models::ClassifierImpl& model, models::InputShape input, const std::string& path,
                          const ExportOptions& options) {
  check_options(options);
  check_input(model, input);
  const std::string arch = arch_of(model);
  const bool is_mlp = model.family() == models::Family::mlp;
  const auto* mlp = is_mlp ? &impl_of<models::MlpImpl>(model) : nullptr;
  if (mlp && !mlp->config().quantized)
    throw ConfigError("export qonnx: the model is a float MLP; QONNX is for quantized models (use `export onnx`)");
  if (models::family_traits(model.family()).exports != models::Exports::onnx_and_qonnx)
    throw ConfigError(fmt::format("export qonnx: a '{}' model is not quantized; QONNX is for quantized MLPs and CNNs "
                                  "(mlp with quant, cnv, qflexstudent; use `export onnx`)",
                                  arch));
  auto proto = new_model(options, true);
  auto* gp = proto.mutable_graph();
  gp->set_name(mlp ? "nemokd_qonnx_mlp" : fmt::format("nemokd_qonnx_{}", arch));
  Graph g(gp);
  const auto in_dims = input_dims(input, options);
  set_shape(gp->add_input(), kInputName, in_dims);
  g.fresh(kInputName);
  g.annotate(kInputName, "FLOAT32");
  std::string x = kInputName;
  if (mlp) {
    x = export_quant_mlp_qonnx(g, x, *mlp, options.layout == InputLayout::nchw, options.rounding_mode);
  } else {
    if (options.layout == InputLayout::flat)
      x = Graph::out(g.node("Reshape", {x, g.int64s("input_shape", {-1, input.channels, input.height, input.width})},
                            "reshape"));
    x = export_quant_cnn_qonnx(g, x, impl_of<models::QCnnImpl>(model), options.rounding_mode);
  }
  g.rename_last_output(x, kOutputName);
  const std::vector<int64_t> out_dims{options.batch, model.classes()};
  set_shape(gp->add_output(), kOutputName, out_dims);
  return finish(proto, "qonnx", arch, path, in_dims, out_dims);
}

void check_onnx_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError(fmt::format("{}: cannot open", path));
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&f)) throw DataError(fmt::format("{}: not an ONNX protobuf file", path));
  if (const auto msg = checker_failure(model); !msg.empty())
    throw DataError(fmt::format("{}: fails the ONNX checker: {}", path, msg));
}

}  // namespace nemokd::onnx_export
