// Batch assembly speed: nemokd's BatchLoader (one fused gather + convert + normalise pass, optional crop/flip)
// vs the plain torch-ops way (index_select, to(float), normalise) in the same run, in batches/s.
//   build/bench/bench_data [--threads N]      (NEMOKD_NO_ALLOC_TUNING=1: glibc malloc defaults)
// MNIST batches come from the real MNIST training file; the CIFAR-shaped case (augmentation on) uses random
// pixels, since only the loader's speed is measured there, never accuracy.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "core/runtime.h"
#include "data/loader.h"

using namespace nemokd;

namespace {

int g_threads = 0;
constexpr int64_t kBatch = 128;

const data::Dataset& mnist() {
  static data::Dataset ds = [] {
    data::LoadOptions lo;
    lo.val_size = 0;
    return data::load_dataset("mnist", lo);
  }();
  return ds;
}

data::ImageSet cifar_shaped(int64_t n) {
  data::ImageSet s;
  s.images = torch::randint(0, 256, {n, 3, 32, 32}, torch::kUInt8);
  s.labels = torch::randint(0, 10, {n}, torch::kLong);
  return s;
}

void run_loader(benchmark::State& state, const data::ImageSet& set, const data::DatasetSpec& spec, bool augment) {
  data::BatchOptions o;
  o.batch_size = kBatch;
  o.shuffle = true;
  o.augment = augment;
  data::BatchLoader loader(set, spec, o);
  int64_t batches = 0, epoch = 0;
  data::Batch b;
  loader.start_epoch(epoch);
  for (auto _ : state) {
    if (!loader.next(b)) {
      loader.start_epoch(++epoch);
      loader.next(b);
    }
    benchmark::DoNotOptimize(b.x.data_ptr<float>());
    ++batches;
  }
  state.SetItemsProcessed(batches);
  state.counters["batches_per_s"] = benchmark::Counter(double(batches), benchmark::Counter::kIsRate);
}

void run_torch_ops(benchmark::State& state, const data::ImageSet& set, const data::DatasetSpec& spec) {
  auto mean = torch::tensor(spec.mean).view({1, -1, 1, 1});
  auto std = torch::tensor(spec.stddev).view({1, -1, 1, 1});
  const int64_t n = set.size();
  auto perm = torch::randperm(n, torch::kLong);
  int64_t pos = 0, batches = 0;
  for (auto _ : state) {
    if (pos + kBatch > n) pos = 0;
    auto idx = perm.slice(0, pos, pos + kBatch);
    pos += kBatch;
    auto x = (set.images.index_select(0, idx).to(torch::kFloat).div_(255.0) - mean) / std;
    auto y = set.labels.index_select(0, idx);
    benchmark::DoNotOptimize(x.data_ptr<float>());
    benchmark::DoNotOptimize(y.data_ptr<int64_t>());
    ++batches;
  }
  state.counters["batches_per_s"] = benchmark::Counter(double(batches), benchmark::Counter::kIsRate);
}

void BM_MnistLoader(benchmark::State& s) { run_loader(s, mnist().train, mnist().spec, false); }
void BM_MnistTorchOps(benchmark::State& s) { run_torch_ops(s, mnist().train, mnist().spec); }
void BM_CifarShapedLoaderAugment(benchmark::State& s) {
  static auto set = cifar_shaped(10000);
  run_loader(s, set, data::dataset_spec("cifar10"), true);
}
void BM_CifarShapedLoaderNoAugment(benchmark::State& s) {
  static auto set = cifar_shaped(10000);
  run_loader(s, set, data::dataset_spec("cifar10"), false);
}
void BM_CifarShapedTorchOpsNoAugment(benchmark::State& s) {
  static auto set = cifar_shaped(10000);
  run_torch_ops(s, set, data::dataset_spec("cifar10"));
}

}  // namespace

BENCHMARK(BM_MnistTorchOps)->MinTime(1.0);
BENCHMARK(BM_MnistLoader)->MinTime(1.0);
BENCHMARK(BM_CifarShapedTorchOpsNoAugment)->MinTime(1.0);
BENCHMARK(BM_CifarShapedLoaderNoAugment)->MinTime(1.0);
BENCHMARK(BM_CifarShapedLoaderAugment)->MinTime(1.0);

int main(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) g_threads = std::stoi(argv[++i]);
    else rest.push_back(argv[i]);
  }
  if (std::getenv("NEMOKD_NO_ALLOC_TUNING") == nullptr) tune_allocator();
  int rc = static_cast<int>(rest.size());
  benchmark::Initialize(&rc, rest.data());
  fmt::print("bench_data: batch {}, {} threads\n", kBatch, configure_threads(g_threads));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
