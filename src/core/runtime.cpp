#include "core/runtime.h"

#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "core/error.h"

namespace nemokd {
namespace {

using SetThreadsFn = void (*)(int);
using GetIntFn = int (*)();
using GetConfigFn = char* (*)();

template <typename Fn>
Fn blas_symbol(const char* name) {
  // OpenBLAS is reached through the libblas.so.3 alternative that libtorch links; look its symbols up in
  // the already-loaded libraries rather than linking OpenBLAS ourselves (which would pin one variant).
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

std::string loaded_library_path(const char* needle) {
  struct Ctx {
    const char* needle;
    std::string found;
  } ctx{needle, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* c = static_cast<Ctx*>(data);
        if (info->dlpi_name && std::strstr(info->dlpi_name, c->needle)) {
          c->found = info->dlpi_name;
          return 1;
        }
        return 0;
      },
      &ctx);
  if (ctx.found.empty()) return {};
  std::error_code ec;
  auto resolved = std::filesystem::canonical(ctx.found, ec);
  return ec ? ctx.found : resolved.string();
}

std::once_flag g_interop_once;

}  // namespace

// libgomp (the OpenMP runtime torch uses here) reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, in its own library
// constructor — before main(). Left alone, its idle threads spin for up to 300 000 iterations after every parallel
// region; with another process on the cores the spinning threads take the CPU from the one thread still working and
// from the other process (QAT training ran ~10x slower than with --threads 1 beside one busy process). A setenv()
// in main() comes too late, and one from the executable's .preinit_array is undone when libc initialises (it resets
// environ to the kernel's array), so the process starts itself again with the variable set: exec keeps the PID, the
// open files and the arguments. Children (sweep cells, grid cells, candidates) inherit the variable.
void reexec_with_bounded_openmp_spin(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;  // the user's choice, or done
  if (setenv("GOMP_SPINCOUNT", kDefaultSpinCount, 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // exec failed (no /proc?): carry on with libgomp's default, and say what is in effect.
  unsetenv("GOMP_SPINCOUNT");
}

std::string openmp_waiting() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  if (!policy && !spin) return "libgomp default";
  return fmt::format("{}{}{}", policy ? fmt::format("OMP_WAIT_POLICY={}", policy) : "", policy && spin ? " " : "",
                     spin ? fmt::format("GOMP_SPINCOUNT={}", spin) : "");
}

int hardware_cores() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::string cpu_description() {
  std::ifstream info("/proc/cpuinfo");
  std::string line, name;
  while (std::getline(info, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      const auto start = colon == std::string::npos ? colon : line.find_first_not_of(" \t", colon + 1);
      if (start != std::string::npos) name = line.substr(start);
      break;
    }
  if (name.empty()) name = "unknown CPU";
  return fmt::format("{}, {} core{}", name, hardware_cores(), hardware_cores() == 1 ? "" : "s");
}

int threads_for_free_cores(int cores, int others_running) {
  return std::clamp(cores - std::max(others_running, 0), 1, std::max(cores, 1));
}

int other_running_tasks() {
  int fewest = -1;
  for (int sample = 0; sample < 5; ++sample) {
    if (sample > 0) ::usleep(1000);
    std::ifstream stat("/proc/stat");
    std::string key;
    long value = -1;
    while (stat >> key) {
      if (key == "procs_running") {
        stat >> value;
        break;
      }
      stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    if (value < 1) return 0;  // unreadable: assume a quiet machine
    const int others = static_cast<int>(std::min<long>(value - 1, 1 << 20));
    fewest = fewest < 0 ? others : std::min(fewest, others);
  }
  return std::max(fewest, 0);
}

int configure_threads(int threads, int blas_threads) {
  // Checked before anything is set: creating 100 000 threads hangs the process.
  if (threads < 0 || threads > kMaxThreads)
    throw ConfigError(fmt::format("threads: {} is out of range [0, {}] (0 = all cores)", threads, kMaxThreads));
  if (blas_threads < 0 || blas_threads > kMaxThreads)
    throw ConfigError(fmt::format("blas_threads: {} is out of range [0, {}]", blas_threads, kMaxThreads));
  int n = threads;
  if (n == 0) {
    const int cores = hardware_cores(), others = other_running_tasks();
    n = threads_for_free_cores(cores, others);
    if (n < cores)
      spdlog::debug("{} of {} cores are busy with other work: using {} thread{} (--threads N to choose)", cores - n,
                   cores, n, n == 1 ? "" : "s");
  }
  at::set_num_threads(n);
  // Inter-op threads can only be set once, before any inter-op work; later calls keep the first value.
  std::call_once(g_interop_once, [n] {
    try {
      at::set_num_interop_threads(n);
    } catch (const std::exception&) {
    }
  });
  // Torch's OpenMP pool and OpenBLAS's own pthread pool both spin while idle; running both multi-threaded
  // on 2 cores made LFC training up to 20x slower here (448 vs 52 000 img/s for a 256x3 MLP epoch). So by
  // default BLAS runs inside torch's parallelism with one thread (docs/PERFORMANCE.md has the measurements).
  if (auto set = blas_symbol<SetThreadsFn>("openblas_set_num_threads")) set(blas_threads == 0 ? 1 : blas_threads);
  return n;
}

bool tune_allocator(size_t bytes) {
  // Blocks below the thresholds then come from the heap and are reused instead of being mapped and unmapped
  // (with page faults on first touch) on every allocation.
  const int b = static_cast<int>(std::min<size_t>(bytes, size_t(1) << 30));
  const bool ok = mallopt(M_MMAP_THRESHOLD, b) == 1 && mallopt(M_TRIM_THRESHOLD, b) == 1;
  if (!ok) spdlog::debug("mallopt rejected an mmap/trim threshold of {} bytes; allocator left as is", b);
  return ok;
}

BlasInfo blas_info() {
  BlasInfo b;
  b.library = loaded_library_path("libblas.so");
  if (auto cfg = blas_symbol<GetConfigFn>("openblas_get_config")) b.config = cfg();
  if (auto nt = blas_symbol<GetIntFn>("openblas_get_num_threads")) b.threads = nt();
  b.is_openblas = !b.config.empty() || b.library.find("openblas") != std::string::npos;
  b.is_reference = !b.is_openblas && b.library.find("/blas/") != std::string::npos;
  return b;
}

RuntimeInfo runtime_info() {
  RuntimeInfo r;
  r.torch_version = TORCH_VERSION;
  r.cuda_available = torch::cuda::is_available();
  r.cuda_devices = r.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  r.torch_threads = at::get_num_threads();
  r.torch_interop_threads = at::get_num_interop_threads();
  r.cores = hardware_cores();
  r.cpu = cpu_description();
  r.blas = blas_info();
  r.parallel_info = at::get_parallel_info();
  r.openmp_waiting = openmp_waiting();
  return r;
}

nlohmann::json to_json(const RuntimeInfo& r) {
  return {{"torch_version", r.torch_version},
          {"cuda_available", r.cuda_available},
          {"cuda_devices", r.cuda_devices},
          {"torch_threads", r.torch_threads},
          {"torch_interop_threads", r.torch_interop_threads},
          {"cores", r.cores},
          {"cpu", r.cpu},
          {"openmp_waiting", r.openmp_waiting},
          {"blas",
           {{"library", r.blas.library},
            {"openblas", r.blas.is_openblas},
            {"reference_blas", r.blas.is_reference},
            {"config", r.blas.config},
            {"threads", r.blas.threads}}}};
}

void check_device(const std::string& device) {
  if (device == "cpu") return;
  if (device.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw ConfigError(fmt::format(
          "device: '{}' requested but this LibTorch build has no usable CUDA device (torch {}); use --device cpu "
          "or build against a CUDA LibTorch (CMAKE_PREFIX_PATH)",
          device, TORCH_VERSION));
    }
    if (device.size() > 5) {
      int idx = -1;
      try {
        idx = std::stoi(device.substr(5));
      } catch (const std::exception&) {
      }
      if (device[4] != ':' || idx < 0 || idx >= static_cast<int>(torch::cuda::device_count()))
        throw ConfigError(fmt::format("device: '{}' is not a valid CUDA device ({} available)", device,
                                      torch::cuda::device_count()));
    }
    return;
  }
  throw ConfigError(fmt::format("device: '{}' is not 'cpu', 'cuda' or 'cuda:N'", device));
}

}  // namespace nemokd
