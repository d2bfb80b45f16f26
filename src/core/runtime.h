// Process-wide runtime settings: thread counts for torch (intra/inter-op) and BLAS, the compute device,
// and what is actually in use (torch version, BLAS library, CUDA). Threads are always set deliberately:
// LibTorch defaults to 1 thread on some machines and OpenBLAS to all cores, which oversubscribes.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace nemokd {

// Number of online CPU cores.
int hardware_cores();

// The CPU's model name as the kernel reports it (/proc/cpuinfo "model name", e.g. "AMD EPYC 9R14"), with the core
// count: what a measured number was measured on. "unknown CPU" when /proc/cpuinfo says nothing.
std::string cpu_description();

// Most threads a --threads/--blas-threads value may ask for; checked before anything is set.
inline constexpr int kMaxThreads = 1024;

// How idle OpenMP threads wait. libgomp spins up to 300 000 iterations by default, which multiplies training time on
// cores shared with another process. Unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT,
// reexec_with_bounded_openmp_spin() (first thing in main) starts the program again with
// GOMP_SPINCOUNT=kDefaultSpinCount — libgomp reads it only when it is loaded, before main — so idle threads spin
// briefly, then sleep. Returns when there is nothing to do (or exec failed). openmp_waiting() describes what is in
// effect ("GOMP_SPINCOUNT=10000", "OMP_WAIT_POLICY=active", "libgomp default"). Measurements: docs/PERFORMANCE.md.
inline constexpr const char* kDefaultSpinCount = "10000";
void reexec_with_bounded_openmp_spin(char** argv);
std::string openmp_waiting();

// How many of `cores` cores a default thread count (--threads 0) should use when `others_running` other tasks are
// runnable: the cores nobody else is using, at least 1. Torch's OpenMP threads wait at every barrier for the slowest
// thread, and a thread sharing its core with a busy process is the slowest by a factor of two or more, so running on
// the idle cores only beats running on all of them (bench/bench_contention.sh has the measurements).
int threads_for_free_cores(int cores, int others_running);

// Other runnable tasks on this machine right now: /proc/stat's procs_running minus the caller, the smallest of a
// few samples a millisecond apart (one sample also catches short-lived tasks). 0 when /proc/stat is unreadable.
int other_running_tasks();

// Sets torch intra-op threads and inter-op threads (once per process) to `threads` (0 = the idle cores, see
// threads_for_free_cores(); all cores on a quiet machine), and
// OpenBLAS's own pool to `blas_threads` (0 = 1: torch's pool supplies the parallelism; two spinning pools on
// the same cores collapse throughput). Returns the torch thread count in effect.
int configure_threads(int threads, int blas_threads = 0);

// glibc serves allocations above 128 KiB with mmap and returns them on free, so every batch tensor and
// activation costs fresh page faults (inference benchmarks lost up to 2.7x to kernel time here). This keeps
// freed memory in the heap for reuse: mmap and trim thresholds raised to `bytes` (default and maximum 1 GiB).
// Call once at program start, before large allocations. Returns whether glibc accepted it.
bool tune_allocator(size_t bytes = size_t(1) << 30);

struct BlasInfo {
  std::string library;  // resolved path of the loaded libblas (e.g. .../openblas-pthread/libblas.so.3)
  std::string config;   // openblas_get_config() when OpenBLAS is loaded, else empty
  bool is_openblas = false;
  bool is_reference = false;  // the slow netlib reference BLAS
  int threads = -1;           // openblas_get_num_threads(), -1 if unknown
};
BlasInfo blas_info();

struct RuntimeInfo {
  std::string torch_version;
  bool cuda_available = false;
  int cuda_devices = 0;
  int torch_threads = 0;
  int torch_interop_threads = 0;
  int cores = 0;
  std::string cpu;  // cpu_description()
  BlasInfo blas;
  std::string parallel_info;  // at::get_parallel_info()
  std::string openmp_waiting;  // openmp_waiting()
};
RuntimeInfo runtime_info();
nlohmann::json to_json(const RuntimeInfo& info);

// "cpu" or "cuda" / "cuda:N"; throws ConfigError when CUDA is asked for but unavailable (no silent fallback).
void check_device(const std::string& device);

}  // namespace nemokd
