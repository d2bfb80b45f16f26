// `nemokd choose` (src/choose/choose.h) on the committed fixtures of tests/data/choose (make_fixtures.py: run.json and
// results tables, no weights, invented accuracies): each constraint picks its known model by VALIDATION accuracy where a
// test-based rank would pick another; an impossible constraint names the closest model; float students are listed as
// not priceable on an FPGA; an evolution's recorded latency is reused only for the same target text.
#include <gtest/gtest.h>

#include <filesystem>

#include "choose/choose.h"
#include "core/error.h"
#include "core/json_config.h"
#include "test_errors.h"
#include "test_support.h"

namespace nemokd {
namespace {

namespace fs = std::filesystem;
const std::string kData = NEMOKD_TEST_DATA;
const std::string kChoose = kData + "/choose";
const std::vector<std::string> kAll = {kChoose + "/sweep-sfc", kChoose + "/runs", kChoose + "/kd-grid",
                                       kChoose + "/evolution"};

choose::Result run(const std::string& target, choose::Constraints c, const std::vector<std::string>& dirs = kAll) {
  return choose::choose(dirs, target, c);
}

choose::Constraints min_fps(double fps, const std::string& basis = "expected") {
  choose::Constraints c;
  c.min_fps = fps;
  c.fps_basis = basis;
  return c;
}

// The label a test-based rank would choose among the rows that meet the constraints.
std::string best_by_test(const choose::Result& r) {
  const choose::Row* best = nullptr;
  for (const auto& row : r.rows)
    if (row.meets && (!best || row.model.test_acc > best->model.test_acc)) best = &row;
  return best ? best->model.label : "";
}

std::string chosen(const choose::Result& r) { return r.chosen >= 0 ? r.rows.at(r.chosen).model.label : "(none)"; }

template <class F> std::string config_error(F&& f) { return testing::error_of<ConfigError>(f); }

TEST(Choose, CollectsEveryKindOfRunFolder) {
  const auto models = choose::collect_models(kAll);
  std::map<std::string, int> kinds;
  for (const auto& m : models) ++kinds[m.source_kind];
  EXPECT_EQ(kinds["sweep"], 4);
  EXPECT_EQ(kinds["run"], 3);  // one level down in runs/
  EXPECT_EQ(kinds["kd grid"], 2);
  EXPECT_EQ(kinds["evolution"], 4);
  for (const auto& m : models) {
    EXPECT_TRUE(std::isfinite(m.val_acc)) << m.label;  // from each model's own run.json
    EXPECT_TRUE(fs::is_directory(m.run_dir)) << m.run_dir;  // recorded paths elsewhere resolve under the campaign
  }
  EXPECT_NE(config_error([] { choose::collect_models({kData + "/brevitas"}); }).find("no sweep, KD grid"),
            std::string::npos);
}

TEST(Choose, EachConstraintPicksItsModelByValidation) {
  const std::string fpga = "fpga:xc7z020";
  // Loose: every quantized model fits and meets it; LFC W1A1 has the best val (SFC W4A4 the best test).
  auto r = run(fpga, min_fps(30000));
  EXPECT_EQ(chosen(r), "lfc-w1a1") << r.why;
  EXPECT_EQ(best_by_test(r), "sfc W4A4");
  EXPECT_NE(r.why.find("most accurate by validation"), std::string::npos) << r.why;
  // 100 k FPS expected on board: SFC W1A1, SFC W2A2 and TFC W2A2 meet it; SFC W2A2 has the best val.
  r = run(fpga, min_fps(100000));
  EXPECT_EQ(chosen(r), "sfc W2A2") << r.why;
  EXPECT_EQ(best_by_test(r), "tfc-w2a2");
  // 60 k FPS and at most 34 000 LUTs: SFC W6A2 and SFC W1A1 meet both; W6A2 has the better val.
  auto c = min_fps(60000);
  c.max_lut = 34000;
  r = run(fpga, c);
  EXPECT_EQ(chosen(r), "sfc W6A2") << r.why;
  EXPECT_EQ(best_by_test(r), "sfc W1A1");
  for (const auto& row : r.rows) {
    if (!row.meets) continue;
    EXPECT_LE(row.cost.detail.at("lut").get<double>(), 34000) << row.model.label;
  }
  // Ranks are 1.. in order of validation accuracy.
  for (size_t i = 1; i < r.rows.size() && r.rows[i].rank > 0; ++i)
    EXPECT_GE(r.rows[i - 1].model.val_acc, r.rows[i].model.val_acc);
}

TEST(Choose, TheTextTableShowsTheTopRowsAndCountsTheRest) {
  // 100 k FPS: three models meet it (SFC W2A2, SFC W1A1, TFC W2A2); the fixtures hold 13 models.
  const auto r = run("fpga:xc7z020", min_fps(100000));
  ASSERT_EQ(r.rows.size(), 13u);
  const auto all = r.table(0), top2 = r.table(2);
  EXPECT_EQ(all.find("more models not shown"), std::string::npos) << all;
  EXPECT_NE(top2.find("... 11 more models not shown (1 of them meet the constraints, 10 do not or are not priced"),
            std::string::npos)
      << top2;
  EXPECT_NE(top2.find("   1  sfc W2A2"), std::string::npos) << top2;
  EXPECT_EQ(top2.find(r.rows[2].model.label), std::string::npos) << top2;  // the third ranked row is left out
  EXPECT_NE(top2.find(r.why), std::string::npos);                           // the choice is always said
  EXPECT_EQ(r.table(13), all);  // a limit at or above the row count prints every row
}

TEST(Choose, TheFpsBasisMatters) {
  // 200 k FPS: only TFC W2A2 is expected to reach it on the board; on the estimate SFC W1A1 and W2A2 do too.
  EXPECT_EQ(chosen(run("fpga:xc7z020", min_fps(200000, "expected"))), "tfc-w2a2");
  EXPECT_EQ(chosen(run("fpga:xc7z020", min_fps(200000, "estimated"))), "sfc W2A2");
}

TEST(Choose, AnImpossibleConstraintNamesTheClosestModel) {
  const auto r = run("fpga:xc7z020", min_fps(2e6));
  EXPECT_EQ(r.chosen, -1);
  EXPECT_EQ(r.priced, 7);  // the seven quantized MLPs
  EXPECT_NE(r.why.find("no model meets --min-fps 2000000 (expected on board) on xc7z020 among 7 priced"),
            std::string::npos)
      << r.why;
  EXPECT_NE(r.why.find("closest (least relative violation): tfc-w2a2"), std::string::npos) << r.why;
  EXPECT_NE(r.why.find("% short of 2000000"), std::string::npos) << r.why;
}

TEST(Choose, ADesignThatFitsNowhereIsNeverChosen) {
  // LFC W2A2 has the best val of the quantized models, but no folding of it fits the XC7Z020 (BRAM18).
  const auto r = run("fpga:xc7z020", {}, {kChoose + "/runs"});
  EXPECT_EQ(chosen(r), "lfc-w1a1") << r.why;
  EXPECT_NE(r.why.find("of 2 that fit xc7z020"), std::string::npos) << r.why;
  const auto& last = r.rows.back();
  EXPECT_EQ(last.model.label, "lfc-w2a2");
  EXPECT_TRUE(last.priced);
  EXPECT_FALSE(last.cost.feasible);
  EXPECT_FALSE(last.meets);
  EXPECT_EQ(last.rank, 0);
  EXPECT_GT(last.miss, 0);
  EXPECT_NE(last.misses.at(0).find("does not fit xc7z020 at any folding"), std::string::npos);
  EXPECT_FALSE(std::isfinite(last.fps));  // no deployable design, so no FPS
  // Asked for more than anything gives, the closest named is one that fits, not the design that fits nowhere.
  const auto none = run("fpga:xc7z020", min_fps(2e6), {kChoose + "/runs"});
  EXPECT_NE(none.why.find("closest (least relative violation): tfc-w2a2"), std::string::npos) << none.why;
}

TEST(Choose, FloatModelsAreListedAsNotPriceableOnAnFpga) {
  const auto r = run("fpga:xc7z020", min_fps(30000));
  int listed = 0;
  for (const auto& row : r.rows)
    if (row.model.source_kind == "kd grid" || row.model.source_kind == "evolution") {
      ++listed;
      EXPECT_FALSE(row.priced);
      EXPECT_FALSE(row.meets);
      EXPECT_EQ(row.rank, 0);
      EXPECT_NE(row.note.find("not priceable on xc7z020"), std::string::npos) << row.note;
    }
  EXPECT_EQ(listed, 6);  // their val is the best of all, yet none is chosen
  const auto j = r.to_json();
  EXPECT_EQ(j.at("rows").size(), 13u);
  EXPECT_EQ(j.at("chosen").at("label"), "lfc-w1a1");
  EXPECT_EQ(j.at("chosen").at("fps_basis"), "expected on board");
  EXPECT_NE(r.table().find("not priceable on xc7z020"), std::string::npos);
}

TEST(Choose, ARecordedLatencyIsReusedOnlyForTheSameTarget) {
  choose::Constraints c;
  c.max_latency_ms = 0.5;
  // The evolution measured with torch:cpu:threads=1: its figures are used, no model.pt needed.
  auto r = run("torch:cpu:threads=1", c, {kChoose + "/evolution"});
  EXPECT_EQ(r.priced, 4);
  for (const auto& row : r.rows) {
    EXPECT_TRUE(row.reused) << row.model.label;
    EXPECT_EQ(row.cost.how, cost::CostHow::measured);
  }
  EXPECT_EQ(chosen(r), "conv 32-64 | fc 128-classifier") << r.why;  // val 98.8 %, 0.45 ms
  EXPECT_EQ(best_by_test(r), "conv 8-16 | fc 32-classifier");
  // --role: the search's own candidates only (the KD baseline has the best val but is 0.9 ms).
  c.max_latency_ms = 0;
  c.role = "search";
  r = run("torch:cpu:threads=1", c, {kChoose + "/evolution"});
  EXPECT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(chosen(r), "conv 32-64 | fc 128-classifier");
  // Another target text: measured anew, which needs the weights the fixtures do not keep.
  r = run("torch:cpu:threads=2", {}, {kChoose + "/evolution"});
  EXPECT_EQ(r.priced, 0);
  EXPECT_EQ(r.chosen, -1);
  for (const auto& row : r.rows) EXPECT_NE(row.note.find("no model.pt"), std::string::npos) << row.note;
  EXPECT_NE(r.why.find("no model could be priced"), std::string::npos) << r.why;
}

TEST(Choose, AMeasuringTargetNeedsTheWeights) {
  // The integer engine measures the trained model: the weightless fixtures are listed, not priced.
  const auto r = run("engine:threads=1", min_fps(1000), {kChoose + "/runs", kChoose + "/sweep-sfc"});
  EXPECT_EQ(r.target, "engine:threads=1,batch=256");
  EXPECT_EQ(r.priced, 0);
  EXPECT_EQ(r.chosen, -1);
  for (const auto& row : r.rows) EXPECT_NE(row.note.find("no model.pt"), std::string::npos) << row.note;
}

TEST(Choose, SelectingOnTestIsLabelledOptimistic) {
  auto c = min_fps(30000);
  c.select_on = "test";
  const auto r = run("fpga:xc7z020", c);
  EXPECT_EQ(chosen(r), "sfc W4A4");
  EXPECT_EQ(r.rows.at(0).note, "selected on test (optimistic)");
  EXPECT_NE(r.why.find("optimistic"), std::string::npos);
}

TEST(Choose, AModelWithoutValidationIsListedNotRanked) {
  // A run trained without a validation split (val_size 0): no val accuracy to choose on.
  testing::TempDir dir;
  auto rec = read_json_file(kChoose + "/runs/tfc-w2a2/run.json");
  rec["results"]["final_val_accuracy"] = nullptr;
  fs::create_directories(dir.path() + "/noval");
  write_json_file(dir.path() + "/noval/run.json", rec);
  auto r = run("fpga:xc7z020", min_fps(100000), {dir.path() + "/noval"});
  EXPECT_EQ(r.chosen, -1);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_TRUE(r.rows[0].meets);
  EXPECT_EQ(r.rows[0].rank, 0);
  EXPECT_NE(r.rows[0].note.find("no validation accuracy: listed, not ranked"), std::string::npos) << r.rows[0].note;
  EXPECT_NE(r.why.find("no validation accuracy"), std::string::npos) << r.why;
  auto c = min_fps(100000);
  c.select_on = "test";
  r = run("fpga:xc7z020", c, {dir.path() + "/noval"});
  EXPECT_EQ(chosen(r), "noval");
  EXPECT_EQ(r.rows[0].note, "selected on test (optimistic)");
}

TEST(Choose, BadRequestsAreOneClearError) {
  choose::Constraints c;
  c.max_lut = 1000;
  EXPECT_NE(config_error([&] { run("torch:cpu", c); }).find("is no FPGA"), std::string::npos);
  EXPECT_NE(config_error([&] { run("macs", min_fps(10)); }).find("proxy"), std::string::npos);
  EXPECT_NE(config_error([&] { run("fpga:xc7z020", min_fps(10, "board")); }).find("--fps-basis"), std::string::npos);
  choose::Constraints role;
  role.role = "teacher";
  EXPECT_NE(config_error([&] { run("fpga:xc7z020", role); }).find("--role"), std::string::npos);
  // Accuracies of two datasets do not compare.
  testing::TempDir other;
  auto rec = read_json_file(kChoose + "/runs/tfc-w2a2/run.json");
  rec["config"]["dataset"]["name"] = "fashion-mnist";
  fs::create_directories(other.path() + "/fm");
  write_json_file(other.path() + "/fm/run.json", rec);
  EXPECT_NE(config_error([&] { run("fpga:xc7z020", {}, {kChoose + "/runs", other.path() + "/fm"}); })
                .find("different datasets"),
            std::string::npos);
}

TEST(Choose, ExportWritesTheChosenModelsBundle) {
  // A trained run with its weights: engine model and QONNX too.
  testing::TempDir out;
  const auto r = run("fpga:xc7z020", {}, {kData + "/qat-tfc-w1a1"});
  ASSERT_EQ(r.chosen, 0) << r.why;
  const auto b = choose::export_bundle(r, out.file("deploy"));
  for (const char* f : {"run.json", "model.pt", "cost.json", "fpga.json", "model.nqe", "model.qonnx.onnx", "bundle.json"})
    EXPECT_TRUE(fs::is_regular_file(out.file("deploy") + "/" + f)) << f << " " << b.dump();
  const auto fj = read_json_file(out.file("deploy") + "/fpga.json");
  EXPECT_TRUE(fj.at("cost").at("detail").at("fits_planning").get<bool>());
  EXPECT_EQ(fj.at("cost").at("detail").at("folding").size(), 4u);
  // Nothing is written over.
  EXPECT_NE(config_error([&] { choose::export_bundle(r, out.file("deploy")); }).find("not empty"), std::string::npos);
  // A bundle is a run folder too, labelled by the model it holds (not by its folder's name).
  const auto again = run("fpga:xc7z020", {}, {out.file("deploy")});
  ASSERT_EQ(again.chosen, 0) << again.why;
  EXPECT_EQ(again.rows[0].model.label, r.rows[0].model.label);
  EXPECT_NE(again.rows[0].model.label, "deploy");
  // A weightless fixture: the bundle says why there is no engine model.
  const auto w = choose::export_bundle(run("fpga:xc7z020", min_fps(100000)), out.file("fixture"));
  EXPECT_EQ(w.at("not_written").at("model.nqe"), "no model.pt (weights not kept)");
  EXPECT_TRUE(fs::is_regular_file(out.file("fixture") + "/fpga.json"));
}

}  // namespace
}  // namespace nemokd
