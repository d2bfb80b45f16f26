// fpga:DEVICE[,fclk=MHz][,usable=finn|device] (cost.h): a model config lowered to FINN's units
// (hw::fpga::model_design), the fastest folding that fits the device (hw::fpga::fastest_fit) at FINN's planning shares
// or on the whole part, priced with FINN's legacy formulas. Objective: ms per frame at the estimated FPS.
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "cost/backends.h"
#include "hw/fpga/model_design.h"
#include "hw/fpga/search.h"

namespace nemokd::cost {

namespace {

namespace fpga = hw::fpga;

nlohmann::json resources_json(const fpga::FoldedDesign& f) {
  const auto& t = f.estimate.total;
  return {{"lut", t.lut}, {"ff", t.ff}, {"bram18", t.bram18}, {"uram", t.uram}, {"dsp", t.dsp}};
}

class FpgaCost : public CostBackend {
 public:
  FpgaCost(CostSpec spec, const CostContext& context) : spec_(std::move(spec)) {
    const auto table =
        fpga::load_device_table(context.devices.empty() ? fpga::default_device_table_path() : context.devices);
    device_ = table.find(spec_.device);
    usable_ = fpga::parse_usable_fractions("usable", spec_.usable);
    options_.fclk_mhz = spec_.fclk_mhz;  // legacy formulas and the published validation vector's other settings
    options_.validate();
  }

  std::string text() const override { return spec_.text(); }
  bool architecture_only() const override { return true; }
  bool prices_float() const override { return false; }
  bool measures_time() const override { return false; }

  CostValue price(const models::ModelConfig& model, const models::InputShape& input, int classes) override {
    CostValue v;
    v.how = unit_of(spec_).how;
    v.unit = unit_of(spec_).unit;
    const std::string shares =
        spec_.usable == "finn" ? "within FINN's planning shares" : "on the whole device";
    v.label = fmt::format("estimated (FINN {} cost model, fastest folding that fits {} {}, {} MHz)",
                          fpga::to_string(options_.formulas), device_.name, shares, spec_.fclk_mhz);
    v.detail = {{"device", device_.name}, {"fclk_mhz", spec_.fclk_mhz}, {"usable", spec_.usable}};
    fpga::Design design;
    try {
      design = fpga::model_design(model, input, classes);
    } catch (const ConfigError& e) {
      // A float layer or one FINN cannot map: this target cannot run the model at all.
      v.feasible = false;
      v.priceable = false;
      v.message = fmt::format("not priceable on {}: {}", device_.name, e.what());
      return v;
    }
    const auto start = std::chrono::steady_clock::now();
    const auto found = fpga::fastest_fit(design, options_, device_, usable_);
    v.detail["search_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!found) {
      // Nothing fits, not even PE = SIMD = 1 (the smallest folding): graded by how far that one is over.
      const auto smallest = fpga::evaluate(design, options_, device_, usable_);
      v.feasible = false;
      v.violation = violation_of(smallest.fit);
      v.objective = 1000.0 / smallest.estimate.fps.estimated;
      v.message = fmt::format("no folding fits {} {}, not even PE = SIMD = 1: {}", device_.name, shares,
                              smallest.fit.summary());
      v.detail.update(smallest.estimate.fps.to_json());
      v.detail.update(resources_json(smallest));
      v.detail["fits_planning"] = smallest.fit.fits_planning;
      v.detail["fits_device"] = smallest.fit.fits_device;
      v.detail["fit"] = smallest.fit.to_json();
      v.detail["folding"] = smallest.to_json().at("folding");
      v.detail["violation"] = v.violation;
      return v;
    }
    const auto& f = *found;
    v.objective = 1000.0 / f.estimate.fps.estimated;
    v.detail.update(f.estimate.fps.to_json());  // fps_estimated, fps_expected, fps_expected_sd, fps_expected_basis
    v.detail.update(resources_json(f));
    v.detail["max_cycles"] = f.estimate.max_cycles;
    v.detail["latency_us"] = f.estimate.latency_us;  // one frame through the pipeline (FINN's critical path)
    v.detail["fits_planning"] = f.fit.fits_planning;
    v.detail["fits_device"] = f.fit.fits_device;
    v.detail["fit"] = f.fit.to_json();
    v.detail["folding"] = f.to_json().at("folding");
    return v;
  }

 private:
  CostSpec spec_;
  fpga::Device device_;
  fpga::UsableFractions usable_;
  fpga::CostOptions options_;
};

}  // namespace

std::unique_ptr<CostBackend> make_fpga_cost(const CostSpec& spec, const CostContext& context) {
  return std::make_unique<FpgaCost>(spec, context);
}

}  // namespace nemokd::cost
