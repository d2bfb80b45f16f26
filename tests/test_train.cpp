#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "data/formats.h"
#include "models/registry.h"
#include "test_support.h"
#include "train/torch_file.h"
#include "train/train_run.h"
#include "train/trainer.h"

using namespace nemokd;
using namespace nemokd::train;
namespace fs = std::filesystem;

namespace {

models::Classifier small_mlp(uint64_t seed, double dropout = 0.0) {
  seed_everything(seed);
  models::ModelConfig c;
  c.mlp().hidden = {32, 32};
  c.mlp().dropout = dropout;
  return models::build_model(c, models::InputShape{1, 28, 28}, 10);
}

TrainOptions quick_options(int epochs) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 50;
  o.optim.lr = 0.05;
  o.progress = false;
  return o;
}

torch::Tensor flat_params(const models::Classifier& m) {
  std::vector<torch::Tensor> all;
  for (const auto& p : m->parameters()) all.push_back(p.detach().flatten());
  for (const auto& b : m->buffers()) all.push_back(b.detach().flatten().to(torch::kFloat));
  return torch::cat(all);
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { configure_threads(2); }
  data::Dataset ds = nemokd::testing::toy_dataset(600, 200, 200);
};

// A toy MNIST folder (test files gzipped when `gz`) and a small MLP run on it: 2 epochs, batch 25, 2 threads.
TrainRunConfig toy_mnist_run(const nemokd::testing::TempDir& dir, int64_t train, int64_t test, bool gz) {
  auto ds = nemokd::testing::toy_dataset(train, 0, test, 5);
  const std::string ext = gz ? ".gz" : "";
  data::write_idx_images(dir.file("train-images-idx3-ubyte"), ds.train.images.squeeze(1));
  data::write_idx_labels(dir.file("train-labels-idx1-ubyte"), ds.train.labels);
  data::write_idx_images(dir.file("t10k-images-idx3-ubyte" + ext), ds.test.images.squeeze(1), gz);
  data::write_idx_labels(dir.file("t10k-labels-idx1-ubyte" + ext), ds.test.labels, gz);
  TrainRunConfig c;
  c.dataset.name = "mnist";
  c.dataset.load.from_dir = dir.path();
  c.dataset.load.val_size = 50;
  c.model.mlp().hidden = {16};
  c.train.epochs = 2;
  c.train.batch_size = 25;
  c.threads = 2;
  return c;
}

}  // namespace

TEST_F(TrainerTest, LearnsASeparableProblemAndRecordsEveryEpoch) {
  auto model = small_mlp(1);
  Trainer t(model, ds, quick_options(3));
  auto r = t.fit();
  ASSERT_EQ(r.status, "completed");
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_GT(r.history.back().test_accuracy, 0.9);
  EXPECT_GT(r.history.back().val_accuracy, 0.9);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  EXPECT_GT(r.images_per_second, 0);
  for (size_t i = 0; i < r.history.size(); ++i) EXPECT_EQ(r.history[i].epoch, int(i) + 1);
}

TEST_F(TrainerTest, SameSeedGivesIdenticalWeightsOnCpu) {
  auto a = small_mlp(7, 0.2), b = small_mlp(7, 0.2), c = small_mlp(8, 0.2);
  auto oa = quick_options(2), ob = quick_options(2), oc = quick_options(2);
  oa.seed = ob.seed = 7;
  oc.seed = 8;
  Trainer(a, ds, oa).fit();
  Trainer(b, ds, ob).fit();
  Trainer(c, ds, oc).fit();
  EXPECT_TRUE(torch::equal(flat_params(a), flat_params(b)));
  EXPECT_FALSE(torch::equal(flat_params(a), flat_params(c)));
}

TEST_F(TrainerTest, ResumedRunEqualsUninterruptedRun) {
  nemokd::testing::TempDir straight_dir, resumed_dir;
  // Dropout on: the resumed run must also continue torch's random stream exactly.
  auto straight = small_mlp(3, 0.3);
  auto o = quick_options(3);
  o.out_dir = straight_dir.path();
  auto full = Trainer(straight, ds, o).fit();

  auto part = small_mlp(3, 0.3);
  auto o1 = quick_options(1);
  o1.out_dir = resumed_dir.path();
  Trainer(part, ds, o1).fit();
  ASSERT_TRUE(fs::exists(resumed_dir.file("checkpoint.pt")));

  auto resumed = small_mlp(99, 0.3);  // different init: everything must come from the checkpoint
  auto o2 = quick_options(3);
  o2.out_dir = resumed_dir.path();
  o2.resume = true;
  auto r = Trainer(resumed, ds, o2).fit();
  EXPECT_EQ(r.resumed_from_epoch, 1);
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_TRUE(torch::equal(flat_params(straight), flat_params(resumed)));
  for (int e = 0; e < 3; ++e) {
    EXPECT_DOUBLE_EQ(r.history[e].train_loss, full.history[e].train_loss) << "epoch " << e + 1;
    EXPECT_DOUBLE_EQ(r.history[e].test_accuracy, full.history[e].test_accuracy) << "epoch " << e + 1;
  }
  auto metrics = read_json_file(resumed_dir.file("metrics.json"));
  EXPECT_EQ(metrics.size(), 3u);
}

TEST_F(TrainerTest, ExistingCheckpointIsNeverOverwrittenWithoutResume) {
  nemokd::testing::TempDir dir;
  auto o = quick_options(1);
  o.out_dir = dir.path();
  Trainer(small_mlp(1), ds, o).fit();
  EXPECT_THROW(Trainer(small_mlp(1), ds, o).fit(), ConfigError);
}

TEST_F(TrainerTest, ResumeWithDifferentSettingsIsRefused) {
  nemokd::testing::TempDir dir;
  auto o = quick_options(1);
  o.out_dir = dir.path();
  Trainer a(small_mlp(1), ds, o);
  a.set_resume_key({{"lr", 0.05}});
  a.fit();
  o.resume = true;
  o.epochs = 2;
  Trainer b(small_mlp(1), ds, o);
  b.set_resume_key({{"lr", 0.5}});
  EXPECT_THROW(b.fit(), ConfigError);
}

TEST_F(TrainerTest, NonFiniteLossStopsTheRunWithoutSavingGarbage) {
  nemokd::testing::TempDir dir;
  auto o = quick_options(3);
  o.out_dir = dir.path();
  auto model = small_mlp(1);
  Trainer t(model, ds, o);
  int calls = 0;
  // Healthy for the first epoch (12 steps of 50), then the loss turns NaN in epoch 2.
  t.set_loss([&calls](const torch::Tensor& logits, const data::Batch& b) {
    auto loss = torch::nn::functional::cross_entropy(logits, b.y);
    return ++calls > 15 ? loss * std::numeric_limits<float>::quiet_NaN() : loss;
  });
  auto r = t.fit();
  EXPECT_EQ(r.status, "diverged");
  EXPECT_NE(r.message.find("epoch 2"), std::string::npos) << r.message;
  ASSERT_EQ(r.history.size(), 1u);
  // The checkpoint on disk is the healthy one from epoch 1.
  auto metrics = read_json_file(dir.file("metrics.json"));
  EXPECT_EQ(metrics.size(), 1u);
  for (const auto& p : model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

TEST(Optim, ScheduleIsAFunctionOfTheEpoch) {
  OptimConfig c;
  c.lr = 0.1;
  c.schedule = "multistep";
  c.milestones = {2, 4};
  c.gamma = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 0, 6), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 1, 6), 0.1);
  EXPECT_NEAR(learning_rate_at(c, 2, 6), 0.01, 1e-12);
  EXPECT_NEAR(learning_rate_at(c, 5, 6), 0.001, 1e-12);
  c.schedule = "cosine";
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 0, 10), 0.1);
  EXPECT_NEAR(learning_rate_at(c, 5, 10), 0.05, 1e-12);
  c.milestones = {3, 2};
  EXPECT_THROW(c.validate(), ConfigError);
}

TEST(Optim, ConfigRejectsUnknownKeysAndBadValues) {
  auto j = to_json(OptimConfig{});
  EXPECT_NO_THROW(optim_config_from_json(j));
  j["lr"] = -1;
  EXPECT_THROW(optim_config_from_json(j), ConfigError);
  j = to_json(OptimConfig{});
  j["beta"] = 0.9;
  EXPECT_THROW(optim_config_from_json(j), ConfigError);
}

// The whole command path on files in the real IDX format: write, load via --from, train, record, re-run.
TEST(TrainRun, RecordReproducesTheRun) {
  configure_threads(2);
  nemokd::testing::TempDir data_dir, out1, out2;
  auto c = toy_mnist_run(data_dir, 300, 100, true);
  auto rec = run_training(c, RunContext{out1.path(), false, false});
  ASSERT_EQ(rec.status, "completed");
  EXPECT_EQ(rec.results["dataset"]["train_size"], 250);
  EXPECT_EQ(rec.results["dataset"]["val_size"], 50);
  EXPECT_TRUE(fs::exists(out1.file("model.pt")));

  auto saved = RunRecord::from_json(read_json_file(out1.file("run.json")));
  EXPECT_EQ(saved.status, "completed");
  auto again = run_training(train_run_config_from_json(saved.config), RunContext{out2.path(), false, false});
  EXPECT_EQ(again.results["final_test_accuracy"], rec.results["final_test_accuracy"]);
  EXPECT_EQ(again.results["history"][1]["train_loss"], rec.results["history"][1]["train_loss"]);

  auto bad = saved.config;
  bad["train"]["epochz"] = 3;
  EXPECT_THROW(train_run_config_from_json(bad), ConfigError);
}


// ---- what is on disk survives: full disks, damaged files, resumes that would not train ----

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// A full disk while the checkpoint was written ended in std::terminate (torch's writer throws c10::Error, then again
// from its destructor) with checkpoint.pt.tmp left behind. Now: one Error naming the file, no temp file, and the
// previous checkpoint byte for byte. The disk is "full" through RLIMIT_FSIZE in a child process (SIGXFSZ ignored,
// so writes past the limit fail with EFBIG as they would with ENOSPC).
TEST_F(TrainerTest, FullDiskWhileCheckpointingKeepsThePreviousCheckpoint) {
  // The child re-executes this test up to EXPECT_EXIT (a plain fork would inherit torch's OpenMP pool half-alive).
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  nemokd::testing::TempDir dir;
  auto o = quick_options(1);
  o.out_dir = dir.path();
  Trainer(small_mlp(1), ds, o).fit();
  const std::string ckpt = dir.file("checkpoint.pt");
  const std::string before = file_bytes(ckpt);
  ASSERT_GT(before.size(), 64u << 10);
  o.resume = true;
  o.epochs = 2;
  // The child: a lambda, because a block with commas cannot be a macro argument.
  auto child = [&] {
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{32 << 10, 32 << 10};
    setrlimit(RLIMIT_FSIZE, &limit);
    std::string message;
    try {
      Trainer(small_mlp(1), ds, o).fit();
    } catch (const nemokd::Error& e) {
      message = e.what();
    }
    const bool ok = message.find("checkpoint.pt.tmp: cannot write") != std::string::npos &&
                    message.find("is unchanged") != std::string::npos && !fs::exists(ckpt + ".tmp") &&
                    file_bytes(ckpt) == before;
    std::fprintf(stderr, "%s\n", message.c_str());
    fs::remove_all(dir.path());  // exit() skips the destructors of this (re-executed) test body
    std::exit(ok ? 0 : 1);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "cannot write");
  // And the intact checkpoint still resumes.
  auto r = Trainer(small_mlp(1), ds, o).fit();
  EXPECT_EQ(r.resumed_from_epoch, 1);
}

// model.pt with flipped bytes loaded without complaint (torch's zip reader skips the CRC-32 check) and gave a
// different model; every member's CRC is checked first now.
TEST(TorchFile, FlippedBytesInModelFileAreRefused) {
  nemokd::testing::TempDir dir;
  TrainRunConfig c;
  c.model.mlp().hidden = {32, 32};
  auto model = models::build_model(c.model, {1, 28, 28}, 10);
  save_trained_run(dir.path(), c, *model, {1, 28, 28}, 10);
  EXPECT_NO_THROW(load_trained_run(dir.path()));
  const std::string path = dir.file("model.pt");
  std::string bytes = file_bytes(path);
  for (size_t i = 0; i < 20; ++i) bytes[bytes.size() / 2 + 7 * i] ^= 0x5a;  // inside the first layer's weights
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  try {
    load_trained_run(dir.path());
    FAIL() << "a damaged model.pt was loaded";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": damaged torch file"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("CRC"), std::string::npos) << e.what();
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a zip at all";
  EXPECT_THROW(verify_archive(path), DataError);
}

// `--resume --epochs 3` on a 6-epoch run trained nothing, yet rewrote run.json to 3 epochs next to a 6-epoch model.
// The checkpoint is checked before anything is written; run.json stays as it was.
TEST(TrainRun, ResumeWithFewerEpochsIsRefusedBeforeRunJsonIsRewritten) {
  configure_threads(2);
  nemokd::testing::TempDir data_dir, out;
  auto c = toy_mnist_run(data_dir, 200, 50, false);
  c.train.epochs = 3;
  ASSERT_EQ(run_training(c, RunContext{out.path(), false, false}).status, "completed");
  const std::string record = file_bytes(out.file("run.json")), weights = file_bytes(out.file("model.pt"));
  c.train.epochs = 2;
  try {
    run_training(c, RunContext{out.path(), true, false});
    FAIL() << "resumed with fewer epochs";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("after epoch 3; --epochs 2 would not train it"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(file_bytes(out.file("run.json")), record);
  EXPECT_EQ(file_bytes(out.file("model.pt")), weights);
  // The same or more epochs still resume.
  c.train.epochs = 4;
  EXPECT_EQ(run_training(c, RunContext{out.path(), true, false}).results["resumed_from_epoch"], 3);
}
