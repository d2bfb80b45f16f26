// Proxy probes: the model's MACs or parameter count. Deterministic and free, but NOT latency measurements:
// every output labels them as proxies.
#include <fmt/format.h>

#include "core/error.h"
#include "hw/latency/probe.h"

namespace nemokd::hw::latency {
namespace {

class ProxyProbe : public LatencyProbe {
 public:
  explicit ProxyProbe(ProbeSpec spec) : spec_(std::move(spec)) {}
  std::string describe() const override { return spec_.text() + " (proxy, not a measurement)"; }
  bool is_proxy() const override { return true; }

  LatencyResult measure(models::ClassifierImpl& model, models::InputShape input) override {
    LatencyResult r;
    r.probe = spec_.text();
    r.proxy = true;
    r.batch = 1;
    if (spec_.kind == "macs") {
      const int64_t macs = model.macs();
      if (macs < 0)
        throw ConfigError(fmt::format("probe macs: this model ({}) cannot count its MACs; use probe params or torch",
                                      model.describe().value("arch", std::string("unknown"))));
      r.value = double(macs);
      r.unit = "MACs";
    } else {
      r.value = double(models::parameter_count(model));
      r.unit = "parameters";
    }
    r.details = {{"input", input.str()}};
    return r;
  }

 private:
  ProbeSpec spec_;
};

}  // namespace

std::unique_ptr<LatencyProbe> make_proxy_probe(const ProbeSpec& spec) { return std::make_unique<ProxyProbe>(spec); }

}  // namespace nemokd::hw::latency
