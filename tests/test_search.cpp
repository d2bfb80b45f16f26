// NEMOKD search: genome decoding and canonical keys, the SQLite store, and NSGA-II runs that are killed and
// resumed (with a deterministic in-process evaluator) ending exactly where an uninterrupted run ends, with no
// evaluation lost or repeated.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>

#include <filesystem>

#include "campaign/campaign.h"
#include "core/error.h"
#include "core/json_config.h"
#include "models/registry.h"
#include "search/evolve.h"
#include "search/space.h"
#include "search/store.h"
#include "test_support.h"

using namespace nemokd;
using namespace nemokd::search;

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
// = MACs. Counts what it is asked, so the test can prove nothing is evaluated twice.
class FakeEvaluator : public Evaluator {
 public:
  int calls = 0;
  std::vector<std::string> keys;
  std::vector<size_t> batches;  // size of each evaluate() call
  std::vector<Candidate> evaluate(const std::vector<Request>& requests) override {
    batches.push_back(requests.size());
    std::vector<Candidate> out;
    for (const auto& rq : requests) {
      ++calls;
      keys.push_back(rq.key);
      auto model = models::build_model(rq.model, {1, 28, 28}, 10);
      Candidate c;
      c.key = rq.key;
      c.genome = rq.genome;
      c.config = models::to_json(rq.model);
      c.summary = small_space().summary(rq.model);
      c.role = rq.role;
      c.generation = rq.generation;
      c.params = models::parameter_count(*model);
      c.macs = model->macs();
      c.status = "completed";
      const double wiggle = double(std::hash<std::string>{}(rq.key) % 1000) / 1e5;
      c.error = 0.5 / std::log(double(c.params) + 3.0) + wiggle + (rq.role == "baseline-no-kd" ? 0.01 : 0.0);
      c.latency = double(c.macs);
      c.train_seconds = 0;
      out.push_back(c);
    }
    return out;
  }
};

EvolveConfig tiny_config() {
  EvolveConfig c;
  c.base.kd.teacher = "teacher-not-used-by-the-fake-evaluator";
  c.base.base.model = models::preset_model("flexstudent");
  c.space = small_space();
  c.population = 8;
  c.generations = 3;
  c.seed = 42;
  c.latency = "macs";
  return c;
}

nlohmann::json comparable(EvolveResult r) {
  auto j = r.to_json();
  j.erase("evaluated_now");
  j.erase("reused");
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
  EXPECT_EQ(a.flexstudent.conv_channels, (std::vector<int>{8, 16}));
  EXPECT_EQ(a.flexstudent.fc_widths, (std::vector<int>{32}));
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
  r.arch = "flexresnet8x4";
  r.validate();
  auto rn = r.decode({0, 1, 2, 3}, models::preset_model("flexresnet8x4"));
  EXPECT_EQ(rn.flexresnet8x4.widths, (std::vector<int>{8, 16, 32, 64}));
}

TEST(SearchStore, CandidatesAndCheckpointsRoundTripExactly) {
  nemokd::testing::TempDir tmp;
  {
    Store st(tmp.file("s.db"));
    Candidate c;
    c.key = "k1";
    c.genome = {1, 2, 3};
    c.config = {{"arch", "flexstudent"}};
    c.status = "completed";
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
  EvolveContext b{tmp.file("b"), false, false, nullptr, fake_b, 5};
  EXPECT_THROW(run_evolution(config, b), Interrupted);
  b.resume = true;
  b.stop_after_evaluations = 9;
  EXPECT_THROW(run_evolution(config, b), Interrupted);
  b.stop_after_evaluations = -1;
  const auto resumed = run_evolution(config, b);
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
  for (const auto& cand : full.candidates) baselines += cand.role.rfind("baseline", 0) == 0;
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
}

TEST(Evolution, RefusesBadSettingsAndForeignState) {
  nemokd::testing::TempDir tmp;
  auto config = tiny_config();
  config.population = 10;
  EXPECT_THROW(config.validate(), ConfigError);
  config.population = 8;
  config.latency = "stopwatch";
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
