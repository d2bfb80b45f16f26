// The model zoo for knowledge distillation: ResNet family, MobileNetV2, FlexStudent, FlexResNet8x4.
// Parameter and MAC counts are checked against the table of docs/MODELS.md (CIFAR-100 head, one 3x32x32 image).
#include <cmath>
#include <numeric>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/registry.h"
#include "test_errors.h"

using namespace nemokd;
using namespace nemokd::models;

namespace {

const InputShape kCifar{3, 32, 32}, kMnist{1, 28, 28};

int64_t summed(const std::vector<LayerSummary>& rows, int64_t LayerSummary::*field) {
  int64_t n = 0;
  for (const auto& r : rows) n += r.*field;
  return n;
}

// The row called `name` (an empty row, and a failure, if there is none).
LayerSummary row(const std::vector<LayerSummary>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.name == name) return r;
  ADD_FAILURE() << "no layer " << name;
  return {};
}

// The ConfigError message of `fn` (fails the test if nothing is thrown).
template <typename Fn>
std::string error_of(Fn fn) {
  return nemokd::testing::error_of<ConfigError>(fn);
}

ModelConfig from(const std::string& arch, const nlohmann::json& config) {
  return model_config_from_json({{"arch", arch}, {arch, config}});
}

}  // namespace

struct Reference {
  const char* preset;
  int64_t params;
  double table_mmacs;  // as printed in kd-models.md (millions, one decimal)
  int64_t macs;        // the exact count under the convention of classifier.h
};

TEST(ModelZoo, ParamsAndMacsMatchTheReferenceTable) {
  const Reference refs[] = {
      {"resnet8", 83892, 12.5, 12507392},        {"resnet20", 278324, 40.8, 40818944},
      {"resnet32", 472756, 69.1, 69130496},      {"resnet8x4", 1233540, 177.1, 177071104},
      {"resnet32x4", 7433860, 1083.0, 1083040768}, {"mobilenetv2", 812836, 6.52, 6523648},
  };
  for (const auto& ref : refs) {
    SCOPED_TRACE(ref.preset);
    auto m = build_model(preset_model(ref.preset), kCifar, 100);
    EXPECT_EQ(parameter_count(*m), ref.params);
    EXPECT_EQ(m->macs(), ref.macs);
    EXPECT_NEAR(m->macs() / 1e6, ref.table_mmacs, 0.05);
    const auto rows = m->layers();
    EXPECT_EQ(summed(rows, &LayerSummary::parameters), ref.params);  // every parameter is in some row
    EXPECT_EQ(m->describe()["parameters"], ref.params);
    EXPECT_EQ(m->describe()["macs"], ref.macs);
  }
}

TEST(ModelZoo, ResNetStructureFollowsTheReference) {
  auto m = build_model(preset_model("resnet8x4"), kCifar, 100);
  const auto rows = m->layers();
  int shortcuts = 0;
  for (const auto& r : rows)
    if (r.name.find("shortcut") != std::string::npos && r.kind == "conv") ++shortcuts;
  EXPECT_EQ(shortcuts, 3);  // x4: stage 1 also projects (32 != 64)
  EXPECT_EQ(rows.front().name, "conv1");
  EXPECT_EQ(rows.back().name, "fc");
  EXPECT_EQ(rows.back().output, (std::vector<int64_t>{100}));
  // resolution 32 -> 32 -> 16 -> 8 before the pool
  EXPECT_EQ(row(rows, "layer3.0.conv2").output, (std::vector<int64_t>{256, 8, 8}));
  EXPECT_EQ(row(rows, "layer1.0.shortcut.0").detail, "1x1 s1 32->64");
  EXPECT_EQ(row(rows, "layer2.0.conv1").detail, "3x3 s2 64->128");

  auto r8 = build_model(preset_model("resnet8"), kCifar, 100);
  shortcuts = 0;
  for (const auto& r : r8->layers())
    if (r.name.find("shortcut") != std::string::npos && r.kind == "conv") ++shortcuts;
  EXPECT_EQ(shortcuts, 2);  // 16 -> 16 in stage 1 is an identity

  // Kaiming-normal (fan_out): std = sqrt(2 / (Cout k k)); BN 1/0.
  auto r20 = std::dynamic_pointer_cast<ResNetImpl>(build_model(preset_model("resnet20"), kCifar, 10));
  ASSERT_TRUE(r20);
  const auto params = r20->named_parameters();
  const auto w = params["layer3.2.conv1.weight"];
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / (64 * 9)), 0.01);
  EXPECT_TRUE(params["layer2.1.bn2.weight"].eq(1).all().item<bool>());
  EXPECT_TRUE(params["layer2.1.bn2.bias"].eq(0).all().item<bool>());
}

TEST(ModelZoo, ForwardShapesOnCifarAndMnistShapes) {
  torch::NoGradGuard no_grad;
  ModelConfig small_flex_resnet = preset_model("flexresnet8x4");
  small_flex_resnet.flexresnet8x4().widths = {8, 8, 16, 16};
  const std::vector<std::pair<std::string, ModelConfig>> models = {
      {"resnet8", preset_model("resnet8")},
      {"mobilenetv2", preset_model("mobilenetv2")},
      {"flexstudent", preset_model("flexstudent")},
      {"flexresnet8x4 small", small_flex_resnet},
  };
  for (const auto& [name, config] : models)
    for (const auto& shape : {kCifar, kMnist})
      for (int classes : {10, 100}) {
        SCOPED_TRACE(name + " " + shape.str() + " " + std::to_string(classes));
        auto m = build_model(config, shape, classes);
        m->eval();
        auto y = m->forward(torch::randn({2, shape.channels, shape.height, shape.width}));
        EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, classes}));
        EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
        EXPECT_EQ(summed(m->layers(), &LayerSummary::parameters), parameter_count(*m));
      }
  // The big teacher: once, batch 1.
  auto teacher = build_model(preset_model("resnet32x4"), kCifar, 100);
  teacher->eval();
  EXPECT_EQ(teacher->forward(torch::randn({1, 3, 32, 32})).sizes(), (std::vector<int64_t>{1, 100}));
}

TEST(ModelZoo, NonSquareAndTinyInputs) {
  torch::NoGradGuard no_grad;
  auto m = build_model(preset_model("resnet8"), InputShape{1, 28, 28}, 10);
  // 28 -> 28 -> 14 -> 7: stage 3's maps are 7x7.
  EXPECT_EQ(row(m->layers(), "layer3.0.conv1").output, (std::vector<int64_t>{64, 7, 7}));
  auto tiny = build_model(preset_model("mobilenetv2"), InputShape{3, 5, 9}, 10);
  tiny->eval();
  EXPECT_EQ(tiny->forward(torch::randn({2, 3, 5, 9})).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST(ModelZoo, FlexStudentDefaultIsTheFiveLayerBaseline) {
  const FlexStudentConfig c;
  EXPECT_EQ(c.conv_channels, (std::vector<int>{32, 64, 128}));
  EXPECT_EQ(c.fc_widths, (std::vector<int>{256}));
  EXPECT_TRUE(c.pool.empty());  // auto rule
  EXPECT_EQ(c.conv_layers(), 3);
  EXPECT_EQ(c.fc_layers(), 2);
  EXPECT_EQ(c.weighted_layers(), 5);
  EXPECT_EQ(preset_model("flexstudent").family(), Family::flexstudent);

  auto m = build_model(preset_model("flexstudent"), kCifar, 100);
  const auto rows = m->layers();
  int convs = 0, linears = 0;
  for (const auto& r : rows) {
    convs += r.kind == "conv";
    linears += r.kind == "linear";
  }
  EXPECT_EQ(convs, 3);
  EXPECT_EQ(linears, 2);
  // 32 -> 16 -> 8 -> 4: 128 x 4 x 4 = 2048 features into FC 256, then the classifier.
  EXPECT_EQ(rows.back().detail, "256->100");
  const int64_t params = (3 * 32 * 9 + 64) + (32 * 64 * 9 + 128) + (64 * 128 * 9 + 256) + (2048 * 256 + 512) +
                         (256 * 100 + 100);
  EXPECT_EQ(parameter_count(*m), params);
  EXPECT_EQ(parameter_count(*m), 643972);
  const int64_t macs = 32 * 3 * 9 * 32 * 32 + 64 * 32 * 9 * 16 * 16 + 128 * 64 * 9 * 8 * 8 + 2048 * 256 + 256 * 100;
  EXPECT_EQ(m->macs(), macs);
  // 1x28x28: 28 -> 14 -> 7 -> 3, so 128 x 3 x 3 = 1152 features.
  auto mn = build_model(preset_model("flexstudent"), kMnist, 10);
  EXPECT_EQ(row(mn->layers(), "fc1").detail, "1152->256");
  EXPECT_EQ(row(mn->layers(), "conv3_pool").output, (std::vector<int64_t>{128, 3, 3}));
}

TEST(ModelZoo, FlexStudentPoolingRuleAndGenome) {
  FlexStudentConfig c;
  c.conv_channels = {8, 8, 8, 8, 8};
  EXPECT_EQ(c.resolved_pool(kCifar), (std::vector<bool>{true, true, true, true, false}));   // 32,16,8,4 -> 2
  EXPECT_EQ(c.resolved_pool(kMnist), (std::vector<bool>{true, true, true, false, false}));  // 28,14,7 -> 3
  c.conv_channels = {};
  c.fc_widths = {};
  auto mlp_like = build_model(from("flexstudent", to_json(c)), kMnist, 10);  // just the classifier
  EXPECT_EQ(parameter_count(*mlp_like), 784 * 10 + 10);
  c.conv_channels = {16, 16};
  c.pool = {false, true};
  c.fc_widths = {64, 32};
  c.dropout = 0.25;
  auto m = build_model(from("flexstudent", to_json(c)), kMnist, 10);
  EXPECT_EQ(std::dynamic_pointer_cast<FlexStudentImpl>(m)->config().weighted_layers(), 5);
  torch::NoGradGuard no_grad;
  m->eval();
  EXPECT_EQ(m->forward(torch::randn({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
  // pool: true / false are shorthands for every layer
  auto j = to_json(c);
  j["pool"] = true;
  EXPECT_EQ(from("flexstudent", j).flexstudent().pool, (std::vector<bool>{true, true}));
}

TEST(ModelZoo, ConfigsRoundTripThroughJson) {
  std::vector<ModelConfig> configs;
  for (const auto& p : model_presets()) configs.push_back(preset_model(p.name));
  for (const auto& a : architectures()) configs.push_back(preset_model(a.name));
  auto r = preset_model("resnet");
  r.resnet() = {44, {8, 16, 24, 48}};
  configs.push_back(r);
  auto mb = preset_model("mobilenetv2");
  mb.mobilenetv2().width = 0.75;
  configs.push_back(mb);
  auto fs = preset_model("flexstudent");
  fs.flexstudent().conv_channels = {16, 32, 32, 64};
  fs.flexstudent().pool = {true, false, true, true};
  fs.flexstudent().fc_widths = {128, 64};
  fs.flexstudent().dropout = 0.3;
  configs.push_back(fs);
  auto fr = preset_model("flexresnet8x4");
  fr.flexresnet8x4().widths = {16, 48, 96, 200};
  configs.push_back(fr);
  for (const auto& c : configs) {
    const auto j = to_json(c);
    SCOPED_TRACE(j.dump());
    EXPECT_EQ(to_json(model_config_from_json(j)), j);
    EXPECT_EQ(model_config_from_json(nlohmann::json::parse(j.dump())).family(), c.family());
  }
  // describe() carries the config: rebuilding from it gives the same description.
  auto m = build_model(fs, kMnist, 10);
  const auto d = m->describe();
  EXPECT_EQ(d["arch"], "flexstudent");
  EXPECT_EQ(build_model(from("flexstudent", d["flexstudent"]), kMnist, 10)->describe(), d);
  auto f = build_model(fr, kCifar, 100);
  EXPECT_EQ(f->describe()["arch"], "flexresnet8x4");
  EXPECT_EQ(f->describe()["flexresnet8x4"], nlohmann::json({{"widths", {16, 48, 96, 200}}}));
}

TEST(ModelZoo, FlexResNet8x4IsResNet8x4WithEvolvableWidths) {
  auto flex = build_model(preset_model("flexresnet8x4"), kCifar, 100);
  EXPECT_EQ(parameter_count(*flex), 1233540);
  EXPECT_EQ(flex->macs(), 177071104);
  const auto a = preset_model("resnet8x4");
  EXPECT_EQ(a.family(), Family::resnet);
  EXPECT_EQ(a.resnet().depth, 8);
  EXPECT_EQ(a.resnet().widths, (std::vector<int>{32, 64, 128, 256}));
}

TEST(ModelZoo, BadConfigsAreRejectedNamingTheKey) {
  EXPECT_EQ(error_of([] { from("resnet", {{"depth", 10}}); }).rfind("model.resnet.depth: 10 is not 6n+2", 0), 0u);
  EXPECT_NE(error_of([] { from("resnet", {{"depth", 2}}); }).find("model.resnet.depth"), std::string::npos);
  EXPECT_EQ(error_of([] { from("resnet", {{"widths", nlohmann::json::array()}}); }),
            "model.resnet.widths: needs 4 entries (stem, stage 1, stage 2, stage 3), got 0");
  EXPECT_EQ(error_of([] { from("resnet", {{"widths", {16, -16, 32, 64}}}); }),
            "model.resnet.widths[1]: -16 is out of range [1, 4096]");
  EXPECT_EQ(error_of([] { from("resnet", {{"width", {16, 16, 32, 64}}}); }), "model.resnet.width: unknown key");
  EXPECT_EQ(error_of([] { from("flexresnet8x4", {{"widths", {32, 64, 128}}}); }),
            "model.flexresnet8x4.widths: needs 4 entries (stem, stage 1, stage 2, stage 3), got 3");
  EXPECT_EQ(error_of([] { from("flexresnet8x4", {{"depth", 20}}); }), "model.flexresnet8x4.depth: unknown key");
  EXPECT_NE(error_of([] { from("mobilenetv2", {{"width", 0.0}}); }).find("model.mobilenetv2.width"),
            std::string::npos);
  EXPECT_EQ(error_of([] { from("flexstudent", {{"conv_channels", {32, -1}}}); }),
            "model.flexstudent.conv_channels[1]: -1 is out of range [1, 4096]");
  EXPECT_EQ(error_of([] { from("flexstudent", {{"conv_channels", std::vector<int>(9, 8)}}); }),
            "model.flexstudent.conv_channels: 9 conv layers, at most 8");
  EXPECT_EQ(error_of([] { from("flexstudent", {{"fc_widths", {0}}}); }),
            "model.flexstudent.fc_widths[0]: 0 is out of range [1, 65536]");
  EXPECT_EQ(error_of([] { from("flexstudent", {{"pool", {true}}}); }),
            "model.flexstudent.pool: 1 entries for 3 conv layers (or \"auto\")");
  EXPECT_EQ(error_of([] { from("flexstudent", {{"pool", "sometimes"}}); }).rfind("model.flexstudent.pool:", 0), 0u);
  EXPECT_EQ(error_of([] { from("flexstudent", {{"pool", {true, 1, true}}}); }),
            "model.flexstudent.pool[1]: expected true or false, got 1");
  EXPECT_EQ(error_of([] { from("flexstudent", {{"dropout", 1.0}}); }).rfind("model.flexstudent.dropout:", 0), 0u);
  // Too many pooled conv layers for the input: 28 -> 14 -> 7 -> 3 -> 1, then no 2x2 pool fits.
  const auto deep = from("flexstudent", {{"conv_channels", std::vector<int>(5, 8)}, {"pool", true}});
  EXPECT_NO_THROW(build_model(deep, kCifar, 10));  // 32 -> 16 -> 8 -> 4 -> 2 -> 1
  EXPECT_EQ(error_of([&] { build_model(deep, kMnist, 10); }),
            "flexstudent.pool[4]: conv layer 5 ends on a 1x1 map, too small for a 2x2 max-pool (input 1x28x28 "
            "allows at most 4 pooled conv layers)");
  EXPECT_EQ(error_of([] { build_model(preset_model("resnet8"), kCifar, 1); }), "classes: 1 (need >= 2)");
  // A block for another arch is an unknown key.
  EXPECT_EQ(error_of([] {
              model_config_from_json({{"arch", "resnet"}, {"mlp", {{"hidden", {8}}}}});
            }),
            "model.mlp: unknown key");
  const auto unknown = error_of([] { preset_model("vgg13"); });
  EXPECT_EQ(unknown.rfind("model: 'vgg13' is not a preset or architecture; valid: ", 0), 0u);
  EXPECT_NE(unknown.find("resnet32x4"), std::string::npos);
  EXPECT_NE(unknown.find("flexstudent"), std::string::npos);
}

TEST(ModelZoo, MlpCountsLinearMacs) {
  auto m = build_model(preset_model("sfc"), kMnist, 10);
  EXPECT_EQ(m->macs(), 784 * 256 + 256 * 256 * 2 + 256 * 10);
  EXPECT_EQ(summed(m->layers(), &LayerSummary::parameters), parameter_count(*m));
  ModelConfig q = preset_model("tfc");
  q.mlp().set_bits({2}, {2});
  q.mlp().quant.learned_range = true;  // a parameter in the activations, still in the summary
  auto qm = build_model(q, kMnist, 10);
  EXPECT_EQ(qm->macs(), 784 * 64 + 64 * 64 * 2 + 64 * 10);
  EXPECT_EQ(summed(qm->layers(), &LayerSummary::parameters), parameter_count(*qm));
  EXPECT_EQ(qm->describe()["macs"], qm->macs());
}

TEST(ModelZoo, ListsArchitecturesAndPresets) {
  std::vector<std::string> names;
  for (const auto& a : architectures()) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"mlp", "resnet", "mobilenetv2", "flexstudent", "flexresnet8x4", "cnv",
                                            "qflexstudent"}));
  for (const auto& p : model_presets()) EXPECT_EQ(family_name(preset_model(p.name).family()), p.arch) << p.name;
}
