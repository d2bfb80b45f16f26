// Shared pieces of the benchmark programs: a console reporter that also collects items/s per benchmark
// family (so a program can print the ratio of two families measured in the same run), medians, and the
// common command-line options.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "data/dataset.h"

namespace nemokd::bench {

class RateReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, std::vector<double>> rates;  // family name (before the first '/') -> items/s per run
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      auto it = r.counters.find("items_per_second");
      if (r.run_type == Run::RT_Iteration && it != r.counters.end()) {
        const auto& name = r.run_name.function_name;
        rates[name.substr(0, name.find('/'))].push_back(it->second.value);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  double median(const std::string& family) const {
    auto it = rates.find(family);
    if (it == rates.end() || it->second.empty()) return 0;
    auto v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
};

// The first `images` real MNIST training images (no validation split) and 1 000 test images, loaded once per
// process: the training benchmarks measure throughput on real data, never on generated pixels.
inline const data::Dataset& mnist_training_slice(int64_t images) {
  static const data::Dataset ds = [images] {
    data::LoadOptions lo;
    lo.val_size = 0;
    lo.train_limit = images;
    lo.test_limit = 1000;
    return data::load_dataset("mnist", lo);
  }();
  return ds;
}

// Registers `reps` one-epoch runs of a baseline and a candidate, alternating, so that machine noise hits both
// alike; each reports its own (manual) time. Families are named `baseline_name` and `candidate_name`.
template <typename Fn>
void register_interleaved(const std::string& baseline_name, Fn baseline, const std::string& candidate_name,
                          Fn candidate, int reps = 3) {
  for (int rep = 0; rep < reps; ++rep) {
    for (const auto& [name, fn] : {std::pair<std::string, Fn>{baseline_name, baseline}, {candidate_name, candidate}}) {
      benchmark::RegisterBenchmark((name + "/rep" + std::to_string(rep)).c_str(), fn)
          ->UseManualTime()
          ->Iterations(1)
          ->Unit(benchmark::kSecond);
    }
  }
}

// Removes "--name VALUE" options this program understands from argv (the rest goes to Google Benchmark).
// Each entry maps an option name to where its integer value is stored.
inline std::vector<char*> take_int_options(int argc, char** argv, const std::map<std::string, long long*>& options) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    auto it = options.find(argv[i]);
    if (it != options.end() && i + 1 < argc) {
      *it->second = std::atoll(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  return rest;
}

}  // namespace nemokd::bench
