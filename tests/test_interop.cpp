// QONNX import: real Brevitas exports (BNN-PYNQ TFC/SFC 2W2A, their logits on the first 1 000 MNIST test images) are
// reproduced by the imported model and by the integer engine built from it; generated graphs cover every rounding
// mode (against nemokd's independent ONNX executor), BipolarQuant, per-channel scales, signed/unsigned and
// non-narrow inputs, FINN's MultiThreshold, qonnx-cleanup-style folded graphs; nemokd's own QONNX export comes back
// through import with the original predictions; malformed and hostile files are one clear error, never a crash.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "engine/build.h"
#include "engine/runtime.h"
#include "engine/verify.h"
#include "export/onnx_exec.h"
#include "export/onnx_export.h"
#include "hw/fpga/cost_model.h"
#include "hw/fpga/design.h"
#include "interop/import.h"
#include "interop/integer_plan.h"
#include "interop/qonnx_model.h"
#include "interop/reader.h"
#include "models/integer_net.h"
#include "models/mlp.h"
#include "test_support.h"
#include "train/train_run.h"

namespace nemokd {
namespace {

namespace fs = std::filesystem;
using interop::Rounding;

const bool kRegistered = [] {
  interop::register_qonnx_family();
  return true;
}();

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

const data::Dataset& mnist() {
  static const data::Dataset d = data::load_dataset("mnist", data::LoadOptions{});
  return d;
}

// The first n MNIST test images as an ImageSet.
data::ImageSet mnist_first(int64_t n) {
  data::ImageSet s;
  s.images = mnist().test.images.slice(0, 0, n).contiguous();
  s.labels = mnist().test.labels.slice(0, 0, n).contiguous();
  return s;
}

// ---- a small QONNX graph builder (ONNX's protobuf classes) ----
class Builder {
 public:
  explicit Builder(std::vector<int64_t> input_dims, const std::string& domain = "qonnx.custom_op.general")
      : domain_(domain) {
    m_.set_ir_version(7);
    m_.set_producer_name("nemokd-test");
    auto* o = m_.add_opset_import();
    o->set_domain("");
    o->set_version(11);
    auto* q = m_.add_opset_import();
    q->set_domain(domain);
    q->set_version(1);
    g_ = m_.mutable_graph();
    g_->set_name("test");
    value_info(g_->add_input(), "x", input_dims);
  }
  onnx::ModelProto& model() { return m_; }
  onnx::GraphProto& graph() { return *g_; }

  std::string init(std::vector<int64_t> dims, const std::vector<float>& v, const std::string& hint = "c") {
    auto* t = g_->add_initializer();
    t->set_name(fmt::format("{}{}", hint, n_++));
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    for (float x : v) t->add_float_data(x);
    return t->name();
  }
  std::string scalar(float v) { return init({}, {v}); }
  std::string ints(const std::vector<int64_t>& v) {
    auto* t = g_->add_initializer();
    t->set_name(fmt::format("i{}", n_++));
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(int64_t(v.size()));
    for (auto x : v) t->add_int64_data(x);
    return t->name();
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, bool custom = false) {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(fmt::format("{}_{}", op, n_));
    if (custom) n->set_domain(domain_);
    for (const auto& i : in) n->add_input(i);
    n->add_output(fmt::format("t{}", n_++));
    return n;
  }
  std::string op(const std::string& op, const std::vector<std::string>& in) { return node(op, in)->output(0); }
  std::string quant(const std::string& x, const std::string& scale, float zp, int bits, bool is_signed, bool narrow,
                    const std::string& rounding = "ROUND") {
    auto* n = node("Quant", {x, scale, this->scalar(zp), this->scalar(float(bits))}, true);
    attr_i(n, "signed", is_signed);
    attr_i(n, "narrow", narrow);
    attr_s(n, "rounding_mode", rounding);
    return n->output(0);
  }
  std::string bipolar(const std::string& x, const std::string& scale) {
    return node("BipolarQuant", {x, scale}, true)->output(0);
  }
  static void attr_i(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_f(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr_s(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  // Marks `out` as the graph output ([1, classes]) and returns the serialized model.
  std::string finish(const std::string& out, int64_t classes) {
    value_info(g_->add_output(), out, {1, classes});
    return m_.SerializeAsString();
  }
  std::string save(const std::string& path, const std::string& out, int64_t classes) {
    const auto bytes = finish(out, classes);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static void value_info(onnx::ValueInfoProto* vi, const std::string& name, const std::vector<int64_t>& dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }

 private:
  onnx::ModelProto m_;
  onnx::GraphProto* g_;
  std::string domain_;
  int n_ = 0;
};

// Deterministic small integers in [lo, hi].
std::vector<float> integers(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = float(d(rng));
  return v;
}

// A set of random 4x4 "images" (raw pixels 0..255) with random labels in [0, classes).
data::ImageSet random_images(int64_t n, int64_t classes, uint32_t seed) {
  torch::manual_seed(seed);
  data::ImageSet s;
  s.images = torch::randint(0, 256, {n, 1, 4, 4}, torch::kUInt8);
  s.labels = torch::randint(0, classes, {n}, torch::kInt64);
  return s;
}

const data::PixelAffine kRaw{{1.0f}, {0.0f}};

// Runs the import, the float path, nemokd's independent executor and the engine on `images`; checks that all three
// agree and that the engine is bit-exact with the integer view. Returns the imported model's logits.
struct Agreement {
  torch::Tensor logits;
  int64_t ties = 0;
};
Agreement check_agreement(const std::string& path, const data::ImageSet& images, const data::PixelAffine& affine,
                          bool use_executor = true) {
  Agreement a;
  interop::QonnxModelImpl model(path);
  auto x = images.images.to(torch::kFloat) * affine.scale[0] + affine.shift[0];
  a.logits = model.forward(x);
  if (use_executor) {
    onnx_export::OnnxExecutor ex(path);
    for (int64_t k = 0; k < x.size(0); ++k) {
      onnx_export::ExecTensor in;
      in.shape = ex.input_shape();
      in.shape[0] = 1;
      auto row = x[k].flatten().to(torch::kDouble).contiguous();
      in.values.assign(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
      const auto out = ex.run(in);
      for (int64_t c = 0; c < a.logits.size(1); ++c)
        EXPECT_NEAR(a.logits[k][c].item<double>(), out.values[size_t(c)], 1e-5) << path << " image " << k;
    }
    a.ties = ex.quant_ties();
  }
  EXPECT_EQ(model.integer_blocker(), "") << path;
  if (!model.integer_blocker().empty()) return a;
  const auto view = model.integer_view();
  const auto im = engine::build_integer_model(view, affine, "test");
  engine::EngineOptions eo;
  eo.threads = 1;
  for (const std::string kernel : {"scalar", "auto"}) {
    eo.kernel = kernel;
    engine::Engine eng(im, eo);
    const auto c = engine::compare_with_model(eng, view, affine, images);
    EXPECT_TRUE(c.exact()) << path << " kernel " << kernel << ": " << c.code_mismatches << " code, "
                           << c.accumulator_mismatches << " accumulator, " << c.logit_mismatches << " logit, "
                           << c.prediction_mismatches << " prediction mismatches";
    std::vector<int32_t> pred(size_t(images.size()));
    eng.predict(images.images.contiguous().data_ptr<uint8_t>(), images.size(), pred.data());
    const auto float_pred = a.logits.argmax(1);
    int64_t differ = 0;
    for (int64_t k = 0; k < images.size(); ++k) differ += pred[size_t(k)] != float_pred[k].item<int64_t>();
    EXPECT_EQ(differ, 0) << path << ": engine vs float-path predictions";
  }
  return a;
}

// ---- rounding ----
TEST(QonnxRounding, EveryModeAsQonnxDefinesIt) {
  struct Row {
    float y;
    float even, half_up, half_down, up, down, ceil, floor;
  };
  const std::vector<Row> rows = {
      {0.5f, 0, 1, 0, 1, 0, 1, 0},       {1.5f, 2, 2, 1, 2, 1, 2, 1},      {2.5f, 2, 3, 2, 3, 2, 3, 2},
      {-0.5f, -0, -1, -0, -1, -0, -0, -1}, {-1.5f, -2, -2, -1, -2, -1, -1, -2}, {-2.5f, -2, -3, -2, -3, -2, -2, -3},
      {2.3f, 2, 2, 2, 3, 2, 3, 2},       {-2.3f, -2, -2, -2, -3, -2, -2, -3}, {2.7f, 3, 3, 3, 3, 2, 3, 2},
      {0.49999997f, 0, 0, 0, 1, 0, 1, 0}, {-0.49999997f, -0, -0, -0, -1, -0, -0, -1}, {3.0f, 3, 3, 3, 3, 3, 3, 3},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.y);
    EXPECT_EQ(interop::round_integer(r.y, Rounding::half_even), r.even);
    EXPECT_EQ(interop::round_integer(r.y, Rounding::half_up), r.half_up);
    EXPECT_EQ(interop::round_integer(r.y, Rounding::half_down), r.half_down);
    EXPECT_EQ(interop::round_integer(r.y, Rounding::up), r.up);
    EXPECT_EQ(interop::round_integer(r.y, Rounding::down), r.down);
    EXPECT_EQ(interop::round_integer(r.y, Rounding::ceil), r.ceil);
    EXPECT_EQ(interop::round_integer(r.y, Rounding::floor), r.floor);
  }
  Rounding r;
  EXPECT_TRUE(interop::parse_rounding("round", &r));
  EXPECT_EQ(r, Rounding::half_even);
  EXPECT_TRUE(interop::parse_rounding("HALF_EVEN", &r));
  EXPECT_EQ(r, Rounding::half_even);
  EXPECT_FALSE(interop::parse_rounding("BANKERS", &r));
}

TEST(QonnxRounding, QuantTruncAndMultiThresholdAsQonnxDefinesThem) {
  interop::Quant q;
  q.bits = 3;
  q.is_signed = true;
  q.narrow = false;  // -4..3
  q.rounding = Rounding::half_even;
  q.scale.values = {0.5f};
  q.zero_point.values = {0.0f};
  EXPECT_EQ(interop::apply(q, 0, 0.75f), 1.0f);    // 1.5 -> 2 (even) -> 1.0
  EXPECT_EQ(interop::apply(q, 0, 0.25f), 0.0f);    // 0.5 -> 0
  EXPECT_EQ(interop::apply(q, 0, -9.0f), -2.0f);   // clamped to -4 -> -2.0
  EXPECT_EQ(interop::apply(q, 0, 9.0f), 1.5f);     // clamped to 3
  q.bits = 1;                                      // signed 1-bit: bipolar whatever the rounding
  EXPECT_EQ(interop::apply(q, 0, 0.0f), 0.5f);
  EXPECT_EQ(interop::apply(q, 0, -0.01f), -0.5f);
  interop::Trunc t;  // version 1: round, divide by 2^(in - out), round by mode, rescale
  t.scale.values = {1.0f};
  t.zero_point.values = {0.0f};
  t.in_bits = 8;
  t.out_bits = 4;
  t.rounding = Rounding::floor;
  EXPECT_EQ(interop::apply(t, 0, 37.4f), 2.0f);   // 37 / 16 = 2.3125 -> 2
  EXPECT_EQ(interop::apply(t, 0, -37.4f), -3.0f);
  t.version = 2;  // output scale 16: trunc scale 16, clamp to INT4, rescale by 16
  t.out_scale.values = {16.0f};
  EXPECT_EQ(interop::apply(t, 0, 37.4f), 32.0f);
  EXPECT_EQ(interop::apply(t, 0, 500.0f), 112.0f);  // 31.25 -> clamped to 7
  interop::MultiThreshold m;
  m.steps = 3;
  m.thresholds = {-1.0f, 0.0f, 2.0f};
  m.out_scale = 2.0f;
  m.out_bias = -3.0f;
  EXPECT_EQ(interop::apply(m, 5, -1.0f), -1.0f);  // x >= -1 only: count 1
  EXPECT_EQ(interop::apply(m, 5, 0.0f), 1.0f);    // ties count
  EXPECT_EQ(interop::apply(m, 5, 9.0f), 3.0f);
}

// An MLP whose quantizers hit rounding ties all the time (power-of-two scales, odd sums), in one rounding mode:
// input (raw pixels) -> [Add -128] -> Quant(scale 4 or 8) -> MatMul(Quant W, per-channel scales) -> Add bias ->
// Mul per channel -> Quant -> MatMul(Quant W2) -> Add -> 5 logits.
std::string tie_mlp(const std::string& path, const std::string& mode, bool signed_input, bool transposed_weights) {
  Builder b({1, 16});
  std::string x = "x";
  if (signed_input) x = b.op("Add", {x, b.scalar(-128.0f)});
  x = signed_input ? b.quant(x, b.scalar(8.0f), 0, 5, true, false, mode) : b.quant(x, b.scalar(4.0f), 0, 6, false, false, mode);
  const std::vector<float> s1 = {0.5f, 0.25f, 0.125f, 0.5f, 0.25f, 0.125f, 0.5f, 0.25f, 0.125f, 0.5f, 0.25f, 0.125f};
  std::string w1;
  if (transposed_weights) {
    // Brevitas' layout: W [out, in], a per-output scale [out, 1], then Transpose.
    auto w = integers(12 * 16, -3, 3, 1);
    for (int o = 0; o < 12; ++o)
      for (int i = 0; i < 16; ++i) w[size_t(o * 16 + i)] *= s1[size_t(o)];
    w1 = b.quant(b.init({12, 16}, w, "w"), b.init({12, 1}, s1), 0, 3, true, true, mode);
    auto* t = b.node("Transpose", {w1});
    auto* a = t->add_attribute();
    a->set_name("perm");
    a->set_type(onnx::AttributeProto::INTS);
    a->add_ints(1);
    a->add_ints(0);
    w1 = t->output(0);
  } else {
    auto w = integers(16 * 12, -3, 3, 1);
    for (int i = 0; i < 16; ++i)
      for (int o = 0; o < 12; ++o) w[size_t(i * 12 + o)] *= s1[size_t(o)];
    w1 = b.quant(b.init({16, 12}, w, "w"), b.init({1, 12}, s1), 0, 3, true, true, mode);
  }
  x = b.op("MatMul", {x, w1});
  x = b.op("Add", {x, b.init({12}, integers(12, -4, 4, 2))});
  x = b.op("Mul", {x, b.init({1, 12}, {0.5f, 1, 0.25f, 2, 0.5f, 1, 0.25f, 2, -0.5f, -1, 0.5f, 1})});
  x = b.quant(x, b.scalar(1.0f), 0, 4, true, true, mode);
  auto w2 = integers(12 * 5, -1, 1, 3);
  x = b.op("MatMul", {x, b.quant(b.init({12, 5}, w2, "w"), b.scalar(1.0f), 0, 2, true, true, mode)});
  x = b.op("Add", {x, b.init({5}, {0.25f, -0.5f, 0.125f, 0, 0.75f})});
  return b.save(path, x, 5);
}

TEST(QonnxImport, EveryRoundingModeAgreesWithTheExecutorAndTheEngine) {
  testing::TempDir tmp;
  const auto images = random_images(400, 5, 7);
  std::map<std::string, torch::Tensor> by_mode;
  for (const std::string mode : {"ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN", "UP", "DOWN", "CEIL", "FLOOR"}) {
    for (const bool signed_input : {false, true}) {
      SCOPED_TRACE(mode + (signed_input ? " signed input" : " unsigned input"));
      const auto path = tie_mlp(tmp.file(fmt::format("{}-{}.onnx", mode, signed_input)), mode, signed_input, false);
      const auto a = check_agreement(path, images, kRaw);
      EXPECT_GT(a.ties, 100) << "the graph should hit rounding ties";
      if (signed_input) by_mode[mode] = a.logits;
    }
  }
  EXPECT_TRUE(torch::equal(by_mode["ROUND"], by_mode["HALF_EVEN"]));
  // The modes differ exactly where ties (or fractions) fall: every pair of distinct modes gives different logits.
  for (const auto& [m1, l1] : by_mode)
    for (const auto& [m2, l2] : by_mode) {
      if (m1 < m2 && !(m1 == "HALF_EVEN" && m2 == "ROUND")) {
        EXPECT_FALSE(torch::equal(l1, l2)) << m1 << " vs " << m2;
      }
    }
}

TEST(QonnxImport, BipolarQuantWeightsAndActivations) {
  testing::TempDir tmp;
  Builder b({1, 1, 4, 4});
  std::string x = b.op("Reshape", {"x", b.ints({1, -1})});
  x = b.op("Add", {x, b.scalar(-127.5f)});
  x = b.quant(x, b.scalar(1.0f), 0, 1, true, false);  // signed 1-bit Quant: bipolar
  auto w = integers(16 * 8, -1, 1, 5);
  for (auto& v : w) v = v >= 0 ? 0.5f : -0.5f;
  x = b.op("MatMul", {x, b.bipolar(b.init({16, 8}, w, "w"), b.init({1, 8}, {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}))});
  auto* bn = b.node("BatchNormalization", {x, b.init({8}, {1, 2, 0.5f, 1, -1, 1, 2, 1}), b.init({8}, integers(8, -2, 2, 6)),
                                            b.init({8}, integers(8, -3, 3, 7)), b.init({8}, {1, 4, 2, 1, 1, 3, 1, 2})});
  x = bn->output(0);
  x = b.bipolar(x, b.scalar(1.0f));
  auto w2 = integers(8 * 4, -1, 1, 8);
  for (auto& v : w2) v = v >= 0 ? 1.0f : -1.0f;
  x = b.op("MatMul", {x, b.bipolar(b.init({8, 4}, w2, "w"), b.scalar(1.0f))});
  const auto path = b.save(tmp.file("bipolar.onnx"), x, 4);
  check_agreement(path, random_images(300, 4, 9), kRaw);
  interop::QonnxModelImpl m(path);
  EXPECT_EQ(m.plan().acts[0].operand.describe(), "bipolar");
  EXPECT_EQ(m.plan().acts[1].operand.describe(), "bipolar");
  EXPECT_EQ(m.plan().layers[0].weight.describe(), "bipolar");
}

// Three image channels, each with its own input mapping (a per-channel Mul before the input Quant): the integer view's
// input map is asked per channel, so the engine's input thresholds differ per channel and stay bit-exact.
TEST(QonnxImport, PerChannelInputMapsReachTheEngine) {
  testing::TempDir tmp;
  Builder b({1, 3, 2, 2});
  std::string x = b.op("Reshape", {"x", b.ints({1, -1})});
  x = b.op("Mul", {x, b.init({1, 12}, {1, 1, 1, 1, 0.5f, 0.5f, 0.5f, 0.5f, 2, 2, 2, 2})});
  x = b.quant(x, b.scalar(16.0f), 0, 5, false, false);
  x = b.op("MatMul", {x, b.quant(b.init({12, 6}, integers(12 * 6, -3, 3, 11), "w"), b.scalar(1.0f), 0, 3, true, true)});
  x = b.quant(x, b.scalar(512.0f), 0, 3, false, false);
  x = b.op("MatMul", {x, b.quant(b.init({6, 4}, integers(6 * 4, -1, 1, 12), "w"), b.scalar(1.0f), 0, 2, true, true)});
  const auto path = b.save(tmp.file("channels.onnx"), x, 4);
  interop::QonnxModelImpl model(path);
  ASSERT_EQ(model.integer_blocker(), "");
  const auto view = model.integer_view();
  EXPECT_EQ(view.input.str(), "3x2x2");
  torch::manual_seed(13);
  data::ImageSet images;
  images.images = torch::randint(0, 256, {300, 3, 2, 2}, torch::kUInt8);
  images.labels = torch::randint(0, 4, {300}, torch::kInt64);
  const data::PixelAffine raw3{{1.0f, 1.0f, 1.0f}, {0.0f, 0.0f, 0.0f}};
  const auto im = engine::build_integer_model(view, raw3, "test");
  ASSERT_FALSE(im.input.passthrough);
  const int64_t per = im.input.output.levels() - 1;
  // Channel c's pixel p maps to round(p * {1, 0.5, 2}[c] / 16) (ROUND: ties to even, so 0.5 -> 0): the first step
  // is at pixel 9, 17 and 5.
  EXPECT_EQ(im.input.thresholds[0], 9);
  EXPECT_EQ(im.input.thresholds[size_t(per)], 17);
  EXPECT_EQ(im.input.thresholds[size_t(2 * per)], 5);
  engine::EngineOptions eo;
  eo.threads = 1;
  engine::Engine eng(im, eo);
  const auto c = engine::compare_with_model(eng, view, raw3, images);
  EXPECT_TRUE(c.exact()) << c.code_mismatches << " code, " << c.accumulator_mismatches << " accumulator, "
                         << c.logit_mismatches << " logit, " << c.prediction_mismatches << " prediction mismatches";
  const auto pred = model.forward(images.images.to(torch::kFloat)).argmax(1).to(torch::kInt32);
  std::vector<int32_t> ep(300);
  eng.predict(images.images.contiguous().data_ptr<uint8_t>(), 300, ep.data());
  EXPECT_TRUE(torch::equal(pred, torch::tensor(ep, torch::kInt32)));
}

// PyTorch's x.view(x.size(0), -1) exports as Shape -> Gather -> Unsqueeze -> Concat -> Reshape: folded like a constant
// shape, the same model.
TEST(QonnxImport, ShapeArithmeticOfAViewIsFolded) {
  testing::TempDir tmp;
  auto make = [&](bool arithmetic) {
    Builder b({1, 1, 4, 4});
    std::string shape = b.ints({1, -1});
    if (arithmetic) {
      auto* idx = b.graph().add_initializer();
      idx->set_name("zero");
      idx->set_data_type(onnx::TensorProto::INT64);
      idx->add_int64_data(0);  // a scalar index
      auto n = b.op("Gather", {b.op("Shape", {"x"}), "zero"});
      auto* u = b.node("Unsqueeze", {n});
      auto* a = u->add_attribute();
      a->set_name("axes");
      a->set_type(onnx::AttributeProto::INTS);
      a->add_ints(0);
      shape = b.op("Concat", {u->output(0), b.ints({-1})});
    }
    std::string x = b.op("Reshape", {"x", shape});
    x = b.quant(x, b.scalar(16.0f), 0, 4, false, false, "HALF_DOWN");
    x = b.op("MatMul", {x, b.quant(b.init({16, 3}, integers(48, -1, 1, 31), "w"), b.scalar(1.0f), 0, 2, true, true)});
    return b.save(tmp.file(fmt::format("view{}.onnx", arithmetic)), x, 3);
  };
  interop::QonnxModelImpl folded(make(true)), plain(make(false));
  EXPECT_EQ(folded.graph().summary(), plain.graph().summary());
  const auto x = random_images(50, 3, 33).images.to(torch::kFloat);
  EXPECT_TRUE(torch::equal(folded.forward(x), plain.forward(x)));
}

// Non-narrow signed levels (INT8's -128..127, INT2's -2..1) reach the engine as unsigned codes with an offset.
TEST(QonnxImport, NonNarrowSignedLevelsAndReluUnsignedActivations) {
  testing::TempDir tmp;
  for (const bool relu : {false, true}) {
    SCOPED_TRACE(relu ? "relu" : "signed");
    Builder b({1, 16});
    std::string x = b.op("Add", {"x", b.scalar(-128.0f)});
    x = b.quant(x, b.scalar(1.0f), 0, 8, true, false);  // INT8: -128..127
    x = b.op("MatMul", {x, b.quant(b.init({16, 10}, integers(160, -3, 3, 11), "w"), b.scalar(1.0f), 0, 3, true, true)});
    x = b.op("Mul", {x, b.scalar(1.0f / 64)});
    if (relu) {
      x = b.op("Relu", {x});
      x = b.quant(x, b.scalar(0.5f), 0, 2, false, false, "HALF_UP");  // UINT2 after Relu, as FINN wants it
    } else {
      x = b.quant(x, b.scalar(0.5f), 0, 2, true, false, "HALF_UP");  // INT2: -2..1
    }
    x = b.op("MatMul", {x, b.quant(b.init({10, 3}, integers(30, -1, 1, 12), "w"), b.scalar(1.0f), 0, 2, true, true)});
    const auto path = b.save(tmp.file(fmt::format("nonnarrow{}.onnx", relu)), x, 3);
    check_agreement(path, random_images(300, 3, 13), kRaw);
    interop::QonnxModelImpl m(path);
    EXPECT_EQ(m.plan().acts[0].operand.describe(), "u8-128");
    EXPECT_EQ(m.plan().acts[1].operand.describe(), relu ? "u2" : "u2-2");
  }
}

// FINN after ConvertQONNXtoFINN and streamlining: MultiThreshold on the input and between layers (with out_bias),
// integer weights as plain initializers annotated with their FINN data type, scales as Mul nodes.
TEST(QonnxImport, FinnStreamlinedMultiThresholdGraph) {
  testing::TempDir tmp;
  Builder b({1, 16}, "finn.custom_op.general");
  auto* t0 = b.node("MultiThreshold", {"x", b.init({1, 3}, {64, 128, 192})}, true);
  Builder::attr_s(t0, "out_dtype", "UINT2");
  std::string x = t0->output(0);
  const std::string w1 = b.init({16, 6}, integers(96, -1, 1, 21), "w");
  auto* ann = b.graph().add_quantization_annotation();
  ann->set_tensor_name(w1);
  auto* kv = ann->add_quant_parameter_tensor_names();
  kv->set_key("finn_datatype");
  kv->set_value("INT2");
  x = b.op("MatMul", {x, w1});
  std::vector<float> th;
  for (int c = 0; c < 6; ++c)
    for (int k = 0; k < 3; ++k) th.push_back(float(-4 + 3 * k + c % 2));
  auto* t1 = b.node("MultiThreshold", {x, b.init({6, 3}, th)}, true);
  Builder::attr_s(t1, "out_dtype", "INT2");
  Builder::attr_f(t1, "out_bias", -2.0f);
  x = b.op("Mul", {t1->output(0), b.scalar(0.5f)});  // FINN's Mul behind the thresholds (the act scale)
  x = b.op("MatMul", {x, b.init({6, 3}, integers(18, -1, 1, 22), "w")});
  x = b.op("Mul", {x, b.init({3}, {0.5f, 0.25f, 1.0f})});
  const auto path = b.save(tmp.file("finn.onnx"), x, 3);
  const auto images = random_images(300, 3, 23);
  const auto a = check_agreement(path, images, kRaw, /*use_executor=*/false);
  // An independent reference for this graph, straight from MultiThreshold's definition.
  interop::QonnxModelImpl m(path);
  const auto& st = m.graph().stages;
  const auto& W1 = std::get<interop::Linear>(st[1].op).weight;
  const auto& W2 = std::get<interop::Linear>(st[4].op).weight;
  for (int64_t n = 0; n < 20; ++n) {
    auto px = images.images[n].flatten();
    std::vector<float> h(6, 0.0f);
    for (int i = 0; i < 16; ++i) {
      const int p = px[i].item<int>();
      const float code = float((p >= 64) + (p >= 128) + (p >= 192));
      for (int o = 0; o < 6; ++o) h[size_t(o)] += code * W1[size_t(i * 6 + o)];
    }
    std::vector<float> logits(3, 0.0f);
    for (int o = 0; o < 6; ++o) {
      int count = 0;
      for (int k = 0; k < 3; ++k) count += h[size_t(o)] >= th[size_t(o * 3 + k)];
      const float v = (float(count) - 2.0f) * 0.5f;
      for (int c = 0; c < 3; ++c) logits[size_t(c)] += v * W2[size_t(o * 3 + c)];
    }
    const float scale[3] = {0.5f, 0.25f, 1.0f};
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(a.logits[n][c].item<float>(), logits[size_t(c)] * scale[c]);
  }
  EXPECT_EQ(m.plan().layers[0].declared_weight_bits, 2);
  EXPECT_EQ(m.plan().acts[1].operand.describe(), "u2-2");
}

// ---- the real Brevitas files ----
std::string brevitas_dir() {
  if (const char* env = std::getenv("NEMOKD_BREVITAS_DIR"); env && *env) return env;
  return NEMOKD_BREVITAS_DIR;
}

struct BrevitasFigures {
  double max_logit_diff = 0;
  int64_t agree = 0, n = 0, engine_agree = 0, correct = 0;
  bool engine_exact = false;
};

BrevitasFigures check_brevitas(const std::string& onnx_path, const std::string& expected_path) {
  BrevitasFigures f;
  const auto e = read_json(expected_path);
  f.n = e.at("n").get<int64_t>();
  const auto set = mnist_first(f.n);
  // The images the logits were made from: the first n MNIST test images, in file order.
  {
    auto px = set.images.contiguous();
    const std::string bytes(reinterpret_cast<const char*>(px.data_ptr<uint8_t>()), size_t(px.numel()));
    EXPECT_EQ(interop::sha256_hex(bytes), e.at("images_sha256").get<std::string>());
    EXPECT_EQ(set.labels.to(torch::kInt64).contiguous().view({-1}).numel(), f.n);
  }
  interop::QonnxModelImpl model(onnx_path);
  // Brevitas' preprocessing: float32(pixel) / 255, NCHW.
  auto x = set.images.to(torch::kFloat) / 255.0f;
  auto logits = model.forward(x);
  std::vector<float> flat;
  for (const auto& row : e.at("logits")) for (const auto& v : row) flat.push_back(v.get<float>());
  const auto expected = torch::tensor(flat).view({f.n, -1});
  f.max_logit_diff = (logits - expected).abs().max().item<double>();
  const auto pred = logits.argmax(1);
  const auto want = torch::tensor(e.at("preds").get<std::vector<int64_t>>());
  f.agree = (pred == want).sum().item<int64_t>();
  f.correct = (pred == set.labels).sum().item<int64_t>();
  // The engine, on the uint8 pixels through the loader's "unit" mapping.
  EXPECT_EQ(model.integer_blocker(), "");
  const auto affine = data::pixel_affine(mnist().spec, data::Normalization::unit);
  const auto view = model.integer_view();
  const auto im = engine::build_integer_model(view, affine, "test");
  engine::EngineOptions eo;
  eo.threads = 2;
  engine::Engine eng(im, eo);
  const auto c = engine::compare_with_model(eng, view, affine, set);
  f.engine_exact = c.exact();
  std::vector<int32_t> ep(static_cast<size_t>(f.n));
  eng.predict(set.images.contiguous().data_ptr<uint8_t>(), f.n, ep.data());
  for (int64_t k = 0; k < f.n; ++k) f.engine_agree += ep[size_t(k)] == want[k].item<int64_t>();
  std::printf("[ brevitas ] %s: max |logit diff| %.3g, predictions %ld/%ld agree with Brevitas, engine %s with the "
              "integer view and %ld/%ld agree, accuracy %.1f%%\n",
              fs::path(onnx_path).filename().c_str(), f.max_logit_diff, long(f.agree), long(f.n),
              f.engine_exact ? "bit-exact" : "NOT bit-exact", long(f.engine_agree), long(f.n),
              100.0 * double(f.correct) / double(f.n));
  return f;
}

TEST(BrevitasFiles, TfcLogitsPredictionsAndEngine) {
  const std::string dir = std::string(NEMOKD_TEST_DATA) + "/brevitas/";
  const auto inspect = read_json(dir + "tfc_2w2a.inspect.json");
  interop::QonnxModelImpl model(dir + "tfc_2w2a.qonnx.onnx");
  // What the file holds (its inspect.json): every Quant 2-bit signed narrow ROUND, in onnx.brevitas.
  int64_t quants = 0;
  for (const auto& s : model.graph().stages)
    if (const auto* q = std::get_if<interop::Quant>(&s.op)) {
      ++quants;
      EXPECT_EQ(q->bits, 2);
      EXPECT_TRUE(q->is_signed && q->narrow);
      EXPECT_EQ(q->rounding, Rounding::half_even);
    }
  EXPECT_EQ(quants, 4);  // the activation quantizers; the 4 weight quantizers fold into the MatMuls
  EXPECT_EQ(inspect.at("op_counts").at("onnx.brevitas::Quant").get<int>(), 8);
  const auto f = check_brevitas(dir + "tfc_2w2a.qonnx.onnx", dir + "tfc_2w2a.expected.json");
  EXPECT_LE(f.max_logit_diff, 1e-5);
  EXPECT_EQ(f.agree, f.n);
  EXPECT_TRUE(f.engine_exact);
  EXPECT_EQ(f.engine_agree, f.n);
  EXPECT_EQ(f.correct, 916);  // 91.6 % on the first 1 000, as the README of the files says
}

TEST(BrevitasFiles, SfcLogitsPredictionsAndEngine) {
  const std::string dir = brevitas_dir();
  ASSERT_TRUE(fs::exists(dir + "/sfc_2w2a.qonnx.onnx")) << dir << " has no sfc_2w2a.qonnx.onnx";
  const auto f = check_brevitas(dir + "/sfc_2w2a.qonnx.onnx", dir + "/sfc_2w2a.expected.json");
  EXPECT_LE(f.max_logit_diff, 1e-5);
  EXPECT_EQ(f.agree, f.n);
  EXPECT_TRUE(f.engine_exact);
  EXPECT_EQ(f.engine_agree, f.n);
  EXPECT_EQ(f.correct, 945);
}

// The same TFC after qonnx-cleanup-style rewriting (weight Transposes folded into the Quant initializers, the
// TensorNorm's Pow folded, static graph inputs removed, the qonnx domain, a Gemm for the last MatMul): identical
// logits.
TEST(BrevitasFiles, CleanedUpGraphGivesTheSameLogits) {
  testing::TempDir tmp;
  const std::string path = std::string(NEMOKD_TEST_DATA) + "/brevitas/tfc_2w2a.qonnx.onnx";
  onnx::ModelProto m;
  {
    const auto bytes = read_bytes(path);
    ASSERT_TRUE(m.ParseFromString(bytes));
  }
  auto* g = m.mutable_graph();
  std::map<std::string, onnx::TensorProto*> inits;
  for (auto& t : *g->mutable_initializer()) inits[t.name()] = &t;
  std::map<std::string, std::string> rename;  // Transpose output -> Quant output
  std::vector<onnx::NodeProto> kept;
  std::map<std::string, const onnx::NodeProto*> producer;
  for (const auto& n : g->node()) producer[n.output(0)] = &n;
  for (const auto& n : g->node()) {
    if (n.op_type() == "Transpose") {
      // Transpose the weight initializer behind the Quant ([out, in] -> [in, out]).
      const auto* q = producer.at(n.input(0));
      auto* w = inits.at(q->input(0));
      const int64_t out = w->dims(0), in = w->dims(1);
      std::vector<float> v(size_t(out * in)), t(size_t(out * in));
      std::memcpy(v.data(), w->raw_data().data(), v.size() * 4);
      for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < in; ++i) t[size_t(i * out + o)] = v[size_t(o * in + i)];
      w->set_raw_data(std::string(reinterpret_cast<const char*>(t.data()), t.size() * 4));
      w->set_dims(0, in);
      w->set_dims(1, out);
      rename[n.output(0)] = n.input(0);
      continue;
    }
    if (n.op_type() == "Pow") {
      auto* base = inits.at(n.input(0));
      float v;
      std::memcpy(&v, base->raw_data().data(), 4);
      auto* c = g->add_initializer();
      c->set_name(n.output(0));
      c->set_data_type(onnx::TensorProto::FLOAT);
      c->add_dims(1);
      c->add_float_data(std::sqrt(v));
      continue;
    }
    kept.push_back(n);
  }
  g->clear_node();
  int matmuls = 0;
  for (auto n : kept) {
    for (auto& i : *n.mutable_input())
      if (rename.count(i)) i = rename[i];
    if (n.domain() == "onnx.brevitas") n.set_domain("qonnx.custom_op.general");
    if (n.op_type() == "MatMul" && ++matmuls == 4) n.set_op_type("Gemm");  // Gemm(A, B) = MatMul when alpha = 1
    *g->add_node() = n;
  }
  // Only the image stays a graph input (RemoveStaticGraphInputs).
  auto inputs = g->input();
  g->clear_input();
  for (const auto& vi : inputs)
    if (!inits.count(vi.name())) *g->add_input() = vi;
  for (auto& o : *m.mutable_opset_import())
    if (o.domain() == "onnx.brevitas") o.set_domain("qonnx.custom_op.general");
  const std::string cleaned = tmp.file("tfc_clean.onnx");
  std::ofstream(cleaned, std::ios::binary) << m.SerializeAsString();

  interop::QonnxModelImpl a(path), b(cleaned);
  EXPECT_EQ(b.graph().opsets.size(), a.graph().opsets.size());
  const auto x = mnist_first(500).images.to(torch::kFloat) / 255.0f;
  EXPECT_TRUE(torch::equal(a.forward(x), b.forward(x)));
  EXPECT_EQ(b.integer_blocker(), "");
}

// ---- run folders, FPGA lowering, nemokd's own export coming back ----
TEST(QonnxImport, RunFolderIsSelfContainedAndReloads) {
  testing::TempDir tmp;
  const std::string src = std::string(NEMOKD_TEST_DATA) + "/brevitas/tfc_2w2a.qonnx.onnx";
  const std::string copy = tmp.file("copy.onnx");
  fs::copy_file(src, copy);
  interop::ImportOptions o;
  o.evaluate = false;
  const auto rec = interop::import_qonnx(copy, tmp.file("run"), o);
  EXPECT_EQ(rec.command, "import qonnx");
  EXPECT_EQ(rec.results.at("integer_view").get<std::string>(), "available");
  EXPECT_THROW(interop::import_qonnx(copy, tmp.file("run"), o), ConfigError);  // nothing is overwritten
  fs::remove(copy);  // the run folder must not need the original file
  const auto run = train::load_trained_run(tmp.file("run"));
  auto* m = dynamic_cast<interop::QonnxModelImpl*>(run.model.get());
  ASSERT_NE(m, nullptr);
  interop::QonnxModelImpl direct(src);
  EXPECT_EQ(m->sha256(), direct.sha256());
  const auto x = mnist_first(200).images.to(torch::kFloat) / 255.0f;
  EXPECT_TRUE(torch::equal(run.model->forward(x), direct.forward(x)));
  EXPECT_EQ(models::parameter_count(*run.model), 784 * 64 + 64 * 64 * 2 + 64 * 10);
  // A model.pt that carries another graph than the record's hash is refused.
  auto cfg = run.config.model;
  cfg.qonnx().sha256 = std::string(64, '0');
  auto other = models::build_model(cfg, {1, 28, 28}, 10);
  torch::serialize::InputArchive archive;
  archive.load_from(tmp.file("run") + "/model.pt");
  EXPECT_THROW(other->load(archive), DataError);
}

// The qonnx entry of the family table (models/registry.h), with its importer registered: its config survives its
// JSON and the model maps [N, input_shape()] to [N, classes()].
TEST(QonnxImport, TheFamilyTableEntryRoundTripsAndBuilds) {
  torch::NoGradGuard no_grad;
  const std::string path = std::string(NEMOKD_TEST_DATA) + "/brevitas/tfc_2w2a.qonnx.onnx";
  const auto cfg = models::preset_model(path);
  ASSERT_EQ(cfg.family(), models::Family::qonnx);
  EXPECT_EQ(cfg.qonnx().file, path);
  const auto j = models::to_json(cfg);
  EXPECT_EQ(j["arch"], "qonnx");
  EXPECT_EQ(models::to_json(models::model_config_from_json(nlohmann::json::parse(j.dump()))), j);
  auto m = models::build_model(cfg, {1, 28, 28}, 10);
  EXPECT_EQ(m->family(), models::Family::qonnx);
  EXPECT_EQ(m->classes(), 10);
  const auto s = m->input_shape();
  EXPECT_EQ(s.numel(), 784);
  EXPECT_EQ(m->forward(torch::rand({3, s.channels, s.height, s.width})).sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_THROW(models::build_model(cfg, {1, 28, 28}, 9), ConfigError);  // the graph has 10 classes
}

TEST(QonnxImport, FpgaDesignEqualsTheEquivalentNemokdMlp) {
  interop::QonnxModelImpl m(std::string(NEMOKD_TEST_DATA) + "/brevitas/tfc_2w2a.qonnx.onnx");
  const auto d = interop::fpga_design(m, 0);
  // The same network described as a nemokd MLP: 64x3 hidden, 2-bit weights, 2-bit signed narrow activations
  // (tanh-style levels: 2^B - 2 thresholds), a 2-bit signed input quantizer on the pixels.
  models::MlpConfig c;
  c.hidden = {64, 64, 64};
  c.activation = "tanh";
  c.quantized = true;
  c.quant.input = "signed";
  c.quant.input_bits = 2;
  c.set_bits({2}, {2});
  const auto ref = hw::fpga::mlp_design(c, hw::fpga::MlpShape{784, 10, 0});
  EXPECT_EQ(d.to_json().dump(), ref.to_json().dump());
  hw::fpga::CostOptions o;
  EXPECT_EQ(hw::fpga::estimate(d, o).to_json().dump(), hw::fpga::estimate(ref, o).to_json().dump());
}

TEST(QonnxImport, NemokdExportRoundTripsToTheOriginalPredictions) {
  testing::TempDir tmp;
  const auto& ds = mnist();
  const int64_t n = 2000;
  data::ImageSet set;
  set.images = ds.test.images.slice(0, 0, n).contiguous();
  set.labels = ds.test.labels.slice(0, 0, n).contiguous();
  for (const std::string cell : {"w1a1", "w2a2"}) {
    auto run = train::load_trained_run(std::string(NEMOKD_TEST_DATA) + "/qat-tfc-" + cell);
    auto mlp = std::dynamic_pointer_cast<models::MlpImpl>(run.model);
    ASSERT_TRUE(mlp);
    const auto affine = data::pixel_affine(ds.spec, run.config.train.normalization);
    auto x = set.images.to(torch::kFloat) * affine.scale[0] + affine.shift[0];
    const auto original = mlp->forward(x).argmax(1);  // eval mode: the MLP's integer view
    for (const std::string rounding : {"HALF_UP", "ROUND"}) {
      SCOPED_TRACE(cell + " " + rounding);
      onnx_export::ExportOptions eo;
      eo.rounding_mode = rounding;
      const auto path = tmp.file(fmt::format("{}-{}.onnx", cell, rounding));
      onnx_export::export_qonnx(*mlp, {1, 28, 28}, path, eo);
      interop::QonnxModelImpl imported(path);
      ASSERT_EQ(imported.integer_blocker(), "");
      const auto float_pred = imported.forward(x).argmax(1);
      const auto view = imported.integer_view();
      const auto im = engine::build_integer_model(view, affine, "test");
      engine::EngineOptions o;
      o.threads = 2;
      engine::Engine eng(im, o);
      const auto c = engine::compare_with_model(eng, view, affine, set);
      EXPECT_TRUE(c.exact());
      std::vector<int32_t> ep(static_cast<size_t>(n));
      eng.predict(set.images.data_ptr<uint8_t>(), n, ep.data());
      int64_t engine_vs_original = 0;
      for (int64_t k = 0; k < n; ++k) engine_vs_original += ep[size_t(k)] != original[k].item<int64_t>();
      EXPECT_EQ(engine_vs_original, 0);
      EXPECT_EQ((float_pred != original).sum().item<int64_t>(), 0);
      std::printf("[ roundtrip ] %s %s: %ld images, engine vs original %ld mismatches, float path vs original %ld\n",
                  cell.c_str(), rounding.c_str(), long(n), long(engine_vs_original),
                  long((float_pred != original).sum().item<int64_t>()));
    }
  }
}

// ---- what is refused, and how ----
std::string import_error(const std::string& bytes) {
  try {
    interop::parse_qonnx(bytes.data(), bytes.size(), "bad.onnx");
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

std::string small_valid_model() {
  Builder b({1, 4});
  std::string x = b.quant("x", b.scalar(1.0f), 0, 4, false, false);
  x = b.op("MatMul", {x, b.quant(b.init({4, 3}, integers(12, -1, 1, 1), "w"), b.scalar(1.0f), 0, 2, true, true)});
  return b.finish(x, 3);
}

TEST(QonnxRefusals, MalformedAndHostileFilesAreOneClearError) {
  const auto good = small_valid_model();
  EXPECT_EQ(import_error(good), "");
  // Truncated anywhere: an error, never a crash (a cut between two complete top-level fields — after the graph,
  // inside the opset list — can still be a whole model).
  int64_t cuts = 0, refused = 0;
  for (size_t len = 0; len < good.size(); len += 7, ++cuts) refused += import_error(good.substr(0, len)) != "";
  EXPECT_GE(refused, cuts - 2);
  EXPECT_NE(import_error("not a protobuf at all \xff\xff\xff"), "");
  auto expect = [](const std::function<void(Builder&)>& make, const std::string& want) {
    Builder b({1, 4});
    make(b);
    const auto msg = import_error(b.model().SerializeAsString());
    EXPECT_NE(msg.find(want), std::string::npos) << "got: " << msg;
  };
  // A cycle.
  expect([](Builder& b) {
    auto* a = b.node("Add", {"x", "loop"});
    auto* c = b.node("Relu", {a->output(0)});
    c->set_output(0, "loop");
    Builder::value_info(b.graph().add_output(), a->output(0), {1, 4});
  }, "cycle");
  // A name nothing provides (a missing initializer).
  expect([](Builder& b) {
    auto y = b.op("MatMul", {"x", "weights_that_are_not_there"});
    Builder::value_info(b.graph().add_output(), y, {1, 3});
  }, "'weights_that_are_not_there', which no node, initializer or graph input provides");
  // Huge and negative dimensions.
  expect([](Builder& b) {
    auto* t = b.graph().add_initializer();
    t->set_name("huge");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(int64_t(1) << 40);
    t->add_dims(int64_t(1) << 40);
    auto y = b.op("MatMul", {"x", "huge"});
    Builder::value_info(b.graph().add_output(), y, {1, 3});
  }, "too large");
  expect([](Builder& b) {
    auto* t = b.graph().add_initializer();
    t->set_name("neg");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(-4);
    Builder::value_info(b.graph().add_output(), b.op("Mul", {"x", "neg"}), {1, 4});
  }, "negative dimension");
  // Data that does not match its shape; a wrong data type; external data.
  expect([](Builder& b) {
    auto* t = b.graph().add_initializer();
    t->set_name("short");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(4);
    t->set_raw_data(std::string(6, '\0'));
    Builder::value_info(b.graph().add_output(), b.op("Mul", {"x", "short"}), {1, 4});
  }, "values for shape");
  expect([](Builder& b) {
    auto* t = b.graph().add_initializer();
    t->set_name("text");
    t->set_data_type(onnx::TensorProto::STRING);
    t->add_dims(1);
    t->add_string_data("hello");
    Builder::value_info(b.graph().add_output(), b.op("Mul", {"x", "text"}), {1, 4});
  }, "data type 8");
  expect([](Builder& b) {
    auto* t = b.graph().add_initializer();
    t->set_name("far");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(4);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    Builder::value_info(b.graph().add_output(), b.op("Mul", {"x", "far"}), {1, 4});
  }, "external file");
  // A symbolic image dimension.
  {
    Builder b({1, 4});
    b.graph().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_param("F");
    Builder::value_info(b.graph().add_output(), b.op("Relu", {"x"}), {1, 4});
    EXPECT_NE(import_error(b.model().SerializeAsString()).find("fixed image shape"), std::string::npos);
  }
}

TEST(QonnxRefusals, UnsupportedGraphsNameTheNodeAndWhatIsMissing) {
  auto expect = [](const std::function<std::string(Builder&)>& make, int64_t classes, const std::string& want) {
    Builder b({1, 4});
    const auto out = make(b);
    const auto bytes = b.finish(out, classes);
    const auto msg = import_error(bytes);
    EXPECT_NE(msg.find(want), std::string::npos) << "got: " << msg;
  };
  expect([](Builder& b) { return b.op("Conv", {"x", b.init({1, 1, 1}, {1})}); }, 4, "convolutional layers are not imported");
  expect([](Builder& b) { return b.op("Softmax", {b.op("MatMul", {"x", b.init({4, 3}, integers(12, -1, 1, 1))})}); }, 3,
         "softmax");
  expect([](Builder& b) { return b.op("Add", {"x", b.op("Relu", {"x"})}); }, 4, "combines two activations");
  expect([](Builder& b) { return b.op("Erf", {"x"}); }, 4, "node 'Erf_0' (Erf): op Erf (domain '') is not supported");
  expect([](Builder& b) {
    auto* n = b.node("Quant", {"x", b.scalar(1), b.scalar(0), b.scalar(2)}, true);
    Builder::attr_i(n, "signed", 1);
    return n->output(0);
  }, 4, "attribute 'narrow' is missing");
  expect([](Builder& b) { return b.quant("x", b.scalar(1), 0, 2, true, true, "BANKERS"); }, 4,
         "rounding_mode 'BANKERS' is not a QONNX rounding mode");
  expect([](Builder& b) {
    auto* n = b.node("Quant", {"x", b.scalar(1), b.scalar(0), b.scalar(2)});
    n->set_domain("com.example");
    Builder::attr_i(n, "signed", 1);
    Builder::attr_i(n, "narrow", 1);
    return n->output(0);
  }, 4, "domain 'com.example'");
  expect([](Builder& b) {
    auto* q = b.node("QuantizeLinear", {"x", b.scalar(1)});
    return q->output(0);
  }, 4, "QCDQ");
}

// A quantized CNN the way Brevitas exports BNN-PYNQ's CNV (input mapping, Quant, Conv with Quant weights,
// BatchNormalization, Quant, MaxPool, flatten, MatMul): refused at the first convolution with one line naming that
// node and what is missing, by the reader, by the model family and by `import qonnx` (which then writes nothing).
TEST(QonnxRefusals, ConvolutionalGraphIsOneLineNamingTheConvNode) {
  testing::TempDir tmp;
  Builder b({1, 1, 8, 8}, "onnx.brevitas");
  std::string x = b.op("Mul", {"x", b.scalar(2.0f)});
  x = b.op("Sub", {x, b.scalar(1.0f)});
  x = b.quant(x, b.scalar(1.0f), 0, 2, true, true);
  const std::string w = b.quant(b.init({4, 1, 3, 3}, integers(36, -1, 1, 41), "w"), b.scalar(1.0f), 0, 2, true, true);
  auto* conv = b.node("Conv", {x, w});
  conv->set_name("conv0");
  auto* ks = conv->add_attribute();
  ks->set_name("kernel_shape");
  ks->set_type(onnx::AttributeProto::INTS);
  ks->add_ints(3);
  ks->add_ints(3);
  x = conv->output(0);
  x = b.node("BatchNormalization", {x, b.init({4}, {1, 1, 1, 1}), b.init({4}, {0, 0, 0, 0}), b.init({4}, {0, 0, 0, 0}),
                                     b.init({4}, {1, 1, 1, 1})})->output(0);
  x = b.quant(x, b.scalar(1.0f), 0, 2, true, true);
  auto* pool = b.node("MaxPool", {x});
  auto* pk = pool->add_attribute();
  pk->set_name("kernel_shape");
  pk->set_type(onnx::AttributeProto::INTS);
  pk->add_ints(2);
  pk->add_ints(2);
  x = b.op("Reshape", {pool->output(0), b.ints({1, -1})});
  x = b.op("MatMul", {x, b.quant(b.init({36, 10}, integers(360, -1, 1, 42), "w"), b.scalar(1.0f), 0, 2, true, true)});
  const auto path = b.save(tmp.file("cnv.onnx"), x, 10);

  const auto bytes = read_bytes(path);
  const auto msg = import_error(bytes);
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("bad.onnx: node 'conv0' (Conv): convolutional layers are not imported yet", 0), 0u) << msg;
  EXPECT_NE(msg.find("CNN import needs nemokd's quantized CNN family"), std::string::npos) << msg;
  EXPECT_THROW(interop::QonnxModelImpl{path}, DataError);
  interop::ImportOptions o;
  o.evaluate = false;
  try {
    interop::import_qonnx(path, tmp.file("run"), o);
    ADD_FAILURE() << "a CNN was imported";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("node 'conv0' (Conv)"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp.file("run")));
}

TEST(QonnxRefusals, GraphsWithoutAnIntegerViewSayWhy) {
  testing::TempDir tmp;
  auto blocker = [&](const std::function<std::string(Builder&)>& make, int64_t classes) {
    Builder b({1, 4});
    const auto out = make(b);
    const auto path = b.save(tmp.file("g.onnx"), out, classes);
    interop::QonnxModelImpl m(path);
    EXPECT_NO_THROW(m.forward(torch::zeros({2, 4})));  // the float path still works
    EXPECT_THROW(m.integer_view(), ConfigError);
    return m.integer_blocker();
  };
  auto w = [](Builder& b) { return b.quant(b.init({4, 3}, integers(12, -1, 1, 1), "w"), b.scalar(1.0f), 0, 2, true, true); };
  EXPECT_NE(blocker([&](Builder& b) { return b.op("MatMul", {"x", w(b)}); }, 3).find("no quantizer on the graph input"),
            std::string::npos);
  EXPECT_NE(blocker([&](Builder& b) {
              return b.op("MatMul", {b.quant("x", b.scalar(1), 0, 4, false, false), b.init({4, 3}, {0.5f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})});
            }, 3).find("the weights are float"),
            std::string::npos);
  EXPECT_NE(blocker([&](Builder& b) {
              auto* t = b.node("Trunc", {"x", b.scalar(1), b.scalar(0), b.scalar(8), b.scalar(4)}, true);
              Builder::attr_s(t, "rounding_mode", "FLOOR");
              return b.op("MatMul", {t->output(0), w(b)});
            }, 3).find("Trunc"),
            std::string::npos);
  EXPECT_NE(blocker([&](Builder& b) {
              auto x = b.quant("x", b.init({1, 4}, {1, 2, 1, 1}), 0, 4, false, false);
              return b.op("MatMul", {x, w(b)});
            }, 3).find("differ between"),
            std::string::npos);
  EXPECT_NE(blocker([&](Builder& b) {
              auto x = b.op("MatMul", {b.quant("x", b.scalar(1), 0, 4, false, false), w(b)});
              return b.op("Relu", {x});
            }, 3).find("after the last MatMul"),
            std::string::npos);
}

// The fuzzer's seeds (fuzz/corpus-qonnx): small valid graphs of each kind, regenerated with
//   NEMOKD_WRITE_FUZZ_CORPUS=fuzz/corpus-qonnx build/tests/test_interop --gtest_filter='*SeedCorpus*'
TEST(QonnxFuzz, SeedCorpus) {
  std::vector<std::pair<std::string, std::string>> seeds;
  seeds.emplace_back("small.onnx", small_valid_model());
  testing::TempDir tmp;
  seeds.emplace_back("ties.onnx", read_bytes(tie_mlp(tmp.file("t.onnx"), "HALF_UP", true, true)));
  for (const auto& [name, bytes] : seeds) {
    EXPECT_LT(bytes.size(), 8192u) << name;
    EXPECT_EQ(import_error(bytes), "") << name;
  }
  const char* out = std::getenv("NEMOKD_WRITE_FUZZ_CORPUS");
  if (!out || !*out) return;
  fs::create_directories(out);
  for (const auto& [name, bytes] : seeds) std::ofstream(fs::path(out) / name, std::ios::binary) << bytes;
}

}  // namespace
}  // namespace nemokd
