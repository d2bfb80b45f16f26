// QAT overhead: training throughput of the LFC MLP (784-1024-1024-1024-10) with 2-bit weights and 2-bit
// activations (FINN fixed point, tanh, BatchNorm, dropout 0.2, 8-bit signed input) vs the same float LFC
// (same layers, activations and dropout, no quantizers) — both through the Trainer, on the same real MNIST
// images, interleaved in the same run. Target: float / QAT <= 1.25.
//   build/bench/bench_qat [--threads N] [--images N] [--wbits N --abits N]
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <map>

#include "core/runtime.h"
#include "models/registry.h"
#include "train/sweep.h"
#include "train/trainer.h"

using namespace nemokd;

namespace {

int g_threads = 0, g_wbits = 2, g_abits = 2;
int64_t g_images = 10000;

const data::Dataset& mnist() {
  static data::Dataset ds = [] {
    data::LoadOptions lo;
    lo.val_size = 0;
    lo.train_limit = g_images;
    lo.test_limit = 1000;
    return data::load_dataset("mnist", lo);
  }();
  return ds;
}

void run_epochs(benchmark::State& state, bool quantized) {
  auto cfg = train::default_qat_config();
  auto& m = cfg.model.mlp;
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

class RateReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, std::vector<double>> rates;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rates[r.run_name.function_name.substr(0, r.run_name.function_name.find('/'))].push_back(it->second.value);
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) g_threads = std::stoi(argv[++i]);
    else if (a == "--images" && i + 1 < argc) g_images = std::stoll(argv[++i]);
    else if (a == "--wbits" && i + 1 < argc) g_wbits = std::stoi(argv[++i]);
    else if (a == "--abits" && i + 1 < argc) g_abits = std::stoi(argv[++i]);
    else rest.push_back(argv[i]);
  }
  tune_allocator();
  int rc = static_cast<int>(rest.size());
  benchmark::Initialize(&rc, rest.data());
  const int threads = configure_threads(g_threads);
  fmt::print("bench_qat: LFC W{}A{} vs float, batch 100, {} MNIST images, {} threads\n", g_wbits, g_abits, g_images,
             threads);
  for (int rep = 0; rep < 3; ++rep) {
    benchmark::RegisterBenchmark(fmt::format("BM_FloatLfcEpoch/rep{}", rep).c_str(), BM_FloatLfcEpoch)
        ->UseManualTime()->Iterations(1)->Unit(benchmark::kSecond);
    benchmark::RegisterBenchmark(fmt::format("BM_QatLfcEpoch/rep{}", rep).c_str(), BM_QatLfcEpoch)
        ->UseManualTime()->Iterations(1)->Unit(benchmark::kSecond);
  }
  RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double f = median(reporter.rates["BM_FloatLfcEpoch"]), q = median(reporter.rates["BM_QatLfcEpoch"]);
  fmt::print("\nmedian training throughput: float LFC {:.0f} img/s, QAT LFC W{}A{} {:.0f} img/s, overhead float/QAT = "
             "{:.3f} (target <= 1.25)\n",
             f, g_wbits, g_abits, q, q > 0 ? f / q : 0.0);
  benchmark::Shutdown();
  return 0;
}
