// The integer model built from a quantized MLP: its thresholds reproduce the MLP's integer view exactly
// (every accumulator value, every pixel), the integer view is the fake-quant model up to threshold ties,
// and the engine's output codes equal the model's on every kernel path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>

#include <fmt/format.h>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/loader.h"
#include "engine/build.h"
#include "engine/model_file.h"
#include "engine/runtime.h"
#include "models/integer_mlp.h"
#include "models/mlp.h"
#include "models/qcnn.h"
#include "train/train_run.h"

using namespace nemokd;

namespace {

struct MlpCase {
  int w, a;
  std::string activation;  // relu | tanh | hardtanh
  std::string input;       // u8 | signed
  int input_bits;
  std::string scheme;      // finn | scaled
};

std::string name(const MlpCase& c) {
  return fmt::format("W{}A{} {} input {}{} {}", c.w, c.a, c.activation, c.input, c.input == "signed" ? c.input_bits : 8,
                     c.scheme);
}

// A quantized MLP 1x8x8 -> 37 -> 21 -> 10 with random weights and random BatchNorm statistics, including
// negative and zero BN scales (the cases streamlining must get right).
std::shared_ptr<models::MlpImpl> random_mlp(const MlpCase& c, uint64_t seed) {
  torch::manual_seed(seed);
  models::MlpConfig cfg;
  cfg.hidden = {37, 21};
  cfg.activation = c.activation;
  cfg.set_bits({c.w}, {c.a});
  cfg.quant.input = c.input;
  cfg.quant.input_bits = c.input_bits;
  cfg.quant.scheme = quant::parse_weight_scheme(c.scheme);
  cfg.quant.relu_max = 1.5;
  auto mlp = std::make_shared<models::MlpImpl>(cfg, models::InputShape{1, 8, 8}, 10);
  torch::NoGradGuard g;
  const auto& q = mlp->quant_layers();
  for (size_t i = 0; i < q.linears.size(); ++i) {
    q.linears[i]->weight.uniform_(-1.2, 1.2);
    auto& bn = q.norms[i];
    const int64_t n = bn->weight.numel();
    const double fan_in = double(q.linears[i]->weight.size(1));
    bn->running_mean.normal_(0, 0.3 * std::sqrt(fan_in));
    bn->running_var.uniform_(0.2, 2.0).mul_(fan_in * 0.3);
    bn->weight.normal_(0, 1.0);
    bn->weight[0] = 0.0;                                           // constant channel
    if (n > 1) bn->weight[1] = -std::abs(bn->weight[1].item<float>()) - 0.1;  // negative scale
    bn->bias.normal_(0, 0.5);
  }
  mlp->eval();
  return mlp;
}

data::PixelAffine affine_for(const std::string& input) {
  data::DatasetSpec spec;
  spec.name = "test";
  spec.channels = 1;
  return data::pixel_affine(spec, input == "u8" ? data::Normalization::unit : data::Normalization::signed_unit);
}

// Normalised images for random pixels, exactly as the loader maps them.
torch::Tensor images(const torch::Tensor& pixels, const data::PixelAffine& a) {
  return pixels.to(torch::kFloat) * a.scale[0] + a.shift[0];
}

int32_t code_by_thresholds(const engine::Layer& l, int64_t o, int64_t acc) {
  const int32_t steps = l.output.levels() - 1;
  int32_t code = l.output.min_code();
  for (int32_t j = 0; j < steps; ++j) code += acc >= l.thresholds[size_t(o * steps + j)] ? 1 : 0;
  return code;
}

std::vector<MlpCase> all_cases() {
  std::vector<MlpCase> cases;
  for (int w = 1; w <= 8; ++w)
    for (int a = 1; a <= 8; ++a) {
      const std::string act = a == 1 ? "hardtanh" : (w + a) % 3 == 0 ? "tanh" : (w + a) % 3 == 1 ? "relu" : "hardtanh";
      const std::string input = (w * a) % 2 ? "signed" : "u8";
      const int input_bits = 1 + (w + 2 * a) % 8;
      const std::string scheme = (w + a) % 4 == 0 && w > 1 ? "scaled" : "finn";
      cases.push_back({w, a, act, input, input_bits, scheme});
    }
  return cases;
}

}  // namespace

// Every hidden channel: code by thresholds == the model's code, at random accumulators and at the extremes.
TEST(EngineBuild, ThresholdsReproduceTheModelForEveryAccumulator) {
  std::mt19937_64 rng(7);
  for (const auto& c : all_cases()) {
    SCOPED_TRACE(name(c));
    auto mlp = random_mlp(c, 100 + c.w * 10 + c.a);
    auto view = models::integer_view(*mlp);
    auto im = engine::build_integer_model(*mlp, affine_for(c.input), 1, 64, "test");
    for (size_t li = 0; li + 1 < im.layers.size(); ++li) {
      const auto& L = im.layers[li];
      const int64_t bound = L.accumulator_bound();
      std::vector<int64_t> accs = {-bound, -bound + 1, -1, 0, 1, bound - 1, bound};
      std::uniform_int_distribution<int64_t> d(-bound, bound);
      for (int k = 0; k < 300; ++k) accs.push_back(d(rng));
      // Around every threshold too: that is where an off-by-one would hide (thresholds are on the engine's
      // accumulator, which is the negated one for flipped channels; both signs are covered).
      for (int32_t t : L.thresholds)
        for (int64_t e = -1; e <= 0; ++e)
          for (int64_t sgn : {1, -1})
            if (std::abs(sgn * (t + e)) <= bound) accs.push_back(sgn * (t + e));
      const int64_t n = int64_t(accs.size());
      auto acc_t = torch::tensor(accs, torch::kInt64).to(torch::kDouble).unsqueeze(1).expand({n, L.outputs}).contiguous();
      auto model_codes = models::hidden_codes(view.layers[li], acc_t);  // [n, outputs]
      const double* scale = view.layers[li].scale.data_ptr<double>();
      auto mc = model_codes.accessor<int32_t, 2>();
      for (int64_t o = 0; o < L.outputs; ++o) {
        const bool flipped = scale[o] < 0;  // the builder negates these channels' weights
        for (int64_t k = 0; k < n; ++k) {
          const int64_t engine_acc = flipped ? -accs[size_t(k)] : accs[size_t(k)];
          ASSERT_EQ(code_by_thresholds(L, o, engine_acc), mc[k][o])
              << "layer " << li << " channel " << o << " acc " << accs[size_t(k)];
        }
      }
    }
  }
}

// The input stage: thresholds on pixels give the model's input code for all 256 pixel values.
TEST(EngineBuild, InputThresholdsMatchTheInputQuantizerOnEveryPixel) {
  for (const std::string& input : std::vector<std::string>{"u8", "signed"})
    for (int bits = 1; bits <= 8; ++bits) {
      if (input == "u8" && bits > 1) break;
      MlpCase c{2, 2, "relu", input, bits, "finn"};
      SCOPED_TRACE(name(c));
      auto mlp = random_mlp(c, 5);
      auto view = models::integer_view(*mlp);
      const auto a = affine_for(input);
      auto im = engine::build_integer_model(*mlp, a, 1, 64, "test");
      auto px = torch::arange(0, 256, torch::kInt64).unsqueeze(0);
      auto model_codes = models::input_codes(view, images(px, a));
      if (input == "u8") {
        EXPECT_TRUE(im.input.passthrough);
        for (int p = 0; p < 256; ++p) EXPECT_EQ(model_codes[0][p].item<int32_t>(), p);
        continue;
      }
      ASSERT_FALSE(im.input.passthrough);
      const int32_t steps = im.input.output.levels() - 1;
      for (int p = 0; p < 256; ++p) {
        int32_t code = im.input.output.min_code();
        for (int32_t j = 0; j < steps; ++j) code += p >= im.input.thresholds[size_t(j)] ? 1 : 0;
        ASSERT_EQ(code, model_codes[0][p].item<int32_t>()) << "pixel " << p;
      }
    }
}

// The integer view is the same model as the fake-quant arithmetic: predictions agree except where a float
// sum lands on a quantizer threshold (rare), and logits agree to float rounding.
TEST(EngineBuild, IntegerViewIsTheFakeQuantModel) {
  for (const auto& c : all_cases()) {
    if (c.w % 3 != 1 && c.a % 3 != 1) continue;  // a spread of cases keeps this fast
    SCOPED_TRACE(name(c));
    auto mlp = random_mlp(c, 900 + c.w * 10 + c.a);
    const auto a = affine_for(c.input);
    auto px = torch::randint(0, 256, {512, 1, 8, 8}, torch::kInt64);
    auto x = images(px, a);
    torch::NoGradGuard g;
    auto exact = mlp->forward(x);
    auto simulated = mlp->forward_fake_quant(x);
    const auto agree = (exact.argmax(1) == simulated.argmax(1)).to(torch::kFloat).mean().item<double>();
    EXPECT_GE(agree, 0.99);
    EXPECT_LT((exact - simulated).abs().max().item<double>(), 1e-2 * (1 + simulated.abs().max().item<double>()));
  }
}

TEST(EngineBuild, FloatInputHasNoIntegerModel) {
  MlpCase c{2, 2, "relu", "u8", 8, "finn"};
  auto mlp = random_mlp(c, 1);
  models::MlpConfig cfg = mlp->config();
  cfg.quant.input = "float";
  auto f = std::make_shared<models::MlpImpl>(cfg, models::InputShape{1, 8, 8}, 10);
  try {
    engine::build_integer_model(*f, affine_for("u8"), 1, 64, "test");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("input is float"), std::string::npos) << e.what();
  }
}

namespace {

// Engine trace vs the model's integer view on the same pixels: every code (conv, max-pool and hidden dense
// layers), accumulator, logit, prediction.
void expect_engine_equals_view(const engine::Engine& eng, const models::ClassifierImpl& model,
                               const data::PixelAffine& a, const torch::Tensor& pixels_u8, const std::string& what) {
  const int64_t n = pixels_u8.size(0);
  auto px = pixels_u8.contiguous();
  auto x = images(px.to(torch::kInt64), a);
  models::IntegerTrace mt;
  auto logits = models::integer_forward(models::integer_view(model), x, &mt);
  auto et = eng.trace(px.data_ptr<uint8_t>(), n);
  ASSERT_EQ(et.codes.size(), mt.codes.size()) << what;
  for (size_t l = 0; l < mt.codes.size(); ++l) {
    auto m = mt.codes[l].contiguous();
    ASSERT_EQ(int64_t(et.codes[l].size()), m.numel()) << what;
    for (int64_t k = 0; k < m.numel(); ++k)
      ASSERT_EQ(et.codes[l][size_t(k)], m.data_ptr<int32_t>()[k]) << what << ": layer " << l << " element " << k;
  }
  auto acc = mt.output_acc.contiguous();
  auto lg = mt.logits.contiguous();
  for (int64_t k = 0; k < acc.numel(); ++k) {
    ASSERT_EQ(et.output_acc[size_t(k)], acc.data_ptr<int32_t>()[k]) << what << ": output accumulator " << k;
    ASSERT_EQ(et.logits[size_t(k)], lg.data_ptr<float>()[k]) << what << ": logit " << k;
  }
  auto pred = logits.argmax(1).to(torch::kInt32).contiguous();
  for (int64_t k = 0; k < n; ++k) ASSERT_EQ(et.predictions[size_t(k)], pred.data_ptr<int32_t>()[k]) << what;
}


// The model's integer model through the .nqe file, on every kernel x instruction set that applies to all its
// layers (and auto): the engine's trace equals the model's integer view. Returns the number of paths checked.
int expect_every_path_equals_view(const models::ClassifierImpl& model, const engine::IntegerModel& built,
                                  const data::PixelAffine& a, const torch::Tensor& pixels) {
  const auto bytes = engine::serialize(built);
  auto im = engine::deserialize(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.nqe");
  int paths = 0;
  for (auto isa : {engine::Isa::scalar, engine::Isa::avx2, engine::Isa::avx512}) {
    if (!engine::isa_supported(isa)) continue;
    for (const std::string k : {"auto", "scalar", "xnor", "bitserial", "int8"}) {
      engine::EngineOptions o;
      o.kernel = k;
      o.isa = engine::to_string(isa);
      o.threads = 2;
      std::unique_ptr<engine::Engine> eng;
      try {
        eng = std::make_unique<engine::Engine>(im, o);
      } catch (const ConfigError&) {
        continue;  // this kernel does not apply to some layer of this model
      }
      expect_engine_equals_view(*eng, model, a, pixels, fmt::format("kernel {} isa {}", k, o.isa));
      if (::testing::Test::HasFatalFailure()) return paths;
      ++paths;
    }
  }
  return paths;
}
}  // namespace

// The acceptance test of the integer engine: for every W, A in 1..8, a random quantized MLP, its integer model
// (through the .nqe file format) and every kernel x instruction set that applies give exactly the model's
// eval-mode output codes, accumulators, logits and predictions.
TEST(EngineVsModel, EveryBitWidthEveryKernelPathIsBitExact) {
  int paths = 0;
  for (const auto& c : all_cases()) {
    SCOPED_TRACE(name(c));
    auto mlp = random_mlp(c, 300 + c.w * 10 + c.a);
    const auto a = affine_for(c.input);
    auto pixels = torch::randint(0, 256, {70, 1, 8, 8}, torch::kInt64).to(torch::kUInt8);
    paths += expect_every_path_equals_view(*mlp, engine::build_integer_model(*mlp, a, 1, 64, "test"), a, pixels);
    if (HasFatalFailure()) return;
  }
  EXPECT_GE(paths, 64 * 3);  // at least auto, scalar and int8 on one ISA for every case
}

// Trained models from the QAT experiment (experiments/q1: TFC W1A1 and W2A2, 100 epochs on MNIST; their
// run.json + model.pt are kept in tests/data): on the whole MNIST test set the engine reproduces every output
// code and prediction, and its accuracy is the model's. Needs MNIST (`nemokd data fetch mnist`; scripts/test.sh
// fetches it first).
TEST(EngineVsModel, TrainedTfcModelsOnTheMnistTestSetAreBitExact) {
  data::LoadOptions lo;
  auto mnist = data::load_dataset("mnist", lo);
  for (const std::string& cell : std::vector<std::string>{"w1a1", "w2a2"}) {
    SCOPED_TRACE(cell);
    auto run = train::load_trained_run(std::string(NEMOKD_TEST_DATA) + "/qat-tfc-" + cell);
    auto mlp = std::dynamic_pointer_cast<models::MlpImpl>(run.model);
    ASSERT_TRUE(mlp);
    const auto a = data::pixel_affine(mnist.spec, run.config.train.normalization);
    auto im = engine::build_integer_model(*mlp, a, 1, 784, "test");
    for (const std::string& kernel : std::vector<std::string>{"auto", "scalar"}) {
      engine::EngineOptions o;
      o.kernel = kernel;
      o.threads = 2;
      engine::Engine eng(im, o);
      expect_engine_equals_view(eng, *mlp, a, mnist.test.images, "kernel " + kernel);
      std::vector<int32_t> pred(size_t(mnist.test.size()));
      eng.predict(mnist.test.images.data_ptr<uint8_t>(), mnist.test.size(), pred.data());
      int64_t correct = 0;
      for (int64_t k = 0; k < mnist.test.size(); ++k) correct += pred[size_t(k)] == mnist.test.labels[k].item<int64_t>();
      // The accuracy the training run recorded for its final model (eval mode = the integer view).
      EXPECT_DOUBLE_EQ(double(correct) / double(mnist.test.size()),
                       run.record.results.at("final_test_accuracy").get<double>());
    }
  }
}

// ---- quantized CNNs --------------------------------------------------------------------------------------------

namespace {

struct CnnCase {
  int w, a;
  std::string activation;  // relu | tanh | hardtanh
  std::string input;       // u8 | signed
  int input_bits;
  std::string arch;        // cnv (a small CNV-like net; padded input on some cases) | qflexstudent
};

std::string name(const CnnCase& c) {
  return fmt::format("{} W{}A{} {} input {}{}", c.arch, c.w, c.a, c.activation, c.input,
                     c.input == "signed" ? c.input_bits : 8);
}

models::ModelConfig cnn_config(const CnnCase& c, uint64_t seed) {
  models::ModelConfig mc;
  mc.set_family(models::parse_family(c.arch));
  models::MlpQuantConfig* q = nullptr;
  std::string* act = nullptr;
  const int w1 = 5 + int(seed % 13), w2 = 17 + int(seed % 19);  // straddle 16 lanes and 32-bit words
  if (mc.family() == models::Family::cnv) {
    auto& cfg = mc.cnv();
    // conv 3x3 unpadded (on the padded input: pad_to 10 on 8x8 = one black pixel around) -> pool -> conv 1x1 or
    // 3x3 padded -> FC -> classifier.
    cfg.convs = {{w1, 3, 0, true}, {w2, seed % 2 ? 1 : 3, seed % 2 ? 0 : 1, false}};
    cfg.fc_widths = {12};
    cfg.pad_to = seed % 3 == 0 ? 0 : 10;
    cfg.set_bits({c.w}, {c.a});
    q = &cfg.quant;
    act = &cfg.activation;
  } else {
    auto& cfg = mc.qflexstudent();
    cfg.net.conv_channels = {w1, w2};
    cfg.net.pool = {true, seed % 2 == 0};
    cfg.net.fc_widths = {12};
    cfg.set_bits({c.w}, {c.a});
    q = &cfg.quant;
    act = &cfg.activation;
  }
  *act = c.activation;
  q->input = c.input;
  q->input_bits = c.input_bits;
  q->relu_max = 1.5;
  q->scheme = (c.w + c.a) % 4 == 0 && c.w > 1 ? quant::WeightScheme::scaled : quant::WeightScheme::finn;
  return mc;
}

// A small quantized CNN (1 x 8 x 8 images) with random weights and random BatchNorm statistics, including negative
// and zero BN scales.
std::shared_ptr<models::QCnnImpl> random_cnn(const CnnCase& c, uint64_t seed) {
  torch::manual_seed(seed);
  auto model = models::build_model(cnn_config(c, seed), models::InputShape{1, 8, 8}, 10);
  auto cnn = std::dynamic_pointer_cast<models::QCnnImpl>(model);
  torch::NoGradGuard g;
  const auto& q = cnn->quant_layers();
  auto randomise = [](torch::Tensor weight, torch::Tensor mean, torch::Tensor var, torch::Tensor bn_w,
                      torch::Tensor bn_b) {
    weight.uniform_(-1.2, 1.2);
    const double fan_in = double(weight.numel() / weight.size(0));
    mean.normal_(0, 0.3 * std::sqrt(fan_in));
    var.uniform_(0.2, 2.0).mul_(fan_in * 0.3);
    bn_w.normal_(0, 1.0);
    bn_w[0] = 0.0;                                                           // constant channel
    if (bn_w.numel() > 1) bn_w[1] = -std::abs(bn_w[1].item<float>()) - 0.1;  // negative scale
    bn_b.normal_(0, 0.5);
  };
  for (size_t i = 0; i < q.convs.size(); ++i)
    randomise(q.convs[i]->weight, q.conv_norms[i]->running_mean, q.conv_norms[i]->running_var, q.conv_norms[i]->weight,
              q.conv_norms[i]->bias);
  for (size_t i = 0; i < q.fcs.size(); ++i)
    randomise(q.fcs[i]->weight, q.fc_norms[i]->running_mean, q.fc_norms[i]->running_var, q.fc_norms[i]->weight,
              q.fc_norms[i]->bias);
  cnn->eval();
  return cnn;
}

std::vector<CnnCase> all_cnn_cases() {
  std::vector<CnnCase> cases;
  for (int w = 1; w <= 8; ++w)
    for (int a = 1; a <= 8; ++a) {
      const std::string act = a == 1 ? "hardtanh" : (w + a) % 3 == 0 ? "tanh" : (w + a) % 3 == 1 ? "relu" : "hardtanh";
      const std::string input = (w * a) % 3 == 0 ? "u8" : "signed";
      cases.push_back({w, a, act, input, 1 + (w + 2 * a) % 8, (w + a) % 2 ? "cnv" : "qflexstudent"});
    }
  return cases;
}

}  // namespace

// The acceptance test of the integer engine for CNNs: for every W, A in 1..8 a random quantized CNN (CNV-like
// with and without the padded input, or a quantized FlexStudent; relu/tanh/hardtanh; u8 and 1..8-bit inputs;
// negative and zero BN scales), its integer model through the .nqe file, on every kernel x instruction set that
// applies: every hidden code, accumulator, logit and prediction equals the model's eval-mode integer view.
TEST(EngineVsModel, CnnEveryBitWidthEveryKernelPathIsBitExact) {
  int paths = 0, padded = 0;
  for (const auto& c : all_cnn_cases()) {
    SCOPED_TRACE(name(c));
    auto cnn = random_cnn(c, 500 + c.w * 10 + c.a);
    padded += cnn->spec().input_pad > 0;
    const auto a = affine_for(c.input);
    auto pixels = torch::randint(0, 256, {11, 1, 8, 8}, torch::kInt64).to(torch::kUInt8);
    paths += expect_every_path_equals_view(*cnn, engine::build_integer_model(*cnn, a, "test"), a, pixels);
    if (HasFatalFailure()) return;
  }
  EXPECT_GE(paths, 64 * 3);
  EXPECT_GT(padded, 10);
}

// The integer view of a CNN is the fake-quant model: predictions agree except where a float sum lands on a
// quantizer threshold, logits to float rounding.
TEST(EngineBuild, CnnIntegerViewIsTheFakeQuantModel) {
  for (const auto& c : all_cnn_cases()) {
    if (c.w % 3 != 1 && c.a % 3 != 1) continue;
    SCOPED_TRACE(name(c));
    auto cnn = random_cnn(c, 900 + c.w * 10 + c.a);
    auto px = torch::randint(0, 256, {256, 1, 8, 8}, torch::kInt64);
    auto x = images(px, affine_for(c.input));
    torch::NoGradGuard g;
    auto exact = cnn->forward(x);
    auto simulated = cnn->forward_fake_quant(x);
    const auto agree = (exact.argmax(1) == simulated.argmax(1)).to(torch::kFloat).mean().item<double>();
    EXPECT_GE(agree, 0.97);
    EXPECT_LT((exact - simulated).abs().max().item<double>(), 2e-2 * (1 + simulated.abs().max().item<double>()));
  }
}

TEST(EngineBuild, CnnWithAFloatLayerNamesIt) {
  CnnCase c{2, 2, "hardtanh", "signed", 8, "cnv"};
  auto mc = cnn_config(c, 1);
  mc.cnv().quant.weight_bits[1] = 32;
  auto model = models::build_model(mc, models::InputShape{1, 8, 8}, 10);
  try {
    engine::build_integer_model(*model, affine_for("signed"), "test");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("layer conv2 has float (32-bit) weights"), std::string::npos) << e.what();
  }
  mc = cnn_config(c, 1);
  mc.cnv().quant.act_bits[2] = 32;  // fc1's activation
  model = models::build_model(mc, models::InputShape{1, 8, 8}, 10);
  EXPECT_NE(models::integer_exact_blocker(*model).find("fc1 has float (32-bit) activations"), std::string::npos)
      << models::integer_exact_blocker(*model);
}

// A small quantized FlexStudent trained on Fashion-MNIST (tests/data/qcnn-fmnist-w2a2: `nemokd quant train
// --dataset fashion-mnist --model flexstudent --model-config '{"conv_channels": [8, 16], "fc_widths": [32]}' -w 2 -a 2
// --train-limit 10000 --epochs 6 --threads 1`, 81.42 % on the test set): on a slice of the Fashion-MNIST test
// set the engine reproduces every code, accumulator, logit and prediction of the model, on the auto plan and
// the scalar reference.
TEST(EngineVsModel, TrainedQuantizedCnnOnAFashionMnistSliceIsBitExact) {
  data::LoadOptions lo;
  lo.test_limit = 2000;
  auto fm = data::load_dataset("fashion-mnist", lo);
  auto run = train::load_trained_run(std::string(NEMOKD_TEST_DATA) + "/qcnn-fmnist-w2a2");
  ASSERT_EQ(run.config.model.family(), models::Family::qflexstudent);
  const auto a = data::pixel_affine(fm.spec, run.config.train.normalization);
  auto im = engine::build_integer_model(*run.model, a, "test");
  for (const std::string& kernel : std::vector<std::string>{"auto", "scalar"}) {
    engine::EngineOptions o;
    o.kernel = kernel;
    o.threads = 2;
    engine::Engine eng(im, o);
    expect_engine_equals_view(eng, *run.model, a, fm.test.images, "kernel " + kernel);
    if (HasFatalFailure()) return;
  }
  // The model learned something: well above chance on the slice.
  engine::Engine eng(im, engine::EngineOptions{});
  std::vector<int32_t> pred(size_t(fm.test.size()));
  eng.predict(fm.test.images.data_ptr<uint8_t>(), fm.test.size(), pred.data());
  int64_t correct = 0;
  for (int64_t k = 0; k < fm.test.size(); ++k) correct += pred[size_t(k)] == fm.test.labels[k].item<int64_t>();
  EXPECT_GT(double(correct) / double(fm.test.size()), 0.7);
}
