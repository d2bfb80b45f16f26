// torch:..., command:..., macs, params (cost.h): the latency probes of hw/latency behind the cost interface. The
// objective is the probe's LatencyResult.value unchanged (ms per forward pass; MACs or parameters for the proxies),
// so a search priced through here gives the numbers `--latency` gave. A command probe measures the model's ONNX
// export, as `nemokd evolve` does.
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/runtime.h"
#include "cost/backends.h"
#include "export/onnx_export.h"
#include "hw/latency/probe.h"
#include "train/train_run.h"

namespace nemokd::cost {

namespace {

namespace fs = std::filesystem;

class ProbeCost : public CostBackend {
 public:
  ProbeCost(CostSpec spec, const CostContext& context)
      : spec_(std::move(spec)), probe_spec_(hw::latency::parse_probe(spec_.probe)) {
    probe_ = hw::latency::make_probe(probe_spec_, onnx_export::export_onnx_to_dir, context.work_dir);
  }

  std::string text() const override { return spec_.text(); }
  bool architecture_only() const override { return probe_->is_proxy(); }
  bool prices_float() const override { return true; }
  bool measures_time() const override { return !probe_->is_proxy(); }

  CostValue price(const models::ModelConfig& model, const models::InputShape& input, int classes) override {
    auto m = models::build_model(model, input, classes);
    return measure(*m, input);
  }

  // A measurement needs the trained model (model.pt); a proxy only the config.
  CostValue price_run(const std::string& run_dir) override {
    if (architecture_only()) return CostBackend::price_run(run_dir);
    if (!fs::is_regular_file(fs::path(run_dir) / "model.pt")) {
      CostValue v = base_value();
      v.ok = false;
      v.message = fmt::format("not priced on {}: no model.pt in {}", spec_.text(), run_dir);
      return v;
    }
    auto run = train::load_trained_run(run_dir);
    return measure(*run.model, run.model->input_shape());
  }

 private:
  CostValue base_value() const {
    CostValue v;
    v.how = unit_of(spec_).how;
    v.unit = unit_of(spec_).unit;
    if (probe_->is_proxy()) {
      v.label = fmt::format("proxy (not a measurement): {}", spec_.kind);
    } else {
      v.label = spec_.kind == "torch"
                    ? fmt::format("measured (LibTorch on {}, batch {})",
                                  probe_spec_.device == "cpu" ? "cpu: " + cpu_description() : probe_spec_.device,
                                  probe_spec_.batch)
                    : fmt::format("measured (command '{}' on the model's ONNX export)", probe_spec_.command);
    }
    return v;
  }

  CostValue measure(models::ClassifierImpl& model, const models::InputShape& input) {
    CostValue v = base_value();
    try {
      const auto r = probe_->measure(model, input);
      v.objective = r.value;
      v.unit = r.unit;
      v.detail = r.to_json();
    } catch (const Error& e) {
      v.ok = false;
      v.message = e.what();
      v.detail = {{"error", e.what()}};
    }
    return v;
  }

  CostSpec spec_;
  hw::latency::ProbeSpec probe_spec_;
  std::unique_ptr<hw::latency::LatencyProbe> probe_;
};

}  // namespace

std::unique_ptr<CostBackend> make_probe_cost(const CostSpec& spec, const CostContext& context) {
  return std::make_unique<ProbeCost>(spec, context);
}

}  // namespace nemokd::cost
