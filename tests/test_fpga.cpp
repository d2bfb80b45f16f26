// FPGA cost model: the published FINN validation vector (exact), hand-computed TFC foldings, folding errors,
// device fit, the three folding searches (checked against brute force on a small MLP), and the device table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <tuple>

#include "core/error.h"
#include "hw/fpga/cost_model.h"
#include "hw/fpga/design.h"
#include "hw/fpga/devices.h"
#include "hw/fpga/reference.h"
#include "hw/fpga/search.h"
#include "hw/fpga/summary.h"
#include "models/mlp.h"
#include "test_support.h"

using namespace nemokd;
using namespace nemokd::hw::fpga;

namespace {

template <typename F>
std::string config_error_of(F fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError thrown";
  return "";
}

models::MlpConfig mlp(std::vector<int> hidden, int wbits, int abits, const std::string& input = "signed",
                      int input_bits = 8) {
  models::MlpConfig m;
  m.hidden = std::move(hidden);
  m.activation = "tanh";
  m.quant.input = input;
  m.quant.input_bits = input_bits;
  m.set_bits({wbits}, {abits});
  return m;
}

Design tfc(int wbits, int abits, int pe, int simd) {
  Design d = mlp_design(mlp({64, 64, 64}, wbits, abits), MlpShape{784, 10, 0});
  apply_folding(d, Folding{{pe}, {simd}});
  return d;
}

Device device(const std::string& name, int64_t lut, int64_t ff, int64_t bram18, int64_t uram, int64_t dsp) {
  Device d;
  d.name = name;
  d.total = Resources{lut, ff, bram18, uram, dsp};
  d.source = "test";
  return d;
}

Device xc7z020() { return load_device_table(default_device_table_path()).find("xc7z020"); }

}  // namespace

// ../shared/docs/reference/finn-cost-model.md, "Validation vector": legacy formulas reproduce it exactly.
TEST(FpgaCost, PublishedValidationVectorExactly) {
  const auto r = finn_validation_mlp();
  const auto e = estimate(r.design, r.options);
  ASSERT_EQ(e.layers.size(), 4u);
  const int64_t cycles[4] = {60, 64, 64, 64}, bram[4] = {36, 4, 4, 1}, lut[4] = {8184, 1217, 1217, 341};
  const double eff[4] = {0.11574, 0.1111, 0.1111, 0.00694};
  const double digits[4] = {1e-5, 1e-4, 1e-4, 1e-5};  // as many digits as the report gives
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(e.layers[i].cycles, cycles[i]);
    EXPECT_EQ(e.layers[i].res.bram18, bram[i]);
    EXPECT_EQ(e.layers[i].res.lut, lut[i]);
    EXPECT_NEAR(e.layers[i].bram_efficiency, eff[i], digits[i] / 2 + 1e-12)
        << "rounded to the given digits: " << e.layers[i].bram_efficiency;
    EXPECT_EQ(e.layers[i].res.dsp, 0);
    EXPECT_EQ(e.layers[i].res.uram, 0);
  }
  EXPECT_EQ(e.max_cycles, 64);
  EXPECT_EQ(e.critical_path, 252);
  EXPECT_DOUBLE_EQ(e.fps, 1'562'500.0);
  EXPECT_EQ(e.total.bram18, 45);
  EXPECT_EQ(e.total.lut, 8184 + 1217 + 1217 + 341);
}

TEST(FpgaCost, CurrentFormulasNarrowTheAccumulatorAndDropBlockThresholds) {
  auto r = finn_validation_mlp();
  r.options.formulas = Formulas::current;
  const auto e = estimate(r.design, r.options);
  // Layer 1 (MW 64, W2, A2, signed input): alpha = 6 + 2 + 2 - 1 - 1 = 8, acc = ceil(8 + log2(1 + 2^-8) + 1) = 10,
  // the same as legacy's 2 + 2 + 6, so the LUTs agree; layer 0 (MW 600, A1): alpha = log2(600) + 1 = 10.23,
  // acc = 12 < legacy 13: 300 + 1.1 * 16 * (120 + 237 + 12 + 36 + 36) = 8061.6.
  EXPECT_EQ(e.layers[1].res.lut, 1217);
  EXPECT_EQ(e.layers[0].res.lut, 8061);
  r.options.threshold_ram = ThresholdRam::block;
  const auto b = estimate(r.design, r.options);
  EXPECT_EQ(b.layers[1].res.lut, int64_t(300 + 1.1 * (256 + 508 + 10)));  // no thr/comp terms
  EXPECT_EQ(b.layers[0].res.bram18, e.layers[0].res.bram18);            // BRAM formula unchanged
}

TEST(FpgaCost, MemoryModesAndMultipliers) {
  auto r = finn_validation_mlp();
  r.options.weight_mode = WeightMode::embedded;  // WMEM 64 <= 128 on layers 1-3: LUTRAM, c2 = P*Q*W*ceil(64/64)
  auto e = estimate(r.design, r.options);
  EXPECT_EQ(e.layers[1].res.bram18, 0);
  EXPECT_EQ(e.layers[1].res.lut, 1217 + 64 * 2);
  EXPECT_EQ(e.layers[0].res.bram18, 0);  // WMEM 60 <= 128 too
  r.options.weight_mode = WeightMode::external;
  EXPECT_EQ(estimate(r.design, r.options).total.bram18, 0);
  r.options.weight_mode = WeightMode::decoupled;
  r.options.ram_style = RamStyle::ultra;  // URAM = ceil(w_m/72) * ceil(omega/4096); layer 0: w_m 1280 -> 18
  e = estimate(r.design, r.options);
  EXPECT_EQ(e.layers[0].res.uram, 18);
  EXPECT_EQ(e.layers[0].res.bram18, 0);
  r.options.ram_style = RamStyle::automatic;
  r.options.multipliers = Multipliers::dsp;  // DSP = P*Q*ceil((W+A)/48); mult LUT term gone
  e = estimate(r.design, r.options);
  EXPECT_EQ(e.layers[0].res.dsp, 16 * 40);
  EXPECT_EQ(e.layers[0].res.lut, int64_t(300 + 1.1 * 16 * (237 + 13 + 39 + 39)));
  r.options.weight_mode = WeightMode::embedded;
  r.options.ram_style = RamStyle::ultra;
  EXPECT_NE(config_error_of([&] { estimate(r.design, r.options); }).find("ultra needs weight_mode decoupled"),
            std::string::npos);
}

// TFC 784-64-64-64-10, signed 8-bit input (a thresholding unit over 784 channels, PE = SIMD of fc0).
// cycles = (MH/PE) * (MW/SIMD); PE 2/8/16 on MH 10 become 2/5/10 (largest divisor of 10 not above).
//   PE=SIMD=2:  in 784/2 = 392; fc0 32*392 = 12544; fc1 = fc2 = 32*32 = 1024; fc3 5*32 = 160
//               max 12544 -> 100e6/12544 = 7971.94 FPS; critical path 392+12544+1024+1024+160 = 15144
//   PE=SIMD=8:  in 98; fc0 8*98 = 784; fc1 = fc2 = 8*8 = 64; fc3 (PE 5) 2*8 = 16
//               max 784 -> 127551.02 FPS; critical path 98+784+64+64+16 = 1026
//   PE=SIMD=16: in 49; fc0 4*49 = 196; fc1 = fc2 = 4*4 = 16; fc3 (PE 10) 1*4 = 4
//               max 196 -> 510204.08 FPS; critical path 49+196+16+16+4 = 281
TEST(FpgaCost, TfcUniformFoldingCyclesAndFps) {
  struct Case {
    int f;
    std::vector<int64_t> cycles;
    int fc3_pe;
  };
  for (const auto& c : std::vector<Case>{{2, {392, 12544, 1024, 1024, 160}, 2},
                                         {8, {98, 784, 64, 64, 16}, 5},
                                         {16, {49, 196, 16, 16, 4}, 10}}) {
    SCOPED_TRACE(c.f);
    CostOptions o;
    const auto e = estimate(tfc(2, 2, c.f, c.f), o);
    ASSERT_EQ(e.layers.size(), 5u);
    int64_t sum = 0;
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(e.layers[i].cycles, c.cycles[i]) << e.layers[i].name;
      sum += c.cycles[i];
    }
    EXPECT_EQ(e.layers[4].pe, c.fc3_pe);
    EXPECT_EQ(e.max_cycles, c.cycles[1]);
    EXPECT_EQ(e.critical_path, sum);
    EXPECT_NEAR(e.fps, 100e6 / double(c.cycles[1]), 1e-6);
    if (c.f != 2) {
      EXPECT_NE(e.layers[4].note.find("does not divide MH 10"), std::string::npos) << e.layers[4].note;
    }
  }
  // The FINN example folding of TFC: (16,49),(8,8),(8,8),(10,8) -> 64 cycles, 1.5625 M FPS at 100 MHz.
  Design d = mlp_design(mlp({64, 64, 64}, 1, 1), MlpShape{784, 10, 0});
  apply_folding(d, Folding{{16, 8, 8, 10}, {49, 8, 8, 8}});
  const auto e = estimate(d, CostOptions{});
  EXPECT_EQ(e.max_cycles, 64);
  EXPECT_DOUBLE_EQ(e.fps, 1'562'500.0);
}

TEST(FpgaDesign, BitsAndThresholdsComeFromTheMlpConfig) {
  auto m = mlp({32, 16}, 3, 4, "signed", 2);
  m.quant.weight_bits = {3, 5, 6};
  m.quant.act_bits = {4, 1};
  const Design d = mlp_design(m, MlpShape{100, 10, 0});
  ASSERT_TRUE(d.input.has_value());
  EXPECT_EQ(d.input->thresholds, 2);  // signed narrow 2 bits: 3 levels
  EXPECT_EQ(d.input->out_bits, 2);
  ASSERT_EQ(d.layers.size(), 3u);
  EXPECT_EQ(d.layers[0].abits, 2);       // the input quantizer's bits
  EXPECT_EQ(d.layers[0].wbits, 3);
  EXPECT_EQ(d.layers[0].thresholds, 14);  // tanh, 4 bits signed narrow: 2^4 - 2
  EXPECT_EQ(d.layers[1].abits, 4);
  EXPECT_EQ(d.layers[1].wbits, 5);
  EXPECT_EQ(d.layers[1].thresholds, 1);  // bipolar
  EXPECT_EQ(d.layers[2].abits, 1);
  EXPECT_EQ(d.layers[2].thresholds, 0);  // output layer: no activation, TMEM 0
  EXPECT_EQ(d.layers[2].tmem(), 0);
  EXPECT_EQ(d.layers[2].mh, 10);
  m.activation = "relu";
  m.quant.act_bits = {4, 2};
  EXPECT_EQ(mlp_design(m, MlpShape{100, 10, 0}).layers[0].thresholds, 15);  // unsigned: 2^4 - 1
  // u8 input: no thresholding unit, 8-bit pixels into fc0.
  const Design u = mlp_design(mlp({16}, 2, 2, "u8"), MlpShape{100, 10, 64});
  EXPECT_FALSE(u.input.has_value());
  EXPECT_EQ(u.layers[0].abits, 8);
  EXPECT_EQ(u.layers[1].mh, 64);  // padded output
  EXPECT_EQ(u.layers[1].mh_unpadded, 10);
  EXPECT_NE(mvau_cost(u.layers[1], CostOptions{}).note.find("padded 10 -> 64"), std::string::npos);
  // Float anywhere: a clear error naming the key.
  auto f = mlp({16}, 2, 2);
  f.quant.weight_bits = {32, 2};
  EXPECT_NE(config_error_of([&] { mlp_design(f, MlpShape{}); }).find("mlp.quant.weight_bits[0]: 32 bits is float"),
            std::string::npos);
  EXPECT_NE(config_error_of([&] { mlp_design(mlp({16}, 2, 2, "float"), MlpShape{}); }).find("mlp.quant.input"),
            std::string::npos);
}

TEST(FpgaDesign, InvalidFoldingNamesLayerAndLegalDivisors) {
  Design d = mlp_design(mlp({64, 64, 64}, 2, 2), MlpShape{784, 10, 0});
  const auto msg = config_error_of([&] { apply_folding(d, Folding{{16, 8, 8, 3}, {49, 8, 8, 8}}); });
  EXPECT_NE(msg.find("fc3: PE 3 does not divide MH 10; legal PE values: 1, 2, 5, 10"), std::string::npos) << msg;
  const auto simd = config_error_of([&] { apply_folding(d, Folding{{16, 8, 8, 10}, {48, 8, 8, 8}}); });
  EXPECT_NE(simd.find("fc0: SIMD 48 does not divide MW 784; legal SIMD values: 1, 2, 4, 7, 8, 14, 16, 28, 49, 56, 98, "
                      "112, 196, 392, 784"),
            std::string::npos)
      << simd;
  EXPECT_NE(config_error_of([&] { apply_folding(d, Folding{{16, 8}, {1}}); }).find("pe: 2 values for 4 layers"),
            std::string::npos);
  EXPECT_EQ(divisors(12), (std::vector<int64_t>{1, 2, 3, 4, 6, 12}));
  EXPECT_EQ(divisor_at_most(10, 8), 5);
}

TEST(FpgaDevices, FitsAndNamesTheFailingResource) {
  const Device z = xc7z020();
  EXPECT_EQ(z.total.lut, 53200);
  EXPECT_EQ(z.total.ff, 106400);
  EXPECT_EQ(z.total.bram18, 280);
  EXPECT_EQ(z.total.uram, 0);
  EXPECT_EQ(z.total.dsp, 220);
  const UsableFractions u;
  // Budgets: LUT 37240, FF 53200, BRAM18 224, DSP 176.
  EXPECT_TRUE(check_fit(Resources{37240, 53200, 224, 0, 176}, z, u).fits);
  auto f = check_fit(Resources{37241, 1000, 225, 0, 0}, z, u);
  EXPECT_FALSE(f.fits);
  ASSERT_EQ(f.failing.size(), 2u);
  EXPECT_EQ(f.failing[0], "LUT 37241 > 37240 (0.7 of 53200)");
  EXPECT_EQ(f.failing[1], "BRAM18 225 > 224 (0.8 of 280)");
  EXPECT_NE(f.summary().find("does not fit xc7z020"), std::string::npos);
  EXPECT_FALSE(check_fit(Resources{1, 1, 0, 1, 0}, z, u).fits);  // no URAM on a 7-series part
  const auto relaxed = parse_usable_fractions("--usable", "lut=1,bram=0.9");
  EXPECT_TRUE(check_fit(Resources{53200, 1000, 252, 0, 0}, z, relaxed).fits);
  EXPECT_NE(config_error_of([] { parse_usable_fractions("--usable", "lut=1.5"); }).find("--usable"), std::string::npos);
  EXPECT_NE(config_error_of([] { parse_usable_fractions("--usable", "luts=0.5"); }).find("'luts'"), std::string::npos);
  // LFC at PE = SIMD = 16 with 2-bit weights needs more BRAM than an XC7Z020 has; 1-bit weights fit.
  const auto lfc = [](int w) {
    Design d = mlp_design(mlp({1024, 1024, 1024}, w, 2), MlpShape{784, 10, 0});
    apply_folding(d, Folding{{16}, {16}});
    return estimate(d, CostOptions{});
  };
  EXPECT_TRUE(check_fit(lfc(1).total, z, u).fits) << check_fit(lfc(1).total, z, u).summary();
  const auto w2 = check_fit(lfc(2).total, z, u);
  EXPECT_FALSE(w2.fits);
  EXPECT_NE(w2.summary().find("BRAM18"), std::string::npos) << w2.summary();
}

TEST(FpgaDevices, TableLoadsAndRejectsBadFiles) {
  const auto table = load_device_table(default_device_table_path());
  EXPECT_GE(table.devices.size(), 3u);
  for (const auto& d : table.devices) EXPECT_FALSE(d.source.empty()) << d.name;
  EXPECT_EQ(table.find("XCZU3EG").total.lut, 70560);
  EXPECT_NE(config_error_of([&] { table.find("xc9z999"); }).find("known: xc7z020"), std::string::npos);

  const auto bad = [](const nlohmann::json& j) { return config_error_of([&] { parse_device_table(j, "my.json"); }); };
  nlohmann::json ok = {{"devices", {{{"name", "p"}, {"lut", 10}, {"ff", 10}, {"bram18", 1}, {"uram", 0}, {"dsp", 0},
                                     {"source", "me"}}}}};
  EXPECT_EQ(parse_device_table(ok, "my.json").devices.size(), 1u);
  EXPECT_NE(bad(nlohmann::json::array()).find("my.json: expected an object"), std::string::npos);
  EXPECT_NE(bad({{"devices", nlohmann::json::array()}}).find("my.json: devices: expected a non-empty array"),
            std::string::npos);
  auto j = ok;
  j["devices"][0]["luts"] = 5;
  EXPECT_NE(bad(j).find("my.json: devices[0].luts: unknown key"), std::string::npos) << bad(j);
  j = ok;
  j["devices"][0]["lut"] = "many";
  EXPECT_NE(bad(j).find("devices[0].lut: wrong type"), std::string::npos) << bad(j);
  j = ok;
  j["devices"][0]["bram18"] = -1;
  EXPECT_NE(bad(j).find("devices[0].bram18: -1 is negative"), std::string::npos);
  j = ok;
  j["devices"][0].erase("source");
  EXPECT_NE(bad(j).find("devices[0].source: missing"), std::string::npos);
  j = ok;
  j["devices"].push_back(j["devices"][0]);
  EXPECT_NE(bad(j).find("devices[1].name: 'p' listed twice"), std::string::npos);
  const nemokd::testing::TempDir tmp;
  const std::string path = tmp.path() + "/broken.json";
  std::ofstream(path) << "{\"devices\": [";
  EXPECT_NE(config_error_of([&] { load_device_table(path); }).find(path + ": invalid JSON"), std::string::npos);
}

// Hand-traced FINN SetFolding on TFC W2A2 at 100 MHz.
TEST(FpgaSearch, SetFoldingReachesTargetFps) {
  // Target 100k FPS -> T = 1000 cycles. fc0 (MW 784, MH 64): SIMD 1..16 (cycles 3136 at 16); SIMD 28 would be
  // 2 * 28 = 56 > 36 bits wide without meeting T -> back to 16; PE 1, 2, 4 -> 784 < 1000. fc1/fc2 (64x64):
  // SIMD 8 -> 512. fc3 (10x64): SIMD 1 -> 640. Input thresholding: PE 1 -> 784.
  const Design d = set_folding(tfc(2, 2, 1, 1), 100, SetFoldingOptions{100'000});
  EXPECT_EQ(d.layers[0].pe, 4);
  EXPECT_EQ(d.layers[0].simd, 16);
  EXPECT_EQ(d.layers[1].simd, 8);
  EXPECT_EQ(d.layers[1].pe, 1);
  EXPECT_EQ(d.layers[3].simd, 1);
  EXPECT_EQ(d.input->pe, 1);
  const auto e = estimate(d, CostOptions{});
  EXPECT_EQ(e.max_cycles, 784);
  EXPECT_GE(e.fps, 100'000);
  for (double target : {5'000.0, 50'000.0, 400'000.0, 1'000'000.0}) {
    const auto t = estimate(set_folding(tfc(4, 4, 1, 1), 100, SetFoldingOptions{target}), CostOptions{});
    EXPECT_GE(t.fps, target) << target;
  }
}

TEST(FpgaSearch, SetFoldingRerunsOnceToBalance) {
  // W8, 1 M FPS -> T = 100. fc0: SIMD capped at 4 (8 * 7 = 56 > 36), so even PE 64 leaves 196 cycles > T.
  // Pass 1 gives fc1 (16, 4) = 64 cycles; the rerun at T = 196 relaxes it to PE 8 (128 cycles).
  const Design base = tfc(8, 8, 1, 1);
  const Design one = set_folding(base, 100, SetFoldingOptions{1e6, 36, false});
  EXPECT_EQ(one.layers[0].simd, 4);
  EXPECT_EQ(one.layers[0].pe, 64);
  EXPECT_EQ(one.layers[1].pe, 16);
  EXPECT_EQ(one.layers[1].simd, 4);
  const Design two = set_folding(base, 100, SetFoldingOptions{1e6, 36, true});
  EXPECT_EQ(two.layers[1].pe, 8);
  EXPECT_EQ(estimate(two, CostOptions{}).max_cycles, 196);
  EXPECT_NE(config_error_of([&] { set_folding(base, 100, SetFoldingOptions{2e8}); }).find("target_fps"),
            std::string::npos);
}

namespace {
// Every folding of a small design, priced: the brute-force reference for the searches.
std::vector<FoldedDesign> all_foldings(const Design& base, const CostOptions& o, const Device& dev) {
  std::vector<FoldedDesign> out;
  std::function<void(size_t, Design&)> rec = [&](size_t i, Design& d) {
    if (i == d.layers.size()) {
      sync_input_pe(d);
      out.push_back(evaluate(d, o, dev, UsableFractions{}));
      return;
    }
    for (int64_t p : divisors(d.layers[i].mh))
      for (int64_t q : divisors(d.layers[i].mw)) {
        d.layers[i].pe = int(p);
        d.layers[i].simd = int(q);
        rec(i + 1, d);
      }
  };
  Design d = base;
  rec(0, d);
  return out;
}
}  // namespace

TEST(FpgaSearch, FastestFitMatchesBruteForce) {
  const Design base = mlp_design(mlp({16, 12}, 4, 3), MlpShape{24, 6, 0});
  const CostOptions o;
  for (int64_t lut : {2500, 4000, 9000, 40000}) {
    SCOPED_TRACE(lut);
    const Device dev = device("tiny", lut, 20000, 10, 0, 0);
    int64_t best = INT64_MAX;
    for (const auto& f : all_foldings(base, o, dev))
      if (f.fit.fits) best = std::min(best, f.estimate.max_cycles);
    const auto found = fastest_fit(base, o, dev, UsableFractions{});
    if (best == INT64_MAX) {
      EXPECT_FALSE(found.has_value());
      continue;
    }
    ASSERT_TRUE(found.has_value());
    EXPECT_TRUE(found->fit.fits);
    EXPECT_EQ(found->estimate.max_cycles, best);
  }
}

TEST(FpgaSearch, FastestFitOnXc7z020IsNotBeatenByANeighbour) {
  const Device z = xc7z020();
  const CostOptions o;
  for (auto [w, a, hidden] : std::vector<std::tuple<int, int, std::vector<int>>>{
           {2, 2, {64, 64, 64}}, {4, 4, {256, 256, 256}}, {1, 2, {1024, 1024, 1024}}}) {
    SCOPED_TRACE(hidden[0] * 100 + w);
    const Design base = mlp_design(mlp(hidden, w, a), MlpShape{784, 10, 0});
    const auto found = fastest_fit(base, o, z, UsableFractions{});
    ASSERT_TRUE(found.has_value());
    EXPECT_TRUE(found->fit.fits);
    EXPECT_EQ(found->fit.device, "xc7z020");
    // Step any one PE or SIMD to the next larger legal value: either it no longer fits or it is no faster.
    for (size_t i = 0; i < base.layers.size(); ++i)
      for (int which = 0; which < 2; ++which) {
        Design n = found->design;
        auto& l = n.layers[i];
        const auto ds = divisors(which ? l.mw : l.mh);
        auto it = std::upper_bound(ds.begin(), ds.end(), which ? l.simd : l.pe);
        if (it == ds.end()) continue;
        (which ? l.simd : l.pe) = int(*it);
        sync_input_pe(n);
        const auto f = evaluate(n, o, z, UsableFractions{});
        EXPECT_TRUE(!f.fit.fits || f.estimate.max_cycles >= found->estimate.max_cycles)
            << l.name << (which ? " SIMD " : " PE ") << *it << " gives " << f.estimate.max_cycles << " < "
            << found->estimate.max_cycles;
      }
  }
}

TEST(FpgaSearch, FastestFitSaysWhenNothingFits) {
  // LFC W2: ~5.8 Mbit of weights against 224 usable BRAM18 (4.1 Mbit) in every folding.
  const Design base = mlp_design(mlp({1024, 1024, 1024}, 2, 2), MlpShape{784, 10, 0});
  EXPECT_FALSE(fastest_fit(base, CostOptions{}, xc7z020(), UsableFractions{}).has_value());
}

TEST(FpgaSearch, ParetoSetIsNonDominatedAndMatchesBruteForce) {
  const Design base = mlp_design(mlp({16, 12}, 4, 3), MlpShape{24, 6, 0});
  const CostOptions o;
  const Device dev = device("tiny", 6000, 20000, 8, 0, 0);
  const auto front = pareto_foldings(base, o, dev, UsableFractions{}, true);
  ASSERT_FALSE(front.empty());
  using Key = std::tuple<int64_t, int64_t, int64_t>;
  auto key = [](const FoldedDesign& f) {
    return Key{f.estimate.max_cycles, f.estimate.total.lut, f.estimate.total.bram18};
  };
  auto dominates = [](const Key& a, const Key& b) {
    return std::get<0>(a) <= std::get<0>(b) && std::get<1>(a) <= std::get<1>(b) && std::get<2>(a) <= std::get<2>(b) &&
           a != b;
  };
  std::set<Key> got;
  for (const auto& f : front) {
    EXPECT_TRUE(f.fit.fits);
    for (const auto& g : front) EXPECT_FALSE(dominates(key(g), key(f)));
    got.insert(key(f));
  }
  EXPECT_EQ(got.size(), front.size()) << "duplicate points";
  std::vector<Key> fitting;
  for (const auto& f : all_foldings(base, o, dev))
    if (f.fit.fits) fitting.push_back(key(f));
  std::set<Key> expected;
  for (const auto& k : fitting) {
    bool dominated = false;
    for (const auto& m : fitting) dominated = dominated || dominates(m, k);
    if (!dominated) expected.insert(k);
  }
  EXPECT_EQ(got, expected);
  for (size_t i = 1; i < front.size(); ++i)
    EXPECT_LE(front[i - 1].estimate.max_cycles, front[i].estimate.max_cycles);  // fastest first
}

// The flip-flop estimate against published synthesis: reported, not asserted tight (docs/FPGA.md quotes these).
TEST(FpgaReference, FlipFlopEstimateAgainstSynthesis) {
  const auto checks = check_reference_designs();
  ASSERT_EQ(checks.size(), 3u);
  for (const auto& c : checks) {
    ASSERT_TRUE(c.ff_error && c.lut_error);
    std::cout << c.name << ": FF estimate " << c.estimate.total.ff << " vs synthesis " << *c.synth_ff << " ("
              << std::showpos << std::lround(100 * *c.ff_error) << std::noshowpos << "%), LUT " << c.estimate.total.lut
              << " vs " << *c.synth_lut << " (" << std::showpos << std::lround(100 * *c.lut_error) << std::noshowpos
              << "%)\n";
    EXPECT_LT(std::abs(*c.ff_error), 1.0) << "FF estimate off by more than 2x: the structure is wrong, not the constants";
  }
  EXPECT_EQ(checks[1].estimate.max_cycles, 512);  // BNN-PYNQ LFC: 512 cycles
  EXPECT_LT(checks[1].estimate.total.ff, checks[2].estimate.total.ff);  // A1 -> A2 grows, as synthesis does
}

TEST(FpgaSummary, HwPointAndStrictConfig) {
  const Device z = xc7z020();
  auto p = hw_point(mlp({64, 64, 64}, 2, 2), MlpShape{784, 10, 0}, HwPointConfig{}, z);
  ASSERT_TRUE(p.ok) << p.message;
  EXPECT_EQ(p.max_cycles, 196);
  EXPECT_TRUE(p.fits);
  auto f = mlp({64}, 2, 2);
  f.quant.act_bits = {32};
  const auto bad = hw_point(f, MlpShape{784, 10, 0}, HwPointConfig{}, z);
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.message.find("32 bits is float"), std::string::npos);
  EXPECT_NE(config_error_of([] { hw_point_config_from_json({{"pes", 4}}); }).find("hw.pes: unknown key"),
            std::string::npos);
  EXPECT_EQ(hw_point_config_from_json({{"pe", 4}}).simd, 16);
}
