// NEMOKD search: genome decoding and canonical keys, the SQLite store, and NSGA-II runs that are killed and
// resumed (with a deterministic in-process evaluator) ending exactly where an uninterrupted run ends, with no
// evaluation lost or repeated.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <limits>
#include <random>
#include <tuple>

#include <filesystem>

#include "campaign/campaign.h"
#include "core/error.h"
#include "core/json_config.h"
#include "core/run_record.h"
#include "kd/kd_run.h"
#include "train/train_run.h"
#include "models/registry.h"
#include "search/evolve.h"
#include "search/fidelity.h"
#include "search/final_stage.h"
#include "search/space.h"
#include "search/store.h"
#include "cost/cost.h"
#include "hw/fpga/model_design.h"
#include "data/loader.h"
#include "test_support.h"

using namespace nemokd;
using namespace nemokd::search;
namespace fs = std::filesystem;

namespace {

SearchSpace small_space() {
  SearchSpace s;
  s.min_conv = 1;
  s.max_conv = 3;
  s.channels = {4, 8, 16};
  s.min_fc = 1;
  s.max_fc = 3;
  s.neurons = {8, 16, 32};
  return s;
}

// Deterministic stand-in for training: error falls with capacity (plus a fixed per-architecture wiggle), latency
// = MACs. Counts what it is asked, so the test can prove nothing is evaluated twice. The validation and test errors
// share the capacity term but their wiggles run in opposite directions, so the two metrics rank the architectures
// differently (a search that selects on one is told apart from one on the other).
class FakeEvaluator : public Evaluator {
 public:
  int calls = 0;
  std::vector<std::string> keys;
  std::vector<size_t> batches;  // size of each evaluate() call
  std::vector<Request> final_requests;  // the final stage's (roles final*), in order
  std::vector<std::pair<std::string, int>> trained;  // (key, epochs) of every search training, in order
  int base_epochs = 1;  // the config's --epochs (a request at epochs 0 trains that long)
  std::vector<Candidate> evaluate(const std::vector<Request>& requests) override {
    batches.push_back(requests.size());
    std::vector<Candidate> out;
    for (const auto& rq : requests) {
      ++calls;
      keys.push_back(rq.key);
      const bool final = rq.role == Role::final_point || rq.role == Role::final_baseline_kd ||
                         rq.role == Role::final_baseline_no_kd;
      if (final) final_requests.push_back(rq);
      auto model = models::build_model(rq.model, {1, 28, 28}, 10);
      Candidate c;
      c.key = rq.key;
      c.genome = rq.genome;
      c.config = models::to_json(rq.model);
      c.summary = rq.label.empty() ? small_space().summary(rq.model) : rq.label;
      c.role = rq.role;
      c.generation = rq.generation;
      c.params = models::parameter_count(*model);
      c.macs = model->macs();
      c.status = RunStatus::completed;
      const double wiggle = double(std::hash<std::string>{}(rq.key) % 1000) / 2e4;  // [0, 0.05)
      const double capacity = 0.5 / std::log(double(c.params) + 3.0) +
                              (rq.role == Role::baseline_no_kd || rq.role == Role::final_baseline_no_kd ? 0.01 : 0.0);
      // The final stage's trainings: longer (lower error) and one seed apart from the next (a spread to average).
      const double retrained = final ? -0.002 * rq.epochs + 0.003 * rq.seed_offset : 0.0;
      // A shorter training than --epochs (a lower rung): higher error, and its own wiggle, so the rungs rank the
      // architectures differently (promotion matters). At --epochs: nothing added.
      const int epochs = rq.epochs > 0 ? rq.epochs : base_epochs;
      const double short_run = !final && epochs < base_epochs
                                   ? 0.02 * (base_epochs - epochs) +
                                         double(std::hash<std::string>{}(rq.key + "short") % 1000) / 3e3
                                   : 0.0;
      if (!final) trained.emplace_back(rq.key, epochs);
      c.val_error = capacity + wiggle + retrained + short_run;
      c.test_error = capacity + 0.05 - wiggle + retrained + short_run;
      c.latency = double(c.macs);
      c.train_seconds = 0;
      c.run_dir = rq.run_dir;  // empty: the evaluator's default folder
      out.push_back(c);
    }
    return out;
  }
};

// A baseline student inside small_space() (it seeds generation 0).
models::ModelConfig small_student() {
  auto m = models::preset_model("flexstudent");
  m.flexstudent().conv_channels = {8, 16};
  m.flexstudent().fc_widths = {16};
  return m;
}

EvolveConfig tiny_config() {
  EvolveConfig c;
  c.base.kd.teacher = "teacher-not-used-by-the-fake-evaluator";
  c.base.base.model = small_student();
  c.space = small_space();
  c.population = 8;
  c.generations = 3;
  c.seed = 42;
  c.cost = "macs";
  return c;
}

// `config` run in `dir` "killed" twice mid-generation (after 5, then 9 more evaluations), then resumed to the end.
EvolveResult killed_twice_then_resumed(const EvolveConfig& config, const std::string& dir,
                                       const std::shared_ptr<FakeEvaluator>& fake,
                                       std::shared_ptr<cost::CostBackend> cost = nullptr) {
  EvolveContext b{dir, false, false, nullptr, fake, 5};
  b.cost = std::move(cost);
  EXPECT_THROW(run_evolution(config, b), Interrupted);
  b.resume = true;
  b.stop_after_evaluations = 9;
  EXPECT_THROW(run_evolution(config, b), Interrupted);
  b.stop_after_evaluations = -1;
  return run_evolution(config, b);
}

nlohmann::json comparable(EvolveResult r) {
  auto j = r.to_json();
  j.erase("evaluated_now");
  j.erase("reused");
  for (auto& b : j["budget"]) {  // wall time is not reproducible
    b.erase("wall_seconds");
    b.erase("cum_wall_seconds");
  }
  return j;
}

}  // namespace

TEST(SearchSpace, DecodesIgnoringUnusedGenesAndChecksBounds) {
  auto s = small_space();
  s.validate();
  ASSERT_EQ(s.genes(), 1u + 3u + 1u + 2u);
  const auto base = models::preset_model("flexstudent");
  // 2 conv layers (channels 8, 16; third gene unused), 2 FC layers (hidden 32; second neuron gene unused).
  auto a = s.decode({2, 1, 2, 0, 2, 2, 1}, base);
  auto b = s.decode({2, 1, 2, 2, 2, 2, 0}, base);
  EXPECT_EQ(a.flexstudent().conv_channels, (std::vector<int>{8, 16}));
  EXPECT_EQ(a.flexstudent().fc_widths, (std::vector<int>{32}));
  EXPECT_EQ(canonical_key(a), canonical_key(b));
  EXPECT_NE(canonical_key(a), canonical_key(s.decode({3, 1, 2, 0, 2, 2, 1}, base)));
  EXPECT_EQ(s.summary(a), "conv 8-16 | fc 32-classifier");
  EXPECT_THROW(s.decode({4, 1, 2, 0, 2, 2, 1}, base), ConfigError);    // 4 conv layers > max_conv
  EXPECT_THROW(s.decode({2, 1.5, 2, 0, 2, 2, 1}, base), ConfigError);  // not an integer
  EXPECT_THROW(s.decode({2, 1, 2}, base), ConfigError);                // wrong length
  auto bad = s;
  bad.channels = {8};
  EXPECT_THROW(bad.validate(), ConfigError);  // a gene must vary (pagmo refuses lb == ub)
  SearchSpace r;
  r.family = models::Family::flexresnet8x4;
  r.validate();
  auto rn = r.decode({0, 1, 2, 3}, models::preset_model("flexresnet8x4"));
  EXPECT_EQ(rn.flexresnet8x4().widths, (std::vector<int>{8, 16, 32, 64}));
}

// Issue 17: seeds are encoded; every architecture of the space round-trips, anything else is refused with a reason.
TEST(SearchSpace, EncodesWhatItDecodes) {
  const auto s = small_space();
  const auto base = small_student();
  std::mt19937 rng(5);
  const auto lo = s.lower(), hi = s.upper();
  for (int k = 0; k < 200; ++k) {
    std::vector<double> g;
    for (size_t i = 0; i < lo.size(); ++i) g.push_back(double(lo[i] + rng() % int(hi[i] - lo[i] + 1)));
    const auto m = s.decode(g, base);
    std::string why;
    const auto e = s.encode(m, base, &why);
    ASSERT_TRUE(e) << why;
    EXPECT_EQ(canonical_key(s.decode(*e, base)), canonical_key(m));
  }
  EXPECT_EQ(*s.encode(base, base), (std::vector<double>{2, 1, 2, 0, 2, 1, 0}));  // unused genes 0
  auto outside = [&](models::ModelConfig m, const std::string& expected) {
    std::string why;
    EXPECT_FALSE(s.encode(m, base, &why)) << expected;
    EXPECT_NE(why.find(expected), std::string::npos) << why;
  };
  auto m = base;
  m.flexstudent().conv_channels = {8, 48};
  outside(m, "conv channels 48 not in space.channels [4, 8, 16]");
  m.flexstudent().conv_channels = {8, 8, 8, 8};
  outside(m, "4 conv layers, the space has 1..3");
  m = base;
  m.flexstudent().fc_widths = {16, 16, 16};
  outside(m, "4 FC layers");
  m = base;
  m.flexstudent().dropout = 0.25;
  outside(m, "dropout is 0.25");
  outside(models::preset_model("flexresnet8x4"), "arch flexresnet8x4, the space searches flexstudent");
  SearchSpace r;
  r.family = models::Family::flexresnet8x4;
  const auto rbase = models::preset_model("flexresnet8x4");
  const auto rm = r.decode({5, 0, 3, 1}, rbase);
  EXPECT_EQ(*r.encode(rm, rbase), (std::vector<double>{5, 0, 3, 1}));
  auto rw = rbase;
  rw.flexresnet8x4().widths = {32, 64, 100, 256};
  std::string why;
  EXPECT_FALSE(r.encode(rw, rbase, &why));
  EXPECT_NE(why.find("width 100 not in space.stage_channels"), std::string::npos) << why;
}

TEST(SearchStore, CandidatesAndCheckpointsRoundTripExactly) {
  nemokd::testing::TempDir tmp;
  {
    Store st(tmp.file("s.db"));
    Candidate c;
    c.key = "k1";
    c.genome = {1, 2, 3};
    c.config = {{"arch", "flexstudent"}};
    c.status = RunStatus::completed;
    c.error = 0.1234567890123456789;
    c.latency = 1.0 / 3.0;
    st.put_candidate(c);
    Checkpoint cp;
    cp.generation = 0;
    cp.xs = {{1, 2}, {3, 4}};
    cp.fs = {{0.1 / 3, 2e-17}, {1e300, -0.0}};
    cp.algorithm = std::string("\0bytes\xff", 7);
    st.put_generation(0, {"k1", "k1"}, cp);
  }
  Store st(tmp.file("s.db"));
  auto c = st.candidate("k1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->error, 0.1234567890123456789);
  EXPECT_EQ(c->latency, 1.0 / 3.0);
  EXPECT_FALSE(st.candidate("k2"));
  auto cp = st.last_checkpoint();
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->fs[0][0], 0.1 / 3);
  EXPECT_EQ(cp->fs[1][0], 1e300);
  EXPECT_EQ(cp->algorithm, std::string("\0bytes\xff", 7));
  EXPECT_EQ(st.members(0), (std::vector<std::string>{"k1", "k1"}));
  EXPECT_EQ(st.generations_done(), 0);
}

TEST(Evolution, KilledAndResumedRunsEndExactlyLikeAnUninterruptedOne) {
  nemokd::testing::TempDir tmp;
  const auto config = tiny_config();
  auto fake_a = std::make_shared<FakeEvaluator>();
  EvolveContext a{tmp.file("a"), false, false, nullptr, fake_a, -1};
  const auto full = run_evolution(config, a);
  ASSERT_EQ(full.members.size(), 4u);  // initial population + 3 generations
  EXPECT_EQ(fake_a->calls, full.evaluated_now);
  EXPECT_GT(full.reused, 0);  // NSGA-II proposes repeats; they are not retrained
  // No key was ever evaluated twice.
  auto keys = fake_a->keys;
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());

  // The same run, "killed" twice mid-generation (after 5, then 9 more evaluations), then resumed to the end.
  auto fake_b = std::make_shared<FakeEvaluator>();
  const auto resumed = killed_twice_then_resumed(config, tmp.file("b"), fake_b);
  EXPECT_EQ(fake_b->calls, fake_a->calls) << "an evaluation was lost or repeated";
  EXPECT_EQ(fake_b->keys, fake_a->keys);
  auto ja = comparable(full), jb = comparable(resumed);
  for (auto* j : {&ja, &jb})
    for (auto& c : (*j)["candidates"]) c.erase("run_dir");
  EXPECT_EQ(ja, jb);

  // A finished run resumed again evaluates nothing; more generations continue it.
  auto fake_c = std::make_shared<FakeEvaluator>();
  EvolveContext c{tmp.file("b"), true, false, nullptr, fake_c, -1};
  run_evolution(config, c);
  EXPECT_EQ(fake_c->calls, 0);
  auto more = config;
  more.generations = 4;
  const auto longer = run_evolution(more, c);
  EXPECT_EQ(longer.members.size(), 5u);
  // Baselines with and without KD are in every run.
  int baselines = 0;
  for (const auto& cand : full.candidates) baselines += cand.role != Role::search;
  EXPECT_EQ(baselines, 2);
}

TEST(Evolution, AGenerationIsEvaluatedAsOneBatchWhateverTheJobs) {
  // The executor schedules the trainings (the next starts when any ends): the search never splits a generation into
  // chunks of `jobs` that would wait for their slowest member.
  nemokd::testing::TempDir tmp;
  auto config = tiny_config();
  config.jobs = 2;
  config.generations = 1;
  auto fake = std::make_shared<FakeEvaluator>();
  run_evolution(config, EvolveContext{tmp.file("r"), false, false, nullptr, fake, -1});
  ASSERT_GE(fake->batches.size(), 2u);
  EXPECT_EQ(fake->batches[0], 2u);  // the two baselines
  EXPECT_GT(fake->batches[1], size_t(config.jobs));  // the initial population's distinct architectures, at once
}

TEST(Evolution, AnEvolutionRecordedBeforeIsResumedWithItsStoredConfig) {
  // experiments/nemokd-fmnist/run was recorded by an earlier version (its state.db holds the config less the speed
  // settings, in the format of that time): `nemokd evolve --resume` on it must find the same identity.
  nemokd::testing::TempDir tmp;
  const std::filesystem::path run = std::filesystem::path(NEMOKD_SOURCE_DIR) / "experiments/nemokd-fmnist/run";
  std::filesystem::copy_file(run / "state.db", tmp.file("state.db"));  // opening it may write WAL files
  const auto config = evolve_config_from_json(read_json_file((run / "evolve.json").string()));
  Store store(tmp.file("state.db"));
  const auto stored = store.meta("config");
  ASSERT_TRUE(stored);
  EXPECT_NO_THROW(campaign::check_identity(
      nlohmann::json::parse(*stored), identity(config),
      [](const nlohmann::json& j) { return identity(evolve_config_from_json(j)); }, "state.db"));
  auto other = config;
  other.population += 4;
  EXPECT_THROW(campaign::check_identity(
                   nlohmann::json::parse(*stored), identity(other),
                   [](const nlohmann::json& j) { return identity(evolve_config_from_json(j)); }, "state.db"),
               ConfigError);
  EXPECT_GT(store.candidates().size(), 50u);
  EXPECT_TRUE(store.legacy_protocol());
}

namespace {
// A copy of the committed run (experiments/nemokd-fmnist/run: state.db and evolve.json) in tmp/run.
fs::path copy_committed_run(nemokd::testing::TempDir& tmp) {
  const fs::path run = fs::path(NEMOKD_SOURCE_DIR) / "experiments/nemokd-fmnist/run";
  fs::create_directories(tmp.file("run"));
  fs::copy_file(run / "state.db", tmp.file("run/state.db"));
  fs::copy_file(run / "evolve.json", tmp.file("run/evolve.json"));
  return run;
}
}  // namespace

// The committed run, resumed by this version: same identity, nothing evaluated, its protocol (selected on test)
// kept and said in every output.
TEST(Evolution, ALegacyRunResumesWithItsTestProtocolLabelled) {
  nemokd::testing::TempDir tmp;
  const fs::path run = copy_committed_run(tmp);
  const auto config = evolve_config_from_json(read_json_file((run / "evolve.json").string()));
  EXPECT_EQ(config.select_on, SelectOn::validation);  // the file predates the key: the default
  auto fake = std::make_shared<FakeEvaluator>();
  const auto r = run_evolution(config, EvolveContext{tmp.file("run"), true, false, nullptr, fake, -1});
  EXPECT_EQ(fake->calls, 0);
  EXPECT_EQ(r.selected_on, SelectOn::test);
  EXPECT_TRUE(r.legacy_protocol);
  for (const auto& c : r.candidates)
    if (c.status == RunStatus::completed) {
      EXPECT_EQ(c.test_error, c.error);
    }
  EXPECT_EQ(read_json_file(tmp.file("run/results.json")).at("protocol").at("select_on"), "test");
  EXPECT_EQ(read_json_file(tmp.file("run/candidates.json")).at("selected_on"), "test");
  EXPECT_EQ(read_json_file(tmp.file("run/evolve.json")).at("select_on"), "test");
  EXPECT_TRUE(Store(tmp.file("run/state.db")).evaluations().empty());  // schema 4: nothing trained, nothing logged
  // Resumed again (now with select_on stored): the same.
  EXPECT_EQ(run_evolution(config, EvolveContext{tmp.file("run"), true, false, nullptr, fake, -1}).selected_on,
            SelectOn::test);
  EXPECT_EQ(fake->calls, 0);
}

namespace {
// Keys of the non-dominated members of `keys` by (metric, latency), computed here independently of pagmo.
std::set<std::string> front_by(const std::vector<Candidate>& all, const std::vector<std::string>& keys,
                               double Candidate::*metric) {
  std::map<std::string, const Candidate*> by_key;
  for (const auto& c : all) by_key[c.key] = &c;
  std::set<std::string> out;
  for (const auto& a : keys) {
    const auto& ca = *by_key.at(a);
    bool dominated = false;
    for (const auto& b : keys) {
      const auto& cb = *by_key.at(b);
      dominated = dominated || (cb.*metric <= ca.*metric && cb.latency <= ca.latency &&
                                (cb.*metric < ca.*metric || cb.latency < ca.latency));
    }
    if (!dominated) out.insert(a);
  }
  return out;
}
}  // namespace

// Issue 17: the search minimises the validation error unless told to reproduce the paper's protocol (test error),
// and every output says which.
TEST(Evolution, SelectsOnValidation) {
  nemokd::testing::TempDir tmp;
  for (const SelectOn on : {SelectOn::validation, SelectOn::test}) {
    auto config = tiny_config();
    config.select_on = on;
    const auto dir = tmp.file(to_string(on));
    const auto r = run_evolution(config, EvolveContext{dir, false, false, nullptr, std::make_shared<FakeEvaluator>(), -1});
    const auto selected = on == SelectOn::validation ? &Candidate::val_error : &Candidate::test_error;
    const auto other = on == SelectOn::validation ? &Candidate::test_error : &Candidate::val_error;
    for (const auto& c : r.candidates) {
      EXPECT_EQ(c.error, c.*selected) << c.summary;
      EXPECT_TRUE(std::isfinite(c.val_error) && std::isfinite(c.test_error)) << c.summary;
    }
    // NSGA-II saw the selected metric: the checkpoint's first objective of every member.
    Store store(dir + "/state.db");
    const auto cp = store.last_checkpoint();
    ASSERT_TRUE(cp);
    const auto members = store.members(cp->generation);
    for (size_t i = 0; i < members.size(); ++i) EXPECT_EQ(cp->fs[i][0], (*store.candidate(members[i])).*selected);
    // The front follows the selected metric, and differs from the front the other metric would draw.
    const std::set<std::string> front(r.fronts.back().begin(), r.fronts.back().end());
    EXPECT_EQ(front, front_by(r.candidates, r.members.back(), selected)) << to_string(on);
    EXPECT_NE(front, front_by(r.candidates, r.members.back(), other)) << to_string(on) << ": the fake cannot tell";
    // Labelled everywhere: results.json, candidates.json, every CSV row, the text line.
    const auto results = read_json_file(dir + "/results.json");
    EXPECT_EQ(results.at("protocol").at("select_on"), to_string(on));
    EXPECT_FALSE(results.at("protocol").at("legacy").get<bool>());
    const auto cj = read_json_file(dir + "/candidates.json");
    EXPECT_EQ(cj.at("selected_on"), to_string(on));
    for (const auto& c : cj.at("candidates")) {
      EXPECT_EQ(c.at("error"), c.at(on == SelectOn::validation ? "val_error" : "test_error"));
      EXPECT_TRUE(c.at("test_error").is_number());
    }
    std::ifstream csv(dir + "/candidates.csv");
    std::string header, line;
    std::getline(csv, header);
    EXPECT_NE(header.find("selected_on,error,val_error,test_error"), std::string::npos) << header;
    int rows = 0;
    while (std::getline(csv, line)) rows += line.find(std::string(",") + to_string(on) + ",") != std::string::npos;
    EXPECT_EQ(rows, int(r.candidates.size()));
    EXPECT_NE(r.selection_line().find(on == SelectOn::validation ? "validation error" : "TEST error"),
              std::string::npos);
    // A resume may not switch the metric.
    auto switched = config;
    switched.select_on = on == SelectOn::validation ? SelectOn::test : SelectOn::validation;
    switched.generations = 4;
    try {
      run_evolution(switched, EvolveContext{dir, true, false, nullptr, std::make_shared<FakeEvaluator>(), -1});
      ADD_FAILURE() << "a resume switched select_on";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("select_on"), std::string::npos) << e.what();
    }
  }
  // Validation needs a validation split.
  auto config = tiny_config();
  config.base.base.dataset.load.val_size = 0;
  try {
    config.validate();
    ADD_FAILURE() << "select_on validation without a validation split";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("select_on"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--val-size"), std::string::npos) << e.what();
  }
  config.select_on = SelectOn::test;
  EXPECT_NO_THROW(config.validate());
  // A completed run that measured no validation accuracy failed (it is never ranked on a placeholder).
  class NoValidation : public FakeEvaluator {
   public:
    std::vector<Candidate> evaluate(const std::vector<Request>& requests) override {
      auto out = FakeEvaluator::evaluate(requests);
      for (auto& c : out) c.val_error = NAN;
      return out;
    }
  };
  config = tiny_config();
  config.generations = 0;
  const auto r = run_evolution(config, EvolveContext{tmp.file("noval"), false, false, nullptr,
                                                     std::make_shared<NoValidation>(), -1});
  for (const auto& c : r.candidates) {
    EXPECT_EQ(c.status, RunStatus::failed);
    EXPECT_EQ(c.error, 1.0);
    EXPECT_NE(c.message.find("no validation accuracy"), std::string::npos) << c.message;
  }
}

// Issue 17: the baseline student and the user's architectures are members of generation 0 (evaluated with the same
// partial training as every candidate), the rest random; a seed outside the space is refused before any evaluation.
TEST(Evolution, SeedsTheBaselineAndUserArchsInGenerationZero) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_config();
  config.generations = 1;
  auto mine = small_student();
  mine.flexstudent().conv_channels = {4, 4, 16};
  mine.flexstudent().fc_widths = {};
  config.seed_archs = {mine, config.base.base.model};  // the baseline again: one seed, not two
  EXPECT_EQ(config.seed_genomes().size(), 2u);
  auto fake = std::make_shared<FakeEvaluator>();
  const auto r = run_evolution(config, EvolveContext{tmp.file("s"), false, false, nullptr, fake, -1});
  ASSERT_GE(r.members.size(), 1u);
  const auto& gen0 = r.members[0];
  ASSERT_EQ(gen0.size(), size_t(config.population));
  EXPECT_EQ(gen0[0], canonical_key(config.base.base.model));
  EXPECT_EQ(gen0[1], canonical_key(mine));
  EXPECT_EQ(std::count(gen0.begin(), gen0.end(), gen0[0]), 1) << "the seed was drawn again at random?";
  EXPECT_EQ(read_json_file(tmp.file("s/results.json")).at("protocol").at("seeds"), 2);
  // The seeded baseline is the baseline-KD evaluation itself (same key, same training): not trained twice.
  auto keys = fake->keys;
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
  // Without seeds, generation 0 is the random population alone, and differs.
  auto plain = tiny_config();
  plain.generations = 0;
  plain.seed_baseline = false;
  const auto p = run_evolution(plain, EvolveContext{tmp.file("p"), false, false, nullptr, fake, -1});
  EXPECT_EQ(std::count(p.members[0].begin(), p.members[0].end(), canonical_key(plain.base.base.model)), 0);
  // Seeding is part of the identity: a resume cannot add or drop seeds.
  auto more = config;
  more.seed_archs.pop_back();
  more.seed_archs.push_back(small_student());
  more.seed_archs.back().flexstudent().fc_widths = {32};
  EXPECT_THROW(run_evolution(more, EvolveContext{tmp.file("s"), true, false, nullptr, fake, -1}), ConfigError);
  // Outside the space: refused with the reason, naming the seed, before anything is evaluated or written.
  auto bad = tiny_config();
  auto wide = small_student();
  wide.flexstudent().conv_channels = {8, 48};
  bad.seed_archs = {small_student(), wide};
  const int calls = fake->calls;
  try {
    run_evolution(bad, EvolveContext{tmp.file("b"), false, false, nullptr, fake, -1});
    ADD_FAILURE() << "a seed outside the space was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("seed_archs[1]: not in the search space: conv channels 48"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(fake->calls, calls);
  EXPECT_FALSE(fs::exists(tmp.file("b/state.db")));
  auto default_baseline = tiny_config();
  default_baseline.base.base.model = models::preset_model("flexstudent");  // conv 32-64-128: not in small_space()
  try {
    default_baseline.validate();
    ADD_FAILURE() << "a baseline outside the space was seeded";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("seed_baseline: not in the search space"), std::string::npos) << e.what();
  }
  default_baseline.seed_baseline = false;
  EXPECT_NO_THROW(default_baseline.validate());
  // More distinct seeds than the population.
  auto many = tiny_config();
  for (int c = 1; c <= 3; ++c)
    for (int f : {8, 16, 32}) {
      auto m = small_student();
      m.flexstudent().conv_channels = std::vector<int>(size_t(c), 4);
      m.flexstudent().fc_widths = {f};
      many.seed_archs.push_back(m);
    }
  EXPECT_THROW(many.validate(), ConfigError);
}

// The hardware objective is `cost` (cost/cost.h); an evolve.json written before the rename ("latency") reads the
// same, with the same identity (so its store resumes); a document giving both keys is refused.
TEST(Evolution, CostIsReadUnderItsOldNameLatency) {
  auto config = tiny_config();
  config.cost = "params";
  const auto j = to_json(config);
  ASSERT_TRUE(j.contains("cost"));
  EXPECT_FALSE(j.contains("latency"));
  auto old = j;
  old.erase("cost");
  old["latency"] = "params";
  const auto read = evolve_config_from_json(old);
  EXPECT_EQ(read.cost, "params");
  EXPECT_EQ(identity(read), identity(config));
  auto both = j;
  both["latency"] = "params";
  EXPECT_THROW(evolve_config_from_json(both), ConfigError);
  auto bad = j;
  bad["cost"] = "fpga:";
  EXPECT_THROW(evolve_config_from_json(bad), ConfigError);
  bad["cost"] = "fpga:xc7z020,fclk=100";
  EXPECT_EQ(evolve_config_from_json(bad).cost, "fpga:xc7z020,fclk=100");
}

TEST(Evolution, RefusesBadSettingsAndForeignState) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_config();
  config.population = 10;
  EXPECT_THROW(config.validate(), ConfigError);
  config.population = 8;
  config.cost = "stopwatch";
  EXPECT_THROW(config.validate(), ConfigError);
  config = tiny_config();
  auto fake = std::make_shared<FakeEvaluator>();
  config.generations = 0;
  run_evolution(config, EvolveContext{tmp.file("r"), false, false, nullptr, fake, -1});
  EXPECT_THROW(run_evolution(config, EvolveContext{tmp.file("r"), false, false, nullptr, fake, -1}), ConfigError);
  auto other = config;
  other.seed = 7;
  EXPECT_THROW(run_evolution(other, EvolveContext{tmp.file("r"), true, false, nullptr, fake, -1}), ConfigError);
}

// `evolve --population 100000000` was accepted (pagmo reserves the population up front).
TEST(Evolution, PopulationIsBounded) {
  auto config = tiny_config();
  config.population = 100000000;
  try {
    config.validate();
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("at most 10000"), std::string::npos) << e.what();
  }
}

namespace {
// Every candidate fails (as every one did when the probe's device was missing).
class FailingEvaluator : public FakeEvaluator {
 public:
  std::vector<Candidate> evaluate(const std::vector<Request>& requests) override {
    auto out = FakeEvaluator::evaluate(requests);
    for (auto& c : out) {
      c.status = RunStatus::failed;
      c.message = "latency probe: no such device";
    }
    return out;
  }
};

void sql(const std::string& db_path, const std::string& statement) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}
}  // namespace

// A state.db of the first schema (no val_error/test_error columns, no 'schema' meta): opened, migrated in place,
// its candidates marked as selected on test.
TEST(SearchStore, MigratesOldSchema) {
  nemokd::testing::TempDir tmp;
  const auto old_schema =
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE candidates (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, genome TEXT, config "
      "TEXT, summary TEXT, status TEXT, message TEXT, error REAL, latency REAL, latency_detail TEXT, params INTEGER, "
      "macs INTEGER, train_seconds REAL, run_dir TEXT, generation INTEGER, role TEXT);"
      "CREATE TABLE members (generation INTEGER NOT NULL, idx INTEGER NOT NULL, key TEXT NOT NULL, PRIMARY KEY "
      "(generation, idx));"
      "CREATE TABLE checkpoints (generation INTEGER PRIMARY KEY, xs TEXT NOT NULL, fs TEXT NOT NULL, algorithm BLOB "
      "NOT NULL);";
  const auto db = tmp.file("old.db");
  sql(db, std::string(old_schema) +
              "INSERT INTO candidates (key, genome, config, summary, status, message, error, latency, latency_detail, "
              "params, macs, train_seconds, run_dir, generation, role) VALUES "
              "('k1', '[1,2]', '{}', 'a', 'completed', '', 0.125, 2.5, 'null', 10, 20, 1.5, 'd1', 0, 'search'),"
              "('k2', '[2,1]', '{}', 'b', 'failed', 'boom', 1.0, 1e12, 'null', 10, 20, 0, 'd2', 0, 'search');");
  {
    Store st(db);
    EXPECT_TRUE(st.legacy_protocol());
    EXPECT_EQ(st.meta("schema"), std::to_string(Store::kSchema));
    const auto c = st.candidate("k1");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->error, 0.125);
    EXPECT_EQ(c->test_error, 0.125);  // the old error was the test error
    EXPECT_TRUE(std::isnan(c->val_error));
    EXPECT_TRUE(std::isnan(st.candidate("k2")->test_error));  // a failure measured nothing
    Candidate n;
    n.key = "k3";
    n.val_error = 0.25;
    st.put_candidate(n);
  }
  Store again(db);  // the mark survives the migration (a resume that failed its check opens it again)
  EXPECT_TRUE(again.legacy_protocol());
  EXPECT_EQ(again.candidate("k3")->val_error, 0.25);
  EXPECT_TRUE(std::isnan(again.candidate("k3")->test_error));
  // An old file with no candidates yet selected nothing: not marked.
  sql(tmp.file("empty.db"), old_schema);
  EXPECT_FALSE(Store(tmp.file("empty.db")).legacy_protocol());
  // A newer schema is refused, not misread.
  sql(tmp.file("new.db"), std::string(old_schema) + "INSERT INTO meta VALUES ('schema', '99');");
  EXPECT_THROW(Store(tmp.file("new.db")), DataError);
}

// All candidates failing were all printed as the final front at 100 % error. Failures are never on a front.
TEST(Evolution, FailedCandidatesAreNeverOnAFront) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_config();
  config.generations = 1;
  auto fake = std::make_shared<FailingEvaluator>();
  const auto r = run_evolution(config, EvolveContext{tmp.file("f"), false, false, nullptr, fake, -1});
  ASSERT_EQ(r.fronts.size(), 2u);
  for (const auto& front : r.fronts) EXPECT_TRUE(front.empty());
  const auto cj = read_json_file(tmp.file("f/candidates.json"));
  for (const auto& c : cj.at("candidates")) EXPECT_FALSE(c.value("pareto", false)) << c.dump();
}

// A hand-edited state.db failed with raw pagmo/JSON errors, or with map::at after the baseline's training: now one
// error naming the file and what is wrong, before any evaluation.
TEST(Evolution, DamagedStoreIsRefusedBeforeAnyTraining) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_config();
  config.generations = 1;
  auto fake = std::make_shared<FakeEvaluator>();
  const std::string dir = tmp.file("s"), db = dir + "/state.db";
  run_evolution(config, EvolveContext{dir, false, false, nullptr, fake, -1});
  config.generations = 2;
  auto expect_refused = [&](const std::string& statement, const std::string& expected) {
    nemokd::testing::TempDir copy;
    fs::copy(dir, copy.file("s"), fs::copy_options::recursive);
    sql(copy.file("s/state.db"), statement);
    auto probe = std::make_shared<FakeEvaluator>();
    try {
      run_evolution(config, EvolveContext{copy.file("s"), true, false, nullptr, probe, -1});
      ADD_FAILURE() << statement << ": accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << statement << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("state.db"), std::string::npos) << e.what();
    }
    EXPECT_EQ(probe->calls, 0) << statement;
  };
  expect_refused("UPDATE checkpoints SET xs = '[[1, 2]]'", "holds 1 members");
  expect_refused("UPDATE checkpoints SET xs = '[[1, 2]' ", "invalid JSON");
  expect_refused("UPDATE checkpoints SET fs = '{\"a\": 1}'", "expected a list");
  expect_refused("UPDATE checkpoints SET algorithm = x'00ff'", "NSGA-II state cannot be read");
  expect_refused("DELETE FROM candidates WHERE role = 'search'", "which the store does not hold");
  expect_refused("UPDATE candidates SET genome = 'true'", "genome");
  // Status and role are enums in the process: a text that is neither is refused where it is read.
  expect_refused("UPDATE candidates SET role = 'boss'", "role: 'boss' is not one of search, baseline-kd");
  expect_refused("UPDATE candidates SET status = 'exploded'", "status");
  expect_refused("UPDATE meta SET value = '" + std::string(200, '[') + "' WHERE key = 'config'", "deeper than");
}

// `evolve --latency torch:cuda` on a machine without CUDA trained for minutes, then failed every candidate. The
// probe's device is checked before anything is written.
TEST(Evolution, UnavailableProbeDeviceIsRefusedBeforeAnyWork) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA";
  nemokd::testing::TempDir tmp;
  auto config = tiny_config();
  config.cost = "torch:cuda";
  try {
    run_evolution(config, EvolveContext{tmp.file("c"), false, false, nullptr, nullptr, -1});
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("probe 'torch:cuda' cannot measure here"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp.file("c/state.db")));
}

// ---- every JSON reader a user reaches, under hostile values at every key ----
// The torch-side config readers (model configs, --space, evolve.json, KD and training run configs, run.json) are
// not in the clang fuzz targets (they need LibTorch); here every value of each reader's valid JSON — leaf or
// container — is replaced in turn by each hostile value, and the reader must either accept or throw nemokd::Error:
// never another exception (an nlohmann type_error, std::out_of_range, ...). With NEMOKD_FUZZ_SECONDS set,
// scripts/fuzz.sh also runs random stacked mutations for that long (seed printed; NEMOKD_FUZZ_SEED replays).

namespace {

std::vector<Json> hostile_values() {
  Json deep = Json::array();
  for (int i = 0; i < 60; ++i) deep = Json::array({deep});
  return {1.5, true, false, "x", "", -1, 0, int64_t(1) << 40, std::numeric_limits<int64_t>::min(),
          std::numeric_limits<uint64_t>::max(), 1e308, -1e308, nullptr, Json::array(), Json::object(),
          Json::array({1.5}), Json::array({Json::array({1})}), Json{{"x", 1}}, deep, std::string(10000, 'z')};
}

// JSON pointers of every value below the root.
void pointers(const Json& j, const Json::json_pointer& at, std::vector<Json::json_pointer>& out) {
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) {
      out.push_back(at / it.key());
      pointers(it.value(), at / it.key(), out);
    }
  if (j.is_array())
    for (size_t i = 0; i < j.size(); ++i) {
      out.push_back(at / i);
      pointers(j[i], at / i, out);
    }
}

struct Reader {
  std::string name;
  Json valid;
  std::function<void(const Json&)> read;
};

std::vector<Reader> config_readers() {
  kd::KdRunConfig kd_run;
  kd_run.kd.teacher = "runs/teacher";
  RunRecord record;
  record.command = "train";
  record.config = train::to_json(train::TrainRunConfig{});
  record.status = "completed";
  record.argv = {"nemokd", "train"};
  record.results = {{"dataset", {{"shape", {1, 28, 28}}, {"classes", 10}}}};
  // A quantized CNN search (its space's image, the pools of its baseline), bit genes per layer.
  auto qflex = tiny_config();
  qflex.base.base.model = models::preset_model("qflexstudent");
  qflex.base.base.model.qflexstudent().net.pool = finn_pools(3, 28, 28);
  qflex.base.base.train.normalization = data::Normalization::signed_unit;
  qflex.space.family = models::Family::qflexstudent;
  qflex.space.channels = {8, 16, 32, 64, 128};
  qflex.space.neurons = {64, 256};
  qflex.space.image_height = qflex.space.image_width = 28;
  qflex.space.bits = "per-layer";
  qflex.uniform_baselines = {{"cnv", 1, 2, true}, {"tfc", 2, 2, false}};
  std::vector<Reader> readers = {
      {"evolve.json", to_json(tiny_config()), [](const Json& j) { evolve_config_from_json(j); }},
      {"evolve.json qflexstudent", to_json(qflex), [](const Json& j) { evolve_config_from_json(j); }},
      {"--space qflexstudent", to_json(qflex.space), [](const Json& j) { search_space_from_json(j, "space"); }},
      {"--space", to_json(small_space()), [](const Json& j) { search_space_from_json(j, "space"); }},
      {"kd run", kd::to_json(kd_run), [](const Json& j) { kd::kd_run_config_from_json(j); }},
      {"train run", train::to_json(train::TrainRunConfig{}),
       [](const Json& j) { train::train_run_config_from_json(j); }},
      {"run.json", record.to_json(), [](const Json& j) { RunRecord::from_json(j); }}};
  for (const auto& preset : models::model_presets())
    readers.push_back({"model " + preset.name, models::to_json(models::preset_model(preset.name)),
                       [](const Json& j) { models::model_config_from_json(j, "model"); }});
  for (const auto& arch : models::architectures())
    readers.push_back({"model " + arch.name, models::to_json(models::preset_model(arch.name)),
                       [](const Json& j) { models::model_config_from_json(j, "model"); }});
  return readers;
}

// "" when the reader accepted or refused with nemokd::Error; else what escaped.
std::string escaped(const Reader& r, const Json& j) {
  try {
    r.read(j);
  } catch (const Error&) {
  } catch (const std::exception& e) {
    return std::string("std::exception: ") + e.what();
  } catch (...) {
    return "an unknown exception";
  }
  return "";
}

}  // namespace

TEST(ConfigReaders, HostileValuesAtEveryKeyAreConfigErrors) {
  const auto values = hostile_values();
  size_t cases = 0;
  for (const auto& r : config_readers()) {
    ASSERT_EQ(escaped(r, r.valid), "") << r.name;
    EXPECT_NO_THROW(r.read(r.valid)) << r.name << ": its own JSON must read back";
    std::vector<Json::json_pointer> at;
    pointers(r.valid, Json::json_pointer(), at);
    for (const auto& p : at)
      for (const auto& v : values) {
        Json j = r.valid;
        j[p] = v;
        ++cases;
        const auto what = escaped(r, j);
        EXPECT_EQ(what, "") << r.name << " with " << p.to_string() << " = " << v.dump().substr(0, 60);
      }
    // Unknown keys, and a root that is not an object.
    Json extra = r.valid;
    extra["no_such_key"] = 1;
    EXPECT_EQ(escaped(r, extra), "") << r.name;
    for (const auto& v : values) EXPECT_EQ(escaped(r, v), "") << r.name << " with root " << v.dump().substr(0, 60);
  }
  EXPECT_GT(cases, 1000u);

  // scripts/fuzz.sh: random stacked mutations for NEMOKD_FUZZ_SECONDS.
  const char* seconds = std::getenv("NEMOKD_FUZZ_SECONDS");
  if (!seconds) return;
  const char* seed_text = std::getenv("NEMOKD_FUZZ_SEED");
  const uint64_t seed = seed_text ? std::stoull(seed_text) : uint64_t(std::random_device{}());
  std::printf("config readers: random mutations for %s s, NEMOKD_FUZZ_SEED=%llu\n", seconds,
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const auto readers = config_readers();
  const auto t_end = std::chrono::steady_clock::now() + std::chrono::duration<double>(std::stod(seconds));
  size_t runs = 0;
  while (std::chrono::steady_clock::now() < t_end) {
    const auto& r = readers[rng() % readers.size()];
    Json j = r.valid;
    const int mutations = 1 + int(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      std::vector<Json::json_pointer> at;
      pointers(j, Json::json_pointer(), at);
      if (at.empty()) break;
      const auto& p = at[rng() % at.size()];
      auto& parent = j[p.parent_pointer()];
      switch (rng() % 4) {
        case 0:  // a hostile value
          j[p] = values[rng() % values.size()];
          break;
        case 1:  // a key or element removed
          if (parent.is_object()) parent.erase(p.back());
          else parent.erase(std::stoul(p.back()));
          break;
        case 2:  // an extra key or element
          if (parent.is_object()) parent[p.back() + "_x"] = values[rng() % values.size()];
          else parent.push_back(values[rng() % values.size()]);
          break;
        default:  // a number scaled and negated, anything else turned into its own text
          j[p] = j[p].is_number() ? Json(j[p].get<double>() * -3.5) : Json(j[p].dump());
          break;
      }
    }
    ++runs;
    const auto what = escaped(r, j);
    ASSERT_EQ(what, "") << r.name << ": " << j.dump().substr(0, 400) << " (NEMOKD_FUZZ_SEED=" << seed << ")";
  }
  std::printf("config readers: %zu random inputs, all accepted or refused with one nemokd error\n", runs);
}

// ---- the fpga cost inside the search: priced before training, infeasible designs never trained, never on a front ----
namespace {

// A quantized MLP space (qmlp) on the made-up part of tests/data/fpga-tiny.json: TFC-sized layers fit, 1024-wide
// ones at no folding.
EvolveConfig tiny_fpga_config() {
  EvolveConfig c;
  c.base.kd.teacher = "teacher-not-used-by-the-fake-evaluator";
  auto m = train::default_qat_config().model;
  m.mlp().hidden = {64};
  m.mlp().set_bits({1}, {1});
  c.base.base.model = m;
  c.base.base.train.normalization = train::default_qat_config().train.normalization;  // its signed input
  c.space.family = models::Family::mlp;
  c.space.min_hidden = 1;
  c.space.max_hidden = 3;
  c.space.widths = {32, 64, 1024};
  c.population = 8;
  c.generations = 3;
  c.seed = 5;
  c.cost = "fpga:tiny";
  return c;
}

std::shared_ptr<cost::CostBackend> tiny_fpga() {
  cost::CostContext context;
  context.devices = std::string(NEMOKD_SOURCE_DIR) + "/tests/data/fpga-tiny.json";
  return std::shared_ptr<cost::CostBackend>(cost::make_cost(cost::parse_cost("fpga:tiny"), context));
}

bool dominates(const std::vector<double>& a, const std::vector<double>& b) {
  bool better = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > b[i]) return false;
    better = better || a[i] < b[i];
  }
  return better;
}

}  // namespace

// Fails without the pricing before training (an infeasible key reaches evaluate()), without the front filter or the
// penalty (an infeasible candidate on a front), or with a flat penalty (two infeasible ones with different
// violations tie).
TEST(Evolution, InfeasibleNeverTrainedNeverOnAFront) {
  nemokd::testing::TempDir tmp;
  const auto config = tiny_fpga_config();
  auto fake = std::make_shared<FakeEvaluator>();
  EvolveContext ctx{tmp.file("e"), false, false, nullptr, fake, -1};
  ctx.cost = tiny_fpga();
  const auto r = run_evolution(config, ctx);

  std::set<std::string> infeasible, feasible;
  for (const auto& c : r.candidates) {
    if (c.feasible) {
      if (c.status == RunStatus::completed) feasible.insert(c.key);
      continue;
    }
    infeasible.insert(c.key);
    EXPECT_EQ(status_text(c), "infeasible");
    EXPECT_TRUE(c.run_dir.empty()) << c.key;
    EXPECT_GT(c.violation(), 0) << c.key;  // too large for the part: graded
    EXPECT_NE(c.message.find("no folding fits tiny"), std::string::npos) << c.message;
    EXPECT_EQ(c.cost.value("how", std::string()), "estimated");
  }
  ASSERT_FALSE(infeasible.empty()) << "no infeasible design: the test would prove nothing";
  ASSERT_FALSE(feasible.empty());
  for (const auto& k : fake->keys) EXPECT_FALSE(infeasible.count(k)) << "trained although infeasible: " << k;
  for (const auto& front : r.fronts)
    for (const auto& k : front) EXPECT_FALSE(infeasible.count(k)) << "infeasible on a front: " << k;
  // Feasible candidates carry the fpga figures, priced by the backend (not the evaluator's stand-in latency).
  for (const auto& c : r.candidates)
    if (feasible.count(c.key)) {
      EXPECT_GT(c.latency_detail.value("fps_estimated", 0.0), 0) << c.key;
      EXPECT_DOUBLE_EQ(c.latency, 1000.0 / c.latency_detail.value("fps_estimated", 0.0));
    }
  // The --json summary's pareto list: the final front, each member with its FPGA figures.
  const auto summary = r.to_json();
  ASSERT_EQ(summary["pareto"].size(), r.fronts.back().size());
  for (const auto& p : summary["pareto"]) {
    EXPECT_TRUE(p.at("fits_planning").get<bool>()) << p;
    EXPECT_GT(p.at("fps_estimated").get<double>(), 0) << p;
    EXPECT_EQ(p.at("cost_how"), "estimated");
    EXPECT_FALSE(infeasible.count(p.at("key").get<std::string>()));
  }
  // The results file says so too.
  const auto j = read_json_file(tmp.file("e/results.json"));
  int marked = 0;
  for (const auto& c : j["candidates"]) marked += c["status"] == "infeasible" && c["feasible"] == false;
  EXPECT_EQ(marked, int(infeasible.size()));

  // Generation 0 alone: its checkpointed objective vectors (what NSGA-II sorts) put every feasible member above
  // every infeasible one, and grade infeasible ones by violation.
  auto g0 = config;
  g0.generations = 0;
  EvolveContext ctx0{tmp.file("g0"), false, false, nullptr, std::make_shared<FakeEvaluator>(), -1};
  ctx0.cost = tiny_fpga();
  const auto r0 = run_evolution(g0, ctx0);
  Store store(tmp.file("g0/state.db"));
  const auto cp = store.last_checkpoint();
  ASSERT_TRUE(cp.has_value());
  const auto keys = store.members(0);
  std::map<std::string, Candidate> by_key;
  for (const auto& c : r0.candidates) by_key[c.key] = c;
  std::vector<size_t> ok, bad;
  for (size_t i = 0; i < keys.size(); ++i) (by_key.at(keys[i]).feasible ? ok : bad).push_back(i);
  ASSERT_FALSE(ok.empty());
  ASSERT_FALSE(bad.empty()) << "generation 0 holds no infeasible member: choose another seed";
  for (size_t i : ok)
    for (size_t k : bad) EXPECT_TRUE(dominates(cp->fs[i], cp->fs[k])) << keys[i] << " vs " << keys[k];
  for (size_t a : bad)
    for (size_t b : bad) {
      if (by_key.at(keys[a]).violation() < by_key.at(keys[b]).violation()) {
        EXPECT_TRUE(dominates(cp->fs[a], cp->fs[b]));
      }
    }
}

// A backend given for another spec than the search's is refused.
TEST(Evolution, RefusesACostBackendOfAnotherSpec) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_fpga_config();
  config.cost = "fpga:xc7z020";
  EvolveContext ctx{tmp.file("e"), false, false, nullptr, std::make_shared<FakeEvaluator>(), -1};
  ctx.cost = tiny_fpga();
  EXPECT_THROW(run_evolution(config, ctx), ConfigError);
}

// ---- qmlp: per-layer or uniform bit genes after the architecture genes ----
TEST(JointSpace, PerLayerBitsFollowSlotsUniformTies) {
  auto base = train::default_qat_config().model;  // TFC W2A2, tanh
  SearchSpace s;
  s.family = models::Family::mlp;
  s.min_hidden = 1;
  s.max_hidden = 3;
  s.widths = {32, 64, 128};
  s.bits = "per-layer";
  s.weight_bits = {1, 2, 4, 8};
  s.act_bits = {1, 2, 4, 8};
  s.validate();
  // [depth, 3 width genes, 4 weight slots (3 hidden + classifier), 3 activation slots]
  ASSERT_EQ(s.genes(), 1u + 3u + 4u + 3u);
  EXPECT_EQ(s.upper().back(), 3.0);
  // Depth 2: hidden slots 0, 1 and the classifier's slot (3) are used; slot 2 and activation slot 2 are not.
  const auto a = s.decode({2, 0, 1, 2, /*W*/ 0, 1, 3, 2, /*A*/ 1, 2, 0}, base);
  const auto b = s.decode({2, 0, 1, 0, /*W*/ 0, 1, 0, 2, /*A*/ 1, 2, 3}, base);
  EXPECT_EQ(a.mlp().hidden, (std::vector<int>{32, 64}));
  EXPECT_EQ(a.mlp().quant.weight_bits, (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(a.mlp().quant.act_bits, (std::vector<int>{2, 4}));
  EXPECT_EQ(canonical_key(a), canonical_key(b)) << "inactive slots changed the key";
  // An active slot does change it.
  EXPECT_NE(canonical_key(a), canonical_key(s.decode({2, 0, 1, 2, 0, 2, 3, 2, 1, 2, 0}, base)));
  // The classifier keeps its slot's bits at every depth.
  for (int depth : {1, 2, 3}) {
    const auto m = s.decode({double(depth), 0, 0, 0, 1, 1, 1, 3, 1, 1, 1}, base);
    EXPECT_EQ(m.mlp().quant.weight_bits.back(), 8) << depth;
    EXPECT_EQ(m.mlp().quant.weight_bits.size(), size_t(depth) + 1);
    EXPECT_EQ(m.mlp().quant.act_bits.size(), size_t(depth));
  }
  // encode is decode's inverse (seeding).
  std::string why;
  const auto g = s.encode(a, base, &why);
  ASSERT_TRUE(g.has_value()) << why;
  EXPECT_EQ(canonical_key(s.decode(*g, base)), canonical_key(a));

  // Uniform: two genes tie every layer, the classifier included.
  s.bits = "uniform";
  ASSERT_EQ(s.genes(), 1u + 3u + 2u);
  const auto u = s.decode({3, 2, 1, 0, /*W*/ 2, /*A*/ 1}, base);
  EXPECT_EQ(u.mlp().quant.weight_bits, (std::vector<int>{4, 4, 4, 4}));
  EXPECT_EQ(u.mlp().quant.act_bits, (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(s.summary(u), "mlp 128-64-32 W4-4-4-4 A2-2-2");
  ASSERT_TRUE(s.encode(u, base, &why).has_value()) << why;
  EXPECT_FALSE(s.encode(a, base, &why).has_value());  // per-layer bits are outside a uniform space
  // Bits keys are written only when bits != none (older identities unchanged), and read back.
  EXPECT_EQ(to_json(search_space_from_json(to_json(s))), to_json(s));
  s.bits = "none";
  EXPECT_FALSE(to_json(s).contains("bits"));

  // Refused: an unknown mode, a choice outside 1..8, bit genes for a float family, a float baseline.
  auto bad = s;
  bad.bits = "mixed";
  EXPECT_THROW(bad.validate(), ConfigError);
  bad.bits = "uniform";
  bad.weight_bits = {2, 32};
  EXPECT_THROW(bad.validate(), ConfigError);
  auto flex = small_space();
  flex.bits = "uniform";
  EXPECT_THROW(flex.validate(), ConfigError);
  s.bits = "uniform";
  auto float_mlp = models::preset_model("tfc");
  EXPECT_THROW(s.decode({3, 2, 1, 0, 2, 1}, float_mlp), ConfigError);
}

// A joint search (qmlp, per-layer bits, fpga cost on the made-up part) killed twice mid-generation and resumed ends
// exactly like the uninterrupted one: same evaluations, same infeasible records, same fronts.
TEST(Evolution, JointKilledAndResumedEndsExactly) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_fpga_config();
  config.space.bits = "per-layer";
  config.space.weight_bits = {1, 2, 4};
  config.space.act_bits = {1, 2, 4};
  auto fake_a = std::make_shared<FakeEvaluator>();
  EvolveContext a{tmp.file("a"), false, false, nullptr, fake_a, -1};
  a.cost = tiny_fpga();
  const auto full = run_evolution(config, a);
  int infeasible = 0;
  for (const auto& c : full.candidates) infeasible += !c.feasible;
  EXPECT_GT(infeasible, 0);

  auto fake_b = std::make_shared<FakeEvaluator>();
  const auto resumed = killed_twice_then_resumed(config, tmp.file("b"), fake_b, tiny_fpga());
  EXPECT_EQ(fake_b->keys, fake_a->keys);
  auto ja = comparable(full), jb = comparable(resumed);
  for (auto* j : {&ja, &jb})
    for (auto& c : (*j)["candidates"]) {
      c.erase("run_dir");
      if (c["latency_detail"].is_object()) c["latency_detail"].erase("search_seconds");  // a timing
    }
  EXPECT_EQ(ja.dump(), jb.dump());  // as text: an infeasible candidate's errors are NaN (not measured), never equal
}

// ---------------------------------------------------------------------------------------------------------------
// The engine cost inside the default evaluator: each trained run folder is priced (price_run) once, in this process,
// after the batch's trainings; the figure is stored with its label and read back on a resume, never measured again.
namespace {

// Runs nothing: writes a finished run.json (the request, completed, accuracies from the folder's name) per child.
class FinishingExecutor : public campaign::Executor {
 public:
  bool training = false;  // true while run() "trains"
  std::string describe(int) const override { return "finishing"; }
  void check_device(const std::string&) const override {}
  bool distributed() const override { return false; }
  int ranks() const override { return 1; }
  void run(const std::vector<campaign::ChildJob>& jobs, const campaign::OnChildDone& on_done) override {
    training = true;
    for (size_t i = 0; i < jobs.size(); ++i) {
      fs::create_directories(jobs[i].dir);
      RunRecord rec = jobs[i].request;
      rec.status = "completed";
      const double acc = 0.5 + double(std::hash<std::string>{}(fs::path(jobs[i].dir).filename().string()) % 400) / 1e3;
      rec.results = {{"final_test_accuracy", acc}, {"final_val_accuracy", acc - 0.01}};
      rec.timings = {{"train_seconds", 0.0}};
      rec.write(jobs[i].dir);
      campaign::ChildOutcome o;
      o.exit_code = 0;
      on_done(i, o);
    }
    training = false;
  }
  void run_tasks(const std::vector<dist::Task>&, const campaign::OnTaskDone&) override {}
};

// A stand-in for the engine's measurement: a figure per run folder that changes with every call (as a measurement
// does), so a re-measured candidate would show. One folder in four holds "a float layer": not priceable.
class CountingEngineCost : public cost::CostBackend {
 public:
  explicit CountingEngineCost(std::shared_ptr<FinishingExecutor> executor) : executor_(std::move(executor)) {}
  std::map<std::string, int> calls;  // run folder name -> price_run calls
  int while_training = 0;
  std::string text() const override { return cost::parse_cost("engine:batch=16,seconds=0.05").text(); }
  bool architecture_only() const override { return false; }
  bool prices_float() const override { return false; }
  bool measures_time() const override { return true; }
  cost::CostValue price(const models::ModelConfig&, const models::InputShape&, int) override {
    ADD_FAILURE() << "the engine prices trained runs only";
    return {};
  }
  cost::CostValue price_run(const std::string& run_dir) override {
    const auto name = fs::path(run_dir).filename().string();
    const int n = ++calls[name];
    while_training += executor_->training;
    cost::CostValue v;
    v.how = cost::CostHow::measured;
    v.unit = "ms/frame";
    v.label = "measured (stand-in)";
    const auto h = std::hash<std::string>{}(name);
    if (h % 4 == 0) {
      v.feasible = v.priceable = false;
      v.message = "not priceable on the integer engine: a float layer";
      return v;
    }
    v.objective = 1.0 + double(h % 97) + 1000.0 * (n - 1);
    v.detail = {{"frames_per_second", 1000.0 / v.objective}, {"measured_on", "test CPU"}};
    return v;
  }

 private:
  std::shared_ptr<FinishingExecutor> executor_;
};

}  // namespace

TEST(Evolution, EngineCostPricesEachTrainedRunOnceAndAResumeReadsItBack) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_config();
  config.cost = "engine:batch=16,seconds=0.05";
  config.generations = 2;
  config.base.kd.cache = "off";  // no teacher outputs to compute: the stand-in executor trains nothing
  auto search = [&](const std::string& dir, bool resume, int64_t stop, const std::shared_ptr<FinishingExecutor>& ex,
                    const std::shared_ptr<CountingEngineCost>& engine) {
    EvolveContext ctx{dir, resume, false, ex, nullptr, stop};
    ctx.cost = engine;
    return run_evolution(config, ctx);
  };
  auto ex_a = std::make_shared<FinishingExecutor>();
  auto engine_a = std::make_shared<CountingEngineCost>(ex_a);
  const auto full = search(tmp.file("a"), false, -1, ex_a, engine_a);
  int failed = 0;
  for (const auto& c : full.candidates) {
    const auto priced = engine_a->calls.find(fs::path(c.run_dir).filename().string());
    EXPECT_TRUE(priced != engine_a->calls.end() && priced->second == 1) << c.summary << " in " << c.run_dir;
    EXPECT_EQ(c.cost.value("how", ""), "measured");
    if (c.status == RunStatus::failed) {
      ++failed;
      EXPECT_NE(c.message.find("not priceable on the integer engine"), std::string::npos) << c.message;
    }
  }
  EXPECT_EQ(engine_a->calls.size(), full.candidates.size());
  EXPECT_EQ(engine_a->while_training, 0) << "priced while the trainings ran";
  EXPECT_GT(failed, 0) << "no unpriceable candidate: the check would prove nothing";
  EXPECT_LT(failed, int(full.candidates.size()));

  // Killed twice mid-generation, resumed with the same (still counting) backend: every folder priced once, and the
  // same candidates, figures and fronts as the uninterrupted search (a second measurement would have moved one).
  auto ex_b = std::make_shared<FinishingExecutor>();
  auto engine_b = std::make_shared<CountingEngineCost>(ex_b);
  EXPECT_THROW(search(tmp.file("b"), false, 5, ex_b, engine_b), Interrupted);
  EXPECT_THROW(search(tmp.file("b"), true, 9, ex_b, engine_b), Interrupted);
  const auto resumed = search(tmp.file("b"), true, -1, ex_b, engine_b);
  EXPECT_EQ(engine_b->calls, engine_a->calls);
  auto ja = comparable(full), jb = comparable(resumed);
  for (auto* j : {&ja, &jb}) {
    for (auto& c : (*j)["candidates"]) c.erase("run_dir");
    for (auto& p : (*j)["pareto"]) {
      p.erase("run_dir");
      p.erase("bundle");
    }
  }
  EXPECT_EQ(ja.dump(), jb.dump());
  // A finished search resumed again measures nothing.
  search(tmp.file("b"), true, -1, ex_b, engine_b);
  EXPECT_EQ(engine_b->calls, engine_a->calls);
}

// ---------------------------------------------------------------------------------------------------------------
// The final stage (search/final_stage.h): the archive front and both baselines retrained over seeds.
namespace {

// The fake evaluator, re-measuring latency as MACs + 2, MACs, MACs + 1 in its three rounds (median: MACs + 1).
class RemeasuringEvaluator : public FakeEvaluator {
 public:
  int remeasured = 0;
  std::vector<std::vector<double>> remeasure_latency(const std::vector<models::ModelConfig>& models,
                                                     int rounds) override {
    std::vector<std::vector<double>> out;
    for (const auto& m : models) {
      const double macs = double(models::build_model(m, {1, 28, 28}, 10)->macs());
      const double by_round[] = {macs + 2, macs, macs + 1};
      out.emplace_back();
      for (int r = 0; r < rounds; ++r) out.back().push_back(by_round[r % 3]);
      ++remeasured;
    }
    return out;
  }
};

EvolveConfig final_config() {
  auto c = tiny_config();
  c.final_epochs = 2;
  c.final_seeds = 3;
  c.final_max = 100;
  return c;
}

// The non-dominated completed candidates by (selection error, latency), found the slow way.
std::set<std::string> brute_force_front(const std::vector<Candidate>& all) {
  std::set<std::string> out;
  for (const auto& a : all) {
    if (a.status != RunStatus::completed || a.role == Role::baseline_no_kd) continue;
    bool dominated = false;
    for (const auto& b : all) {
      if (b.status != RunStatus::completed || b.role == Role::baseline_no_kd) continue;
      if (b.error <= a.error && b.latency <= a.latency && (b.error < a.error || b.latency < a.latency)) dominated = true;
    }
    if (!dominated) out.insert(a.key);
  }
  return out;
}

std::vector<std::tuple<std::string, std::string, int, int>> final_calls(const FakeEvaluator& f) {
  std::vector<std::tuple<std::string, std::string, int, int>> out;
  for (const auto& rq : f.final_requests) out.emplace_back(rq.key, to_string(rq.role), rq.seed_offset, rq.epochs);
  return out;
}

nlohmann::json final_without_counts(nlohmann::json j) {
  j.erase("trained_now");
  j.erase("reused");
  return j;
}

}  // namespace

TEST(FinalStage, RetrainsTheArchiveFrontAndBothBaselinesOverSeeds) {
  nemokd::testing::TempDir tmp;
  const auto config = final_config();
  auto fake = std::make_shared<RemeasuringEvaluator>();
  const auto r = run_evolution(config, EvolveContext{tmp.file("r"), false, false, nullptr, fake, -1});
  ASSERT_FALSE(r.final.is_null());
  const auto fin = read_json_file(tmp.file("r/final.json"));
  EXPECT_EQ(fin, r.final);
  EXPECT_EQ(read_json_file(tmp.file("r/results.json")).at("final"), fin);
  // The points: the archive front over every stored candidate (the baseline's architecture is its own point), then
  // the two baselines.
  const std::string base_key = canonical_key(config.base.base.model);
  auto expected = brute_force_front(r.candidates);
  ASSERT_FALSE(expected.empty());
  expected.erase(base_key);
  std::set<std::string> front_points;
  const auto& points = fin.at("points");
  ASSERT_EQ(points.size(), expected.size() + 2);
  for (size_t i = 0; i + 2 < points.size(); ++i) {
    EXPECT_EQ(points[i].at("role"), "final");
    front_points.insert(points[i].at("key").get<std::string>());
  }
  EXPECT_EQ(front_points, expected);
  EXPECT_EQ(points[points.size() - 2].at("role"), "final-baseline-kd");
  EXPECT_EQ(points[points.size() - 2].at("key"), base_key);
  EXPECT_EQ(points.back().at("role"), "final-baseline-no-kd");
  // Seeds x points requests, each once, at the final epochs, in one batch; measured later, not with the training.
  const auto calls = final_calls(*fake);
  EXPECT_EQ(calls.size(), points.size() * 3);
  const std::set<std::tuple<std::string, std::string, int, int>> distinct(calls.begin(), calls.end());
  EXPECT_EQ(distinct.size(), calls.size());
  for (const auto& rq : fake->final_requests) {
    EXPECT_EQ(rq.epochs, 2);
    EXPECT_FALSE(rq.measure);
    EXPECT_EQ(fs::path(rq.run_dir).parent_path(), fs::path(tmp.file("r/final")));
  }
  EXPECT_EQ(fake->batches.back(), calls.size());
  EXPECT_EQ(fin.at("trained_now"), int(calls.size()));
  // Mean and sample sd of the per-seed values (the fake: +0.003 per seed -> sd 0.003), latency the median round.
  for (const auto& p : points) {
    const auto& runs = p.at("runs");
    ASSERT_EQ(runs.size(), 3u);
    double sum = 0;
    for (const auto& run : runs) sum += run.at("test_error").get<double>();
    EXPECT_NEAR(p.at("test_error").at("mean").get<double>(), sum / 3, 1e-12);
    EXPECT_NEAR(p.at("test_error").at("sd").get<double>(), 0.003, 1e-9);
    EXPECT_EQ(p.at("test_error").at("n"), 3);
    EXPECT_EQ(p.at("latency").get<double>(), double(p.at("macs").get<int64_t>()) + 1);
  }
  EXPECT_EQ(fake->remeasured, int(points.size()) - 1);  // the baselines share an architecture: measured once
  // The re-drawn front: on the validation means (the selection metric), never the no-KD baseline.
  EXPECT_FALSE(points.back().at("front").get<bool>());
  EXPECT_TRUE(fin.at("verdicts").contains("beats_baseline_kd"));
  // final.csv: a row per point, labelled with the selection metric.
  std::ifstream csv(tmp.file("r/final.csv"));
  std::string line;
  size_t rows = 0;
  std::getline(csv, line);
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_NE(line.find("validation"), std::string::npos);
  }
  EXPECT_EQ(rows, points.size());
}

TEST(FinalStage, AKilledFinalStageResumesTrainingNothingTwice) {
  nemokd::testing::TempDir tmp;
  const auto config = final_config();
  auto whole = std::make_shared<RemeasuringEvaluator>();
  run_evolution(config, EvolveContext{tmp.file("a"), false, false, nullptr, whole, -1});
  const int search_calls = whole->calls - int(whole->final_requests.size());
  auto fake = std::make_shared<RemeasuringEvaluator>();
  // Killed twice inside the final stage (after 4 of its trainings, then after 5 more), then to the end.
  EXPECT_THROW(run_evolution(config, EvolveContext{tmp.file("b"), false, false, nullptr, fake, search_calls + 4}),
               Interrupted);
  EXPECT_EQ(fake->final_requests.size(), 4u);
  EXPECT_THROW(run_evolution(config, EvolveContext{tmp.file("b"), true, false, nullptr, fake, 5}), Interrupted);
  EXPECT_EQ(fake->final_requests.size(), 9u);
  const auto r = run_evolution(config, EvolveContext{tmp.file("b"), true, false, nullptr, fake, -1});
  EXPECT_EQ(fake->calls, whole->calls);  // nothing of the search or the final stage trained twice
  auto calls = final_calls(*fake), once = final_calls(*whole);
  std::sort(calls.begin(), calls.end());
  std::sort(once.begin(), once.end());
  EXPECT_EQ(calls, once);
  EXPECT_EQ(r.final.at("reused"), 9);
  // The same numbers as the uninterrupted run (run folders differ only by the output folder).
  auto strip = [](nlohmann::json j) {
    for (auto& p : j["points"])
      for (auto& run : p["runs"]) run.erase("run_dir");
    j.erase("dir");
    return final_without_counts(j);
  };
  EXPECT_EQ(strip(r.final), strip(read_json_file(tmp.file("a/final.json"))));
  // Run again: everything read back.
  const auto again = run_evolution(config, EvolveContext{tmp.file("b"), true, false, nullptr, fake, -1});
  EXPECT_EQ(fake->calls, whole->calls);
  EXPECT_EQ(again.final.at("trained_now"), 0);
}

TEST(FinalStage, MoreSeedsLaterTrainOnlyTheNewSeeds) {
  nemokd::testing::TempDir tmp;
  auto config = final_config();
  auto fake = std::make_shared<RemeasuringEvaluator>();
  const auto first = run_evolution(config, EvolveContext{tmp.file("r"), false, false, nullptr, fake, -1});
  const size_t points = first.final.at("points").size();
  const size_t before = fake->final_requests.size();
  const int calls_before = fake->calls;
  config.final_seeds = 5;  // not part of the identity: a resume may raise it
  const auto more = run_evolution(config, EvolveContext{tmp.file("r"), true, false, nullptr, fake, -1});
  EXPECT_EQ(fake->calls - calls_before, int(points * 2));
  ASSERT_EQ(fake->final_requests.size(), before + points * 2);
  for (size_t i = before; i < fake->final_requests.size(); ++i)
    EXPECT_TRUE(fake->final_requests[i].seed_offset == 3 || fake->final_requests[i].seed_offset == 4);
  for (const auto& p : more.final.at("points")) EXPECT_EQ(p.at("test_error").at("n"), 5);
  EXPECT_EQ(more.final.at("reused"), int(points * 3));
  // Final settings are not the identity; the search's are.
  EXPECT_EQ(identity(config), identity(final_config()));
}

TEST(FinalStage, SearchesSharingAFinalDirShareTheirBaselinesFolders) {
  nemokd::testing::TempDir tmp;
  auto a = final_config();
  a.final_dir = tmp.file("shared-final");
  auto b = a;
  b.seed = 7;  // another search, same baselines
  auto fa = std::make_shared<RemeasuringEvaluator>(), fb = std::make_shared<RemeasuringEvaluator>();
  run_evolution(a, EvolveContext{tmp.file("a"), false, false, nullptr, fa, -1});
  run_evolution(b, EvolveContext{tmp.file("b"), false, false, nullptr, fb, -1});
  auto dirs_of = [](const FakeEvaluator& f, Role role) {
    std::map<int, std::string> out;
    for (const auto& rq : f.final_requests)
      if (rq.role == role) out[rq.seed_offset] = rq.run_dir;
    return out;
  };
  for (Role role : {Role::final_baseline_kd, Role::final_baseline_no_kd}) {
    const auto da = dirs_of(*fa, role), db = dirs_of(*fb, role);
    ASSERT_EQ(da.size(), 3u);
    EXPECT_EQ(da, db);  // the same training, the same folder (the child evaluator reads it back)
    EXPECT_NE(da.at(0), da.at(1));  // another seed, another training
  }
  EXPECT_NE(dirs_of(*fa, Role::final_baseline_kd).at(0), dirs_of(*fa, Role::final_baseline_no_kd).at(0));
}

TEST(FinalStage, VerdictsAreComputedFromTheNumbers) {
  auto point = [](Role role, const std::string& name, double latency, double mean, double sd) {
    FinalPoint p;
    p.role = role;
    p.summary = name;
    p.latency = latency;
    p.test.mean = mean;
    p.test.sd = sd;
    p.test.n = std::isfinite(sd) ? 3 : 1;
    return p;
  };
  const auto base = point(Role::final_baseline_kd, "base", 1.0, 0.100, 0.005);
  // Yes: lower error beyond one sd at lower latency; 3.4x faster within a point.
  auto v = final_verdicts({point(Role::final_point, "better", 0.9, 0.080, 0.005),
                           point(Role::final_point, "fast", 0.29, 0.109, 0.004), base,
                           point(Role::final_baseline_no_kd, "plain", 1.0, 0.02, 0.001)});
  EXPECT_TRUE(v.beats_baseline_kd);
  EXPECT_EQ(v.beats_point, "better");
  EXPECT_TRUE(v.fast_within_1pt);
  EXPECT_EQ(v.fast_point, "fast");
  // No: the intervals overlap (0.092 + 0.005 >= 0.100 - 0.005); slower than the baseline; one seed (no sd); the
  // fast one is 2.9x faster only, or 1.1 points worse; the no-KD baseline never counts.
  v = final_verdicts({point(Role::final_point, "close", 0.9, 0.092, 0.005),
                      point(Role::final_point, "slower", 1.01, 0.050, 0.001),
                      point(Role::final_point, "one seed", 0.5, 0.050, NAN),
                      point(Role::final_point, "not fast enough", 0.345, 0.101, 0.001),
                      point(Role::final_point, "too bad", 0.2, 0.111, 0.001), base,
                      point(Role::final_baseline_no_kd, "plain", 0.1, 0.02, 0.001)});
  EXPECT_FALSE(v.beats_baseline_kd);
  EXPECT_FALSE(v.fast_within_1pt);
  EXPECT_EQ(v.beats_point, "");
  // No baseline: no claim.
  EXPECT_FALSE(final_verdicts({point(Role::final_point, "better", 0.9, 0.08, 0.005)}).beats_baseline_kd);
  // mean_sd: sample sd.
  const auto s = mean_sd({1.0, 2.0, 3.0, 4.0});
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.sd, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_TRUE(std::isnan(mean_sd({1.0}).sd));
}

TEST(FinalStage, CapKeepsThePointsFasterThanTheBaselineFirst) {
  std::vector<Candidate> front;
  for (double l : {1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 32.0, 64.0}) {
    Candidate c;
    c.key = fmt::format("k{}", l);
    c.latency = l;
    front.push_back(c);
  }
  auto keys = [](const std::vector<Candidate>& v) {
    std::vector<double> out;
    for (const auto& c : v) out.push_back(c.latency);
    return out;
  };
  EXPECT_EQ(keys(cap_front(front, 100, 5)), keys(front));
  // Three at or under the baseline's 3.0, then two of the rest spread in log-latency (its ends: 4 and 64).
  EXPECT_EQ(keys(cap_front(front, 5, 3.0)), (std::vector<double>{1, 2, 3, 4, 64}));
  // More fast points than room: spread among them (1 ... 8 in log: 1, 8 and the nearest to sqrt(8)).
  EXPECT_EQ(keys(cap_front(front, 3, 10.0)), (std::vector<double>{1, 3, 8}));
}

// The committed run (recorded before selection on validation) resumed with a final stage: its archive front is
// drawn on its own (test) protocol, capped at final_max, and retrained with both baselines.
TEST(FinalStage, ALegacyRunGetsAFinalStageOnItsOwnProtocol) {
  nemokd::testing::TempDir tmp;
  const fs::path run = copy_committed_run(tmp);
  auto config = evolve_config_from_json(read_json_file((run / "evolve.json").string()));
  config.final_epochs = 10;
  config.final_seeds = 2;
  config.final_max = 4;
  auto fake = std::make_shared<RemeasuringEvaluator>();
  const auto r = run_evolution(config, EvolveContext{tmp.file("run"), true, false, nullptr, fake, -1});
  ASSERT_FALSE(r.final.is_null());
  EXPECT_EQ(r.final.at("selected_on"), "test");
  const auto& points = r.final.at("points");
  ASSERT_GE(points.size(), 3u);
  EXPECT_LE(points.size(), 4u + 2u);
  EXPECT_EQ(fake->final_requests.size(), points.size() * 2);
  EXPECT_EQ(fake->calls, int(points.size() * 2));  // the search itself: nothing evaluated
  for (const auto& rq : fake->final_requests) EXPECT_EQ(rq.epochs, 10);
}

// ---------------------------------------------------------------------------------------------------------------
// Multi-fidelity (search/fidelity.h): successive halving inside a generation.
namespace {

EvolveConfig halving_config() {
  auto c = tiny_config();
  c.base.base.train.epochs = 2;
  c.rungs = {1, 2};
  c.promote = 1.0 / 3.0;
  auto seed = small_student();
  seed.flexstudent().conv_channels = {4};
  seed.flexstudent().fc_widths = {8, 8};
  c.seed_archs = {seed};  // a seed besides the baseline: promoted in generation 0 whatever its rank
  return c;
}

std::shared_ptr<FakeEvaluator> halving_fake() {
  auto f = std::make_shared<FakeEvaluator>();
  f->base_epochs = 2;
  return f;
}

RungEntry entry(const std::string& key, double error, double latency, bool completed = true, bool forced = false) {
  return {key, {error, latency}, completed, forced};
}

}  // namespace

TEST(Fidelity, PromotionIsParetoRankedSizedAndDeterministic) {
  EXPECT_EQ(promoted_count(16, 1.0 / 3), 6u);
  EXPECT_EQ(promoted_count(9, 1.0 / 3), 3u);  // 9 * (1/3) in floating point is not above 3
  EXPECT_EQ(promoted_count(2, 1.0 / 3), 1u);
  EXPECT_EQ(promoted_count(1, 0.01), 1u);
  EXPECT_EQ(promoted_count(5, 1.0), 5u);
  EXPECT_EQ(promoted_count(0, 0.5), 0u);
  // Front 0: a (fast, bad) and b (slow, good) and c between them; d is dominated by c but has a lower error than a.
  // By error alone the best two would be b and c; by rank and crowding: the front's boundary points b and a.
  const std::vector<RungEntry> entries{entry("d", 0.20, 6), entry("a", 0.40, 1), entry("c", 0.19, 5),
                                       entry("b", 0.10, 10), entry("e", 0.50, 20)};
  EXPECT_EQ(promote_from(entries, 0.4), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(rank_order(entries), (std::vector<size_t>{3, 1, 2, 0, 4}));  // b a (inf crowding; error), c, then d, e
  // Any input order: the same decision (ties of every kind end on the key).
  auto shuffled = entries;
  std::reverse(shuffled.begin(), shuffled.end());
  EXPECT_EQ(promote_from(shuffled, 0.4), (std::vector<std::string>{"b", "a"}));
  const std::vector<RungEntry> same{entry("y", 0.1, 1), entry("x", 0.1, 1), entry("z", 0.1, 1)};
  EXPECT_EQ(promote_from(same, 0.5), (std::vector<std::string>{"x", "y"}));
  // A seed is promoted whatever its rank; a failed training never is.
  auto with_seed = entries;
  with_seed[4].forced = true;
  EXPECT_EQ(promote_from(with_seed, 0.4), (std::vector<std::string>{"b", "a", "e"}));
  auto with_failure = entries;
  with_failure[1].completed = false;  // a
  EXPECT_EQ(promote_from(with_failure, 0.4), (std::vector<std::string>{"b"}));
  EXPECT_EQ(promote_from({entry("only", 0.3, 3)}, 0.34), (std::vector<std::string>{"only"}));
  EXPECT_TRUE(promote_from({}, 0.34).empty());
  EXPECT_EQ(rung_dir("out/candidates/ab", 1, 3), "out/candidates/ab-e1");
  EXPECT_EQ(rung_dir("out/candidates/ab", 3, 3), "out/candidates/ab");
}

TEST(Fidelity, RungsAndPromoteAreCheckedAndInTheIdentity) {
  auto c = halving_config();
  EXPECT_NO_THROW(c.validate());
  auto refused = [](EvolveConfig bad, const std::string& expected) {
    try {
      bad.validate();
      ADD_FAILURE() << "accepted: " << expected;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  auto bad = c;
  bad.rungs = {2, 1};
  refused(bad, "rungs: [2, 1] is not strictly increasing");
  bad.rungs = {1, 1, 2};
  refused(bad, "not strictly increasing");
  bad.rungs = {1, 3};
  refused(bad, "the last rung (3 epochs) must be the search's training length, --epochs 2");
  bad.rungs = {0, 2};
  refused(bad, "rungs[0]: 0 epochs");
  for (double p : {0.0, -0.5, 1.5, double(NAN)}) {
    bad = c;
    bad.promote = p;
    refused(bad, "promote: ");
  }
  // JSON round trip; [] and [--epochs] are one search (today's), and then promote does not matter; real rungs do.
  EXPECT_EQ(to_json(evolve_config_from_json(to_json(c))), to_json(c));
  auto one = tiny_config(), explicit_one = tiny_config();
  explicit_one.rungs = {1};
  explicit_one.promote = 0.5;
  EXPECT_EQ(identity(one), identity(explicit_one));
  EXPECT_EQ(identity(one).at("rungs"), nlohmann::json({1}));
  auto other = c;
  other.promote = 0.5;
  EXPECT_NE(identity(c), identity(other));
  other = c;
  other.rungs = {2};
  EXPECT_NE(identity(c), identity(other));
}

// Every architecture trains at rung 0, the promoted ones (ceil(n/3) of the generation's distinct architectures, and
// the seeds) at rung 1; the promoted candidate's row holds the longer training's result, the short one stays logged;
// pagmo's objectives are those of the highest rung; the budget counts every epoch trained.
TEST(Fidelity, PromotedResultsReplaceTheShortOnesAndTheBudgetCountsEveryEpoch) {
  nemokd::testing::TempDir tmp;
  const auto config = halving_config();
  auto fake = halving_fake();
  const auto r = run_evolution(config, EvolveContext{tmp.file("r"), false, false, nullptr, fake, -1});
  Store store(tmp.file("r/state.db"));
  const auto evals = store.evaluations();
  ASSERT_EQ(evals.size(), fake->trained.size());
  std::map<int, std::map<int, std::set<std::string>>> by;  // generation -> rung -> keys
  for (const auto& e : evals) by[e.generation][e.rung].insert(e.key);
  const std::string base_key = canonical_key(config.base.base.model);
  const std::string seed_key = canonical_key(config.seed_archs[0]);
  // Generation 0: population 8 with the two seeds; the baseline's architecture was trained at --epochs already.
  EXPECT_EQ(by[-1][1].size(), 2u);  // both baselines at the top rung
  const auto members0 = store.members(0);
  std::set<std::string> gen0(members0.begin(), members0.end());
  gen0.erase(base_key);  // trained at --epochs as the KD baseline: it passes on without a rung-0 training
  EXPECT_EQ(by[0][0], gen0);
  EXPECT_TRUE(by[0][1].count(seed_key)) << "a seed is promoted";
  // Who is promoted from generation 0's rung 0: recomputed from the logged rung-0 results alone.
  std::vector<RungEntry> rung0;
  for (const auto& key : by[0][0]) {
    auto c = *store.candidate(key);
    c.val_error = c.error = store.evaluation(key, 1)->val_error;
    rung0.push_back({key, objectives_of(config, c), true, key == seed_key});
  }
  const auto expected = promote_from(rung0, config.promote);
  EXPECT_EQ(by[0][1], std::set<std::string>(expected.begin(), expected.end()));
  EXPECT_GE(expected.size(), promoted_count(gen0.size(), config.promote));
  EXPECT_LE(expected.size(), promoted_count(gen0.size(), config.promote) + 1);
  int promoted_total = 0;
  for (int g = 1; g <= config.generations; ++g) {
    EXPECT_LE(by[g][1].size(), promoted_count(8, config.promote) + 1) << g;  // offspring: at most 8 distinct
    promoted_total += int(by[g][1].size());
    for (const auto& k : by[g][1]) {
      const bool short_run_here_or_before = store.evaluation(k, 1).has_value();
      EXPECT_TRUE(short_run_here_or_before) << k;
    }
  }
  EXPECT_GT(promoted_total, 0);
  // Each promoted candidate: the row holds the 2-epoch result, the 1-epoch one stays in evaluations, different.
  int checked = 0;
  for (const auto& c : r.candidates) {
    if (c.role != Role::search) continue;
    const auto short_e = store.evaluation(c.key, 1), long_e = store.evaluation(c.key, 2);
    ASSERT_TRUE(short_e || c.key == base_key) << c.key;
    if (long_e) {
      EXPECT_EQ(c.epochs, 2);
      EXPECT_EQ(c.rung, 1);
      EXPECT_EQ(c.val_error, long_e->val_error);
      EXPECT_EQ(c.error, long_e->val_error);
      if (short_e) {
        EXPECT_NE(c.val_error, short_e->val_error);
      }
      EXPECT_EQ(c.run_dir, long_e->run_dir);
      EXPECT_EQ(c.run_dir.find("-e"), std::string::npos) << c.run_dir;  // the top rung: candidates/<hash>
      ++checked;
    } else {
      EXPECT_EQ(c.epochs, 1);
      EXPECT_EQ(c.val_error, short_e->val_error);
      EXPECT_EQ(c.run_dir, short_e->run_dir);
      EXPECT_NE(c.run_dir.find("-e1"), std::string::npos) << c.run_dir;  // candidates/<hash>-e1
    }
  }
  EXPECT_GT(checked, 2);
  // pagmo's objectives: each member's highest rung (its row).
  const auto cp = store.last_checkpoint();
  const auto members = store.members(cp->generation);
  for (size_t i = 0; i < members.size(); ++i)
    EXPECT_EQ(cp->fs[i], objectives_of(config, *store.candidate(members[i]))) << members[i];
  // Budget: the epochs of every training, per generation and in total.
  int64_t epochs = 0;
  for (const auto& [key, e] : fake->trained) epochs += e;
  ASSERT_FALSE(r.budget.empty());
  EXPECT_EQ(r.budget.back().at("cum_epochs").get<int64_t>(), epochs);
  EXPECT_EQ(r.budget.front().at("generation"), -1);
  EXPECT_EQ(r.budget.at(1).at("epochs").get<int64_t>(), int64_t(by[0][0].size() + 2 * by[0][1].size()));
  EXPECT_TRUE(r.budget.at(1).at("wall_seconds").is_number());
  EXPECT_EQ(read_json_file(tmp.file("r/results.json")).at("protocol").at("rungs"), nlohmann::json({1, 2}));
  // Promotion changes the outcome: the same search with every architecture promoted trains more epochs and ends
  // with a different population.
  auto all = config;
  all.promote = 1.0;
  auto fake_all = halving_fake();
  const auto r_all = run_evolution(all, EvolveContext{tmp.file("all"), false, false, nullptr, fake_all, -1});
  EXPECT_GT(r_all.budget.back().at("cum_epochs").get<int64_t>(), epochs);
  EXPECT_NE(r_all.members, r.members);
  EXPECT_NE(Store(tmp.file("all/state.db")).last_checkpoint()->fs, cp->fs);
}

// Issue 17's done-when: promotion never loses or repeats a finished evaluation across kill/resume. Killed in the
// middle of a generation's rung 1 and again exactly at a promotion (all of rung 0 done, nothing of rung 1), then
// resumed: the same trainings, each (key, epochs) once, and the same results as the uninterrupted run.
TEST(Fidelity, KilledMidRungOneAndResumedEndsExactlyLikeAnUninterruptedRun) {
  nemokd::testing::TempDir tmp;
  const auto config = halving_config();
  auto fake_a = halving_fake();
  const auto full = run_evolution(config, EvolveContext{tmp.file("a"), false, false, nullptr, fake_a, -1});
  auto pairs = fake_a->trained;
  std::sort(pairs.begin(), pairs.end());
  EXPECT_EQ(std::adjacent_find(pairs.begin(), pairs.end()), pairs.end()) << "a (key, epochs) trained twice";
  // Where the kills go: the first rung-1 batches after generation 0 (top-rung trainings that are not baselines).
  Store sa(tmp.file("a/state.db"));
  const auto evals = sa.evaluations();
  std::vector<size_t> rung1_starts;
  for (size_t i = 0; i < evals.size(); ++i)
    if (evals[i].rung == 1 && evals[i].generation >= 1 && (i == 0 || evals[i - 1].rung == 0))
      rung1_starts.push_back(i);
  ASSERT_GE(rung1_starts.size(), 2u);
  const size_t mid = rung1_starts[0] + 1;  // one of the rung-1 trainings done, the others not
  ASSERT_EQ(evals[mid].rung, 1) << "the rung-1 batch must hold two trainings or more";
  const size_t at_promotion = rung1_starts[1];  // rung 0 of that generation done, nothing of rung 1
  auto fake_b = halving_fake();
  EvolveContext b{tmp.file("b"), false, false, nullptr, fake_b, int64_t(mid)};
  EXPECT_THROW(run_evolution(config, b), Interrupted);
  EXPECT_EQ(fake_b->trained.size(), mid);
  b.resume = true;
  b.stop_after_evaluations = int64_t(at_promotion - mid);
  EXPECT_THROW(run_evolution(config, b), Interrupted);
  EXPECT_EQ(fake_b->trained.size(), at_promotion);
  b.stop_after_evaluations = -1;
  const auto resumed = run_evolution(config, b);
  EXPECT_EQ(fake_b->trained, fake_a->trained) << "a training was lost, repeated or reordered";
  auto ja = comparable(full), jb = comparable(resumed);
  for (auto* j : {&ja, &jb})
    for (auto& c : (*j)["candidates"]) c.erase("run_dir");
  EXPECT_EQ(ja, jb);
  Store sb(tmp.file("b/state.db"));
  EXPECT_EQ(sb.evaluations().size(), evals.size());
}

// A schema-2 store (before costs and rungs) opens as schema 4: an empty evaluations table, its rows feasible and at
// --epochs (0), and it takes evaluations; the committed run resumes evaluating nothing (Evolution.ALegacyRunResumesWithItsTestProtocol...).
TEST(SearchStore, MigratesSchemaTwoToRungs) {
  nemokd::testing::TempDir tmp;
  const auto db = tmp.file("v2.db");
  sql(db,
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE candidates (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, genome TEXT, config "
      "TEXT, summary TEXT, status TEXT, message TEXT, error REAL, latency REAL, latency_detail TEXT, params INTEGER, "
      "macs INTEGER, train_seconds REAL, run_dir TEXT, generation INTEGER, role TEXT, val_error REAL, test_error REAL);"
      "INSERT INTO meta VALUES ('schema', '2');"
      "INSERT INTO candidates (key, genome, config, summary, status, message, error, latency, latency_detail, params, "
      "macs, train_seconds, run_dir, generation, role, val_error, test_error) VALUES "
      "('k1', '[1,2]', '{}', 'a', 'completed', '', 0.125, 2.5, 'null', 10, 20, 1.5, 'd1', 0, 'search', 0.125, 0.2);");
  {
    Store st(db);
    EXPECT_EQ(st.meta("schema"), "4");
    EXPECT_TRUE(st.candidate("k1")->feasible);
    EXPECT_FALSE(st.legacy_protocol());
    EXPECT_TRUE(st.evaluations().empty());
    const auto c = st.candidate("k1");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->epochs, 0);
    EXPECT_EQ(c->val_error, 0.125);
    // A promotion on the migrated row: logged and the row replaced in one go.
    auto promoted = *c;
    promoted.val_error = promoted.error = 0.1;
    promoted.epochs = 3;
    promoted.rung = 1;
    Evaluation e;
    e.key = "k1";
    e.epochs = 3;
    e.rung = 1;
    e.status = RunStatus::completed;
    e.val_error = 0.1;
    st.put_evaluation(e, promoted);
    // A shorter result never replaces a longer one.
    auto shorter = promoted;
    shorter.epochs = 1;
    shorter.val_error = 0.9;
    e.epochs = 1;
    st.put_evaluation(e, shorter);
  }
  Store again(db);
  EXPECT_EQ(again.candidate("k1")->val_error, 0.1);
  EXPECT_EQ(again.candidate("k1")->epochs, 3);
  EXPECT_EQ(again.evaluations().size(), 2u);
  EXPECT_TRUE(again.evaluation("k1", 3));
  EXPECT_FALSE(again.evaluation("k1", 2));
}

// The final stage compares like with like: its archive front is drawn over top-rung results only (a 1-epoch error is
// lower-fidelity, not comparable with a 2-epoch one), so every front point was trained at --epochs in the search.
TEST(Fidelity, TheFinalStageRetrainsTopRungResultsOnly) {
  nemokd::testing::TempDir tmp;
  auto config = halving_config();
  config.final_epochs = 3;
  config.final_seeds = 1;
  config.final_max = 100;
  auto fake = halving_fake();
  const auto r = run_evolution(config, EvolveContext{tmp.file("r"), false, false, nullptr, fake, -1});
  Store store(tmp.file("r/state.db"));
  std::vector<Candidate> top, all;
  for (const auto& c : store.candidates()) {
    all.push_back(c);
    if (c.epochs == 2) top.push_back(c);
  }
  ASSERT_LT(top.size(), all.size());
  std::set<std::string> expected, got;
  for (const auto& c : archive_front(config, top)) expected.insert(c.key);
  for (const auto& c : archive_front(config, all)) got.insert(c.key);
  EXPECT_EQ(got, expected);
  for (const auto& c : archive_front(config, all)) EXPECT_EQ(c.epochs, 2) << c.key;
  // Not vacuous: a 1-epoch row that dominates everything (a lucky short training) stays off the front.
  auto lucky = all;
  for (auto& c : lucky)
    if (c.epochs == 1 && c.role == Role::search) {
      c.error = c.val_error = 0.0;
      c.latency = 0.0;
      break;
    }
  for (const auto& c : archive_front(config, lucky)) EXPECT_EQ(c.epochs, 2) << c.key;
  EXPECT_EQ(archive_front(config, lucky).size(), got.size());
  int final_points = 0;
  for (const auto& p : r.final.at("points"))
    if (p.at("role") == "final") {
      ++final_points;
      EXPECT_TRUE(expected.count(p.at("key").get<std::string>())) << p.dump();
    }
  EXPECT_GT(final_points, 0);
}

// Under the fpga cost, the final stage's points are feasible designs only (an infeasible one was never trained; one
// marked completed but infeasible — a hand-made store — is not a point either), and final.json labels its "latency"
// with the backend's unit and how (ms/frame, estimated), not as a measured latency. Fails without both guards of
// archive_front (objectives_of's penalty and its feasible filter) or without the cost label.
TEST(FinalStage, InfeasibleDesignsAreNeverPoints) {
  auto config = tiny_fpga_config();
  config.final_epochs = 1;
  config.final_seeds = 1;
  // archive_front alone: a completed but infeasible candidate that would dominate everything is left out.
  Candidate ok, bad;
  ok.key = "ok";
  ok.status = bad.status = RunStatus::completed;
  ok.error = 0.2;
  ok.latency = 2;
  bad.key = "bad";
  bad.error = 0.1;
  bad.latency = 1;
  bad.feasible = false;
  const auto front = archive_front(config, {ok, bad});
  ASSERT_EQ(front.size(), 1u);
  EXPECT_EQ(front[0].key, "ok");

  nemokd::testing::TempDir tmp;
  auto fake = std::make_shared<FakeEvaluator>();
  EvolveContext ctx{tmp.file("e"), false, false, nullptr, fake, -1};
  ctx.cost = tiny_fpga();
  const auto r = run_evolution(config, ctx);
  std::map<std::string, Candidate> by_key;
  int infeasible = 0;
  for (const auto& c : r.candidates) {
    by_key[c.key] = c;
    infeasible += !c.feasible;
  }
  ASSERT_GT(infeasible, 0) << "no infeasible design: the test would prove nothing";
  const auto& fin = r.final;
  ASSERT_TRUE(fin.is_object());
  EXPECT_EQ(fin["cost"]["spec"], "fpga:tiny,fclk=100,usable=finn");
  EXPECT_EQ(fin["cost"]["unit"], "ms/frame");
  EXPECT_EQ(fin["cost"]["how"], "estimated");
  int front_points = 0;
  for (const auto& p : fin["points"]) {
    if (p["role"] != "final") continue;
    ++front_points;
    const auto& c = by_key.at(p["key"].get<std::string>());
    EXPECT_TRUE(c.feasible && c.status == RunStatus::completed) << c.key;
    EXPECT_DOUBLE_EQ(p["latency"].get<double>(), c.latency);  // the search's 1000 / estimated FPS
  }
  EXPECT_GT(front_points, 0);
  for (const auto& rq : fake->final_requests)
    if (rq.role == Role::final_point) {
      EXPECT_TRUE(by_key.at(rq.key).feasible) << rq.key;
    }
  EXPECT_EQ(read_json_file(tmp.file("e/final.json"))["cost"], fin["cost"]);
}

// ---- quantized CNN students (issue 19): qflexstudent and qcnv genomes ----
namespace {

// A quantized FlexStudent space on 28x28 images (MNIST's): up to 4 convs, so the auto pooling rule would pool a 7x7
// map (28 -> 14 -> 7 -> 3), which FINN cannot lower.
SearchSpace qflex_space(const std::string& bits = "per-layer") {
  SearchSpace s = small_space();  // FlexStudent's genes and choices, one conv more
  s.family = models::Family::qflexstudent;
  s.max_conv = 4;
  s.image_height = s.image_width = 28;
  s.bits = bits;
  s.weight_bits = {1, 2, 4};
  s.act_bits = {1, 2, 4};
  return s;
}

SearchSpace qcnv_space(const std::string& bits = "per-layer") {
  SearchSpace s;
  s.family = models::Family::cnv;
  s.cnv_channels = {4, 8, 16};
  s.neurons = {8, 16, 32};
  s.bits = bits;
  s.weight_bits = {1, 2, 4};
  s.act_bits = {1, 2, 4};
  return s;
}

// The baselines: inside their spaces (they seed generation 0), pooled like every decoded design.
models::ModelConfig qflex_student() {
  auto m = models::preset_model("qflexstudent");
  auto& net = m.qflexstudent().net;
  net.conv_channels = {8, 16, 16};
  net.fc_widths = {16};
  net.pool = finn_pools(3, 28, 28);
  m.qflexstudent().set_bits({2}, {2});
  return m;
}

models::ModelConfig qcnv_student() {
  auto m = models::preset_model("cnv");
  for (auto& c : m.cnv().convs) c.channels = 8;
  m.cnv().fc_widths = {16, 16};
  return m;
}

std::vector<double> random_genome(const SearchSpace& s, std::mt19937& rng) {
  const auto lo = s.lower(), hi = s.upper();
  std::vector<double> g;
  for (size_t i = 0; i < lo.size(); ++i) g.push_back(double(lo[i] + rng() % int(hi[i] - lo[i] + 1)));
  return g;
}

}  // namespace

TEST(JointSpace, CnnGenomesRoundTripAndPoolWhereFinnCan) {
  EXPECT_EQ(finn_pools(4, 28, 28), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(finn_pools(5, 32, 32), (std::vector<bool>{true, true, true, true, false}));
  std::mt19937 rng(11);
  for (const auto& [space, base] : {std::pair{qflex_space(), qflex_student()}, std::pair{qcnv_space(), qcnv_student()}}) {
    space.validate();
    for (int k = 0; k < 60; ++k) {
      const auto m = space.decode(random_genome(space, rng), base);
      std::string why;
      const auto e = space.encode(m, base, &why);
      ASSERT_TRUE(e) << why;
      EXPECT_EQ(canonical_key(space.decode(*e, base)), canonical_key(m));
      // Every decoded design is one FINN's model lowers (valid by construction: no design is refused).
      EXPECT_NO_THROW(hw::fpga::model_design(m, {1, 28, 28}, 10)) << space.summary(m);
    }
    std::string why;
    ASSERT_TRUE(space.encode(base, base, &why)) << why;  // the baseline seeds generation 0
    EXPECT_EQ(to_json(search_space_from_json(to_json(space))), to_json(space));
  }
  // The premise: the auto rule on 28x28 pools a 7x7 map, which the lowering refuses with its message.
  auto auto_pooled = qflex_student();
  auto_pooled.qflexstudent().net.pool.clear();
  try {
    hw::fpga::model_design(auto_pooled, {1, 28, 28}, 10);
    ADD_FAILURE() << "the auto rule's pool after a 7x7 map was lowered";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of the pool size"), std::string::npos) << e.what();
  }
  // A baseline pooled otherwise is outside the space, and says where.
  std::string why;
  EXPECT_FALSE(qflex_space().encode(auto_pooled, qflex_student(), &why));
  EXPECT_NE(why.find("pool"), std::string::npos) << why;
  // The qflexstudent space needs its image; qcnv's genome sets FINN's 6 convs.
  auto no_image = qflex_space();
  no_image.image_height = 0;
  EXPECT_THROW(no_image.validate(), ConfigError);
  auto short_cnv = qcnv_student();
  short_cnv.cnv().convs.pop_back();
  short_cnv.cnv().set_bits({2}, {2});
  EXPECT_THROW(qcnv_space().decode(std::vector<double>(qcnv_space().genes(), 0.0), short_cnv), ConfigError);
}

TEST(JointSpace, CnnPerLayerBitsFollowSlots) {
  // qflexstudent: [conv depth, 4 channel genes, FC depth, 2 width genes | 7 W slots (4 conv, 2 FC, classifier),
  // 6 A slots]. A hidden FC's bits come from its own slot, whatever the conv depth.
  const auto s = qflex_space();
  const auto base = qflex_student();
  ASSERT_EQ(s.genes(), 1u + 4u + 1u + 2u + 7u + 6u);
  //                         arch                    W: conv0..3  fc0 fc1 cls   A: conv0..3  fc0 fc1
  const std::vector<double> g2{2, 0, 1, 2, 2, 2, 1, 0, /**/ 0, 1, 2, 2, 2, 0, 1, /**/ 1, 2, 0, 0, 0, 1};
  auto g3 = g2;
  g3[0] = 3;
  const auto a = s.decode(g2, base), b = s.decode(g3, base);
  EXPECT_EQ(a.qflexstudent().net.conv_channels, (std::vector<int>{4, 8}));
  EXPECT_EQ(a.qflexstudent().net.fc_widths, (std::vector<int>{16}));
  EXPECT_EQ(a.qflexstudent().quant.weight_bits, (std::vector<int>{1, 2, 4, 2}));  // conv0, conv1, fc0, classifier
  EXPECT_EQ(a.qflexstudent().quant.act_bits, (std::vector<int>{2, 4, 1}));
  EXPECT_EQ(b.qflexstudent().quant.weight_bits, (std::vector<int>{1, 2, 4, 4, 2}));  // conv2 from slot 2; fc0 kept
  EXPECT_EQ(b.qflexstudent().quant.act_bits, (std::vector<int>{2, 4, 1, 1}));
  EXPECT_EQ(a.qflexstudent().net.pool, (std::vector<bool>{true, true}));
  EXPECT_EQ(b.qflexstudent().net.pool, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(s.summary(a), "conv 4-8 | fc 16-classifier W1-2-4-2 A2-4-1");
  // An inactive slot does not change the key; an active one does.
  auto unused = g2;
  unused[8 + 3] = 0;  // W slot of conv3
  EXPECT_EQ(canonical_key(s.decode(unused, base)), canonical_key(a));
  auto used = g2;
  used[8 + 1] = 2;  // W slot of conv1
  EXPECT_NE(canonical_key(s.decode(used, base)), canonical_key(a));

  // qcnv: 6 conv + 2 FC channel genes, 9 W slots, 8 A slots; uniform ties all 9 weighted layers.
  const auto c = qcnv_space();
  ASSERT_EQ(c.genes(), 8u + 9u + 8u);
  auto u = qcnv_space("uniform");
  const auto m = u.decode({0, 1, 2, 0, 1, 2, 1, 2, /*W*/ 2, /*A*/ 1}, qcnv_student());
  EXPECT_EQ(m.cnv().quant.weight_bits, std::vector<int>(9, 4));
  EXPECT_EQ(m.cnv().quant.act_bits, std::vector<int>(8, 2));
  EXPECT_EQ(u.summary(m), "cnv 4-8-16-4-8-16 | fc 16-32-classifier W4-4-4-4-4-4-4-4-4 A2-2-2-2-2-2-2-2");
  // Without bit genes, the baseline's bits follow the depth (first layer's for every hidden layer, its classifier's).
  auto none = qflex_space("none");
  auto mixed = qflex_student();
  mixed.qflexstudent().set_bits({4, 2, 2, 2, 8}, {3, 2, 2, 2});
  const auto d = none.decode({4, 0, 0, 0, 0, 1, 0, 0}, mixed);
  EXPECT_EQ(d.qflexstudent().quant.weight_bits, (std::vector<int>{4, 4, 4, 4, 8}));
  EXPECT_EQ(d.qflexstudent().quant.act_bits, (std::vector<int>{3, 3, 3, 3}));
}

// A tiny qflexstudent and qcnv search, priced on the XC7Z020 (FINN's cost model) before training: every candidate's
// design lowers (none infeasible for a pooling FINN cannot map), the baseline seeds generation 0.
TEST(Evolution, TinyQuantizedCnnSearches) {
  nemokd::testing::TempDir tmp;
  for (const auto& [name, space, student] :
       {std::tuple{"qflex", qflex_space(), qflex_student()}, std::tuple{"qcnv", qcnv_space(), qcnv_student()}}) {
    EvolveConfig c;
    c.base.kd.teacher = "teacher-not-used-by-the-fake-evaluator";
    c.base.base.model = student;
    c.base.base.train.normalization = data::parse_normalization(models::required_normalization(student));
    c.space = space;
    c.population = 8;
    c.generations = 2;
    c.seed = 3;
    c.cost = "fpga:xc7z020";
    c.validate();
    auto fake = std::make_shared<FakeEvaluator>();
    const auto r = run_evolution(c, {tmp.file(name), false, false, nullptr, fake, -1});
    EXPECT_EQ(r.seeds, 1) << name;
    EXPECT_EQ(r.members.front().front(), canonical_key(student)) << name;
    EXPECT_GT(fake->calls, 8) << name;
    for (const auto& cand : r.candidates) {
      EXPECT_TRUE(cand.feasible) << name << " " << cand.summary << ": " << cand.message;
      if (cand.role == Role::search) {
        EXPECT_GT(cand.latency_detail.value("fps_estimated", 0.0), 0) << cand.summary;
      }
    }
    ASSERT_FALSE(r.fronts.back().empty()) << name;
    // The stored config reads back (the space with its image, the explicit pools) and resumes as the same search.
    const auto again = evolve_config_from_json(read_json_file(tmp.file(std::string(name) + "/evolve.json")));
    EXPECT_EQ(identity(again), identity(c)) << name;
  }
}

// ---- route Q's uniform-precision points in the same search (issue 19) ----
// Evaluated once each (before generation 0, with the search's recipe and cost; an LFC the made-up part cannot hold
// is priced infeasible and never trained), stored and written with their role, never members of a population nor on
// a front, even when a search candidate is the same model (it is trained as a candidate of its own); a killed and
// resumed search does not train them again.
TEST(Evolution, UniformBaselinesEvaluatedOnceWithTheirRoleNeverOnAFront) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_fpga_config();
  config.uniform_baselines = parse_uniform_baselines("tfc:1x1,tfc:2x2:no-kd,lfc:1x1", "--uniform-baselines");
  ASSERT_EQ(config.uniform_baselines.size(), 3u);
  // The search seeds TFC W1A1 itself (the baseline's bits follow the depth: W1A1 everywhere).
  const auto tfc11 = config.uniform_baselines[0].model_config(config.base.base.model);
  EXPECT_EQ(tfc11.mlp().hidden, (std::vector<int>{64, 64, 64}));
  EXPECT_EQ(tfc11.mlp().quant.weight_bits, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(tfc11.mlp().activation, config.base.base.model.mlp().activation);  // the student's recipe
  config.seed_archs = {tfc11};
  config.validate();

  auto fake_a = std::make_shared<FakeEvaluator>();
  EvolveContext a{tmp.file("a"), false, false, nullptr, fake_a, -1};
  a.cost = tiny_fpga();
  const auto full = run_evolution(config, a);
  std::map<std::string, Candidate> uniform;
  for (const auto& c : full.candidates)
    if (c.role == Role::uniform_kd || c.role == Role::uniform_no_kd) uniform[c.key] = c;
  ASSERT_EQ(uniform.size(), 3u);
  const std::string k11 = "uniform-kd:" + canonical_key(tfc11);
  ASSERT_TRUE(uniform.count(k11));
  EXPECT_EQ(uniform.at(k11).generation, -1);
  EXPECT_EQ(uniform.at(k11).summary, "tfc W1A1");
  int no_kd = 0, infeasible = 0;
  for (const auto& [key, c] : uniform) {
    no_kd += c.role == Role::uniform_no_kd;
    infeasible += !c.feasible;
    EXPECT_EQ(std::count(fake_a->keys.begin(), fake_a->keys.end(), key), c.feasible ? 1 : 0) << key;
    for (const auto& m : full.members) EXPECT_EQ(std::count(m.begin(), m.end(), key), 0) << key;
    for (const auto& f : full.fronts) EXPECT_EQ(std::count(f.begin(), f.end(), key), 0) << key;
  }
  EXPECT_EQ(no_kd, 1);
  EXPECT_EQ(infeasible, 1) << "the LFC on the made-up part: priced by the search's backend";
  // The search's own TFC W1A1 is a search candidate, trained under its own key.
  EXPECT_EQ(std::count(fake_a->keys.begin(), fake_a->keys.end(), canonical_key(tfc11)), 1);
  for (const auto& p : full.to_json()["pareto"]) EXPECT_FALSE(uniform.count(p.at("key").get<std::string>()));
  // Written with their role: results.json, candidates.json (as baselines), candidates.csv.
  int in_results = 0, in_candidates = 0;
  const auto results = read_json_file(tmp.file("a/results.json")), cands = read_json_file(tmp.file("a/candidates.json"));
  for (const auto& c : results["candidates"]) in_results += c["role"] == "uniform-kd" || c["role"] == "uniform-no-kd";
  for (const auto& b : cands["baseline"])
    if (b["role"] == "uniform-kd" || b["role"] == "uniform-no-kd") {
      ++in_candidates;
      EXPECT_EQ(b["name"].get<std::string>().rfind("uniform ", 0), 0u) << b;
    }
  EXPECT_EQ(in_results, 3);
  EXPECT_EQ(in_candidates, 3);
  std::ifstream csv(tmp.file("a/candidates.csv"));
  const std::string text((std::istreambuf_iterator<char>(csv)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("uniform-no-kd"), std::string::npos);

  // Killed twice and resumed: the same trainings, none repeated (the uniform points are read back from the store).
  auto fake_b = std::make_shared<FakeEvaluator>();
  const auto resumed = killed_twice_then_resumed(config, tmp.file("b"), fake_b, tiny_fpga());
  EXPECT_EQ(fake_b->keys, fake_a->keys);
  EXPECT_EQ(resumed.fronts, full.fronts);
  // A different list is another search: refused on resume.
  auto other = config;
  other.uniform_baselines.pop_back();
  EvolveContext again{tmp.file("b"), true, false, nullptr, std::make_shared<FakeEvaluator>(), -1};
  again.cost = tiny_fpga();
  EXPECT_THROW(run_evolution(other, again), ConfigError);
}

TEST(Evolution, UniformBaselinesAreCheckedAndTheJointPresetIsTheQatRecipe) {
  const auto list = parse_uniform_baselines("tfc:1x1,sfc:2x2:no-kd,lfc:3x2:both,cnv:1x2", "--uniform-baselines");
  ASSERT_EQ(list.size(), 5u);
  EXPECT_EQ(list[1].text(), "sfc:2x2:no-kd");
  EXPECT_EQ(list[2].text(), "lfc:3x2");
  EXPECT_EQ(list[3].text(), "lfc:3x2:no-kd");
  EXPECT_TRUE(parse_uniform_baselines("none", "--uniform-baselines").empty());
  for (const char* bad : {"tfc", "tfc:1", "tfc:axb", "tfc:1x1:maybe", "tfc:1x1:kd:x", "", "tfc:1x"})
    EXPECT_THROW(parse_uniform_baselines(bad, "--uniform-baselines"), ConfigError) << bad;
  auto c = tiny_fpga_config();
  for (const auto& u : std::vector<UniformBaseline>{{"vgg", 1, 1, true}, {"tfc", 9, 1, true}, {"tfc", 1, 0, true}}) {
    c.uniform_baselines = {u};
    EXPECT_THROW(c.validate(), ConfigError) << u.text();
  }
  c.uniform_baselines = {{"cnv", 2, 2, true}};
  c.validate();  // signed pixels, like the qmlp student's
  c.base.base.train.normalization = data::Normalization::standard;
  c.base.base.model.mlp().quantized = false;
  c.uniform_baselines = {{"tfc", 2, 2, true}};
  try {
    c.validate();
    ADD_FAILURE() << "a quantized TFC on standard pixels was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("uniform_baselines[0]: tfc:2x2's input quantizer needs 'signed'"),
              std::string::npos)
        << e.what();
  }
  // JSON round trip (identity of a resumed search).
  auto j = tiny_fpga_config();
  j.uniform_baselines = list;
  EXPECT_EQ(to_json(evolve_config_from_json(to_json(j))), to_json(j));

  // joint-fmnist: route Q's QAT recipe at the search's epochs (not phase 1's CNN SGD recipe), alpha 0.5, T 4, the
  // XC7Z020 at 100 MHz, per-layer bits, validation selection, TFC/SFC/LFC x W1A1..W4A4 with and without KD.
  const auto p = evolve_preset("joint-fmnist", "runs/teacher", 3);
  p.validate();
  const auto qat = train::default_qat_config();
  EXPECT_EQ(p.base.base.dataset.name, "fashion-mnist");
  EXPECT_EQ(models::to_json(p.base.base.model), models::to_json(qat.model));
  auto recipe = qat.train;
  recipe.epochs = 3;
  EXPECT_EQ(train::to_json(recipe), train::to_json(p.base.base.train));
  EXPECT_EQ(p.base.kd.loss.alpha, 0.5);
  EXPECT_EQ(p.base.kd.loss.temperature, 4);
  EXPECT_EQ(p.cost, "fpga:xc7z020,fclk=100");
  EXPECT_EQ(p.space.bits, "per-layer");
  EXPECT_EQ(p.select_on, SelectOn::validation);
  EXPECT_EQ(p.uniform_baselines.size(), 24u);
  EXPECT_EQ(evolve_preset("joint-fmnist", "t").base.base.train.epochs, 1);
  EXPECT_THROW(evolve_preset("joint-cifar", "t"), ConfigError);
}

// A longer training of a candidate (the final stage) keeps the search's recipe: the presets of route K re-apply the
// reference recipe at the new length; the joint search's QAT recipe (Adam, cosine) keeps its optimiser and only
// changes length. (The SGD recipe of CNN distillation used to be applied to every family.)
TEST(Evolution, LongerTrainingsKeepTheSearchsRecipe) {
  auto train_of = [](const EvolveConfig& c, int epochs) {
    Request rq;
    rq.model = c.base.base.model;
    rq.role = Role::final_point;
    rq.epochs = epochs;
    return training_request(c, rq, 1).config.at("train");
  };
  const auto joint = evolve_preset("joint-fmnist", "t", 1);
  const auto jt = train_of(joint, 10);
  auto expected = joint.base.base.train;
  expected.epochs = 10;
  EXPECT_EQ(jt, train::to_json(expected));
  EXPECT_EQ(jt.at("optim").at("name"), "adam");

  const auto k = evolve_preset("k-fmnist", "t", 1);
  const auto kt = train_of(k, 10);
  EXPECT_EQ(kt.at("optim").at("name"), "sgd");
  EXPECT_EQ(kt.at("epochs"), 10);
  EXPECT_EQ(kt.at("optim").at("milestones"), nlohmann::json({6, 7, 8}));  // 150, 180, 210 of 240

  // Another multistep recipe: its milestones scale with the length.
  auto custom = k;
  custom.base.base.train.epochs = 4;
  custom.base.base.train.optim.lr = 0.02;
  custom.base.base.train.optim.milestones = {2, 3};
  const auto ct = train_of(custom, 8);
  EXPECT_EQ(ct.at("optim").at("lr"), 0.02);
  EXPECT_EQ(ct.at("optim").at("milestones"), nlohmann::json({4, 6}));
  EXPECT_EQ(ct.at("epochs"), 8);
}

// Successive halving under a cost priced before training (fpga): an infeasible design is never trained, so it has
// no evaluation and is never promoted; the promoted ones are not priced again (their cost is the rung-0 one).
TEST(Fidelity, InfeasibleDesignsAreNeverTrainedNorPromoted) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_fpga_config();
  config.base.base.train.epochs = 2;
  config.rungs = {1, 2};
  config.promote = 0.5;
  auto fake = std::make_shared<FakeEvaluator>();
  fake->base_epochs = 2;
  EvolveContext ctx{tmp.file("e"), false, false, nullptr, fake, -1};
  ctx.cost = tiny_fpga();
  const auto r = run_evolution(config, ctx);
  Store store(tmp.file("e/state.db"));
  std::set<std::string> infeasible;
  for (const auto& c : r.candidates)
    if (!c.feasible) infeasible.insert(c.key);
  ASSERT_FALSE(infeasible.empty()) << "no infeasible design: the test would prove nothing";
  int promoted = 0;
  for (const auto& e : store.evaluations()) {
    EXPECT_FALSE(infeasible.count(e.key)) << e.key;
    promoted += e.rung == 1 && e.role == Role::search;
  }
  EXPECT_GT(promoted, 0);
  for (const auto& [key, epochs] : fake->trained) EXPECT_FALSE(infeasible.count(key)) << key;
  for (const auto& c : r.candidates)
    if (c.rung == 1 && c.role == Role::search) {
      EXPECT_TRUE(c.feasible);
      EXPECT_EQ(c.cost.value("how", std::string()), "estimated") << c.key;  // kept from its pricing
    }
}

// --max-wall: no generation starts that the mean stored generation wall would take past the budget; the run is
// stopped, labelled, and a resume with a larger budget (here none) continues it to exactly the uninterrupted end.
TEST(Fidelity, MaxWallStopsBetweenGenerationsAndAResumeContinues) {
  nemokd::testing::TempDir tmp;
  const auto config = halving_config();
  auto fake_a = halving_fake();
  const auto full = run_evolution(config, EvolveContext{tmp.file("a"), false, false, nullptr, fake_a, -1});
  EXPECT_FALSE(full.stopped_by_max_wall);
  auto budgeted = config;
  budgeted.max_wall = 1e-9;  // generation 0 always runs (the initial population); nothing after it fits
  auto fake_b = halving_fake();
  EvolveContext b{tmp.file("b"), false, false, nullptr, fake_b, -1};
  const auto cut = run_evolution(budgeted, b);
  EXPECT_TRUE(cut.stopped_by_max_wall);
  EXPECT_EQ(cut.members.size(), 1u);
  EXPECT_TRUE(read_json_file(tmp.file("b/results.json")).at("protocol").at("stopped_by_max_wall").get<bool>());
  b.resume = true;  // max_wall is not in the identity: the same search, given more time
  const auto resumed = run_evolution(config, b);
  EXPECT_FALSE(resumed.stopped_by_max_wall);
  EXPECT_EQ(fake_b->trained, fake_a->trained);
  auto ja = comparable(full), jb = comparable(resumed);
  for (auto* j : {&ja, &jb})
    for (auto& c : (*j)["candidates"]) c.erase("run_dir");
  EXPECT_EQ(ja, jb);
  auto bad = config;
  bad.max_wall = -1;
  EXPECT_THROW(bad.validate(), ConfigError);
}
