// Cost backends behind one interface (src/cost/cost.h): the spec parser and its canonical text, the fpga backend
// (the fastest folding that fits; infeasible designs graded by how far they are over), the probe backends (the
// numbers hw/latency gives), and the 2-D hypervolume against pagmo's.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <random>

#include <pagmo/utils/hypervolume.hpp>

#include "core/error.h"
#include "core/json_config.h"
#include "core/pareto.h"
#include "core/run_record.h"
#include "data/sources.h"
#include "cost/bundle.h"
#include "cost/cost.h"
#include "engine/model_file.h"
#include "hw/fpga/model_design.h"
#include "hw/fpga/search.h"
#include "models/registry.h"
#include "test_errors.h"
#include "test_support.h"
#include "train/train_run.h"

namespace nemokd {
namespace {

const std::string kData = NEMOKD_TEST_DATA;
const std::string kTfcW1A1 = kData + "/qat-tfc-w1a1";  // a trained TFC W1A1 run folder (run.json + model.pt)

models::ModelConfig tfc_config() {
  const auto rec = RunRecord::from_json(read_json_file(kTfcW1A1 + "/run.json"));
  return models::model_config_from_json(rec.config["model"], "model");
}

models::ModelConfig lfc_config(int wbits, int abits) {
  auto m = tfc_config();
  m.mlp().hidden = {1024, 1024, 1024};
  models::set_quant_bits(m, {wbits}, {abits});
  return m;
}

const models::InputShape kMnist{1, 28, 28};

template <class F> std::string config_error(F&& f) { return testing::error_of<ConfigError>(f); }

TEST(CostSpec, CanonicalTextRoundTrips) {
  for (const auto& [given, canonical] : std::vector<std::pair<std::string, std::string>>{
           {"fpga:XC7Z020", "fpga:xc7z020,fclk=100,usable=finn"},
           {"fpga:xc7z020,fclk=250", "fpga:xc7z020,fclk=250,usable=finn"},
           {"fpga:xc7z020,usable=device,fclk=187.5", "fpga:xc7z020,fclk=187.5,usable=device"},
           {"torch:cpu", "torch:cpu"},
           {"torch", "torch:cpu"},
           {"torch:cpu:batch=8,threads=1", "torch:cpu:batch=8,threads=1"},
           {"macs", "macs"},
           {"params", "params"},
           {"command:echo {model}", "command:echo {model}"},
           {"engine", "engine:threads=1,batch=256"},
           {"engine:batch=64,threads=2", "engine:threads=2,batch=64"},
           {"engine:seconds=0.3", "engine:threads=1,batch=256,seconds=0.3"}}) {
    const auto s = cost::parse_cost(given);
    EXPECT_EQ(s.text(), canonical) << given;
    EXPECT_EQ(cost::parse_cost(s.text()).text(), canonical) << given;
  }
  const auto f = cost::parse_cost("fpga:xc7z020,fclk=250,usable=device");
  EXPECT_EQ(f.kind, "fpga");
  EXPECT_EQ(f.device, "xc7z020");
  EXPECT_DOUBLE_EQ(f.fclk_mhz, 250);
  EXPECT_EQ(f.usable, "device");
}

TEST(CostSpec, BadSpecsAreOneClearError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"fpga", "no device"},
      {"fpga:", "no device"},
      {"fpga:fclk=100", "the device comes first"},
      {"fpga:xc7z020,fclk=0", "fclk '0'"},
      {"fpga:xc7z020,fclk=fast", "fclk 'fast'"},
      {"fpga:xc7z020,fclk=100MHz", "fclk '100MHz'"},
      {"fpga:xc7z020,fclk=1,fclk=2", "fclk given twice"},
      {"fpga:xc7z020,usable=half", "usable 'half'"},
      {"fpga:xc7z020,pe=4", "unknown option 'pe'"},
      {"fpga:xc7z020,100", "'100' is not KEY=VALUE"},
      {"engine:", "empty option list"},
      {"fpga:xc7z020,", "empty option list"},
      {"engine:threads=1.5", "threads '1.5' (an integer"},
      {"engine:threads=0", "threads '0'"},
      {"engine:batch=x", "batch 'x'"},
      {"engine:seconds=0", "seconds '0'"},
      {"engine:pe=2", "unknown option 'pe'"},
      {"engine:threads=1,threads=2", "threads given twice"},
      {"gpu:0", "unknown kind 'gpu'"},
      {"macs:1", "takes no options"},
      {"torch:tpu", "device 'tpu'"},
  };
  for (const auto& [text, want] : cases) {
    const auto msg = config_error([&] { cost::parse_cost(text); });
    EXPECT_NE(msg.find(want), std::string::npos) << "'" << text << "': " << msg;
    EXPECT_NE(msg.find("accepted:"), std::string::npos) << "'" << text << "': " << msg;
  }
  // A device not in the table: the table's names in the message.
  const auto msg = config_error([] { cost::make_cost(cost::parse_cost("fpga:xc9z999")); });
  EXPECT_NE(msg.find("xc7z020"), std::string::npos) << msg;
}

TEST(CostFpga, TfcW1A1FitsXc7z020AtTheFastestFittingFolding) {
  auto backend = cost::make_cost(cost::parse_cost("fpga:xc7z020"));
  EXPECT_TRUE(backend->architecture_only());
  EXPECT_FALSE(backend->prices_float());
  EXPECT_FALSE(backend->measures_time());
  EXPECT_EQ(backend->text(), "fpga:xc7z020,fclk=100,usable=finn");
  const auto v = backend->price_run(kTfcW1A1);  // from run.json: config + the dataset's shape

  namespace fpga = hw::fpga;
  const auto table = fpga::load_device_table(fpga::default_device_table_path());
  const auto want = fpga::fastest_fit(fpga::model_design(tfc_config(), kMnist, 10), fpga::CostOptions{},
                                      table.find("xc7z020"), fpga::UsableFractions{});
  ASSERT_TRUE(want.has_value());
  ASSERT_TRUE(v.ok) << v.message;
  EXPECT_TRUE(v.feasible);
  EXPECT_TRUE(v.priceable);
  EXPECT_EQ(v.how, cost::CostHow::estimated);
  EXPECT_EQ(v.unit, "ms/frame");
  EXPECT_NE(v.label.find("estimated"), std::string::npos);
  EXPECT_DOUBLE_EQ(v.detail.at("fps_estimated").get<double>(), want->estimate.fps.estimated);
  EXPECT_DOUBLE_EQ(v.objective, 1000.0 / want->estimate.fps.estimated);
  EXPECT_DOUBLE_EQ(v.detail.at("fps_expected").get<double>(), want->estimate.fps.expected);
  EXPECT_LT(v.detail.at("fps_expected").get<double>(), v.detail.at("fps_estimated").get<double>());
  EXPECT_EQ(v.detail.at("lut").get<int64_t>(), want->estimate.total.lut);
  EXPECT_EQ(v.detail.at("bram18").get<int64_t>(), want->estimate.total.bram18);
  EXPECT_TRUE(v.detail.at("fits_planning").get<bool>());
  EXPECT_TRUE(v.detail.at("fits_device").get<bool>());
  EXPECT_EQ(v.detail.at("folding").size(), 4u);  // one (PE, SIMD) per MVAU
  EXPECT_GT(v.detail.at("fps_estimated").get<double>(), 1e6);  // TFC W1A1 unfolds far on the XC7Z020

  // The whole device allows at least as fast a folding; a faster clock a proportionally faster one.
  const auto whole = cost::make_cost(cost::parse_cost("fpga:xc7z020,usable=device"))->price(tfc_config(), kMnist, 10);
  EXPECT_LE(whole.objective, v.objective);
  const auto fast = cost::make_cost(cost::parse_cost("fpga:xc7z020,fclk=200"))->price(tfc_config(), kMnist, 10);
  EXPECT_NEAR(fast.objective, v.objective / 2, 1e-12);
}

TEST(CostFpga, TooLargeIsInfeasibleWithAViolationThatGrowsWithTheDesign) {
  cost::CostContext tiny;
  tiny.devices = kData + "/fpga-tiny.json";
  auto backend = cost::make_cost(cost::parse_cost("fpga:tiny"), tiny);
  const auto tfc = backend->price(tfc_config(), kMnist, 10);
  ASSERT_TRUE(tfc.ok);
  EXPECT_TRUE(tfc.feasible) << tfc.message;  // the part is not simply too small for anything

  const auto lfc1 = backend->price(lfc_config(1, 1), kMnist, 10);
  const auto lfc2 = backend->price(lfc_config(2, 2), kMnist, 10);
  for (const auto* v : {&lfc1, &lfc2}) {
    ASSERT_TRUE(v->ok);
    EXPECT_FALSE(v->feasible);
    EXPECT_TRUE(v->priceable);
    EXPECT_GT(v->violation, 0);
    EXPECT_NE(v->message.find("no folding fits tiny"), std::string::npos) << v->message;
    EXPECT_FALSE(v->detail.at("fits_planning").get<bool>());
  }
  EXPECT_GT(lfc2.violation, lfc1.violation);  // twice the weight bits: further over

  // The violation is the sum of the relative excesses at PE = SIMD = 1.
  namespace fpga = hw::fpga;
  const auto table = fpga::load_device_table(tiny.devices);
  const auto smallest = fpga::evaluate(fpga::model_design(lfc_config(1, 1), kMnist, 10), fpga::CostOptions{},
                                       table.find("tiny"), fpga::UsableFractions{});
  double want = 0;
  for (const auto& r : smallest.fit.resources)
    if (r.budget > 0) want += std::max(0.0, double(r.used) / r.budget - 1);
  EXPECT_DOUBLE_EQ(lfc1.violation, want);

  // On the whole part the budgets are larger, so the same design is less far over.
  const auto device = cost::make_cost(cost::parse_cost("fpga:tiny,usable=device"), tiny)->price(lfc_config(1, 1), kMnist, 10);
  EXPECT_FALSE(device.feasible);
  EXPECT_LT(device.violation, lfc1.violation);
}

TEST(CostFpga, AFloatModelIsNotPriceable) {
  auto backend = cost::make_cost(cost::parse_cost("fpga:xc7z020"));
  const auto v = backend->price(models::preset_model("tfc"), kMnist, 10);  // float TFC
  EXPECT_TRUE(v.ok);
  EXPECT_FALSE(v.feasible);
  EXPECT_FALSE(v.priceable);
  EXPECT_NE(v.message.find("not priceable on xc7z020"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("float"), std::string::npos) << v.message;
}

TEST(CostProbe, ProxiesAndMeasurementsKeepTheProbesNumbers) {
  const auto config = tfc_config();
  auto model = models::build_model(config, kMnist, 10);
  auto macs = cost::make_cost(cost::parse_cost("macs"));
  auto params = cost::make_cost(cost::parse_cost("params"));
  EXPECT_TRUE(macs->architecture_only());
  EXPECT_TRUE(macs->prices_float());
  EXPECT_FALSE(macs->measures_time());
  const auto vm = macs->price(config, kMnist, 10);
  const auto vp = params->price_run(kTfcW1A1);
  EXPECT_EQ(vm.how, cost::CostHow::proxy);
  EXPECT_EQ(vp.how, cost::CostHow::proxy);
  EXPECT_NE(vm.label.find("proxy (not a measurement)"), std::string::npos);
  EXPECT_DOUBLE_EQ(vm.objective, double(model->macs()));
  EXPECT_DOUBLE_EQ(vp.objective, double(models::parameter_count(*model)));
  EXPECT_EQ(vm.unit, "MACs");
  EXPECT_EQ(vp.unit, "parameters");
  EXPECT_TRUE(macs->price(models::preset_model("tfc"), kMnist, 10).feasible);  // float: priced by a proxy

  auto torch = cost::make_cost(cost::parse_cost("torch:cpu:warmup=1,runs=3,blocks=2,threads=1"));
  EXPECT_TRUE(torch->measures_time());
  EXPECT_FALSE(torch->architecture_only());
  const auto vt = torch->price_run(kTfcW1A1);  // the trained model.pt
  ASSERT_TRUE(vt.ok) << vt.message;
  EXPECT_EQ(vt.how, cost::CostHow::measured);
  EXPECT_EQ(vt.unit, "ms");
  EXPECT_GT(vt.objective, 0);
  EXPECT_DOUBLE_EQ(vt.objective, vt.detail.at("median_ms").get<double>());
  EXPECT_NE(vt.label.find("measured"), std::string::npos);

  // A measurement needs the weights: a folder with run.json alone is not priced, and says why.
  testing::TempDir dir;
  std::filesystem::copy_file(kTfcW1A1 + "/run.json", dir.file("run.json"));
  const auto none = torch->price_run(dir.path());
  EXPECT_FALSE(none.ok);
  EXPECT_NE(none.message.find("no model.pt"), std::string::npos) << none.message;
  EXPECT_TRUE(macs->price_run(dir.path()).ok);  // a proxy needs only the config
  // Not a run folder at all: one clear error.
  testing::TempDir empty;
  EXPECT_NE(config_error([&] { macs->price_run(empty.path()); }).find("no run.json"), std::string::npos);
}

TEST(CostEngine, MeasuresTheIntegerEngineOfATrainedRun) {
  auto engine = cost::make_cost(cost::parse_cost("engine:batch=64,seconds=0.15"));
  EXPECT_TRUE(engine->measures_time());
  EXPECT_FALSE(engine->architecture_only());
  EXPECT_FALSE(engine->prices_float());
  // A bare config cannot be measured; a folder without weights is not priced, and says why.
  EXPECT_FALSE(engine->price(tfc_config(), kMnist, 10).ok);
  testing::TempDir dir;
  std::filesystem::copy_file(kTfcW1A1 + "/run.json", dir.file("run.json"));
  EXPECT_NE(engine->price_run(dir.path()).message.find("no model.pt"), std::string::npos);
  // A float model has no integer engine model: not priceable, the reason named.
  testing::TempDir fdir;
  auto cfg = train::train_run_config_from_json(RunRecord::from_json(read_json_file(kTfcW1A1 + "/run.json")).config);
  cfg.model = models::preset_model("tfc");
  train::save_trained_run(fdir.path(), cfg, *models::build_model(cfg.model, kMnist, 10), kMnist, 10);
  const auto f = engine->price_run(fdir.path());
  EXPECT_FALSE(f.feasible);
  EXPECT_FALSE(f.priceable);
  EXPECT_NE(f.message.find("not priceable on the integer engine"), std::string::npos) << f.message;
  if (!data::locate(data::dataset_spec("mnist"), "").has_value())
    GTEST_SKIP() << "MNIST is not installed: the engine is measured on real test images";
  const auto v = engine->price_run(kData + "/qat-tfc-w2a2");
  ASSERT_TRUE(v.ok) << v.message;
  EXPECT_TRUE(v.feasible);
  EXPECT_EQ(v.how, cost::CostHow::measured);
  EXPECT_EQ(v.unit, "ms/frame");
  EXPECT_NE(v.label.find("integer engine"), std::string::npos);
  EXPECT_NE(v.label.find(v.detail.at("measured_on").get<std::string>()), std::string::npos);  // names the CPU
  EXPECT_GT(v.objective, 0);
  EXPECT_DOUBLE_EQ(v.objective, 1000.0 / v.detail.at("frames_per_second").get<double>());
  EXPECT_EQ(v.detail.at("batch"), 64);
  EXPECT_EQ(v.detail.at("verified_frames"), 64);  // checked bit-exact with the trained model before it was timed
  EXPECT_GT(v.detail.at("single_frame_latency_us").get<double>(), 0);
}

// The one bundle writer (choose --export, evolve's front): a quantized run gets everything, a float one what applies
// and the reasons for the rest; nothing is written over; no staging folder is left behind.
TEST(CostBundle, AQuantizedRunGetsEverythingAFloatRunSaysWhyNot) {
  namespace fs = std::filesystem;
  testing::TempDir out;
  auto fpga = cost::make_cost(cost::parse_cost("fpga:xc7z020"));
  cost::BundleOptions o;
  o.origin = "test";
  o.label = "tfc w1a1";
  o.val_accuracy = 0.91;
  o.test_accuracy = 0.9;
  o.engine = "engine:batch=16,seconds=0.05";
  o.info["key"] = "k";
  const auto b = cost::write_bundle(kTfcW1A1, out.file("q"), fpga.get(), o);
  for (const char* f : {"run.json", "model.pt", "accuracy.json", "fpga.json", "model.nqe", "model.qonnx.onnx",
                        "bundle.json"})
    EXPECT_TRUE(fs::is_regular_file(out.file("q") + "/" + f)) << f << " " << b.dump();
  EXPECT_EQ(b.at("key"), "k");
  EXPECT_EQ(read_json_file(out.file("q/bundle.json")), b);
  const auto acc = read_json_file(out.file("q/accuracy.json"));
  EXPECT_DOUBLE_EQ(acc.at("val_accuracy").get<double>(), 0.91);
  EXPECT_DOUBLE_EQ(acc.at("test_accuracy").get<double>(), 0.9);
  const auto fj = read_json_file(out.file("q/fpga.json"));
  EXPECT_EQ(fj.at("target"), fpga->text());
  EXPECT_EQ(fj.at("cost").at("how"), "estimated");
  EXPECT_FALSE(fj.at("cost").at("detail").at("folding").empty());
  EXPECT_GT(engine::load_model(out.file("q/model.nqe")).layers.size(), 0u);
  if (data::locate(data::dataset_spec("mnist"), "").has_value()) {
    const auto ej = read_json_file(out.file("q/engine.json"));
    EXPECT_EQ(ej.at("cost").at("how"), "measured");
    EXPECT_GT(ej.at("cost").at("detail").at("frames_per_second").get<double>(), 0);
  } else {
    EXPECT_TRUE(b.at("not_written").contains("engine.json"));
  }
  // Nothing written over; nothing left beside.
  EXPECT_NE(config_error([&] { cost::write_bundle(kTfcW1A1, out.file("q"), fpga.get(), o); }).find("not empty"),
            std::string::npos);
  for (const auto& e : fs::directory_iterator(out.path()))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();

  // A float run: run.json, model.pt, accuracy.json; why no engine model, QONNX or FPGA figures.
  testing::TempDir fdir;
  auto cfg = train::train_run_config_from_json(RunRecord::from_json(read_json_file(kTfcW1A1 + "/run.json")).config);
  cfg.model = models::preset_model("tfc");
  train::save_trained_run(fdir.path(), cfg, *models::build_model(cfg.model, kMnist, 10), kMnist, 10);
  const auto fb = cost::write_bundle(fdir.path(), out.file("f"), fpga.get(), o);
  for (const char* f : {"run.json", "model.pt", "accuracy.json", "bundle.json"})
    EXPECT_TRUE(fs::is_regular_file(out.file("f") + "/" + f)) << f << " " << fb.dump();
  for (const char* f : {"model.nqe", "fpga.json", "engine.json"}) {
    EXPECT_FALSE(fs::exists(out.file("f") + "/" + f)) << f;
    EXPECT_FALSE(fb.at("not_written").value(f, std::string()).empty()) << f << " " << fb.dump();
  }
}

TEST(Pareto, Hypervolume2dEqualsPagmo) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 1 + trial % 17;
    std::vector<std::array<double, 2>> pts;
    std::vector<pagmo::vector_double> pp;
    for (int i = 0; i < n; ++i) {
      std::array<double, 2> p{u(rng), u(rng)};
      if (trial % 5 == 0 && i % 3 == 0) p[1] = pts.empty() ? p[1] : pts.back()[1];  // ties
      pts.push_back(p);
      pp.push_back({p[0], p[1]});
    }
    const std::array<double, 2> ref{1.1, 1.2};
    const double want = pagmo::hypervolume(pp).compute({ref[0], ref[1]});
    EXPECT_NEAR(hypervolume_2d(pts, ref), want, 1e-12) << "trial " << trial;
  }
  // Points outside the reference box add nothing (pagmo would refuse the set).
  EXPECT_DOUBLE_EQ(hypervolume_2d({{0.5, 0.5}, {2, 0.1}, {0.1, 3}}, {1, 1}), 0.25);
  EXPECT_DOUBLE_EQ(hypervolume_2d({}, {1, 1}), 0);
  // A dominated point changes nothing.
  EXPECT_DOUBLE_EQ(hypervolume_2d({{0.5, 0.5}, {0.6, 0.6}}, {1, 1}), 0.25);
}

}  // namespace
}  // namespace nemokd
