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

// Engine trace vs the model's integer view on the same pixels: every code, accumulator, logit, prediction.
void expect_engine_equals_model(const engine::Engine& eng, models::MlpImpl& mlp, const data::PixelAffine& a,
                                const torch::Tensor& pixels_u8, const std::string& what) {
  const int64_t n = pixels_u8.size(0);
  auto px = pixels_u8.contiguous();
  auto x = images(px.to(torch::kInt64), a);
  models::IntegerTrace mt;
  auto logits = models::integer_forward(models::integer_view(mlp), x, &mt);
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

}  // namespace

// The acceptance test of the integer engine: for every W, A in 1..8, a random quantized MLP, its integer model
// (through the .nqe file format) and every kernel x instruction set that applies give exactly the model's
// eval-mode output codes, accumulators, logits and predictions.
TEST(EngineVsModel, EveryBitWidthEveryKernelPathIsBitExact) {
  const std::vector<std::string> kernels = {"auto", "scalar", "xnor", "bitserial", "int8"};
  std::vector<std::string> isas;
  for (auto isa : {engine::Isa::scalar, engine::Isa::avx2, engine::Isa::avx512})
    if (engine::isa_supported(isa)) isas.push_back(engine::to_string(isa));
  int paths = 0;
  for (const auto& c : all_cases()) {
    SCOPED_TRACE(name(c));
    auto mlp = random_mlp(c, 300 + c.w * 10 + c.a);
    const auto a = affine_for(c.input);
    auto built = engine::build_integer_model(*mlp, a, 1, 64, "test");
    const auto bytes = engine::serialize(built);
    auto im = engine::deserialize(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.nqe");
    auto pixels = torch::randint(0, 256, {70, 1, 8, 8}, torch::kInt64).to(torch::kUInt8);
    for (const auto& k : kernels)
      for (const auto& isa : isas) {
        engine::EngineOptions o;
        o.kernel = k;
        o.isa = isa;
        o.threads = 2;
        std::unique_ptr<engine::Engine> eng;
        try {
          eng = std::make_unique<engine::Engine>(im, o);
        } catch (const ConfigError&) {
          continue;  // this kernel does not apply to some layer of this model
        }
        expect_engine_equals_model(*eng, *mlp, a, pixels, fmt::format("kernel {} isa {}", k, isa));
        ++paths;
      }
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
      expect_engine_equals_model(eng, *mlp, a, mnist.test.images, "kernel " + kernel);
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
