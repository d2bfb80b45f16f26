// Training throughput of the float LFC MLP (784-1024-1024-1024-10, BatchNorm, ReLU) on real MNIST:
// the nemokd Trainer vs a bare LibTorch loop over the same model, optimiser, batch size and data, measured
// in the same run. Target: Trainer / bare >= 0.9 (the Trainer's data pipeline, metrics and checks must be
// nearly free).
//   build/bench/bench_train [--threads N] [--images N]   (NEMOKD_NO_ALLOC_TUNING=1: glibc malloc defaults)
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <torch/torch.h>


#include "bench_util.h"
#include "core/runtime.h"
#include "data/loader.h"
#include "models/registry.h"
#include "train/trainer.h"

using namespace nemokd;

namespace {

int g_threads = 0;
int64_t g_images = 10000;
constexpr int64_t kBatch = 100;

const data::Dataset& mnist() { return bench::mnist_training_slice(g_images); }

models::Classifier lfc() {
  train::seed_everything(0);
  models::ModelConfig c;
  c.mlp().hidden = {1024, 1024, 1024};
  return models::build_model(c, models::InputShape{1, 28, 28}, 10);
}

void BM_TrainerEpoch(benchmark::State& state) {
  const auto& ds = mnist();
  auto model = lfc();
  train::TrainOptions o;
  o.epochs = 1;
  o.batch_size = kBatch;
  o.progress = false;
  o.eval_test_each_epoch = false;
  train::Trainer trainer(model, ds, o);
  double seconds = 0;
  for (auto _ : state) {
    // One full epoch through the Trainer (shuffle, fused batch assembly, loss/accuracy bookkeeping,
    // NaN checks). Its own train-phase timer excludes the final test evaluation.
    auto r = trainer.fit();
    seconds += r.history.back().train_seconds;
    state.SetIterationTime(r.history.back().train_seconds);
  }
  state.SetItemsProcessed(state.iterations() * ds.train.size());
}

void BM_BareLibTorchEpoch(benchmark::State& state) {
  const auto& ds = mnist();
  auto model = lfc();
  // The bare loop's best case: the whole set pre-normalised as float once, batches by index_select.
  auto x_all = (ds.train.images.to(torch::kFloat).div(255.0) - ds.spec.mean[0]) / ds.spec.stddev[0];
  auto y_all = ds.train.labels;
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  const int64_t n = x_all.size(0);
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    model->train();
    auto perm = torch::randperm(n, torch::kLong);
    for (int64_t i = 0; i < n; i += kBatch) {
      auto idx = perm.slice(0, i, std::min(n, i + kBatch));
      auto x = x_all.index_select(0, idx);
      auto y = y_all.index_select(0, idx);
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      loss.backward();
      opt.step();
    }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace

int main(int argc, char** argv) {
  long long threads = 0, images = g_images;
  auto rest = bench::take_int_options(argc, argv, {{"--threads", &threads}, {"--images", &images}});
  g_threads = int(threads);
  g_images = images;
  if (std::getenv("NEMOKD_NO_ALLOC_TUNING") == nullptr) tune_allocator();
  int rc = static_cast<int>(rest.size());
  benchmark::Initialize(&rc, rest.data());
  const int used_threads = configure_threads(g_threads);
  auto info = runtime_info();
  fmt::print("bench_train: LFC 784-1024x3-10 float, batch {}, {} MNIST images, {} threads, BLAS {}\n", kBatch,
             g_images, used_threads, info.blas.is_openblas ? "OpenBLAS" : info.blas.library);
  bench::register_interleaved("BM_BareLibTorchEpoch", BM_BareLibTorchEpoch, "BM_TrainerEpoch", BM_TrainerEpoch);
  bench::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double t = reporter.median("BM_TrainerEpoch"), b = reporter.median("BM_BareLibTorchEpoch");
  fmt::print("\nmedian training throughput: Trainer {:.0f} img/s, bare LibTorch loop {:.0f} img/s, ratio {:.3f} "
             "(target >= 0.9)\n",
             t, b, b > 0 ? t / b : 0.0);
  benchmark::Shutdown();
  return 0;
}
