#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/registry.h"

using namespace nemokd;
using namespace nemokd::models;

TEST(Mlp, ShapesAndParameterCountFollowTheConfig) {
  ModelConfig c;
  c.mlp.hidden = {256, 256, 256};
  auto m = build_model(c, InputShape{1, 28, 28}, 10);
  auto y = m->forward(torch::randn({5, 1, 28, 28}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{5, 10}));
  // Linear without bias (BatchNorm follows) + BN weight/bias per hidden layer + output Linear with bias.
  const int64_t expected = 784 * 256 + 2 * 256 + 2 * (256 * 256 + 2 * 256) + 256 * 10 + 10;
  EXPECT_EQ(parameter_count(*m), expected);
}

TEST(Mlp, TakesInputShapeAndClassesFromTheCaller) {
  ModelConfig c;
  c.mlp.hidden = {32};
  c.mlp.batchnorm = false;
  auto m = build_model(c, InputShape{3, 32, 32}, 100);
  EXPECT_EQ(m->forward(torch::randn({2, 3, 32, 32})).size(1), 100);
  EXPECT_EQ(parameter_count(*m), 3 * 32 * 32 * 32 + 32 + 32 * 100 + 100);
}

TEST(Mlp, ConfigRoundTripsAndRejectsBadValues) {
  ModelConfig c;
  c.mlp.hidden = {64, 64, 64};
  c.mlp.dropout = 0.2;
  c.mlp.activation = "hardtanh";
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
