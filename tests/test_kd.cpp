// Distillation: the KD loss against a hand-computed value (T^2 and batch-mean included), the teacher-output
// cache (computed once, reused, keyed by teacher and data, corruption detected), a TorchScript teacher made by
// PyTorch (Debian's python3-torch) distilled into a student, and the run config's JSON contract.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "data/formats.h"
#include "kd/cache.h"
#include "kd/kd_run.h"
#include "kd/loss.h"
#include "kd/teacher.h"
#include "models/registry.h"
#include "test_support.h"
#include "train/train_run.h"
#include "train/trainer.h"

using namespace nemokd;
namespace fs = std::filesystem;

namespace {

// A teacher run folder written by hand (what `nemokd kd teacher` leaves): run.json + model.pt of an MLP.
std::string write_run_teacher(const std::string& dir, uint64_t seed) {
  train::TrainRunConfig cfg;
  cfg.model.set_family(models::Family::mlp);
  cfg.model.mlp().hidden = {32};
  torch::manual_seed(seed);
  auto model = models::build_model(cfg.model, {1, 28, 28}, 10);
  train::save_trained_run(dir, cfg, *model, {1, 28, 28}, 10);
  return dir;
}

std::string python_with_torch() {
  const char* p = std::getenv("NEMOKD_PYTHON");
  return p ? p : "/usr/bin/python3";
}

}  // namespace

TEST(KdLoss, MatchesHandComputedValue) {
  // Values computed by hand (plain math, see the test source history): CE = 0.32445863055076873,
  // KD = T^2 * batch-mean KL(p_t || p_s) at T = 2 = 0.2858525627723152.
  auto s = torch::tensor({{1.0, 2.0, 0.0}, {0.5, -1.0, 2.0}}, torch::kDouble);
  auto t = torch::tensor({{2.0, 1.0, 0.0}, {0.0, 0.0, 3.0}}, torch::kDouble);
  auto y = torch::tensor({1, 2}, torch::kInt64);
  kd::KdLossConfig c;
  c.alpha = 0.7;
  c.temperature = 2.0;
  auto p = kd::kd_loss(s, t, y, c);
  EXPECT_NEAR(p.ce.item<double>(), 0.32445863055076873, 1e-12);
  EXPECT_NEAR(p.kd.item<double>(), 0.2858525627723152, 1e-12);
  EXPECT_NEAR(p.total.item<double>(), 0.29743438310585124, 1e-12);  // (1 - 0.7) CE + 0.7 KD
  c.form = "gamma";
  c.gamma = 0.1;
  EXPECT_NEAR(kd::kd_loss(s, t, y, c).total.item<double>(), 0.2325426569956975, 1e-12);  // 0.1 CE + 0.7 KD
  // Identical distributions: the KD term vanishes whatever T.
  c.temperature = 7;
  EXPECT_NEAR(kd::kd_loss(s, s.clone(), y, c).kd.item<double>(), 0.0, 1e-12);
}

TEST(KdLoss, GradientReachesTheStudentOnly) {
  auto s = torch::randn({4, 5}, torch::requires_grad());
  auto t = torch::randn({4, 5}, torch::requires_grad());
  auto y = torch::tensor({0, 1, 2, 3}, torch::kInt64);
  kd::kd_loss(s, t, y, kd::KdLossConfig{}).total.backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_GT(s.grad().abs().sum().item<double>(), 0);
  EXPECT_FALSE(t.grad().defined());
}

TEST(KdLoss, BadSettingsAreRejectedByName) {
  kd::KdLossConfig c;
  c.alpha = 1.5;
  EXPECT_THROW(c.validate("kd"), ConfigError);
  c.alpha = 0.5;
  c.temperature = 0;
  EXPECT_THROW(c.validate("kd"), ConfigError);
  c.temperature = 4;
  c.form = "weird";
  try {
    c.validate("kd");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("kd.form"), std::string::npos);
  }
  EXPECT_THROW(kd::kd_loss(torch::zeros({2, 3}), torch::zeros({2, 4}), torch::zeros({2}, torch::kInt64),
                           kd::KdLossConfig{}),
               ConfigError);
}

TEST(TeacherCache, ComputedOnceReusedKeyedAndChecked) {
  nemokd::testing::TempDir tmp;
  auto ds = nemokd::testing::toy_dataset(300, 0, 50, 3);
  auto teacher = kd::Teacher::load(write_run_teacher(tmp.file("teacher"), 1), "cpu");
  const auto norm = data::Normalization::standard;
  auto first = kd::TeacherLogitCache::open_or_compute(*teacher, ds.train, ds.spec, norm, "train", tmp.file("cache"), 64);
  EXPECT_TRUE(first->computed_now());
  ASSERT_EQ(first->all().size(0), 300);
  ASSERT_EQ(first->all().size(1), 10);
  // The cache holds exactly the teacher's logits on the un-augmented, normalised images.
  data::BatchOptions bo;
  bo.batch_size = 300;
  bo.normalization = norm;
  data::BatchLoader loader(ds.train, ds.spec, bo);
  data::Batch b;
  ASSERT_TRUE(loader.next(b));
  // (Up to float summation order: the cache ran the teacher in batches of 64, this check in one of 300.)
  const auto direct = teacher->logits(b.x);
  EXPECT_TRUE(torch::allclose(first->all(), direct, 1e-5, 1e-6));
  auto idx = torch::tensor({5, 0, 299}, torch::kInt64);
  EXPECT_TRUE(torch::equal(first->gather(idx), first->all().index_select(0, idx)));
  EXPECT_TRUE(torch::allclose(first->gather(idx), direct.index_select(0, idx), 1e-5, 1e-6));

  auto second = kd::TeacherLogitCache::open_or_compute(*teacher, ds.train, ds.spec, norm, "train", tmp.file("cache"));
  EXPECT_FALSE(second->computed_now());
  EXPECT_EQ(second->path(), first->path());
  // Another teacher, another slice of the data, another normalisation: another file.
  auto other = kd::Teacher::load(write_run_teacher(tmp.file("teacher2"), 2), "cpu");
  EXPECT_NE(other->identity(), teacher->identity());
  auto c2 = kd::TeacherLogitCache::open_or_compute(*other, ds.train, ds.spec, norm, "train", tmp.file("cache"));
  EXPECT_NE(c2->path(), first->path());
  auto c3 = kd::TeacherLogitCache::open_or_compute(*teacher, ds.train.slice(0, 200), ds.spec, norm, "train",
                                                   tmp.file("cache"));
  EXPECT_NE(c3->path(), first->path());
  // A truncated cache file is an error, never garbage logits.
  const auto path = first->path();
  first.reset();
  second.reset();
  fs::resize_file(path, fs::file_size(path) - 4);
  EXPECT_THROW(kd::TeacherLogitCache::open_or_compute(*teacher, ds.train, ds.spec, norm, "train", tmp.file("cache")),
               DataError);
}

// A teacher exported by PyTorch as TorchScript (what PyTorch users have) distils into a nemokd student.
TEST(TorchScriptTeacher, PyTorchExportDistilsIntoAStudent) {
  nemokd::testing::TempDir tmp;
  const auto script = tmp.file("teacher.pt");
  const auto py = fmt::format(
      "import torch\n"
      "torch.manual_seed(0)\n"
      "class T(torch.nn.Module):\n"
      "    def __init__(self):\n"
      "        super().__init__()\n"
      "        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)\n"
      "        self.fc = torch.nn.Linear(4 * 28 * 28, 10)\n"
      "    def forward(self, x):\n"
      "        return self.fc(torch.relu(self.conv(x)).flatten(1))\n"
      "torch.jit.script(T().eval()).save('{}')\n",
      script);
  std::ofstream(tmp.file("make.py")) << py;
  const int rc = std::system(fmt::format("{} {} 2>{}", python_with_torch(), tmp.file("make.py"), tmp.file("err")).c_str());
  ASSERT_EQ(rc, 0) << "python3-torch is needed to export the teacher (scripts/install-deps.sh installs it); set "
                      "NEMOKD_PYTHON to a python with torch";
  auto teacher = kd::Teacher::load(script, "cpu");
  EXPECT_EQ(teacher->kind(), "torchscript");
  EXPECT_EQ(teacher->identity(), kd::sha256_file(script));

  auto ds = nemokd::testing::toy_dataset(256, 0, 64, 4);
  auto cache = kd::TeacherLogitCache::open_or_compute(*teacher, ds.train, ds.spec, data::Normalization::standard,
                                                      "train", tmp.file("cache"));
  models::ModelConfig student;
  student.set_family(models::Family::mlp);
  student.mlp().hidden = {16};
  torch::manual_seed(1);
  auto model = models::build_model(student, {1, 28, 28}, 10);
  train::TrainOptions o;
  o.epochs = 2;
  o.batch_size = 32;
  o.optim.lr = 0.05;
  o.progress = false;
  train::Trainer trainer(model, ds, o);
  kd::KdLossConfig lc;
  lc.alpha = 1.0;  // pure distillation: the student can only learn from the teacher
  lc.temperature = 4;
  double first_loss = -1, last_loss = -1;
  trainer.set_loss([&](const torch::Tensor& logits, const data::Batch& batch) -> torch::Tensor {
    auto l = kd::kd_loss(logits, cache->gather(batch.index), batch.y, lc).total;
    if (first_loss < 0) first_loss = l.item<double>();
    last_loss = l.item<double>();
    return l;
  });
  auto r = trainer.fit();
  EXPECT_EQ(r.status, "completed");
  EXPECT_LT(last_loss, first_loss);  // the student moves towards the teacher
}

TEST(KdRunConfig, JsonRoundTripAndStrictness) {
  kd::KdRunConfig c;
  c.base.model = models::preset_model("flexstudent");
  c.kd.teacher = "runs/teacher";
  c.kd.loss.alpha = 0.3;
  c.kd.loss.temperature = 8;
  auto j = kd::to_json(c);
  auto back = kd::kd_run_config_from_json(j);
  EXPECT_EQ(kd::to_json(back), j);
  j["kd"]["alpah"] = 0.5;
  EXPECT_THROW(kd::kd_run_config_from_json(j), ConfigError);
  j["kd"].erase("alpah");
  j["kd"].erase("teacher");
  EXPECT_THROW(kd::kd_run_config_from_json(j), ConfigError);
}

// `kd train --teacher RUN/model.pt` failed with torch's "Method 'forward' is not defined": the message now says it is
// a nemokd model file and to pass its run folder.
TEST(Teacher, NemokdModelFileAsTeacherNamesTheRunFolder) {
  nemokd::testing::TempDir tmp;
  const auto dir = write_run_teacher(tmp.file("teacher"), 1);
  try {
    kd::Teacher::load(dir + "/model.pt", "cpu");
    FAIL() << "accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("a nemokd model file, not a TorchScript module; pass its run folder as the "
                                         "teacher: --teacher " + dir),
              std::string::npos)
        << e.what();
  }
}

// A CIFAR teacher on Fashion-MNIST shapes failed inside the first batch with "mat1 and mat2 shapes cannot be
// multiplied"; the recorded input of a run teacher is compared with the dataset before any training.
TEST(Teacher, TeacherTrainedOnOtherImagesIsRefusedBeforeTraining) {
  configure_threads(2);
  nemokd::testing::TempDir tmp, data_dir, out;
  train::TrainRunConfig tc;
  tc.dataset.name = "cifar10";
  tc.model.mlp().hidden = {16};
  torch::manual_seed(1);
  auto teacher = models::build_model(tc.model, {3, 32, 32}, 10);
  train::save_trained_run(tmp.file("cifar-teacher"), tc, *teacher, {3, 32, 32}, 10);

  auto ds = nemokd::testing::toy_dataset(100, 0, 20, 3);
  data::write_idx_images(data_dir.file("train-images-idx3-ubyte"), ds.train.images.squeeze(1));
  data::write_idx_labels(data_dir.file("train-labels-idx1-ubyte"), ds.train.labels);
  data::write_idx_images(data_dir.file("t10k-images-idx3-ubyte"), ds.test.images.squeeze(1));
  data::write_idx_labels(data_dir.file("t10k-labels-idx1-ubyte"), ds.test.labels);
  kd::KdRunConfig c;
  c.base.dataset.name = "fashion-mnist";
  c.base.dataset.load.from_dir = data_dir.path();
  c.base.dataset.load.val_size = 20;
  c.base.model.mlp().hidden = {8};
  c.base.train.epochs = 1;
  c.kd.teacher = tmp.file("cifar-teacher");
  c.kd.cache = "off";
  try {
    kd::run_kd(c, train::RunContext{out.path(), false, false});
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("was trained on cifar10 (3x32x32 images); this run's dataset fashion-mnist "
                                         "has 1x28x28 images"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(out.file("run.json")));
}
