// Export: every zoo model to ONNX (checked by onnx::checker, loaded by an independent consumer — OpenCV DNN —
// whose outputs must match LibTorch's within 1e-4), quantized MLPs to QONNX (Python onnx checker; nemokd's
// independent executor reproduces the QAT model's eval-mode outputs and the integer engine's predictions on
// real MNIST test images).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "engine/build.h"
#include "engine/runtime.h"
#include "export/onnx_exec.h"
#include "export/onnx_export.h"
#include "models/integer_mlp.h"
#include "models/mlp.h"
#include "models/qcnn.h"
#include "models/registry.h"
#include "test_support.h"
#include "train/train_run.h"

namespace nemokd {
namespace {

namespace ox = onnx_export;

// ---- real data (loaded once) ----
const data::Dataset& dataset(const std::string& name) {
  static std::map<std::string, data::Dataset> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, data::load_dataset(name, data::LoadOptions{})).first;
  return it->second;
}

// The first n test images of a dataset, normalised as the loader does.
torch::Tensor real_images(const std::string& name, int64_t n, data::Normalization norm, int64_t offset = 0) {
  const auto& d = dataset(name);
  const auto a = data::pixel_affine(d.spec, norm);
  auto px = d.test.images.slice(0, offset, offset + n).to(torch::kFloat);
  return px * a.scale[0] + a.shift[0];
}

// BatchNorm statistics from real activations (one train-mode pass with momentum 1), then slightly perturbed
// affine parameters, so that exported BatchNormalization nodes matter and activations stay in range.
void calibrate(models::ClassifierImpl& model, const torch::Tensor& x, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (const auto& m : model.modules(false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->options.momentum(1.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.normal_(0, 0.2);
    } else if (auto* bn1 = m->as<torch::nn::BatchNorm1dImpl>()) {
      bn1->options.momentum(1.0);
      bn1->weight.uniform_(0.5, 1.5);
      bn1->bias.normal_(0, 0.2);
    }
  }
  model.train();
  if (auto* mlp = dynamic_cast<models::MlpImpl*>(&model); mlp && mlp->config().quantized)
    mlp->forward_fake_quant(x);
  else
    model.forward(x);
  model.eval();
}

// ---- OpenCV DNN as the independent consumer ----
torch::Tensor opencv_forward(const std::string& path, const torch::Tensor& images, bool flat) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  std::vector<torch::Tensor> rows;
  for (int64_t i = 0; i < images.size(0); ++i) {
    auto x = images[i].unsqueeze(0).contiguous();
    if (flat) x = x.flatten(1).contiguous();
    std::vector<int> dims(x.sizes().begin(), x.sizes().end());
    cv::Mat blob(int(dims.size()), dims.data(), CV_32F, x.data_ptr<float>());
    net.setInput(blob);
    cv::Mat out = net.forward();
    EXPECT_EQ(out.type(), CV_32F);
    rows.push_back(torch::from_blob(out.ptr<float>(), {int64_t(out.total())}, torch::kFloat).clone());
  }
  return torch::stack(rows);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// ---- the Python onnx checker (Debian python3-onnx) ----
std::string python() {
  const char* env = std::getenv("NEMOKD_PYTHON");
  return env && *env ? env : "/usr/bin/python3";
}
bool python_has_onnx() {
  return std::system(fmt::format("{} -c 'import onnx' >/dev/null 2>&1", python()).c_str()) == 0;
}
// Runs onnx.checker.check_model(full_check=True) on each file; returns the process output ("" on success).
std::string python_check(const std::vector<std::string>& files, const testing::TempDir& tmp) {
  const std::string script = tmp.file("check.py"), log = tmp.file("check.log");
  std::ofstream(script) << "import sys, onnx\n"
                           "for p in sys.argv[1:]:\n"
                           "    onnx.checker.check_model(onnx.load(p), full_check=True)\n";
  std::string cmd = python() + " " + script;
  for (const auto& f : files) cmd += " '" + f + "'";
  const int rc = std::system((cmd + " >" + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return rc == 0 ? "" : fmt::format("exit {}: {}", rc, text);
}

onnx::ModelProto read_proto(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromIstream(&f)) << path;
  return m;
}

// ---- zoo ----
struct ZooCase {
  std::string label;
  models::ModelConfig config;
  models::InputShape input;
  std::string data;  // real dataset, or "" = random inputs
  int classes = 10;
};

models::ModelConfig arch(const std::string& preset) { return models::preset_model(preset); }

// Small quantized CNNs: a CNV with narrow layers (the padded 28x28 input, unpadded 3x3 convs, two pools) and a
// quantized FlexStudent with ReLU activations, per-channel scaled weights and u8 input.
models::ModelConfig small_cnv(int w, int a, int fc) {
  auto c = models::preset_model("cnv");
  c.cnv().convs = {{8, 3, 0, false}, {fc / 2, 3, 0, true}, {fc / 2, 3, 0, true}, {fc * 2 / 3, 3, 0, false}};
  c.cnv().fc_widths = {fc};
  c.cnv().set_bits({w}, {a});
  return c;
}
models::ModelConfig relu_u8_qflexstudent() {
  auto c = models::preset_model("qflexstudent");
  c.qflexstudent().net.conv_channels = {6, 12};
  c.qflexstudent().net.fc_widths = {16};
  c.qflexstudent().activation = "relu";
  c.qflexstudent().set_bits({4}, {3});
  c.qflexstudent().quant.input = "u8";
  c.qflexstudent().quant.scheme = quant::WeightScheme::scaled;
  return c;
}

std::vector<ZooCase> zoo_cases() {
  std::vector<ZooCase> cases;
  const models::InputShape mnist{1, 28, 28}, cifar{3, 32, 32};
  cases.push_back({"resnet8", arch("resnet8"), mnist, "mnist"});
  cases.push_back({"resnet20", arch("resnet20"), mnist, "fashion-mnist"});
  cases.push_back({"resnet8-3ch", arch("resnet8"), cifar, "", 100});
  cases.push_back({"mobilenetv2", arch("mobilenetv2"), mnist, "fashion-mnist"});
  cases.push_back({"mobilenetv2-3ch", arch("mobilenetv2"), cifar, ""});
  cases.push_back({"flexstudent", arch("flexstudent"), mnist, "mnist"});
  {
    auto c = arch("flexstudent");
    c.flexstudent().conv_channels = {12};
    c.flexstudent().pool = {false};
    c.flexstudent().fc_widths = {};
    cases.push_back({"flexstudent-1conv-nopool", c, mnist, "fashion-mnist"});
  }
  {
    auto c = arch("flexstudent");
    c.flexstudent().conv_channels = {8, 16, 16, 8};
    c.flexstudent().fc_widths = {32, 16};
    c.flexstudent().dropout = 0.3;
    cases.push_back({"flexstudent-4conv-3fc", c, mnist, "mnist"});
  }
  {
    auto c = arch("flexresnet8x4");
    c.flexresnet8x4().widths = {8, 16, 24, 32};
    cases.push_back({"flexresnet8x4-small", c, mnist, "fashion-mnist"});
  }
  {
    auto c = arch("mlp");
    c.mlp().hidden = {64, 32};
    c.mlp().dropout = 0.2;
    cases.push_back({"mlp-float-relu", c, mnist, "mnist"});
  }
  {
    auto c = arch("mlp");
    c.mlp().hidden = {48, 24, 16};
    c.mlp().batchnorm = false;
    c.mlp().activation = "hardtanh";
    cases.push_back({"mlp-float-hardtanh-nobn", c, mnist, "fashion-mnist"});
  }
  auto quant = [&](const std::string& label, int w, int a, const std::string& act, const std::string& input,
                   int input_bits, quant::WeightScheme scheme) {
    auto c = arch("tfc");
    c.mlp().activation = act;
    c.mlp().set_bits({w}, {a});
    c.mlp().quant.input = input;
    c.mlp().quant.input_bits = input_bits;
    c.mlp().quant.scheme = scheme;
    cases.push_back({label, c, mnist, "mnist"});
  };
  quant("mlp-w1a1", 1, 1, "tanh", "signed", 1, quant::WeightScheme::finn);
  quant("mlp-w2a2", 2, 2, "tanh", "signed", 8, quant::WeightScheme::finn);
  quant("mlp-w4a4-relu-u8-scaled", 4, 4, "relu", "u8", 8, quant::WeightScheme::scaled);
  quant("mlp-w4a4-hardtanh", 4, 4, "hardtanh", "signed", 4, quant::WeightScheme::finn);
  cases.push_back({"cnv-small-w2a2", small_cnv(2, 2, 24), mnist, "fashion-mnist"});
  cases.push_back({"qflexstudent-w4a3-relu-u8", relu_u8_qflexstudent(), mnist, "mnist"});
  return cases;
}

data::Normalization normalization_for(const models::ModelConfig& c) {
  const auto req = models::required_normalization(c);
  if (req == "unit") return data::Normalization::unit;
  if (req == "signed") return data::Normalization::signed_unit;
  return data::Normalization::standard;
}

TEST(ExportOnnx, EveryZooModelPassesTheCheckerAndMatchesOpenCvDnn) {
  testing::TempDir tmp;
  std::vector<std::string> files;
  for (const auto& zc : zoo_cases()) {
    SCOPED_TRACE(zc.label);
    auto model = models::build_model(zc.config, zc.input, zc.classes);
    torch::Tensor x;
    if (zc.data.empty()) {
      torch::manual_seed(7);
      x = torch::randn({16, zc.input.channels, zc.input.height, zc.input.width});
    } else {
      x = real_images(zc.data, 64, normalization_for(zc.config));
    }
    calibrate(*model, x, 11);
    const auto probe = x.slice(0, 0, 6);
    torch::Tensor ref;
    {
      torch::NoGradGuard g;
      auto* mlp = dynamic_cast<models::MlpImpl*>(model.get());
      auto* cnn = dynamic_cast<models::QCnnImpl*>(model.get());
      ref = mlp && mlp->config().quantized ? mlp->forward_fake_quant(probe)
            : cnn                          ? cnn->forward_fake_quant(probe)
                                           : model->forward(probe);
    }
    for (const auto layout : {ox::InputLayout::nchw, ox::InputLayout::flat}) {
      ox::ExportOptions o;
      o.layout = layout;
      const std::string path = tmp.file(fmt::format("{}-{}.onnx", zc.label, ox::to_string(layout)));
      auto r = ox::export_model_onnx(*model, zc.input, path, o);
      EXPECT_EQ(r.path, path);
      EXPECT_EQ(r.format, "onnx");
      EXPECT_NO_THROW(ox::check_onnx_file(path));
      files.push_back(path);
      auto got = opencv_forward(path, probe, layout == ox::InputLayout::flat);
      ASSERT_EQ(got.sizes(), ref.sizes());
      const double diff = max_abs_diff(got, ref);
      const double scale = std::max(1.0, ref.abs().max().item<double>());
      EXPECT_LE(diff, 1e-4 * scale) << "max |logit| " << scale << " " << ox::to_string(layout);
      if (layout == ox::InputLayout::nchw)
        std::printf("[ export ] %-26s %3ld nodes  OpenCV vs LibTorch max |diff| %.2e (max |logit| %.2f)\n",
                    zc.label.c_str(), long(r.nodes), diff, ref.abs().max().item<double>());
    }
  }
  if (!python_has_onnx()) GTEST_SKIP() << python() << " has no onnx module (apt-get install python3-onnx)";
  EXPECT_EQ(python_check(files, tmp), "");
}

TEST(ExportOnnx, SymbolicBatchAndTheCommandProbeEntryPoint) {
  testing::TempDir tmp;
  auto c = models::preset_model("resnet8");
  auto model = models::build_model(c, {1, 28, 28}, 10);
  auto x = real_images("mnist", 32, data::Normalization::standard);
  calibrate(*model, x, 3);
  ox::ExportOptions o;
  o.batch = 0;
  const std::string path = ox::export_onnx(*model, {1, 28, 28}, tmp.file("sub/dir/resnet8.onnx"), o);
  EXPECT_EQ(path, tmp.file("sub/dir/resnet8.onnx"));
  // The latency command probe's materializer signature: (model, input, dir) -> DIR/model.onnx.
  EXPECT_EQ(ox::export_onnx_to_dir(*model, {1, 28, 28}, tmp.path()), tmp.file("model.onnx"));
  EXPECT_NO_THROW(ox::check_onnx_file(tmp.file("model.onnx")));
  auto proto = read_proto(path);
  ASSERT_EQ(proto.graph().input_size(), 1);
  EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  // OpenCV runs the whole batch through the symbolic-batch graph.
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  auto probe = x.slice(0, 0, 4).contiguous();
  std::vector<int> dims(probe.sizes().begin(), probe.sizes().end());
  net.setInput(cv::Mat(4, dims.data(), CV_32F, probe.data_ptr<float>()));
  cv::Mat out = net.forward();
  ASSERT_EQ(int64_t(out.total()), 40);
  torch::NoGradGuard g;
  auto ref = model->forward(probe);
  auto got = torch::from_blob(out.ptr<float>(), {4, 10}, torch::kFloat).clone();
  EXPECT_LE(max_abs_diff(got, ref), 1e-4 * std::max(1.0, ref.abs().max().item<double>()));
}

TEST(ExportOnnx, ErrorsNameTheProblem) {
  testing::TempDir tmp;
  auto fl = models::build_model(models::preset_model("tfc"), {1, 28, 28}, 10);
  auto* mlp = dynamic_cast<models::MlpImpl*>(fl.get());
  ASSERT_TRUE(mlp);
  EXPECT_THROW(ox::export_qonnx(*mlp, {1, 28, 28}, tmp.file("x.onnx")), ConfigError);
  EXPECT_THROW(ox::export_model_onnx(*fl, {3, 32, 32}, tmp.file("x.onnx")), ConfigError);
  ox::ExportOptions o;
  o.rounding_mode = "NEAREST";
  EXPECT_THROW(ox::export_model_onnx(*fl, {1, 28, 28}, tmp.file("x.onnx"), o), ConfigError);
  EXPECT_THROW(ox::parse_input_layout("nhwc"), ConfigError);
  std::ofstream(tmp.file("junk.onnx")) << "not a protobuf";
  EXPECT_THROW(ox::check_onnx_file(tmp.file("junk.onnx")), DataError);
  EXPECT_THROW(ox::check_onnx_file(tmp.file("missing.onnx")), DataError);
  // The Python checker really checks (a file it must reject).
  if (python_has_onnx()) {
    EXPECT_NE(python_check({tmp.file("junk.onnx")}, tmp), "");
  }
}

// ---- QONNX ----
ox::ExecTensor exec_input(const torch::Tensor& x, bool flat) {
  auto d = (flat ? x.flatten(1) : x).to(torch::kDouble).contiguous();
  ox::ExecTensor t;
  t.shape.assign(d.sizes().begin(), d.sizes().end());
  t.values.assign(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  return t;
}

torch::Tensor exec_logits(const ox::OnnxExecutor& ex, const torch::Tensor& images, bool flat) {
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < images.size(0); b += 1000) {
    auto out = ex.run(exec_input(images.slice(0, b, std::min(b + 1000, images.size(0))), flat));
    EXPECT_EQ(out.shape.size(), 2u);
    parts.push_back(torch::tensor(out.values, torch::kDouble).view({out.shape[0], out.shape[1]}));
  }
  return torch::cat(parts);
}

// Structure every QONNX file must have (docs/EXPORT.md).
void expect_qonnx_structure(const std::string& path, const models::MlpImpl& mlp, const std::string& rounding) {
  auto m = read_proto(path);
  std::map<std::string, int64_t> opsets;
  for (const auto& o : m.opset_import()) opsets[o.domain()] = o.version();
  EXPECT_EQ(opsets[""], 11);
  EXPECT_EQ(opsets["qonnx.custom_op.general"], 1);
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : m.graph().initializer()) inits[t.name()] = &t;
  std::set<std::string> annotated;
  for (const auto& a : m.graph().quantization_annotation()) {
    ASSERT_EQ(a.quant_parameter_tensor_names_size(), 1);
    EXPECT_EQ(a.quant_parameter_tensor_names(0).key(), "finn_datatype");
    annotated.insert(a.tensor_name());
  }
  int quants = 0, bipolars = 0, matmuls = 0;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() == "Quant" || n.op_type() == "BipolarQuant") {
      EXPECT_EQ(n.domain(), "qonnx.custom_op.general");
      EXPECT_TRUE(annotated.count(n.output(0))) << n.name();
    }
    if (n.op_type() == "MatMul") ++matmuls;
    if (n.op_type() == "BipolarQuant") ++bipolars;
    if (n.op_type() != "Quant") continue;
    ++quants;
    std::map<std::string, const onnx::AttributeProto*> at;
    for (const auto& a : n.attribute()) at[a.name()] = &a;
    ASSERT_TRUE(at.count("signed") && at.count("narrow") && at.count("rounding_mode")) << n.name();
    EXPECT_EQ(at["rounding_mode"]->s(), rounding);
    ASSERT_EQ(n.input_size(), 4);
    for (int k = 2; k < 4; ++k) {  // zeropt and bitwidth: scalar initializers
      ASSERT_TRUE(inits.count(n.input(k))) << n.input(k);
      EXPECT_EQ(inits[n.input(k)]->dims_size(), 0) << n.input(k);
    }
    ASSERT_TRUE(inits.count(n.input(1)));
  }
  const auto& q = mlp.config().quant;
  int expect_bipolar = 0, expect_quant = 0;
  for (int b : q.weight_bits) (b == 1 ? expect_bipolar : expect_quant) += b != quant::kFloatBits;
  for (int b : q.act_bits) (b == 1 ? expect_bipolar : expect_quant) += b != quant::kFloatBits;
  if (q.input == "u8" || (q.input == "signed" && q.input_bits > 1)) ++expect_quant;
  if (q.input == "signed" && q.input_bits == 1) ++expect_bipolar;
  EXPECT_EQ(quants, expect_quant);
  EXPECT_EQ(bipolars, expect_bipolar);
  EXPECT_EQ(matmuls, int(q.weight_bits.size()));
}

struct RoundTrip {
  int64_t prediction_mismatches = 0;
  double max_logit_diff = 0, max_logit = 0;
  int64_t ties = 0;  // activation Quant inputs exactly on a rounding tie (where rounding modes differ)
  torch::Tensor predictions;
};

// Executor on the QONNX file vs the model's eval-mode forward (the integer view when it has one).
RoundTrip round_trip(const std::string& path, models::MlpImpl& mlp, const torch::Tensor& images, bool flat) {
  ox::OnnxExecutor ex(path);
  auto got = exec_logits(ex, images, flat);
  torch::Tensor ref;
  {
    torch::NoGradGuard g;
    mlp.eval();
    if (models::integer_exact_blocker(mlp.config()).empty()) {
      ref = mlp.forward(images).to(torch::kDouble);  // the integer view: exact
    } else {
      // No integer view (float input or a float layer): the fake-quant arithmetic, in double like the executor
      // (in float32 its sums' rounding moves values across quantizer thresholds).
      mlp.to(torch::kDouble);
      ref = mlp.forward_fake_quant(images.to(torch::kDouble));
      mlp.to(torch::kFloat);
    }
  }
  RoundTrip r;
  r.ties = ex.quant_ties();
  r.predictions = got.argmax(1);
  r.prediction_mismatches = (r.predictions != ref.argmax(1)).sum().item<int64_t>();
  r.max_logit_diff = max_abs_diff(got, ref);
  r.max_logit = ref.abs().max().item<double>();
  return r;
}

TEST(ExportQonnx, TrainedTfcModelsRoundTripThroughTheExecutorAndTheIntegerEngine) {
  testing::TempDir tmp;
  const auto& mnist = dataset("mnist");
  const int64_t n = mnist.test.size();
  std::vector<std::string> files;
  for (const std::string& cell : {std::string("w1a1"), std::string("w2a2")}) {
    SCOPED_TRACE(cell);
    auto run = train::load_trained_run(std::string(NEMOKD_TEST_DATA) + "/qat-tfc-" + cell);
    auto mlp = std::dynamic_pointer_cast<models::MlpImpl>(run.model);
    ASSERT_TRUE(mlp);
    const auto affine = data::pixel_affine(mnist.spec, run.config.train.normalization);
    auto images = mnist.test.images.to(torch::kFloat) * affine.scale[0] + affine.shift[0];
    // The integer engine from the same trained model, on the uint8 pixels.
    auto im = engine::build_integer_model(*mlp, affine, 1, 784, "test");
    engine::EngineOptions eo;
    eo.threads = 2;
    engine::Engine eng(im, eo);
    std::vector<int32_t> engine_pred(static_cast<size_t>(n));
    eng.predict(mnist.test.images.data_ptr<uint8_t>(), n, engine_pred.data());
    auto engine_predictions = torch::tensor(std::vector<int64_t>(engine_pred.begin(), engine_pred.end()));

    for (const bool flat : {false, true}) {
      for (const std::string& rounding : {std::string("HALF_UP"), std::string("ROUND")}) {
        if (flat && rounding == "ROUND") continue;
        ox::ExportOptions o;
        o.layout = flat ? ox::InputLayout::flat : ox::InputLayout::nchw;
        o.rounding_mode = rounding;
        const std::string path = tmp.file(fmt::format("tfc-{}-{}-{}.qonnx.onnx", cell, flat ? "flat" : "nchw", rounding));
        auto r = ox::export_qonnx(*mlp, {1, 28, 28}, path, o);
        EXPECT_EQ(r.format, "qonnx");
        const std::vector<int64_t> want = flat ? std::vector<int64_t>{1, 784} : std::vector<int64_t>{1, 1, 28, 28};
        EXPECT_EQ(r.input_shape, want);
        EXPECT_NO_THROW(ox::check_onnx_file(path));
        expect_qonnx_structure(path, *mlp, rounding);
        files.push_back(path);
        auto rt = round_trip(path, *mlp, images, flat);
        EXPECT_EQ(rt.prediction_mismatches, 0) << path;
        EXPECT_LE(rt.max_logit_diff, 1e-4 * std::max(1.0, rt.max_logit)) << path;
        const int64_t vs_engine = (rt.predictions != engine_predictions).sum().item<int64_t>();
        EXPECT_EQ(vs_engine, 0) << path;
        std::printf("[ qonnx  ] %s %-4s %-7s %ld images: %ld prediction mismatches vs the QAT model, %ld vs the "
                    "integer engine, max |logit diff| %.2e (max |logit| %.2f), %ld rounding ties\n",
                    cell.c_str(), flat ? "flat" : "nchw", rounding.c_str(), long(n), long(rt.prediction_mismatches),
                    long(vs_engine), rt.max_logit_diff, rt.max_logit, long(rt.ties));
      }
    }
  }
  if (!python_has_onnx()) GTEST_SKIP() << python() << " has no onnx module (apt-get install python3-onnx)";
  EXPECT_EQ(python_check(files, tmp), "");
}

// Untrained (calibrated) quantized MLPs over the other quantizer kinds: unsigned ReLU activations with
// per-channel scaled weights, hard-tanh, mixed bits, a float (32-bit) layer, biases without BatchNorm.
TEST(ExportQonnx, QuantizerVariantsRoundTrip) {
  testing::TempDir tmp;
  struct Variant {
    std::string label, act, input;
    int input_bits;
    std::vector<int> w, a;
    quant::WeightScheme scheme;
    bool batchnorm = true;
  };
  const std::vector<Variant> variants{
      {"w4a4-relu-u8-scaled", "relu", "u8", 8, {4}, {4}, quant::WeightScheme::scaled},
      {"w3a3-hardtanh-in4", "hardtanh", "signed", 4, {3}, {3}, quant::WeightScheme::finn},
      {"w1a2-tanh-in1", "tanh", "signed", 1, {1}, {2}, quant::WeightScheme::finn},
      {"w2a1-hardtanh-scaled", "hardtanh", "signed", 8, {2}, {1}, quant::WeightScheme::scaled},
      {"mixed-bits-float-act", "tanh", "signed", 8, {8, 2, 32, 4}, {4, 32, 2}, quant::WeightScheme::finn},
      {"w4a4-relu-nobn-float-in", "relu", "float", 8, {4}, {4}, quant::WeightScheme::finn, false},
  };
  std::vector<std::string> files;
  for (const auto& v : variants) {
    SCOPED_TRACE(v.label);
    auto c = models::preset_model("tfc");
    c.mlp().activation = v.act;
    c.mlp().batchnorm = v.batchnorm;
    c.mlp().set_bits(v.w, v.a);
    c.mlp().quant.input = v.input;
    c.mlp().quant.input_bits = v.input_bits;
    c.mlp().quant.scheme = v.scheme;
    torch::manual_seed(5);
    auto model = models::build_model(c, {1, 28, 28}, 10);
    auto* mlp = dynamic_cast<models::MlpImpl*>(model.get());
    ASSERT_TRUE(mlp);
    const auto norm = normalization_for(c);
    if (v.batchnorm) calibrate(*model, real_images("mnist", 256, norm), 9);
    model->eval();
    auto images = real_images("mnist", 2000, norm, 1000);
    const std::string path = tmp.file(v.label + ".qonnx.onnx");
    ox::export_qonnx(*mlp, {1, 28, 28}, path);
    EXPECT_NO_THROW(ox::check_onnx_file(path));
    expect_qonnx_structure(path, *mlp, "HALF_UP");
    files.push_back(path);
    auto rt = round_trip(path, *mlp, images, false);
    EXPECT_EQ(rt.prediction_mismatches, 0);
    EXPECT_LE(rt.max_logit_diff, 1e-4 * std::max(1.0, rt.max_logit));
    std::printf("[ qonnx  ] %-26s 2000 images: %ld prediction mismatches, max |logit diff| %.2e (max |logit| %.2f), "
                "%ld rounding ties\n",
                v.label.c_str(), long(rt.prediction_mismatches), rt.max_logit_diff, rt.max_logit, long(rt.ties));
  }
  if (!python_has_onnx()) GTEST_SKIP() << python() << " has no onnx module (apt-get install python3-onnx)";
  EXPECT_EQ(python_check(files, tmp), "");
}

// Quantized CNNs (calibrated on real images): QONNX -> the independent executor vs the model's integer view (every
// prediction, logits to 1e-4) and vs the integer engine built from the same model (every prediction); both input
// layouts; the Python checker accepts the files.
TEST(ExportQonnx, QuantizedCnnsRoundTripThroughTheExecutorAndTheIntegerEngine) {
  testing::TempDir tmp;
  struct Variant {
    std::string label;
    models::ModelConfig config;
  };
  std::vector<Variant> variants;
  variants.push_back({"cnv-small-w1a1", small_cnv(1, 1, 32)});  // BipolarQuant everywhere
  {
    auto c = small_cnv(2, 2, 32);
    c.cnv().activation = "tanh";
    variants.push_back({"cnv-small-w2a2-tanh", c});
  }
  variants.push_back({"qflexstudent-w4a3-relu-u8-scaled", relu_u8_qflexstudent()});
  {
    auto c = models::preset_model("qflexstudent");
    c = models::preset_model("qflexstudent");
    c.qflexstudent().net.conv_channels = {8, 8, 8};
    c.qflexstudent().net.fc_widths = {};
    c.qflexstudent().set_bits({1}, {1});  // zero padding of bipolar values
    variants.push_back({"qflexstudent-w1a1-3conv", c});
  }
  std::vector<std::string> files;
  const auto& fm = dataset("fashion-mnist");
  for (const auto& v : variants) {
    SCOPED_TRACE(v.label);
    torch::manual_seed(3);
    auto model = models::build_model(v.config, {1, 28, 28}, 10);
    const auto norm = normalization_for(v.config);
    calibrate(*model, real_images("fashion-mnist", 256, norm), 13);
    model->eval();
    const int64_t n = 200;
    auto images = real_images("fashion-mnist", n, norm, 2000);
    torch::Tensor ref;
    {
      torch::NoGradGuard g;
      ref = model->forward(images).to(torch::kDouble);  // eval mode: the integer view
    }
    const auto affine = data::pixel_affine(fm.spec, norm);
    engine::EngineOptions eo;
    eo.threads = 2;
    engine::Engine eng(engine::build_integer_model(*model, affine, "test"), eo);
    auto pixels = fm.test.images.slice(0, 2000, 2000 + n).contiguous();
    std::vector<int32_t> engine_pred(static_cast<size_t>(n));
    eng.predict(pixels.data_ptr<uint8_t>(), n, engine_pred.data());
    for (const bool flat : {false, true}) {
      ox::ExportOptions o;
      o.layout = flat ? ox::InputLayout::flat : ox::InputLayout::nchw;
      const std::string path = tmp.file(fmt::format("{}-{}.qonnx.onnx", v.label, flat ? "flat" : "nchw"));
      auto r = ox::export_qonnx(*model, {1, 28, 28}, path, o);
      EXPECT_EQ(r.format, "qonnx");
      EXPECT_GE(r.ops["Conv"], 2);
      EXPECT_NO_THROW(ox::check_onnx_file(path));
      files.push_back(path);
      ox::OnnxExecutor ex(path);
      auto got = exec_logits(ex, images, flat);
      const auto pred = got.argmax(1);
      EXPECT_EQ((pred != ref.argmax(1)).sum().item<int64_t>(), 0);
      const double diff = max_abs_diff(got, ref), scale = std::max(1.0, ref.abs().max().item<double>());
      EXPECT_LE(diff, 1e-4 * scale);
      int64_t vs_engine = 0;
      for (int64_t k = 0; k < n; ++k) vs_engine += pred[k].item<int64_t>() != engine_pred[size_t(k)];
      EXPECT_EQ(vs_engine, 0);
      if (!flat)
        std::printf("[ qonnx  ] %-34s %ld images: %ld mismatches vs the integer engine, max |logit diff| %.2e, "
                    "%ld rounding ties\n",
                    v.label.c_str(), long(n), long(vs_engine), diff, long(ex.quant_ties()));
    }
  }
  if (!python_has_onnx()) GTEST_SKIP() << python() << " has no onnx module (apt-get install python3-onnx)";
  EXPECT_EQ(python_check(files, tmp), "");
}

// The executor itself against hand-computed QONNX semantics (signed/unsigned, narrow, every rounding mode).
TEST(OnnxExecutor, QuantSemanticsFollowTheReference) {
  testing::TempDir tmp;
  auto make = [&](const std::string& name, int64_t is_signed, int64_t narrow, const std::string& mode, float scale,
                  float bits) {
    onnx::ModelProto m;
    m.set_ir_version(6);
    m.add_opset_import()->set_version(11);
    auto* q = m.add_opset_import();
    q->set_domain("qonnx.custom_op.general");
    q->set_version(1);
    auto* g = m.mutable_graph();
    g->set_name("t");
    auto* in = g->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(9);
    auto* out = g->add_output();
    out->set_name("y");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    for (auto [n, v] : std::vector<std::pair<std::string, float>>{{"s", scale}, {"z", 0.f}, {"b", bits}}) {
      auto* t = g->add_initializer();
      t->set_name(n);
      t->set_data_type(onnx::TensorProto::FLOAT);
      t->add_float_data(v);
    }
    auto* node = g->add_node();
    node->set_op_type("Quant");
    node->set_domain("qonnx.custom_op.general");
    for (auto s : {"x", "s", "z", "b"}) node->add_input(s);
    node->add_output("y");
    for (auto [k, v] : std::vector<std::pair<std::string, int64_t>>{{"signed", is_signed}, {"narrow", narrow}}) {
      auto* a = node->add_attribute();
      a->set_name(k);
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(v);
    }
    auto* a = node->add_attribute();
    a->set_name("rounding_mode");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(mode);
    const std::string path = tmp.file(name + ".onnx");
    std::ofstream f(path, std::ios::binary);
    m.SerializeToOstream(&f);
    return path;
  };
  const std::vector<double> x{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -9, 9, 0.2};
  auto run = [&](const std::string& path) {
    ox::OnnxExecutor ex(path);
    return ex.run(ox::ExecTensor{{9}, x}).values;
  };
  // 3-bit signed narrow: [-3, 3]; unsigned: [0, 7]; unsigned narrow [0, 6]; signed wide [-4, 3].
  EXPECT_EQ(run(make("round", 1, 1, "ROUND", 1, 3)), (std::vector<double>{-2, -2, -0, 0, 2, 2, -3, 3, 0}));
  EXPECT_EQ(run(make("half_up", 1, 1, "HALF_UP", 1, 3)), (std::vector<double>{-3, -2, -1, 1, 2, 3, -3, 3, 0}));
  EXPECT_EQ(run(make("half_down", 1, 0, "HALF_DOWN", 1, 3)), (std::vector<double>{-2, -1, 0, 0, 1, 2, -4, 3, 0}));
  EXPECT_EQ(run(make("floor", 0, 0, "FLOOR", 1, 3)), (std::vector<double>{0, 0, 0, 0, 1, 2, 0, 7, 0}));
  EXPECT_EQ(run(make("ceil", 0, 1, "CEIL", 1, 3)), (std::vector<double>{0, 0, 0, 1, 2, 3, 0, 6, 1}));
  EXPECT_EQ(run(make("scaled", 1, 1, "HALF_UP", 0.5f, 2)), (std::vector<double>{-0.5, -0.5, -0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0}));
  // Signed 1-bit Quant is bipolar in QONNX.
  EXPECT_EQ(run(make("bipolar", 1, 0, "ROUND", 2, 1)), (std::vector<double>{-2, -2, -2, 2, 2, 2, -2, 2, 2}));
}

}  // namespace
}  // namespace nemokd
