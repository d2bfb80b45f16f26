// Internal helpers of the latency probes: sample statistics and time units.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "hw/latency/probe.h"

namespace nemokd::hw::latency {

struct SampleStats {
  double median = 0, p10 = 0, p90 = 0, mean = 0, stddev = 0, cv = 0;
  int n = 0;
};

// Quantile q in [0, 1] of sorted values, linear interpolation between the closest ranks.
inline double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * double(sorted.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

inline double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return quantile_sorted(v, 0.5);
}

// Median/p10/p90 (interpolated), mean, sample standard deviation (n - 1), CV = stddev / mean.
inline SampleStats sample_stats(std::vector<double> v) {
  SampleStats s;
  s.n = int(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = quantile_sorted(v, 0.5);
  s.p10 = quantile_sorted(v, 0.1);
  s.p90 = quantile_sorted(v, 0.9);
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : 0.0;
  s.cv = s.mean > 0 ? s.stddev / s.mean : 0.0;
  return s;
}

// A timing measurement's result (value = the median, in ms) from its samples' statistics; details are the
// probe's own.
inline LatencyResult timing_result(const std::string& probe, const SampleStats& st, int batch) {
  LatencyResult r;
  r.probe = probe;
  r.proxy = false;
  r.value = st.median;
  r.unit = "ms";
  r.median_ms = st.median;
  r.p10_ms = st.p10;
  r.p90_ms = st.p90;
  r.mean_ms = st.mean;
  r.stddev_ms = st.stddev;
  r.cv = st.cv;
  r.runs = st.n;
  r.batch = batch;
  return r;
}

// Milliseconds per `unit` (ms, us, µs, ns, s, sec; case-insensitive); 0 for an unknown unit.
inline double unit_to_ms(std::string unit) {
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (unit == "ms" || unit == "msec") return 1;
  if (unit == "us" || unit == "µs" || unit == "usec") return 1e-3;
  if (unit == "ns") return 1e-6;
  if (unit == "s" || unit == "sec" || unit == "seconds") return 1e3;
  return 0;
}

}  // namespace nemokd::hw::latency
