// engine[:threads=N,batch=B,seconds=S] (cost.h): the bit-exact integer engine built from a trained quantized model,
// MEASURED on this CPU: batch throughput on B real test images of the run's dataset (engine::measure_throughput, the
// figure `nemokd engine bench` prints). Objective: ms per frame = 1000 / frames per second. Only a trained run can be
// measured (price() refuses a bare config). Before timing, the engine is checked bit-exact with the trained model
// on the first 64 test images (engine::compare_with_model).
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/runtime.h"
#include "cost/backends.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "engine/build.h"
#include "engine/runtime.h"
#include "engine/verify.h"
#include "train/train_run.h"

namespace nemokd::cost {

namespace {

namespace fs = std::filesystem;

class EngineCost : public CostBackend {
 public:
  explicit EngineCost(CostSpec spec) : spec_(std::move(spec)) {}

  std::string text() const override { return spec_.text(); }
  bool architecture_only() const override { return false; }
  bool prices_float() const override { return false; }
  bool measures_time() const override { return true; }

  CostValue price(const models::ModelConfig&, const models::InputShape&, int) override {
    CostValue v = base();
    v.ok = false;
    v.message = "the engine target measures a trained model: give its run folder (model.pt)";
    return v;
  }

  CostValue price_run(const std::string& run_dir) override {
    CostValue v = base();
    if (!fs::is_regular_file(fs::path(run_dir) / "model.pt")) {
      v.ok = false;
      v.message = fmt::format("not priced on {}: no model.pt in {}", spec_.text(), run_dir);
      return v;
    }
    const auto run = train::load_trained_run(run_dir);
    const auto affine =
        data::pixel_affine(data::dataset_spec(run.config.dataset.name), run.config.train.normalization);
    engine::IntegerModel im;
    try {
      im = engine::build_integer_model(*run.model, affine, nlohmann::json{{"run", run_dir}}.dump());
    } catch (const ConfigError& e) {
      // A float layer (or no integer view at all): the engine cannot run it.
      v.feasible = false;
      v.priceable = false;
      v.message = fmt::format("not priceable on the integer engine: {}", e.what());
      return v;
    }
    engine::EngineOptions options;
    options.threads = spec_.threads;
    engine::Engine eng(im, options);
    auto dataset = data::load_dataset(run.config.dataset.name, run.config.dataset.load);
    const int64_t n = dataset.test.size();
    // Verified before it is timed: bit-exact with the trained model on the first test images (codes, accumulators,
    // logits, predictions); a build that is not is no figure for this model.
    const auto check = engine::compare_with_model(eng, *run.model, affine, dataset.test.slice(0, std::min<int64_t>(n, 64)));
    if (!check.exact()) {
      v.ok = false;
      v.message = fmt::format("the integer engine is not bit-exact with {} ({} code, {} prediction mismatch(es) on {} "
                              "test images): not measured", run_dir, check.code_mismatches,
                              check.prediction_mismatches, check.frames);
      return v;
    }
    auto idx = torch::arange(spec_.batch, torch::kInt64).remainder(n);
    auto pixels = dataset.test.images.index_select(0, idx).contiguous();
    const auto t = engine::measure_throughput(eng, pixels, spec_.seconds);
    v.objective = 1000.0 / t.engine_frames_per_second;
    v.detail = {{"frames_per_second", t.engine_frames_per_second},
                {"per_image_ms", v.objective},
                {"single_frame_latency_us", t.single_frame_seconds * 1e6},
                {"libtorch_fp32_frames_per_second", t.torch_frames_per_second},
                {"batch", spec_.batch},
                {"threads", spec_.threads},
                {"seconds", spec_.seconds},
                {"measured_on", cpu_description()},
                {"dataset", run.config.dataset.name},
                {"verified_frames", check.frames}};  // bit-exact on these test images before timing
    return v;
  }

 private:
  CostValue base() const {
    CostValue v;
    v.how = unit_of(spec_).how;
    v.unit = unit_of(spec_).unit;
    v.label = fmt::format("measured (integer engine, {}, {} thread(s), batch {})", cpu_description(), spec_.threads,
                          spec_.batch);
    return v;
  }

  CostSpec spec_;
};

}  // namespace

std::unique_ptr<CostBackend> make_engine_cost(const CostSpec& spec, const CostContext&) {
  return std::make_unique<EngineCost>(spec);
}

}  // namespace nemokd::cost
