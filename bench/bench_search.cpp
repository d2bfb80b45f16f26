// NEMOKD evaluation throughput: candidate evaluations per hour at the nemokd-fmnist experiment's settings —
// FlexStudent candidates from the k-fmnist search space, 1 epoch of KD training on all of Fashion-MNIST through the
// teacher-output cache, each a child `nemokd run`, then the torch:cpu:threads=1 latency probe — with 2 jobs
// (threads split) against 1 job (all threads), the same candidates, in the same run. The teacher is a ResNet-20
// with random weights: its cost is paid once, filling the cache, and training speed does not depend on its values.
//   build/bench/bench_search [--candidates N (default 4)] [--nemokd PATH (default build/apps/nemokd/nemokd)]
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "campaign/executor.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "kd/cache.h"
#include "kd/teacher.h"
#include "models/registry.h"
#include "search/evolve.h"
#include "train/train_run.h"

using namespace nemokd;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  int candidates = 4;
  std::string exe = "build/apps/nemokd/nemokd";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--candidates") candidates = std::atoi(argv[i + 1]);
    else if (a == "--nemokd") exe = argv[i + 1];
  }
  if (!fs::exists(exe)) {
    fmt::print(stderr, "bench_search: {} not found (build nemokd, or pass --nemokd PATH)\n", exe);
    return 2;
  }
  tune_allocator();
  configure_threads(0);
  const auto scratch = fs::temp_directory_path() / fmt::format("nemokd-bench-search-{}", ::getpid());
  train::TrainRunConfig tcfg;
  tcfg.dataset.name = "fashion-mnist";
  tcfg.model = models::preset_model("resnet20");
  torch::manual_seed(1);
  auto teacher = models::build_model(tcfg.model, {1, 28, 28}, 10);
  train::save_trained_run((scratch / "teacher").string(), tcfg, *teacher, {1, 28, 28}, 10);

  auto config = search::evolve_preset("k-fmnist", (scratch / "teacher").string());
  config.base.kd.cache_dir = (scratch / "cache").string();
  config.latency = "torch:cpu:threads=1";
  // The cache once, as the evolution would have it from phase 1.
  {
    auto ds = data::load_dataset("fashion-mnist", config.base.base.dataset.load);
    auto t = kd::Teacher::load((scratch / "teacher").string(), "cpu");
    kd::TeacherLogitCache::open_or_compute(*t, ds.train, ds.spec, data::Normalization::standard, "train",
                                           config.base.kd.cache_dir);
  }
  // The same random candidates for both settings.
  std::mt19937 rng(7);
  std::vector<search::Request> requests;
  const auto lo = config.space.lower(), hi = config.space.upper();
  for (int k = 0; k < candidates; ++k) {
    search::Request rq;
    for (size_t g = 0; g < lo.size(); ++g)
      rq.genome.push_back(double(std::uniform_int_distribution<int>(int(lo[g]), int(hi[g]))(rng)));
    rq.model = config.space.decode(rq.genome, config.base.base.model);
    rq.key = search::canonical_key(rq.model);
    requests.push_back(rq);
  }
  fmt::print("bench_search: {} FlexStudent candidates, 1 epoch of KD on 50 000 Fashion-MNIST images each, latency "
             "torch:cpu:threads=1; {} cores\n",
             candidates, hardware_cores());
  double rate[3] = {0, 0, 0};
  for (int jobs : {1, 2}) {
    auto c = config;
    c.jobs = jobs;
    search::EvolveContext ctx;
    ctx.out_dir = (scratch / fmt::format("jobs{}", jobs)).string();
    ctx.executor = campaign::make_executor({jobs, fs::absolute(exe).string()});
    auto evaluator = search::make_child_evaluator(c, ctx);
    const auto t0 = std::chrono::steady_clock::now();
    auto done = evaluator->evaluate(requests);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int ok = 0;
    for (const auto& d : done) ok += d.status == RunStatus::completed;
    rate[jobs] = 3600.0 * double(candidates) / s;
    fmt::print("jobs {}: {} candidates ({} completed) in {:.1f} s = {:.0f} evaluations/hour\n", jobs, candidates, ok, s,
               rate[jobs]);
  }
  fmt::print("ratio jobs 2 / jobs 1: {:.2f}x\n", rate[1] > 0 ? rate[2] / rate[1] : 0.0);
  fs::remove_all(scratch);
  return 0;
}
