// Teacher-output cache: one distillation epoch of the baseline student (FlexStudent, the 5-layer default)
// with the teacher's logits read from the memory-mapped cache vs computed by running the teacher (ResNet8x4)
// on every batch — both through the Trainer with the KD loss (alpha 0.9, T 4), on the same real MNIST images,
// interleaved in the same run. Target: cached / on-the-fly throughput >= 2. The teacher has random weights:
// its cost does not depend on their values. The one-off cost of filling the cache is reported separately.
//   build/bench/bench_kd [--threads N] [--images N]
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>

#include "bench_util.h"
#include "core/runtime.h"
#include "kd/cache.h"
#include "kd/loss.h"
#include "kd/teacher.h"
#include "models/registry.h"
#include "train/train_run.h"
#include "train/trainer.h"

using namespace nemokd;
namespace fs = std::filesystem;

namespace {
int64_t g_images = 2048;
std::shared_ptr<kd::Teacher> g_teacher;
std::shared_ptr<kd::TeacherLogitCache> g_cache;
double g_fill_seconds = 0;

const data::Dataset& mnist() { return bench::mnist_training_slice(g_images); }

void kd_epoch(benchmark::State& state, bool cached) {
  torch::manual_seed(0);
  auto student = models::build_model(models::preset_model("flexstudent"), {1, 28, 28}, 10);
  train::TrainOptions o;
  o.epochs = 1;
  o.batch_size = 64;
  o.progress = false;
  o.eval_test_each_epoch = false;
  train::Trainer trainer(student, mnist(), o);
  kd::KdLossConfig lc;
  trainer.set_loss([cached, lc](const torch::Tensor& logits, const data::Batch& b) -> torch::Tensor {
    auto t = cached ? g_cache->gather(b.index) : g_teacher->logits(b.x);
    return kd::kd_loss(logits, t, b.y, lc).total;
  });
  for (auto _ : state) state.SetIterationTime(trainer.fit().history.back().train_seconds);
  state.SetItemsProcessed(state.iterations() * mnist().train.size());
}
void BM_KdEpochTeacherOnTheFly(benchmark::State& s) { kd_epoch(s, false); }
void BM_KdEpochTeacherCache(benchmark::State& s) { kd_epoch(s, true); }
}  // namespace

int main(int argc, char** argv) {
  long long threads = 0, images = g_images;
  auto rest = bench::take_int_options(argc, argv, {{"--threads", &threads}, {"--images", &images}});
  g_images = images;
  tune_allocator();
  int rc = static_cast<int>(rest.size());
  benchmark::Initialize(&rc, rest.data());
  const int used_threads = configure_threads(int(threads));

  // The teacher as a run folder (what `nemokd kd teacher` writes), and its cache, in a scratch folder.
  const auto scratch = fs::temp_directory_path() / fmt::format("nemokd-bench-kd-{}", ::getpid());
  train::TrainRunConfig tcfg;
  tcfg.model = models::preset_model("resnet8x4");
  torch::manual_seed(1);
  auto teacher_model = models::build_model(tcfg.model, {1, 28, 28}, 10);
  train::save_trained_run((scratch / "teacher").string(), tcfg, *teacher_model, {1, 28, 28}, 10);
  g_teacher = kd::Teacher::load((scratch / "teacher").string(), "cpu");
  const auto t0 = std::chrono::steady_clock::now();
  g_cache = kd::TeacherLogitCache::open_or_compute(*g_teacher, mnist().train, mnist().spec,
                                                   data::Normalization::standard, "train", (scratch / "cache").string());
  g_fill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("bench_kd: FlexStudent distilled from ResNet8x4 ({:.1f} M MACs/image), batch 64, {} MNIST images, {} "
             "threads; cache filled once in {:.2f} s\n",
             double(teacher_model->macs()) / 1e6, g_images, used_threads, g_fill_seconds);

  bench::register_interleaved("BM_KdEpochTeacherOnTheFly", BM_KdEpochTeacherOnTheFly, "BM_KdEpochTeacherCache",
                              BM_KdEpochTeacherCache);
  bench::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double fly = reporter.median("BM_KdEpochTeacherOnTheFly"), cache = reporter.median("BM_KdEpochTeacherCache");
  fmt::print("\nmedian KD epoch throughput: teacher on the fly {:.0f} img/s, teacher cache {:.0f} img/s, speed-up "
             "{:.2f}x (target >= 2); the cache paid for itself after {:.2f} epochs\n",
             fly, cache, fly > 0 ? cache / fly : 0.0,
             fly > 0 && cache > 0 ? g_fill_seconds / (double(g_images) / fly - double(g_images) / cache) : 0.0);
  g_cache.reset();
  g_teacher.reset();
  fs::remove_all(scratch);
  benchmark::Shutdown();
  return 0;
}
