// Latency-probe repeatability: the same model measured 5 times by the torch probe (each measurement a full
// probe call with its defaults: 10 warm-up runs, blocks of 50 timed runs until the median moves <= 1 %), and the
// coefficient of variation of the 5 reported medians. Target: CV <= 3 %. Cases: FlexStudent (the 5-layer
// baseline) and ResNet8 at 1x28x28, batch 1, with 1 torch thread and with all cores; within a thread count the
// repetitions are interleaved across the models so that a burst of machine noise hits both alike. Also reports what one
// measurement costs (wall time of the probe call), since the evolution calls it for every candidate.
//   build/bench/bench_latency [--reps 5] [--threads N] [--runs N]
//   (--threads N: only that thread count; --runs N: timed runs per block instead of the probe's default 50)
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <map>

#include "bench_util.h"
#include "core/runtime.h"
#include "hw/latency/probe.h"
#include "hw/latency/stats.h"
#include "models/registry.h"

using namespace nemokd;
namespace lat = nemokd::hw::latency;

int main(int argc, char** argv) {
  long long reps = 5, threads = -1, runs = 0;
  bench::take_int_options(argc, argv, {{"--reps", &reps}, {"--threads", &threads}, {"--runs", &runs}});
  tune_allocator();
  std::string load;
  std::getline(std::ifstream("/proc/loadavg"), load);

  struct Case {
    std::string model;
    int threads;
    models::Classifier net;
    std::vector<double> medians, seconds;
    std::vector<int> runs;
    int stable = 0;
  };
  std::vector<Case> cases;
  const std::vector<int> thread_counts =
      threads >= 0 ? std::vector<int>{int(threads)} : std::vector<int>{1, hardware_cores()};
  for (const std::string name : {"flexstudent", "resnet8"})
    for (int t : thread_counts) {
      torch::manual_seed(0);
      cases.push_back({name, t, models::build_model(models::preset_model(name), {1, 28, 28}, 10), {}, {}, {}});
    }
  fmt::print("bench_latency: torch probe (torch:cpu, {} timed runs per block), 1x28x28, batch 1, {} repetitions; {} "
             "cores, load average {}\n",
             runs > 0 ? runs : 50, reps, hardware_cores(), load.substr(0, load.find(' ', load.find(' ', load.find(' ') + 1) + 1)));
  // Thread counts one after the other (a measurement at 2 threads disturbs the one that follows it at 1, while
  // torch's idle OpenMP workers still spin); within a thread count, repetitions interleaved across models.
  for (int t : thread_counts)
    for (int rep = 0; rep < reps; ++rep)
      for (auto& c : cases) {
        if (c.threads != t) continue;
        auto spec = lat::parse_probe(fmt::format("torch:cpu:threads={}", c.threads));
        if (runs > 0) spec.runs = int(runs);
        const auto t0 = std::chrono::steady_clock::now();
        const auto r = lat::make_probe(spec)->measure(*c.net, {1, 28, 28});
        c.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        c.medians.push_back(r.median_ms);
        c.runs.push_back(r.runs);
        c.stable += r.details.value("stable", false) ? 1 : 0;
      }

  fmt::print("\n{:<12} {:>7} {:>10} {:>40} {:>7} {:>9} {:>7} {:>8}\n", "model", "threads", "median ms",
             fmt::format("{} medians (ms)", reps), "CV", "call (s)", "stable", "target");
  bool all_ok = true;
  for (const auto& c : cases) {
    const auto st = lat::sample_stats(c.medians);
    std::vector<std::string> each;
    for (double m : c.medians) each.push_back(fmt::format("{:.4f}", m));
    const bool ok = st.cv <= 0.03;
    all_ok = all_ok && ok;
    fmt::print("{:<12} {:>7} {:>10.4f} {:>40} {:>6.2f}% {:>9.2f} {:>7} {:>8}\n", c.model, c.threads, st.median,
               fmt::format("{}", fmt::join(each, " ")), 100 * st.cv, lat::median_of(c.seconds),
               fmt::format("{}/{}", c.stable, c.medians.size()), ok ? "<= 3 %" : "MISSED");
  }
  fmt::print("\nCV = sample stddev / mean of the {} medians (each from >= 2 blocks of timed runs); stable: measurements "
             "that ended by the 1 % rule, not by a limit. Reproduce: "
             "build/bench/bench_latency --reps {}{}{}\n",
             reps, reps, threads >= 0 ? fmt::format(" --threads {}", threads) : "",
             runs > 0 ? fmt::format(" --runs {}", runs) : "");
  return all_ok ? 0 : 1;
}
