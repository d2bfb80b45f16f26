// Reports: run-kind detection, the numbers behind each figure (heatmaps, relative resources, radar normalisation,
// KD surface, Pareto front, Q vs K), errors for folders without runs, and the page's self-containedness.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "report/report.h"
#include "test_support.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace nemokd::report;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}
void write_json(const std::string& path, const json& j) { write(path, j.dump(2)); }

// A 2 x 2 sweep (W1..2 x A1..2) with FPGA columns; cell folders with metrics.json.
void make_sweep(const std::string& dir) {
  json rows = json::array();
  const double acc[2][2] = {{0.90, 0.92}, {0.93, 0.95}};
  const double lut[2][2] = {{1000, 3000}, {2000, 8000}};
  const double bram[2][2] = {{10, 10}, {20, 20}};
  for (int w = 1; w <= 2; ++w)
    for (int a = 1; a <= 2; ++a) {
      const double x = acc[w - 1][a - 1];
      rows.push_back({{"wbits", w}, {"abits", a}, {"status", "completed"}, {"final_test_accuracy", x},
                      {"final_val_accuracy", x + 0.01}, {"parameters", 100}, {"train_seconds", 10.0 * w + a},
                      {"test_accuracy_at", {{"5", x - 0.02}, {"10", x}}},
                      {"run_dir", dir + "/w" + std::to_string(w) + "a" + std::to_string(a)},
                      {"hw", {{"lut", lut[w - 1][a - 1]}, {"ff", 500.0 * (w + a)}, {"bram18", bram[w - 1][a - 1]},
                              {"dsp", 0}, {"fps", 1000.0}, {"fits", a == 1}, {"ok", true},
                              {"fit", a == 1 ? "fits xc7z020" : "does not fit xc7z020: LUT"}}}});
      json metrics = json::array();
      for (int e = 1; e <= 10; ++e)
        metrics.push_back({{"epoch", e}, {"train_accuracy", 0.8}, {"val_accuracy", x - 0.1 + 0.01 * e}, {"test_accuracy", nullptr}});
      write_json(dir + "/w" + std::to_string(w) + "a" + std::to_string(a) + "/metrics.json", metrics);
      write_json(dir + "/w" + std::to_string(w) + "a" + std::to_string(a) + "/run.json",
                 {{"argv", {"/x/nemokd", "run", "request.json"}}, {"status", "completed"}});
    }
  write_json(dir + "/results.json", {{"dataset", "mnist"}, {"epochs", 10}, {"eval_at", {5, 10}}, {"hidden", {64, 64, 64}},
                                     {"preset", ""}, {"hw", {{"device", "xc7z020"}, {"pe", 16}, {"simd", 16}, {"fclk_mhz", 100.0}}},
                                     {"rows", rows}});
  write_json(dir + "/sweep.json", {{"eval_at", {5, 10}}, {"cells", json::array()}});
}

void make_kd_grid(const std::string& dir) {
  json rows = json::array({{{"name", "no-kd"}, {"kd", false}, {"alpha", nullptr}, {"temperature", nullptr},
                            {"test_accuracy", 0.80}, {"test_error", 0.20}, {"status", "completed"}, {"run_dir", dir + "/no-kd"}}});
  for (double a : {0.5, 0.9})
    for (double t : {2.0, 4.0}) {
      const double err = 0.15 + a / 10 + t / 100;
      rows.push_back({{"name", "a" + std::to_string(a) + "-t" + std::to_string(t)}, {"kd", true}, {"alpha", a},
                      {"temperature", t}, {"test_accuracy", 1 - err}, {"test_error", err}, {"status", "completed"},
                      {"run_dir", dir}});
    }
  write_json(dir + "/results.json", {{"baseline", {{"test_accuracy", 0.80}, {"test_error", 0.20}}},
                                     {"best", {{"alpha", 0.5}, {"temperature", 2.0}, {"test_error", 0.22}}}, {"rows", rows}});
  json grid = {{"alphas", {0.5, 0.9}}, {"temperatures", {2.0, 4.0}}, {"preset", "k-fmnist"}};
  grid["base"]["dataset"]["name"] = "fashion-mnist";
  grid["base"]["model"] = {{"arch", "flexstudent"}, {"flexstudent", {{"conv_channels", {32}}}}};
  write_json(dir + "/grid.json", grid);
}

void make_evolution(const std::string& dir) {
  json c = json::array();
  // (latency, error): (1, 0.3) (2, 0.2) (3, 0.25: dominated by (2, 0.2)) (4, 0.1)
  const double pts[][2] = {{1, 0.3}, {2, 0.2}, {3, 0.25}, {4, 0.1}};
  int i = 0;
  for (const auto& p : pts)
    c.push_back({{"generation", 1 + i % 2}, {"id", "c" + std::to_string(i++)}, {"genome", {{"conv", {16, 32}}}},
                 {"architecture", "conv 16-32"}, {"error", p[1]}, {"latency_ms", p[0]}, {"params", 10}, {"macs", 20}});
  write_json(dir + "/candidates.json", {{"dataset", "fashion-mnist"}, {"device", "cpu"}, {"candidates", c},
                                        {"baseline", {{{"name", "baseline"}, {"error", 0.22}, {"latency_ms", 2.5}}}}});
}

TEST(Report, DetectsRunKindsByTheirFiles) {
  nemokd::testing::TempDir t;
  make_sweep(t.file("sweep"));
  make_kd_grid(t.file("kd"));
  make_evolution(t.file("evo"));
  write(t.file("engine/compare.csv"), "set,cell,bytes,engine_accuracy,model_accuracy,exact\nruns,w1a1,100,0.9,0.9,True\n");
  write(t.file("hw/grid.csv"), "topology,wbits,abits,pe,simd,max_cycles,fps,lut,ff,bram18,uram,dsp,fits,failing\n"
                               "tfc,1,1,16,16,196,510204.1,20246,17291,29,0,0,yes,\n");
  write_json(t.file("single/run.json"), {{"argv", {"nemokd", "train"}}, {"status", "completed"}});
  EXPECT_EQ(detect_kind(t.file("sweep")), RunKind::sweep);
  EXPECT_EQ(detect_kind(t.file("kd")), RunKind::kd_grid);
  EXPECT_EQ(detect_kind(t.file("evo")), RunKind::evolution);
  EXPECT_EQ(detect_kind(t.file("engine")), RunKind::engine_compare);
  EXPECT_EQ(detect_kind(t.file("hw")), RunKind::fpga_grid);
  EXPECT_EQ(detect_kind(t.file("single")), RunKind::single_run);
  EXPECT_EQ(detect_kind(t.file("sweep/w1a1")), RunKind::single_run);
  EXPECT_EQ(detect_kind(t.path()), std::nullopt);
  // The parent folder is no run; its runs one level down are all loaded.
  const RunSet all = load_runs({t.path()});
  EXPECT_EQ(all.entries.size(), 6u);
  EXPECT_EQ(all.sweeps.size(), 1u);
  EXPECT_EQ(all.fpga.size(), 1u);
  EXPECT_EQ(all.fpga[0].rows.at(0).hw.lut, 20246);
}

TEST(Report, UnknownOrMissingFolderIsAClearError) {
  nemokd::testing::TempDir t;
  fs::create_directories(t.file("empty/sub"));
  try {
    load_runs({t.file("empty")});
    FAIL() << "no error";
  } catch (const nemokd::ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("not a nemokd run folder"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr(t.file("empty")));
  }
  EXPECT_THROW(load_runs({t.file("nope")}), nemokd::ConfigError);
  EXPECT_THROW(load_runs({}), nemokd::ConfigError);
  write(t.file("bad/sweep.json"), "{");
  write(t.file("bad/results.json"), "{}");
  EXPECT_THROW(load_runs({t.file("bad")}), nemokd::DataError);
  EXPECT_THROW(write_report({t.file("empty")}, t.file("out.html")), nemokd::ConfigError);
  EXPECT_FALSE(fs::exists(t.file("out.html")));
}

TEST(Report, SweepHeatmapDataEqualsResultsJson) {
  nemokd::testing::TempDir t;
  make_sweep(t.path());
  const Sweep s = load_sweep(t.path());
  ASSERT_EQ(s.cells.size(), 4u);
  EXPECT_EQ(s.topology, "tfc");
  const json rows = accuracy_heatmap_rows(s);
  ASSERT_EQ(rows.size(), 8u);  // 4 cells x 2 evaluation epochs
  const json results = json::parse(std::ifstream(t.file("results.json")));
  for (const auto& r : results["rows"])
    for (const auto& [epoch, acc] : r["test_accuracy_at"].items()) {
      int found = 0;
      for (const auto& h : rows)
        if (h["wbits"] == r["wbits"] && h["abits"] == r["abits"] && h["epoch"] == std::stoi(epoch)) {
          EXPECT_EQ(h["accuracy"].get<double>(), acc.get<double>());
          ++found;
        }
      EXPECT_EQ(found, 1);
    }
  EXPECT_EQ(s.find(2, 2)->curve.size(), 10u);  // from metrics.json
}

TEST(Report, ResourcesAreRelativeToTheCheapestDesign) {
  EXPECT_DOUBLE_EQ(relative_to_min(3000, 1000), 3.0);
  EXPECT_TRUE(std::isnan(relative_to_min(5, 0)));
  nemokd::testing::TempDir t;
  make_sweep(t.path());
  const json rows = resource_heatmap_rows(hw_points(load_sweep(t.path())));
  ASSERT_EQ(rows.size(), 12u);  // LUT, FF, BRAM18 x 4 designs
  auto rel = [&](const char* res, int w, int a) {
    for (const auto& r : rows)
      if (r["resource"] == res && r["wbits"] == w && r["abits"] == a) return r["relative"].get<double>();
    return -1.0;
  };
  EXPECT_DOUBLE_EQ(rel("LUT", 1, 1), 1.0);
  EXPECT_DOUBLE_EQ(rel("LUT", 2, 2), 8.0);
  EXPECT_DOUBLE_EQ(rel("LUT", 1, 2), 3.0);
  EXPECT_DOUBLE_EQ(rel("BRAM18", 2, 1), 2.0);
  EXPECT_DOUBLE_EQ(rel("FF", 2, 2), 2.0);  // 2000 / 1000
  const json fit = fit_heatmap_rows(hw_points(load_sweep(t.path())));
  EXPECT_EQ(fit[0]["fits"], "fits");
  EXPECT_EQ(fit[1]["fits"], "does not fit");
}

TEST(Report, RadarScoresAreBestOneWorstZeroAcrossTheSweep) {
  EXPECT_DOUBLE_EQ(normalise(0.95, 0.95, 0.90), 1.0);
  EXPECT_DOUBLE_EQ(normalise(0.90, 0.95, 0.90), 0.0);
  EXPECT_NEAR(normalise(0.925, 0.95, 0.90), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(normalise(1000, 1000, 8000), 1.0);  // lower is better: best below worst
  EXPECT_DOUBLE_EQ(normalise(8000, 1000, 8000), 0.0);
  EXPECT_FALSE(std::signbit(normalise(8000, 1000, 8000)));
  EXPECT_DOUBLE_EQ(normalise(3, 3, 3), 1.0);
  nemokd::testing::TempDir t;
  make_sweep(t.path());
  const Sweep s = load_sweep(t.path());
  const RadarSlice diag{"d", "diagonal", {{1, 1}, {2, 2}, {7, 7}}};  // W7A7 is not in the sweep
  const json rows = radar_rows(s, diag);
  auto score = [&](const char* cell, const char* key) {
    for (const auto& r : rows)
      if (r["category"] == cell && r["key"] == key) return r["value"].get<double>();
    return -1.0;
  };
  EXPECT_DOUBLE_EQ(score("W1A1", "accuracy"), 0.0);  // 0.90, the sweep's worst
  EXPECT_DOUBLE_EQ(score("W2A2", "accuracy"), 1.0);  // 0.95, the best
  EXPECT_DOUBLE_EQ(score("W1A1", "LUT"), 1.0);       // cheapest
  EXPECT_DOUBLE_EQ(score("W2A2", "LUT"), 0.0);       // dearest
  EXPECT_DOUBLE_EQ(score("W1A1", "accuracy @5"), 0.0);
  EXPECT_DOUBLE_EQ(score("W1A1", "training time"), 1.0);  // 11 s, the fastest
  EXPECT_EQ(score("W7A7", "accuracy"), -1.0);
  for (const auto& r : rows) EXPECT_NE(r["key"], "FPS");  // constant FPS is no axis
  EXPECT_EQ(paper_radar_slices().size(), 3u);
  EXPECT_EQ(paper_radar_slices()[0].cells[0], std::make_pair(1, 4));
}

TEST(Report, KdSurfaceRowsAgainstTheBaseline) {
  nemokd::testing::TempDir t;
  make_kd_grid(t.path());
  const KdGrid g = load_kd_grid(t.path());
  EXPECT_DOUBLE_EQ(g.baseline_error, 0.20);
  EXPECT_EQ(g.dataset, "fashion-mnist");
  const json rows = kd_surface_rows(g);
  ASSERT_EQ(rows.size(), 4u);  // the no-KD row is the plane, not a cell
  for (const auto& r : rows) {
    const double err = 0.15 + r["alpha"].get<double>() / 10 + r["temperature"].get<double>() / 100;
    EXPECT_NEAR(r["error"].get<double>(), err, 1e-12);
    EXPECT_NEAR(r["delta"].get<double>(), err - 0.20, 1e-12);
    EXPECT_EQ(r["beats_baseline"].get<bool>(), err < 0.20);
  }
}

TEST(Report, EvolutionParetoFrontAndQVsK) {
  nemokd::testing::TempDir t;
  make_evolution(t.file("evo"));
  make_sweep(t.file("sweep"));
  const Evolution ev = load_evolution(t.file("evo"));
  ASSERT_EQ(ev.candidates.size(), 4u);
  EXPECT_EQ(ev.baselines.size(), 1u);
  const auto front = pareto_front(ev.candidates);
  ASSERT_EQ(front.size(), 3u);
  EXPECT_EQ(front[0].id, "c0");
  EXPECT_EQ(front[1].id, "c1");
  EXPECT_EQ(front[2].id, "c3");
  EXPECT_EQ(chosen_candidates(ev, {2}).size(), 2u);
  const RunSet runs = load_runs({t.file("evo"), t.file("sweep")});
  const json q = q_vs_k_rows(runs, {});
  int qn = 0, kn = 0;
  for (const auto& r : q) {
    if (r["route"].get<std::string>()[0] == 'Q') {
      ++qn;
      EXPECT_EQ(r["fps"].get<double>(), 1000.0);
    } else {
      ++kn;
    }
  }
  EXPECT_EQ(qn, 4);
  EXPECT_EQ(kn, 4);  // 3 on the front + 1 baseline
  for (const auto& r : q) EXPECT_EQ(r["how"], r["route"].get<std::string>()[0] == 'Q' ? "estimated" : "measured");
  // Missing objectives are an error naming the file.
  write_json(t.file("bad/candidates.json"), {{"candidates", {{{"generation", 1}, {"error", 0.1}}}}});
  EXPECT_THROW(load_evolution(t.file("bad")), nemokd::DataError);
}

// Issue 17: an evolution says what its error is. Files written before selection on validation (no "selected_on")
// were selected on test; a new one selected on validation carries each candidate's test error, which is what the
// Q-vs-K comparison plots as test accuracy.
TEST(Report, EvolutionSaysWhichErrorItSelectedOn) {
  nemokd::testing::TempDir t;
  make_evolution(t.file("old"));
  const Evolution old = load_evolution(t.file("old"));
  EXPECT_EQ(old.selected_on, "test");
  for (const auto& c : old.candidates) EXPECT_EQ(c.test_error, c.error);
  auto j = json::parse(std::ifstream(t.file("old/candidates.json")));
  j["selected_on"] = "validation";
  for (auto& c : j["candidates"]) c["test_error"] = c["error"].get<double>() + 0.05;
  j["baseline"][0]["test_error"] = 0.26;
  write_json(t.file("new/candidates.json"), j);
  const Evolution now = load_evolution(t.file("new"));
  EXPECT_EQ(now.selected_on, "validation");
  for (const auto& c : now.candidates) EXPECT_DOUBLE_EQ(c.test_error, c.error + 0.05);
  RunSet runs = load_runs({t.file("new")});
  for (const auto& r : q_vs_k_rows(runs, {})) {
    if (r["label"].get<std::string>().find("baseline") != std::string::npos) {
      EXPECT_DOUBLE_EQ(r["accuracy"].get<double>(), 0.74);  // 1 - test error, not 1 - validation error
    }
  }
  auto html = [&](const std::string& dir) {
    ReportOptions o;
    write_report({t.file(dir)}, t.file(dir + "-report.html"), o);
    std::ifstream in(t.file(dir + "-report.html"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto old_page = html("old"), new_page = html("new");
  EXPECT_NE(old_page.find("(selected on test: paper protocol)"), std::string::npos);
  EXPECT_EQ(new_page.find("paper protocol"), std::string::npos);
  EXPECT_NE(new_page.find("validation error (selection metric)"), std::string::npos);
  j["selected_on"] = "train";
  write_json(t.file("bad/candidates.json"), j);
  EXPECT_THROW(load_evolution(t.file("bad")), nemokd::DataError);
}

// Issue 18 section 3: every Q-vs-K point says how it was obtained and on what; the expected-on-board FPGA figure is
// a point of its own (never merged with the estimate); engine measurements of route Q's models sit beside route K's
// CPU latencies on a chart of their own, and a non-torch probe is not called a CPU.
TEST(Report, QVsKPointsSayHowAndOnWhatTheyWereObtained) {
  nemokd::testing::TempDir t;
  make_evolution(t.file("evo"));
  make_sweep(t.file("sweep"));
  {
    auto j = json::parse(std::ifstream(t.file("sweep/results.json")));
    j["rows"][0]["hw"]["fps_estimated"] = 2000.0;
    j["rows"][0]["hw"]["fps_expected"] = 1340.0;
    j["rows"][0]["hw"]["fps_expected_sd"] = 420.0;
    write_json(t.file("sweep/results.json"), j);
    auto c = json::parse(std::ifstream(t.file("evo/candidates.json")));
    c["host"] = "Test CPU 9000, 2 cores";
    write_json(t.file("evo/candidates.json"), c);
  }
  write_json(t.file("sweep/w1a1/engine_bench.json"),
             {{"frames_per_second", 4.0e6}, {"single_frame_latency_us", 0.5}, {"batch", 4096}, {"threads", 2},
              {"libtorch_fp32_frames_per_second", 8.0e5}, {"measured_on", "Test CPU 9000, 2 cores"}});
  RunSet runs = load_runs({t.file("evo"), t.file("sweep")});
  const json q = q_vs_k_rows(runs, {});
  std::map<std::string, int> by_route;
  for (const auto& r : q) {
    ++by_route[r["route"].get<std::string>()];
    const std::string route = r["route"];
    if (route.find("engine") != std::string::npos) {
      EXPECT_EQ(r["how"], "measured");
      EXPECT_EQ(r["on"], "Test CPU 9000, 2 cores");
      EXPECT_DOUBLE_EQ(r["fps"].get<double>(), 2.0e6);  // one frame per 0.5 us: batch 1, like route K's probe
      EXPECT_EQ(r["label"], "tfc W1A1");
    } else if (route.find("expected") != std::string::npos) {
      EXPECT_EQ(r["how"], "expected on board");
      EXPECT_DOUBLE_EQ(r["fps"].get<double>(), 1340.0);
      EXPECT_DOUBLE_EQ(r["fps_high"].get<double>(), 1760.0);
    } else if (route.rfind("K", 0) == 0) {
      EXPECT_EQ(route, "K on CPU: LibTorch fp32, batch 1 (measured)");
      EXPECT_EQ(r["on"], "Test CPU 9000, 2 cores");
    } else {
      EXPECT_EQ(r["how"], "estimated");
      EXPECT_EQ(r["on"], "xc7z020");
    }
  }
  EXPECT_EQ(by_route["Q on FPGA: estimated (cost model)"], 4);
  EXPECT_EQ(by_route["Q on FPGA: expected on the board (calibrated)"], 1);
  EXPECT_EQ(by_route["Q on CPU: integer engine, batch 1 (measured)"], 1);
  EXPECT_EQ(by_route["K on CPU: LibTorch fp32, batch 1 (measured)"], 4);
  ReportOptions o;
  const auto s = write_report({t.file("sweep"), t.file("evo")}, t.file("out/report.html"), o);
  EXPECT_THAT(s.charts, ::testing::Contains(std::string("q-vs-k-cpu-chart")));
  // A command probe measured on its own target, not on this CPU: no common-device chart without engine points.
  auto c = json::parse(std::ifstream(t.file("evo/candidates.json")));
  c["device"] = "command:./bench.sh {onnx}";
  write_json(t.file("evo/candidates.json"), c);
  fs::remove(t.file("sweep/w1a1/engine_bench.json"));
  runs = load_runs({t.file("evo"), t.file("sweep")});
  for (const auto& r : q_vs_k_rows(runs, {}))
    if (r["route"].get<std::string>()[0] == 'K') {
      EXPECT_EQ(r["route"], "K on the probe's target (measured)");
      EXPECT_EQ(r["on"], "command:./bench.sh {onnx}");
    }
  // A single training run with a saved engine measurement is a measured point too.
  write_json(t.file("single/run.json"), {{"argv", {"nemokd", "quant", "train"}}, {"status", "completed"},
                                         {"results", {{"final_test_accuracy", 0.95}, {"dataset", {{"name", "mnist"}}}}}});
  write_json(t.file("single/engine_bench.json"),
             {{"frames_per_second", 1.0e6}, {"single_frame_latency_us", 2.0}, {"batch", 4096}, {"threads", 2},
              {"measured_on", "Test CPU 9000, 2 cores"}});
  int single = 0;
  for (const auto& r : q_vs_k_rows(load_runs({t.file("single")}), {})) {
    ++single;
    EXPECT_EQ(r["route"], "Q on CPU: integer engine, batch 1 (measured)");
    EXPECT_DOUBLE_EQ(r["fps"].get<double>(), 5.0e5);
    EXPECT_DOUBLE_EQ(r["accuracy"].get<double>(), 0.95);
  }
  EXPECT_EQ(single, 1);
  const auto s2 = write_report({t.file("sweep"), t.file("evo")}, t.file("out2/report.html"), o);
  EXPECT_THAT(s2.charts, ::testing::Not(::testing::Contains(std::string("q-vs-k-cpu-chart"))));
  // A damaged engine record is an error naming the file, not a silently missing point.
  write_json(t.file("sweep/w1a1/engine_bench.json"), {{"frames_per_second", 1.0}});
  EXPECT_THROW(load_runs({t.file("sweep")}), nemokd::DataError);
}

// Issue 16: MLP against CNN at equal FPGA cost. Two sweeps with FPGA columns (an MLP and a CNN family) get the
// cross-model section; a single sweep does not (its own section has the resource charts).
TEST(Report, RouteQAcrossModelsAtEqualFpgaCost) {
  nemokd::testing::TempDir t;
  make_sweep(t.file("mlp"));
  make_sweep(t.file("cnn"));
  {
    auto j = json::parse(std::ifstream(t.file("cnn/results.json")));
    j.erase("hidden");
    j["arch"] = "cnv";
    write_json(t.file("cnn/results.json"), j);
  }
  const RunSet runs = load_runs({t.file("mlp"), t.file("cnn")});
  ASSERT_EQ(runs.sweeps.size(), 2u);
  EXPECT_EQ(runs.sweeps[0].topology, "tfc");
  EXPECT_EQ(runs.sweeps[1].topology, "cnv");
  ReportOptions o;
  const auto both = write_report({t.file("mlp"), t.file("cnn")}, t.file("out/both.html"), o);
  EXPECT_THAT(both.charts, ::testing::Contains(std::string("q-cost-lut")));
  EXPECT_THAT(both.charts, ::testing::Contains(std::string("q-cost-fps")));
  std::ifstream in(t.file("out/both.html"));
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("cnv on mnist"), std::string::npos);
  EXPECT_NE(html.find("tfc on mnist"), std::string::npos);
  const auto one = write_report({t.file("mlp")}, t.file("out/one.html"), o);
  EXPECT_THAT(one.charts, ::testing::Not(::testing::Contains(std::string("q-cost-lut"))));
}

TEST(Report, PageIsSelfContainedWithEveryChart) {
  nemokd::testing::TempDir t;
  make_sweep(t.file("sweep"));
  make_kd_grid(t.file("kd"));
  make_evolution(t.file("evo"));
  // A title that would break out of a script element if not escaped.
  ReportOptions o;
  o.title = "</script><b>x</b>";
  const auto s = write_report({t.file("sweep"), t.file("kd"), t.file("evo")}, t.file("out/report.html"), o);
  std::ifstream in(t.file("out/report.html"));
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(html.size(), s.bytes);
  for (const auto& id : s.charts) EXPECT_NE(html.find("id=\"" + id + "\""), std::string::npos) << id;
  for (const char* id : {"sweep0-curves", "sweep0-acc", "sweep0-hw-res", "sweep0-hw-fit", "kd0-surface", "evo0-pareto",
                         "q-vs-k-chart"})
    EXPECT_THAT(s.charts, ::testing::Contains(std::string(id)));
  EXPECT_EQ(html.find("<script src"), std::string::npos);  // nothing loaded from elsewhere
  EXPECT_NE(html.find("id=\"status\""), std::string::npos);
  EXPECT_EQ(html.find("</script><b>"), std::string::npos);
  EXPECT_GT(html.size(), 800000u);  // Vega inlined
  EXPECT_EQ(script_safe_json({{"a", "</script>"}}), "{\"a\":\"\\u003c/script>\"}");
  EXPECT_EQ(html_escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
}

#ifdef NEMOKD_SOURCE_DIR
// The committed Q1 sweep: the heatmap shows exactly results.json's numbers.
TEST(Report, CommittedQ1SweepHeatmapMatchesItsResults) {
  const std::string dir = std::string(NEMOKD_SOURCE_DIR) + "/experiments/q1/runs";
  if (!fs::exists(dir + "/results.json")) GTEST_SKIP() << "no " << dir;
  const Sweep s = load_sweep(dir);
  const json results = json::parse(std::ifstream(dir + "/results.json"));
  const json rows = accuracy_heatmap_rows(s);
  size_t n = 0;
  for (const auto& r : results["rows"])
    for (const auto& [epoch, acc] : r["test_accuracy_at"].items()) {
      ++n;
      const SweepCell* c = s.find(r["wbits"], r["abits"]);
      ASSERT_NE(c, nullptr);
      EXPECT_EQ(c->test_accuracy_at.at(std::stoi(epoch)), acc.get<double>());
    }
  EXPECT_EQ(rows.size(), n);
  const json res = resource_heatmap_rows(hw_points(s));
  for (const auto& r : res)
    if (r["resource"] == "LUT" && r["wbits"] == 1 && r["abits"] == 1) {
      EXPECT_DOUBLE_EQ(r["relative"].get<double>(), 1.0);
    }
}

// Issue 17: the final stage (OUT/final.json) gets its own chart: test error mean +- sd after the final retraining
// against latency, the re-drawn front, both baselines, the verdicts with their numbers and rule. The fixture
// (tests/data/report/evolution/final.json) is hand-written with invented numbers.
std::string fixture(const std::string& name) { return std::string(NEMOKD_SOURCE_DIR) + "/tests/data/report/" + name; }

// Each value of the JSON file `valid_file` (leaf or container; in arrays, the first two elements only) replaced in turn
// by each hostile value and written to `target`: loading `dirs` and building every section must succeed or throw
// one nemokd::Error, never another exception. Returns the number of cases.
size_t hostile_values_at_every_key(const std::string& valid_file, const std::string& target,
                                   const std::vector<std::string>& dirs) {
  json deep = json::array();
  for (int i = 0; i < 60; ++i) deep = json::array({deep});
  const std::vector<json> values = {true, "x", -1, 1e308, nullptr, json::array(), json{{"mean", "x"}}, deep};
  const json valid = json::parse(std::ifstream(valid_file));
  std::vector<json::json_pointer> at;
  std::function<void(const json&, const json::json_pointer&)> walk = [&](const json& j, const json::json_pointer& p) {
    if (j.is_object())
      for (auto it = j.begin(); it != j.end(); ++it) at.push_back(p / it.key()), walk(it.value(), p / it.key());
    if (j.is_array())
      for (size_t i = 0; i < std::min<size_t>(j.size(), 2); ++i) at.push_back(p / i), walk(j[i], p / i);
  };
  walk(valid, json::json_pointer());
  size_t cases = 0;
  for (const auto& p : at)
    for (const auto& v : values) {
      json j = valid;
      j[p] = v;
      write_json(target, j);
      ++cases;
      try {
        build_sections(load_runs(dirs), {});
      } catch (const nemokd::Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << valid_file << " " << p.to_string() << " = " << v.dump().substr(0, 40) << ": " << e.what();
      }
    }
  write_json(target, valid);
  return cases;
}
std::string page_of(const std::vector<std::string>& dirs, const std::string& out) {
  write_report(dirs, out);
  std::ifstream in(out);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(Report, FinalStageIsDrawnFromFinalJson) {
  nemokd::testing::TempDir t;
  const json file = json::parse(std::ifstream(fixture("evolution/final.json")));
  const Evolution ev = load_evolution(fixture("evolution"));
  ASSERT_TRUE(ev.final_stage.has_value());
  const FinalStage& f = *ev.final_stage;
  EXPECT_EQ(f.epochs, 10);
  EXPECT_EQ(f.seeds, 3);
  ASSERT_EQ(f.points.size(), file["points"].size());
  // Every number of the chart is final.json's: test mean, sd, bar ends, latency; no search-time error in it.
  const json rows = final_stage_rows(f);
  ASSERT_EQ(rows.size(), file["points"].size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& p = file["points"][i];
    const json& r = rows[i];
    EXPECT_EQ(r["architecture"], p["architecture"]);
    EXPECT_EQ(r["test_mean"].get<double>(), p["test_error"]["mean"].get<double>());
    EXPECT_EQ(r["test_sd"].get<double>(), p["test_error"]["sd"].get<double>());
    EXPECT_DOUBLE_EQ(r["lo"].get<double>(),
                     p["test_error"]["mean"].get<double>() - p["test_error"]["sd"].get<double>());
    EXPECT_DOUBLE_EQ(r["hi"].get<double>(),
                     p["test_error"]["mean"].get<double>() + p["test_error"]["sd"].get<double>());
    EXPECT_EQ(r["latency"].get<double>(), p["latency"].get<double>());
    EXPECT_EQ(r["front"], p["front"]);
    EXPECT_EQ(r["kind"], p["role"] == "final" ? "front point (retrained)" : p["name"].get<std::string>());
    for (const auto& [k, v] : r.items())
      if (v.is_number()) {
        EXPECT_NE(v.get<double>(), p["search_error"].get<double>()) << k;
      }
  }
  EXPECT_TRUE(f.beats_baseline_kd);
  EXPECT_EQ(f.beats_point, "conv 16-32-64 | fc 128");
  const auto html = page_of({fixture("evolution")}, t.file("r.html"));
  const auto summary = write_report({fixture("evolution")}, t.file("r2.html"));
  EXPECT_THAT(summary.charts, ::testing::ElementsAre("evo0-pareto", "evo0-final", "q-vs-k-chart", "q-vs-k-cpu-chart"));
  for (const char* text :
       {"test error after 10 epochs × 3 seeds (mean ± 1 sd)",
        "latency (ms, batch 1), measured: LibTorch on an unrecorded CPU (log)",
        "re-measured (3 interleaved rounds, median; nothing training)", "beats the distilled baseline (KD)",
        "within 1 point of the KD baseline at a third of its latency",
        "test 11.28 % ± 0.08 % (3 seeds) at 0.631 ms; baseline (KD): test 11.95 % ± 0.15 % (3 seeds) at 0.809 ms",
        "test mean + sd &lt; the baseline&#39;s test mean - sd"})
    EXPECT_NE(html.find(text), std::string::npos) << text;
  // The same stage read from results.json "final" (a run whose final.json was not copied).
  fs::create_directories(t.file("evo"));
  fs::copy_file(fixture("evolution/candidates.json"), t.file("evo/candidates.json"));
  write_json(t.file("evo/results.json"), {{"final", file}});
  const Evolution from_results = load_evolution(t.file("evo"));
  ASSERT_TRUE(from_results.final_stage.has_value());
  EXPECT_EQ(final_stage_rows(*from_results.final_stage), rows);
  // Old runs without a final stage render as before: one chart, no final section text.
  make_evolution(t.file("old"));
  EXPECT_FALSE(load_evolution(t.file("old")).final_stage.has_value());
  const auto old = write_report({t.file("old")}, t.file("old.html"));
  EXPECT_THAT(old.charts, ::testing::Not(::testing::Contains(std::string("evo0-final"))));
  // A damaged final.json is an error naming the file.
  write_json(t.file("evo/final.json"), {{"points", 3}});
  try {
    load_evolution(t.file("evo"));
    FAIL() << "accepted";
  } catch (const nemokd::DataError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("final.json"));
  }
}

// Labels in final.json are user strings (architecture summaries, names, the verdict's point and rule, the latency
// source): escaped in the page, never markup; hostile values at every key are accepted or one nemokd error.
TEST(Report, FinalStageStringsAreEscapedAndHostileValuesRefusedCleanly) {
  nemokd::testing::TempDir t;
  const std::string evil = "</script><img src=x onerror=alert(1)>\"'&";
  json file = json::parse(std::ifstream(fixture("evolution/final.json")));
  for (auto& p : file["points"]) p["architecture"] = evil + p["architecture"].get<std::string>(), p["name"] = evil;
  file["verdicts"]["beats_baseline_kd_point"] = file["points"][3]["architecture"];
  file["verdicts"]["beats_baseline_kd_rule"] = evil;
  file["latency"] = evil;
  fs::create_directories(t.file("evo"));
  fs::copy_file(fixture("evolution/candidates.json"), t.file("evo/candidates.json"));
  write_json(t.file("evo/final.json"), file);
  const auto html = page_of({t.file("evo")}, t.file("r.html"));
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_EQ(html.find("</script><img"), std::string::npos);
  EXPECT_NE(html.find("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;conv 16-32-64 | fc 128"),
            std::string::npos);                                                // the tables and the caption
  EXPECT_NE(html.find("\\u003c/script>\\u003cimg src=x"), std::string::npos);  // the chart data
  // Hostile values at every key of final.json: read, drawn, or refused with one nemokd::Error.
  EXPECT_GT(hostile_values_at_every_key(fixture("evolution/final.json"), t.file("evo/final.json"), {t.file("evo")}),
            500u);
}

// Issue 19: the joint search (fpga cost) against route Q's sweep cells and route K's front, on axes of one basis:
// test error against FPS and LUT estimated by the FPGA cost model. The joint fixture (tests/data/report/joint) is
// hand-written with invented numbers; the sweep and the route-K evolution are generated here.
// An FPGA search's costs span orders of magnitude (0.0005 to 0.01 ms per frame in the fixture): its Pareto chart has a
// log cost axis and its tables keep 4 significant digits; a CPU search's narrow span keeps a linear axis.
TEST(Report, WideCostSpansAreDrawnOnALogAxis) {
  nemokd::testing::TempDir t;
  make_evolution(t.file("evo"));  // route K, latencies within a factor of a few
  const RunSet runs = load_runs({fixture("joint"), t.file("evo")});
  std::map<std::string, json> x_of;
  std::string tables;
  for (const auto& sec : build_sections(runs, {}))
    for (const auto& b : sec.blocks) {
      if (b.chart.id.size() < 7 || b.chart.id.substr(b.chart.id.size() - 7) != "-pareto") continue;
      x_of[b.chart.id] = b.chart.spec.at("layer").at(0).at("encoding").at("x");
      for (const auto& tb : b.tables)
        for (const auto& r : tb.rows)
          for (const auto& cell : r) tables += cell + " | ";
    }
  ASSERT_EQ(x_of.size(), 2u);
  const json& joint = x_of.at("evo0-pareto");  // the order given: the joint fixture first
  const json& cpu = x_of.at("evo1-pareto");
  EXPECT_EQ(joint.at("scale"), json({{"type", "log"}})) << joint.dump();
  EXPECT_THAT(joint.at("title").get<std::string>(), ::testing::EndsWith("(log)"));
  EXPECT_EQ(cpu.at("scale"), json({{"zero", false}})) << cpu.dump();
  EXPECT_THAT(tables, ::testing::HasSubstr("0.0004878"));  // 4 significant digits, not 0.000
}

TEST(Report, JointSearchAgainstSweepsAndRouteKOnEstimatedAxes) {
  nemokd::testing::TempDir t;
  make_sweep(t.file("sweep"));    // mnist, xc7z020 at 100 MHz, PE16 SIMD16; the A2 cells do not fit
  make_evolution(t.file("evo"));  // route K, latency measured on a CPU
  const Evolution joint = load_evolution(fixture("joint"));
  EXPECT_TRUE(joint.fpga_cost());
  EXPECT_EQ(joint.infeasible, 2);
  EXPECT_EQ(joint.failed, 2);
  ASSERT_EQ(joint.candidates.size(), 10u);
  const json file = json::parse(std::ifstream(fixture("joint/candidates.json")));
  std::map<std::string, json> by_id;
  for (const auto& c : file["candidates"]) by_id[c["id"]] = c;

  const RunSet runs = load_runs({fixture("joint"), t.file("sweep"), t.file("evo")});
  const JointComparison jc = joint_comparison(runs);
  EXPECT_EQ(jc.device, "xc7z020");
  EXPECT_EQ(jc.dataset, "mnist");
  ASSERT_EQ(jc.sets.size(), 2u);
  EXPECT_EQ(jc.sets[0].rfind("joint front: ", 0), 0u) << jc.sets[0];
  EXPECT_EQ(jc.sets[1].rfind("uniform sweep: tfc PE16 SIMD16, ", 0), 0u) << jc.sets[1];
  std::map<std::string, int> per_kind;
  for (const auto& r : jc.rows) {
    ++per_kind[r["kind"]];
    if (r["kind"] == "joint front") {
      // The last generation's front, at the cost model's *estimated* FPS (not the expected-on-board one) and the
      // test error (not the validation error it was selected on); feasible only.
      const json& c = by_id.at(r["label"].get<std::string>().substr(0, r["label"].get<std::string>().find(' ')));
      EXPECT_EQ(c["generation"], 1);
      EXPECT_TRUE(c["pareto"].get<bool>());
      EXPECT_TRUE(c["feasible"].get<bool>());
      EXPECT_EQ(r["fps"].get<double>(), c["fps_estimated"].get<double>());
      EXPECT_EQ(r["lut"].get<double>(), c["lut"].get<double>());
      EXPECT_EQ(r["test_error"].get<double>(), c["test_error"].get<double>());
    } else {
      EXPECT_EQ(r["kind"], "uniform sweep");
      EXPECT_EQ(r["fps"].get<double>(), 1000.0);
      EXPECT_THAT(r["label"].get<std::string>(), ::testing::AnyOf("tfc W1A1", "tfc W2A1"));  // the fitting cells
    }
  }
  EXPECT_EQ(per_kind["joint front"], 5);
  EXPECT_EQ(per_kind["uniform sweep"], 2);
  EXPECT_EQ(per_kind["route K front"], 0);
  std::string why;
  for (const auto& [what, reason] : jc.left_out) why += what + ": " + reason + "\n";
  EXPECT_THAT(why, ::testing::HasSubstr("route K front: "));
  EXPECT_THAT(why, ::testing::HasSubstr("its cost is measured (latency (ms, batch 1), measured: LibTorch on"));
  EXPECT_THAT(why, ::testing::HasSubstr("do not fit xc7z020 at the sweep's folding: infeasible, not drawn"));
  EXPECT_THAT(why, ::testing::HasSubstr(": 2 design(s): infeasible: fit xc7z020 at no folding"));
  const auto page = write_report({fixture("joint"), t.file("sweep"), t.file("evo")}, t.file("r.html"));
  EXPECT_THAT(page.charts, ::testing::IsSupersetOf({"joint-fps", "joint-lut"}));
  // The joint search in the Q-vs-K section: estimated, like route Q's FPGA figures, never "measured".
  int joint_rows = 0;
  for (const auto& r : q_vs_k_rows(runs, {}))
    if (r["on"] == "xc7z020" && r["route"].get<std::string>().rfind("joint", 0) == 0) {
      ++joint_rows;
      EXPECT_EQ(r["how"], "estimated");
    } else if (r["how"] == "measured") {
      EXPECT_EQ(
          r["route"].get<std::string>()[0] == 'K' || r["route"].get<std::string>().find("engine") != std::string::npos,
          true);
    }
  EXPECT_EQ(joint_rows, 5);
  // A sweep on another dataset is another basis: left out, with the reason.
  auto res = json::parse(std::ifstream(t.file("sweep/results.json")));
  res["dataset"] = "fashion-mnist";
  write_json(t.file("sweep/results.json"), res);
  const JointComparison other = joint_comparison(load_runs({fixture("joint"), t.file("sweep")}));
  EXPECT_EQ(other.sets.size(), 1u);
  ASSERT_FALSE(other.left_out.empty());
  EXPECT_EQ(other.left_out.back().second, "test error on fashion-mnist, not on mnist");
  // No joint search: no such section.
  EXPECT_TRUE(joint_comparison(load_runs({t.file("sweep"), t.file("evo")})).rows.empty());
  const auto without = write_report({t.file("sweep"), t.file("evo")}, t.file("r2.html"));
  EXPECT_THAT(without.charts, ::testing::Not(::testing::Contains(std::string("joint-fps"))));
  // Hostile values at every key of a joint search's candidates.json: read, drawn, or one nemokd::Error.
  fs::create_directories(t.file("joint"));
  res["dataset"] = "mnist";
  write_json(t.file("sweep/results.json"), res);
  EXPECT_GT(hostile_values_at_every_key(fixture("joint/candidates.json"), t.file("joint/candidates.json"),
                                        {t.file("joint"), t.file("sweep")}),
            300u);
}
#endif

}  // namespace

// Report polish (issue 21): commands showed absolute temporary paths, epoch axes fractional ticks and raw floats, a
// numeric legend every digit of its values.
TEST(Report, CommandsShowPathsRelativeToThePage) {
  EXPECT_EQ(relative_paths("nemokd train --out /tmp/x/runs/a --from /usr/share/d --cfg=/tmp/x/c.json -e 3", "/tmp/x"),
            "nemokd train --out runs/a --from /usr/share/d --cfg=c.json -e 3");
  EXPECT_EQ(relative_paths("nemokd run /tmp/x/../x/r/run.json", "/tmp/x/"), "nemokd run r/run.json");
  EXPECT_EQ(relative_paths("a  b", ""), "a  b");
  nemokd::testing::TempDir t;
  make_evolution(t.file("runs/evo"));
  auto j = json::parse(std::ifstream(t.file("runs/evo/candidates.json")));
  j["command"] = "nemokd evolve --out " + t.file("runs/evo") + " --teacher " + t.file("runs/teacher");
  write_json(t.file("runs/evo/candidates.json"), j);
  write_report({t.file("runs/evo")}, t.file("report.html"));
  std::ifstream in(t.file("report.html"));
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("nemokd evolve --out runs/evo --teacher runs/teacher"), std::string::npos);
  EXPECT_EQ(html.find("--out " + t.file("runs/evo")), std::string::npos) << "an absolute path below the page is left";
}

TEST(Report, NumbersAreFormattedForPeople) {
  nemokd::testing::TempDir t;
  make_sweep(t.file("sweep"));
  make_kd_grid(t.file("kd"));
  const auto html_of = [&](const std::string& dir) {
    write_report({dir}, t.file("r.html"));
    std::ifstream in(t.file("r.html"));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  // Every epoch axis: integer labels, a step of at least 1.
  const auto sweep = html_of(t.file("sweep"));
  EXPECT_NE(sweep.find(R"("field":"epoch","title":"epoch","type":"quantitative")"), std::string::npos);
  size_t epoch_axes = 0;
  for (size_t at = sweep.find(R"("axis":{"format":"d","tickMinStep":1},"field":"epoch")"); at != std::string::npos;
       at = sweep.find(R"("axis":{"format":"d","tickMinStep":1},"field":"epoch")", at + 1))
    ++epoch_axes;
  EXPECT_GE(epoch_axes, 2u);
  // The KD surface's temperature legend: at most 3 significant digits.
  EXPECT_NE(html_of(t.file("kd")).find(R"("legend":{"format":".3~g","formatType":"number"})"), std::string::npos);
}

// Every run kind nemokd writes is reportable: an evolution with a proxy probe (latency_proxy) and failed candidates
// (error null, status failed) was refused ("needs 'latency_ms'").
TEST(Report, ProxyEvolutionsAndFailedCandidatesAreReportable) {
  nemokd::testing::TempDir t;
  json c = json::array();
  c.push_back({{"generation", 0}, {"id", "g0-0"}, {"error", 0.2}, {"latency_proxy", 5e6}, {"status", "completed"}});
  c.push_back({{"generation", 0}, {"id", "g0-1"}, {"error", 0.1}, {"latency_proxy", 9e6}, {"status", "completed"}});
  c.push_back({{"generation", 0}, {"id", "g0-2"}, {"error", nullptr}, {"latency_proxy", nullptr}, {"status", "failed"}});
  write_json(t.file("evo/candidates.json"),
             {{"device", "macs"}, {"candidates", c},
              {"baseline", {{{"name", "baseline (KD)"}, {"error", nullptr}, {"latency_proxy", nullptr}, {"status", "failed"}}}}});
  const Evolution ev = load_evolution(t.file("evo"));
  EXPECT_EQ(ev.candidates.size(), 2u);
  EXPECT_EQ(ev.failed, 1);
  EXPECT_EQ(ev.proxy_unit, "MACs");
  EXPECT_TRUE(ev.baselines.empty());
  const auto s = write_report({t.file("evo")}, t.file("r.html"));
  std::ifstream in(t.file("r.html"));
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("MACs (proxy, not a measurement)"), std::string::npos);
  EXPECT_NE(html.find("1 candidate(s) failed and are not shown"), std::string::npos);
  // A proxy has no frames per second: the evolution stays out of the Q-vs-K throughput comparison.
  EXPECT_TRUE(q_vs_k_rows(load_runs({t.file("evo")}), {}).empty());
}
