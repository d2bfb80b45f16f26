// QAT overhead: training throughput of the LFC MLP (784-1024-1024-1024-10) with 2-bit weights and 2-bit
// activations (FINN fixed point, tanh, BatchNorm, dropout 0.2, 8-bit signed input) vs the same float LFC
// (same layers, activations and dropout, no quantizers) — both through the Trainer, on the same real MNIST
// images, interleaved in the same run. Target: float / QAT <= 1.25.
//   build/bench/bench_qat [--threads N] [--images N] [--wbits N --abits N]
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <torch/torch.h>


#include "bench_util.h"
#include "core/runtime.h"
#include "models/registry.h"
#include "train/train_run.h"
#include "train/trainer.h"

using namespace nemokd;

namespace {

int g_threads = 0, g_wbits = 2, g_abits = 2;
int64_t g_images = 10000;

const data::Dataset& mnist() { return bench::mnist_training_slice(g_images); }

void run_epochs(benchmark::State& state, bool quantized) {
  auto cfg = train::default_qat_config();
  auto& m = cfg.model.mlp();
  m.hidden = models::mlp_preset_widths("lfc");
  if (quantized) {
    m.set_bits({g_wbits}, {g_abits});
  } else {
    m.quantized = false;
  }
  train::seed_everything(0);
  auto model = models::build_model(cfg.model, models::InputShape{1, 28, 28}, 10);
  train::TrainOptions o = cfg.train;
  o.epochs = 1;
  o.progress = false;
  o.eval_test_each_epoch = false;
  train::Trainer trainer(model, mnist(), o);
  for (auto _ : state) state.SetIterationTime(trainer.fit().history.back().train_seconds);
  state.SetItemsProcessed(state.iterations() * mnist().train.size());
}

void BM_FloatLfcEpoch(benchmark::State& s) { run_epochs(s, false); }
void BM_QatLfcEpoch(benchmark::State& s) { run_epochs(s, true); }

}  // namespace

int main(int argc, char** argv) {
  long long threads = 0, images = g_images, wbits = g_wbits, abits = g_abits;
  auto rest = bench::take_int_options(
      argc, argv, {{"--threads", &threads}, {"--images", &images}, {"--wbits", &wbits}, {"--abits", &abits}});
  g_threads = int(threads);
  g_images = images;
  g_wbits = int(wbits);
  g_abits = int(abits);
  tune_allocator();
  int rc = static_cast<int>(rest.size());
  benchmark::Initialize(&rc, rest.data());
  const int used_threads = configure_threads(g_threads);
  fmt::print("bench_qat: LFC W{}A{} vs float, batch 100, {} MNIST images, {} threads\n", g_wbits, g_abits, g_images,
             used_threads);
  bench::register_interleaved("BM_FloatLfcEpoch", BM_FloatLfcEpoch, "BM_QatLfcEpoch", BM_QatLfcEpoch);
  bench::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double f = reporter.median("BM_FloatLfcEpoch"), q = reporter.median("BM_QatLfcEpoch");
  fmt::print("\nmedian training throughput: float LFC {:.0f} img/s, QAT LFC W{}A{} {:.0f} img/s, overhead float/QAT = "
             "{:.3f} (target <= 1.25)\n",
             f, g_wbits, g_abits, q, q > 0 ? f / q : 0.0);
  benchmark::Shutdown();
  return 0;
}
