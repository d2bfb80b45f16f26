#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/registry.h"

using namespace nemokd;
using namespace nemokd::models;

TEST(Mlp, ShapesAndParameterCountFollowTheConfig) {
  ModelConfig c;
  c.mlp().hidden = {256, 256, 256};
  auto m = build_model(c, InputShape{1, 28, 28}, 10);
  auto y = m->forward(torch::randn({5, 1, 28, 28}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{5, 10}));
  // Linear without bias (BatchNorm follows) + BN weight/bias per hidden layer + output Linear with bias.
  const int64_t expected = 784 * 256 + 2 * 256 + 2 * (256 * 256 + 2 * 256) + 256 * 10 + 10;
  EXPECT_EQ(parameter_count(*m), expected);
}

TEST(Mlp, TakesInputShapeAndClassesFromTheCaller) {
  ModelConfig c;
  c.mlp().hidden = {32};
  c.mlp().batchnorm = false;
  auto m = build_model(c, InputShape{3, 32, 32}, 100);
  EXPECT_EQ(m->forward(torch::randn({2, 3, 32, 32})).size(1), 100);
  EXPECT_EQ(parameter_count(*m), 3 * 32 * 32 * 32 + 32 + 32 * 100 + 100);
}

TEST(Mlp, ConfigRoundTripsAndRejectsBadValues) {
  ModelConfig c;
  c.mlp().hidden = {64, 64, 64};
  c.mlp().dropout = 0.2;
  c.mlp().activation = "hardtanh";
  auto back = model_config_from_json(to_json(c));
  EXPECT_EQ(to_json(back), to_json(c));

  auto bad = to_json(c);
  bad["mlp"]["dropout"] = 1.5;
  EXPECT_THROW(model_config_from_json(bad), ConfigError);
  bad = to_json(c);
  bad["mlp"]["widths"] = {1, 2};
  try {
    model_config_from_json(bad);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "model.mlp.widths: unknown key");
  }
  bad = to_json(c);
  bad["arch"] = "transformer";
  EXPECT_THROW(model_config_from_json(bad), ConfigError);
  EXPECT_THROW(mlp_preset_widths("xfc"), ConfigError);
  EXPECT_EQ(mlp_preset_widths("lfc"), (std::vector<int>{1024, 1024, 1024}));
}

TEST(InputShape, Parses) {
  auto s = InputShape::parse("3x32x32");
  EXPECT_EQ(s.channels, 3);
  EXPECT_EQ(s.numel(), 3072);
  EXPECT_EQ(s.str(), "3x32x32");
  EXPECT_THROW(InputShape::parse("3x32"), ConfigError);
  EXPECT_THROW(InputShape::parse("0x32x32"), ConfigError);
  EXPECT_THROW(InputShape::parse("3x32x32x"), ConfigError);
}

// ---- quantized CNNs (models/qcnn.h) -------------------------------------------------------------------------------

namespace {
int64_t count_kind(const std::vector<models::LayerSummary>& rows, const std::string& kind) {
  int64_t n = 0;
  for (const auto& r : rows) n += r.kind == kind;
  return n;
}
}  // namespace

// CNV as in FINN/BNN-PYNQ: on CIFAR-10 (3x32x32) conv 64-64-pool-128-128-pool-256-256 (3x3 unpadded, no bias), FC
// 512-512-10, BatchNorm everywhere: 1,546,708 parameters, 59.46M MACs (by hand: 1,144,512 conv weights, 398,336
// FC weights, 1,792 + 2,068 BatchNorm; MACs 1,555,200 + 28,901,376 + 10,616,832 + 14,745,600 + 2,654,208 + 589,824
// + 398,336). On 28x28 images the input is padded to 32x32, so only the first layer changes.
TEST(QuantCnn, CnvHasFinnsTopology) {
  auto cifar = models::build_model(models::preset_model("cnv"), {3, 32, 32}, 10);
  EXPECT_EQ(models::parameter_count(*cifar), 1546708);
  EXPECT_EQ(cifar->macs(), 59461376);
  const auto rows = cifar->layers();
  EXPECT_EQ(count_kind(rows, "conv"), 6);
  EXPECT_EQ(count_kind(rows, "maxpool"), 2);
  EXPECT_EQ(count_kind(rows, "linear"), 3);
  EXPECT_EQ(count_kind(rows, "act"), 8);
  EXPECT_EQ(rows.front().detail, "3x3 p0 3->64 W2");
  EXPECT_EQ(rows.front().output, (std::vector<int64_t>{64, 30, 30}));
  auto* cnn = dynamic_cast<models::QCnnImpl*>(cifar.get());
  ASSERT_TRUE(cnn);
  EXPECT_EQ(cnn->spec().input_pad, 0);
  EXPECT_EQ(cifar->describe()["arch"], "cnv");
  EXPECT_EQ(cifar->forward(torch::zeros({2, 3, 32, 32})).sizes(), (std::vector<int64_t>{2, 10}));

  auto fmnist = models::build_model(models::preset_model("cnv"), {1, 28, 28}, 10);
  EXPECT_EQ(models::parameter_count(*fmnist), 1546708 - 3 * 64 * 9 + 64 * 9);
  EXPECT_EQ(fmnist->macs(), 59461376 - 1555200 + 64 * 9 * 30 * 30);
  EXPECT_EQ(dynamic_cast<models::QCnnImpl*>(fmnist.get())->spec().input_pad, 2);
  fmnist->train();
  EXPECT_EQ(fmnist->forward(torch::zeros({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
}

// The quantized FlexStudent is the FlexStudent's topology (same MACs, same pooling rule); its JSON is the
// FlexStudent JSON plus activation and quant.
TEST(QuantCnn, QuantizedFlexStudentFollowsTheFlexStudent) {
  for (const models::InputShape in : {models::InputShape{1, 28, 28}, models::InputShape{3, 32, 32}}) {
    auto fs = models::build_model(models::preset_model("flexstudent"), in, 10);
    auto qfs = models::build_model(models::preset_model("qflexstudent"), in, 10);
    EXPECT_EQ(qfs->macs(), fs->macs()) << in.str();
    // No classifier bias, a BatchNorm after the classifier: + classes parameters.
    EXPECT_EQ(models::parameter_count(*qfs), models::parameter_count(*fs) + 10) << in.str();
  }
  auto j = nlohmann::json::parse(R"({"arch": "qflexstudent", "qflexstudent": {"conv_channels": [8, 16],
      "pool": [true, false], "fc_widths": [], "activation": "relu",
      "quant": {"weight_bits": [4, 2, 8], "act_bits": [3, 2], "input": "u8"}}})");
  auto c = models::model_config_from_json(j);
  EXPECT_EQ(models::to_json(models::model_config_from_json(models::to_json(c))), models::to_json(c));
  auto m = models::build_model(c, {1, 12, 12}, 4);
  const auto rows = m->layers();
  EXPECT_EQ(rows[0].detail, "3x3 p1 1->8 W4");
  EXPECT_EQ(count_kind(rows, "maxpool"), 1);
  EXPECT_EQ(models::required_normalization(c), "unit");
}

TEST(QuantCnn, BadConfigsAreRejectedNamingTheKey) {
  auto error = [](const std::string& text) {
    try {
      auto c = models::model_config_from_json(nlohmann::json::parse(text));
      models::build_model(c, {1, 28, 28}, 10);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error(R"({"arch": "cnv", "cnv": {"quant": {"weight_bits": [2], "act_bits": [2]}}})")
                .find("model.cnv.quant.weight_bits: 1 entries for 9 layers with weights"),
            std::string::npos);
  EXPECT_NE(error(R"({"arch": "cnv", "cnv": {"activation": "relu", "quant": {"weight_bits": [2,2,2,2,2,2,2,2,2],
      "act_bits": [1,1,1,1,1,1,1,1]}}})").find("1-bit activations are sign"),
            std::string::npos);
  EXPECT_NE(error(R"({"arch": "cnv", "cnv": {"colour": 1}})").find("model.cnv.colour"), std::string::npos);
  EXPECT_NE(error(R"({"arch": "cnv", "cnv": {"pad_to": 31}})").find("model.cnv.pad_to"), std::string::npos);
  EXPECT_NE(error(R"({"arch": "cnv", "cnv": {"convs": [{"channels": 8, "kernel": 3, "padding": 3}]}})")
                .find("model.cnv.convs[0].padding"),
            std::string::npos);
  // Without padding, eight unpadded 3x3 convs do not fit a 28x28 image: the layer that runs out is named.
  EXPECT_NE(error(R"({"arch": "cnv", "cnv": {"pad_to": 0}})").find("conv6"), std::string::npos)
      << error(R"({"arch": "cnv", "cnv": {"pad_to": 0}})");
  EXPECT_NE(error(R"({"arch": "qflexstudent", "qflexstudent": {"conv_channels": [], "fc_widths": [8]}})")
                .find("needs a conv layer"),
            std::string::npos);
  EXPECT_NE(error(R"({"arch": "qflexstudent", "qflexstudent": {"quant": {"weight_bits": [9,2,2,2,2], "act_bits": [2,2,2,2]}}})")
                .find("9 bits is not supported"),
            std::string::npos);
  models::ModelConfig resnet = models::preset_model("resnet8");
  EXPECT_THROW(models::set_quant_bits(resnet, {2}, {2}), ConfigError);
}

// A 32-bit layer trains (float there) but has no integer view; the reason names the layer.
TEST(QuantCnn, FloatLayersTrainButHaveNoIntegerView) {
  auto c = models::preset_model("qflexstudent");
  c.qflexstudent().quant.act_bits[1] = 32;
  auto m = models::build_model(c, {1, 28, 28}, 10);
  auto* cnn = dynamic_cast<models::QCnnImpl*>(m.get());
  ASSERT_TRUE(cnn);
  EXPECT_EQ(cnn->integer_exact_blocker(), "layer conv2 has float (32-bit) activations");
  EXPECT_THROW(models::integer_view(*m), ConfigError);
  m->eval();
  EXPECT_EQ(m->forward(torch::rand({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));  // the fake-quant path
  c.qflexstudent().quant.act_bits[1] = 2;
  c.qflexstudent().quant.input = "float";
  auto f = models::build_model(c, {1, 28, 28}, 10);
  EXPECT_NE(models::integer_exact_blocker(*f).find("input is float"), std::string::npos);
}

// The family table (models/registry.h): every family's config survives its JSON, and every family built by name
// maps [N, input_shape()] to [N, classes()] and says which family, input and classes it was built for. (The qonnx
// family is read from a file; test_interop builds it the same way once its importer is registered.)
TEST(Families, EveryEntryRoundTripsItsJsonAndBuildsFromItsShape) {
  torch::NoGradGuard no_grad;
  ASSERT_EQ(kFamilies.size(), kFamilyCount);
  const InputShape input{3, 32, 32};
  const int classes = 7;
  for (const Family f : kFamilies) {
    const auto& t = family_traits(f);
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.family, f);
    EXPECT_EQ(find_family(t.name), f);
    EXPECT_EQ(parse_family(family_name(f)), f);
    ModelConfig c(f);
    EXPECT_EQ(c.family(), f);
    if (f == Family::qonnx) c.qonnx() = {"model.onnx", std::string(64, 'a')};
    const auto j = to_json(c);
    EXPECT_EQ(j["arch"], t.name);
    ASSERT_TRUE(j.contains(t.name));
    const auto back = model_config_from_json(nlohmann::json::parse(j.dump()));
    EXPECT_EQ(back.family(), f);
    EXPECT_EQ(to_json(back), j);
    if (!t.by_name) {
      EXPECT_THROW(build_model(c, input, classes), ConfigError);  // no importer registered in this program
      continue;
    }
    auto m = build_model(back, input, classes);
    EXPECT_EQ(m->family(), f);
    EXPECT_EQ(m->input_shape().str(), input.str());
    EXPECT_EQ(m->classes(), classes);
    EXPECT_EQ(m->describe()["arch"], t.name);
    m->eval();
    const auto s = m->input_shape();
    const auto y = m->forward(torch::rand({2, s.channels, s.height, s.width}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, m->classes()}));
  }
  // Route Q's accessors come from the same table.
  for (const Family f : {Family::cnv, Family::qflexstudent}) {
    ModelConfig c(f);
    EXPECT_NE(quant_config(c), nullptr);
    EXPECT_NE(quant_activation(c), nullptr);
    EXPECT_FALSE(quant_cnn_spec(c, input).convs.empty());
  }
  ModelConfig resnet(Family::resnet);
  EXPECT_EQ(quant_config(resnet), nullptr);
  EXPECT_THROW(set_quant_bits(resnet, {2}, {2}), ConfigError);
  EXPECT_THROW(quant_cnn_spec(resnet, input), ConfigError);
}

TEST(Families, AnUnknownNameIsOneErrorListingTheKnownOnes) {
  std::string known;
  for (const Family f : kFamilies) known += (known.empty() ? "" : ", ") + family_name(f);
  EXPECT_EQ(known, "mlp, resnet, mobilenetv2, flexstudent, flexresnet8x4, cnv, qflexstudent, qonnx");
  try {
    model_config_from_json(nlohmann::json{{"arch", "transformer"}});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "model.arch: unknown architecture 'transformer'; known: " + known);
  }
  EXPECT_FALSE(find_family("transformer").has_value());
  EXPECT_THROW(parse_family("MLP"), ConfigError);  // names are exact
}

TEST(Families, AConfigOfAnotherFamilyIsAnErrorNotADefault) {
  ModelConfig c(Family::cnv);
  try {
    c.mlp();
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "model.arch is 'cnv', not 'mlp'");
  }
  c.cnv().dropout = 0.25;
  c.set_family(Family::cnv);  // the same family: the config is kept
  EXPECT_EQ(c.cnv().dropout, 0.25);
  c.set_family(Family::mlp);  // another: its defaults
  EXPECT_EQ(c.mlp().hidden, MlpConfig{}.hidden);
}
