// libFuzzer target for the QONNX importer (interop/reader.h, interop/integer_plan.h). Any input may be rejected with
// nemokd::DataError (the file) or, past reading, have no integer view (ConfigError from the plan); anything else —
// another exception, a sanitizer report, a crash, an allocation beyond -rss_limit_mb, a slow input — is a bug.
// A graph that reads is also run: every stage on one value per feature (small graphs), and the integer maps on a few
// inputs and accumulators.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "interop/integer_plan.h"
#include "interop/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nemokd::interop;
  ReadLimits limits;  // smaller than the defaults: a fuzzed file may not allocate gigabytes legitimately
  limits.max_tensor_elements = int64_t(1) << 20;
  limits.max_total_elements = int64_t(1) << 22;
  limits.max_features = int64_t(1) << 16;
  limits.max_nodes = 4096;
  Graph g;
  try {
    g = parse_qonnx(data, size, "fuzz.onnx", limits);
  } catch (const nemokd::DataError&) {
    return 0;
  }
  if (g.features() <= 4096) {
    for (const auto& s : g.stages) {
      if (std::holds_alternative<Linear>(s.op)) continue;
      for (int64_t f = 0; f < s.features && f < 4096; ++f) (void)apply(s.op, f, float(f) - 2.5f);
    }
  }
  try {
    const IntegerPlan p = plan_integer(g);
    for (int64_t c = 0; c < p.channels; ++c)
      for (float x : {-1.0f, 0.0f, 0.5f, 1.0f, 255.0f}) (void)p.input_code(g, c, x);
    for (size_t l = 0; l + 1 < p.layers.size(); ++l) {
      const int64_t bound = p.accumulator_bound(l);
      for (int64_t o = 0; o < p.layers[l].out && o < 64; ++o)
        for (int64_t acc : {-bound, int64_t(-1), int64_t(0), int64_t(1), bound}) (void)p.hidden_code(g, l, o, acc);
    }
  } catch (const nemokd::ConfigError&) {
  }
  return 0;
}
