// The torch probe: LibTorch forward passes on cpu or cuda, timed one by one (see probe.h for the noise rule).
#include <dirent.h>
#include <sched.h>

#include <chrono>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/runtime.h"
#include "hw/latency/probe.h"
#include "hw/latency/stats.h"

namespace nemokd::hw::latency {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int> thread_ids() {
  std::vector<int> tids;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') tids.push_back(std::atoi(e->d_name));
    closedir(d);
  }
  return tids;
}

// Confines every thread of this process (and the threads they start) to the first `n` cores this process may
// use, for the lifetime of the object; restores each thread's previous mask afterwards. Best effort: threads
// that cannot be changed are skipped. The kernel still balances threads among those cores: this keeps the
// measurement off the other cores (and their caches), it does not bind thread i to core i.
class CorePin {
 public:
  CorePin(int n) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
    cpu_set_t chosen;
    CPU_ZERO(&chosen);
    for (int c = 0; c < CPU_SETSIZE && int(cores_.size()) < n; ++c)
      if (CPU_ISSET(c, &allowed)) {
        CPU_SET(c, &chosen);
        cores_.push_back(c);
      }
    if (int(cores_.size()) < n || n >= CPU_COUNT(&allowed)) {  // nothing to gain
      cores_.clear();
      return;
    }
    for (int tid : thread_ids()) {
      cpu_set_t old;
      CPU_ZERO(&old);
      if (sched_getaffinity(tid, sizeof(old), &old) != 0) continue;
      if (sched_setaffinity(tid, sizeof(chosen), &chosen) == 0) saved_.push_back({tid, old});
    }
  }
  ~CorePin() {
    for (auto& [tid, mask] : saved_) sched_setaffinity(tid, sizeof(mask), &mask);
  }
  const std::vector<int>& cores() const { return cores_; }

 private:
  std::vector<int> cores_;
  std::vector<std::pair<int, cpu_set_t>> saved_;
};

class TorchProbe : public LatencyProbe {
 public:
  explicit TorchProbe(ProbeSpec spec) : spec_(std::move(spec)) {}
  std::string describe() const override { return spec_.text(); }
  bool is_proxy() const override { return false; }

  LatencyResult measure(models::ClassifierImpl& model, models::InputShape input) override {
    check_device(spec_.device);  // ConfigError when cuda is asked for but unavailable
    const torch::Device device(spec_.device);
    const bool cuda = device.is_cuda();
    const int64_t cuda_index = cuda && device.has_index() ? device.index() : -1;
    auto sync = [&] {
      if (cuda && torch::cuda::is_available()) torch::cuda::synchronize(cuda_index);
    };

    // Threads: torch's intra-op pool is set for the measurement and restored afterwards.
    const int previous_threads = at::get_num_threads();
    const int threads = configure_threads(spec_.threads);
    struct RestoreThreads {
      int n;
      ~RestoreThreads() { at::set_num_threads(n); }
    } restore_threads{previous_threads};
    std::unique_ptr<CorePin> pin;
    if (spec_.pin && !cuda) pin = std::make_unique<CorePin>(threads);

    // The model in eval mode on the device; its mode and device are restored afterwards.
    const bool was_training = model.is_training();
    torch::Device model_device(torch::kCPU);
    for (const auto& p : model.parameters()) {
      model_device = p.device();
      break;
    }
    struct RestoreModel {
      models::ClassifierImpl& m;
      bool training;
      torch::Device dev;
      ~RestoreModel() {
        try {
          m.to(dev);
          m.train(training);
        } catch (...) {
        }
      }
    } restore_model{model, was_training, model_device};
    model.eval();
    model.to(device);

    torch::NoGradGuard no_grad;
    auto gen = at::detail::createCPUGenerator(20240611);
    const auto x =
        torch::randn({spec_.batch, input.channels, input.height, input.width}, gen, torch::kFloat32).to(device);

    auto run_once = [&] {
      sync();
      const auto t0 = Clock::now();
      auto y = model.forward(x);
      sync();
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (y.size(0) != spec_.batch)
        throw ConfigError(fmt::format("probe {}: the model returned {} rows for a batch of {}", describe(), y.size(0),
                                      spec_.batch));
      return ms;
    };

    // Warm-up (untimed; stops early after half the time cap, once at least one run is done).
    const double cap_ms = spec_.max_seconds * 1000;
    double warm_ms = 0;
    for (int i = 0; i < spec_.warmup; ++i) {
      warm_ms += run_once();
      if (warm_ms > cap_ms / 2) break;
    }

    // Timed runs in blocks until the median of all samples moves by <= `stable` over a block.
    std::vector<double> samples;
    samples.reserve(size_t(spec_.runs) * 2);
    double timed_ms = 0, previous_median = -1;
    int blocks = 0;
    bool stable = false, capped = false;
    while (blocks < spec_.max_blocks && !capped) {
      for (int i = 0; i < spec_.runs; ++i) {
        const double ms = run_once();
        samples.push_back(ms);
        timed_ms += ms;
        if (timed_ms > cap_ms && samples.size() >= 5) {
          capped = true;
          break;
        }
      }
      ++blocks;
      const double median = median_of(samples);
      if (previous_median > 0 && std::abs(median - previous_median) <= spec_.stable * previous_median) {
        stable = true;
        break;
      }
      previous_median = median;
    }

    const auto st = sample_stats(samples);
    LatencyResult r = timing_result(describe(), st, spec_.batch);
    r.details = {{"device", spec_.device},
                 {"threads", cuda ? at::get_num_threads() : threads},
                 {"pinned_cores", pin ? pin->cores() : std::vector<int>{}},
                 {"warmup", spec_.warmup},
                 {"blocks", blocks},
                 {"stable", stable},
                 {"capped", capped},
                 {"timed_seconds", timed_ms / 1000}};
    return r;
  }

 private:
  ProbeSpec spec_;
};

}  // namespace

std::unique_ptr<LatencyProbe> make_torch_probe(const ProbeSpec& spec) { return std::make_unique<TorchProbe>(spec); }

}  // namespace nemokd::hw::latency
