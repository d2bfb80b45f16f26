// The deployable bundle of one trained run (bundle.h).
#include "cost/bundle.h"

#include <filesystem>
#include <system_error>
#include <unistd.h>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"
#include "data/dataset.h"
#include "engine/build.h"
#include "engine/model_file.h"
#include "export/onnx_export.h"
#include "train/train_run.h"

namespace nemokd::cost {

namespace fs = std::filesystem;

namespace {

nlohmann::json or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

// The folder built beside `out` (same file system, so the rename is atomic), removed again if anything throws.
struct Staging {
  fs::path path;
  explicit Staging(const fs::path& out)
      : path(out.parent_path() / fmt::format(".{}.partial-{}", out.filename().string(), ::getpid())) {
    std::error_code ec;
    fs::remove_all(path, ec);
    fs::create_directories(path);
  }
  ~Staging() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

nlohmann::json write_bundle(const std::string& run_dir, const std::string& out_dir, CostBackend* fpga,
                            const BundleOptions& options) {
  const fs::path out = fs::absolute(out_dir).lexically_normal(), src(run_dir);
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    throw ConfigError(fmt::format("{}: the folder is not empty (nothing is written over)", out_dir));
  if (!fs::is_regular_file(src / "run.json"))
    throw ConfigError(fmt::format("{}: no run.json (not a training run's folder)", run_dir));
  fs::create_directories(out.parent_path());
  Staging stage(out);
  const fs::path& dir = stage.path;
  nlohmann::json written = nlohmann::json::array(), skipped = nlohmann::json::object();
  auto copy = [&](const char* name) {
    if (!fs::is_regular_file(src / name)) {
      skipped[name] = fmt::format("not in {}", src.string());
      return false;
    }
    fs::copy_file(src / name, dir / name);
    written.push_back(name);
    return true;
  };
  copy("run.json");
  const bool weights = copy("model.pt");
  write_json_file((dir / "accuracy.json").string(),
                  nlohmann::json{{"val_accuracy", or_null(options.val_accuracy)},
                                 {"test_accuracy", or_null(options.test_accuracy)},
                                 {"how", "measured by the run on its validation split and test set"}});
  written.push_back("accuracy.json");
  for (const auto& [name, content] : options.files.items()) {
    write_json_file((dir / name).string(), content);
    written.push_back(name);
  }

  // FPGA: the folding and its estimate.
  if (options.fpga_value || fpga) {
    const auto target = options.fpga_value ? options.fpga_target : fpga->text();
    const auto v = options.fpga_value ? *options.fpga_value : fpga->price_run(run_dir);
    if (v.ok && v.priceable) {
      write_json_file((dir / "fpga.json").string(), nlohmann::json{{"target", target}, {"cost", v.to_json()}});
      written.push_back("fpga.json");
    } else {
      skipped["fpga.json"] = v.message.empty() ? "not priced on " + target : v.message;
    }
  } else {
    skipped["fpga.json"] = "no FPGA target given";
  }

  // The integer engine's model, QONNX, the engine's measured speed: from the weights.
  if (weights) {
    const auto run = train::load_trained_run(run_dir);
    bool engine_model = false;
    try {
      const auto affine =
          data::pixel_affine(data::dataset_spec(run.config.dataset.name), run.config.train.normalization);
      const nlohmann::json source = {{"run", fs::absolute(src).string()}, {"dataset", run.config.dataset.name}};
      engine::save_model(engine::build_integer_model(*run.model, affine, source.dump()), (dir / "model.nqe").string());
      written.push_back("model.nqe");
      engine_model = true;
    } catch (const std::exception& e) {  // a model the target cannot take: said, not fatal
      skipped["model.nqe"] = e.what();
    }
    try {
      onnx_export::ExportOptions o;
      o.doc = fmt::format("{}: {}", options.origin, run_dir);
      onnx_export::export_qonnx(*run.model, run.model->input_shape(), (dir / "model.qonnx.onnx").string(), o);
      written.push_back("model.qonnx.onnx");
    } catch (const std::exception& e) {  // a model the target cannot take: said, not fatal
      skipped["model.qonnx.onnx"] = e.what();
    }
    if (!engine_model) {
      skipped["engine.json"] = "no integer engine model (above)";
    } else if (options.engine.empty()) {
      skipped["engine.json"] = "the engine speed was not asked for";
    } else if (!options.engine_value.is_null()) {
      write_json_file((dir / "engine.json").string(),
                      nlohmann::json{{"target", options.engine}, {"cost", options.engine_value}});
      written.push_back("engine.json");
    } else {
      try {
        auto engine = make_cost(parse_cost(options.engine));
        const auto v = engine->price_run(run_dir);
        if (v.ok && v.feasible) {
          write_json_file((dir / "engine.json").string(), nlohmann::json{{"target", engine->text()}, {"cost", v.to_json()}});
          written.push_back("engine.json");
        } else {
          skipped["engine.json"] = v.message;
        }
      } catch (const std::exception& e) {  // e.g. the run's dataset is not on this machine
        skipped["engine.json"] = fmt::format("not measured: {}", e.what());
      }
    }
  } else {
    for (const char* f : {"model.nqe", "model.qonnx.onnx", "engine.json"}) skipped[f] = "no model.pt (weights not kept)";
  }

  nlohmann::json bundle = options.info;
  bundle["model"] = options.label;
  bundle["run_dir"] = run_dir;
  bundle["written"] = written;
  bundle["not_written"] = skipped;
  write_json_file((dir / "bundle.json").string(), bundle);
  std::error_code ec;
  fs::remove(out, ec);  // an empty folder given (choose --export DIR made beforehand)
  fs::rename(dir, out);
  return bundle;
}

}  // namespace nemokd::cost
