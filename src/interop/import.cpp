#include "interop/import.h"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/json_config.h"
#include "data/dataset.h"
#include "hw/fpga/design.h"
#include "models/integer_net.h"

namespace nemokd::interop {

namespace fs = std::filesystem;

bool is_onnx_file(const std::string& path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

namespace {

// Accuracy of the model on a split, through the loader's pixel mapping (the way training evaluates).
double accuracy(models::ClassifierImpl& model, const data::ImageSet& set, const data::DatasetSpec& spec,
                data::Normalization normalization) {
  data::BatchOptions o;
  o.batch_size = 1000;
  o.normalization = normalization;
  data::BatchLoader loader(set, spec, o);
  loader.start_epoch(0);
  data::Batch b;
  int64_t correct = 0, n = 0;
  while (loader.next(b)) {
    auto pred = model.forward(b.x).argmax(1);
    correct += (pred == b.y).sum().item<int64_t>();
    n += b.y.size(0);
  }
  return n ? double(correct) / double(n) : 0.0;
}

}  // namespace

train::TrainedRun imported_run(const std::string& file, const ImportOptions& options) {
  data::validate(options.dataset);
  const auto& spec = data::dataset_spec(options.dataset.name);
  auto model = std::make_shared<QonnxModelImpl>(file);
  const auto shape = model->input_shape();
  const models::InputShape data_shape{spec.channels, spec.height, spec.width};
  if (shape.numel() != data_shape.numel())
    throw ConfigError(fmt::format("{}: the graph reads {} values per image ({}), {} images have {} ({})", file,
                                  shape.numel(), shape.str(), spec.name, data_shape.numel(), data_shape.str()));
  if (model->graph().classes != spec.classes)
    throw ConfigError(fmt::format("{}: the graph has {} classes, {} has {}", file, model->graph().classes, spec.name,
                                  spec.classes));
  train::TrainedRun run;
  run.dir = file;
  run.config.dataset = options.dataset;
  run.config.model = models::FileModelConfig{fs::absolute(file).string(), model->sha256()};
  run.config.train.normalization = options.normalization;
  run.record.command = "import qonnx";
  auto config = train::to_json(run.config);
  config["import"] = {{"file", fs::absolute(file).string()}, {"sha256", model->sha256()}};
  run.record.config = config;
  run.record.argv = command_line();
  run.record.status = "completed";
  run.record.results = {{"dataset", {{"name", spec.name}, {"shape", {spec.channels, spec.height, spec.width}},
                                     {"classes", spec.classes}}},
                        {"model", model->describe()}};
  model->eval();
  run.model = model;
  return run;
}

RunRecord import_qonnx(const std::string& file, const std::string& out_dir, const ImportOptions& options) {
  if (out_dir.empty()) throw ConfigError("--out: an output folder is required");
  if (fs::exists(fs::path(out_dir) / "run.json"))
    throw ConfigError(fmt::format("{}: already holds a run (run.json); choose another --out (nothing is overwritten)",
                                  out_dir));
  const auto t0 = std::chrono::steady_clock::now();
  auto run = imported_run(file, options);
  auto& rec = run.record;
  auto& model = *std::dynamic_pointer_cast<QonnxModelImpl>(run.model);
  rec.results["integer_view"] = model.integer_blocker().empty() ? nlohmann::json("available")
                                                                : nlohmann::json(model.integer_blocker());
  if (options.evaluate) {
    try {
      auto ds = data::load_dataset(options.dataset.name, options.dataset.load);
      rec.results["final_test_accuracy"] = accuracy(model, ds.test, ds.spec, options.normalization);
      rec.results["test_images"] = ds.test.size();
      rec.results["dataset"]["source"] = ds.source_kind;
    } catch (const DataError& e) {
      rec.results["evaluation"] = fmt::format("not measured: {}", e.what());
    }
  }
  rec.timings = {{"total_seconds", seconds_since(t0)}};
  fs::create_directories(out_dir);
  torch::serialize::OutputArchive archive;
  model.save(archive);
  archive.save_to((fs::path(out_dir) / "model.pt").string());
  rec.write(out_dir);
  return rec;
}

train::TrainedRun load_model_arg(const std::string& path) {
  if (is_onnx_file(path)) return imported_run(path, ImportOptions{});
  return train::load_trained_run(path);
}

models::IntegerNet integer_view_of(const models::ClassifierImpl& model, const std::string& what) {
  if (const auto* q = dynamic_cast<const QonnxModelImpl*>(&model)) {
    if (!q->integer_blocker().empty()) throw ConfigError(fmt::format("{}: {}", what, q->integer_blocker()));
    return q->integer_view();
  }
  if (const auto why = models::integer_exact_blocker(model); !why.empty())
    throw ConfigError(fmt::format("{}: the integer engine cannot run this model: {}", what, why));
  return models::integer_view(model);
}

hw::fpga::Design fpga_design(const QonnxModelImpl& model, int pad_output_to) {
  namespace fpga = hw::fpga;
  const auto& p = model.plan();  // the FPGA lowering needs the integer view (FINN's streamlining)
  const auto& g = model.graph();
  fpga::Design d;
  fpga::ThresholdLayer t;
  t.channels = g.features();
  t.in_bits = 8;  // UINT8 pixels, as in FINN's reference flow
  t.out_bits = p.acts[0].declared_bits;
  t.thresholds = p.acts[0].thresholds;
  d.input = t;
  for (size_t i = 0; i < p.layers.size(); ++i) {
    const auto& L = p.layers[i];
    fpga::MvauLayer l;
    l.name = fmt::format("fc{}", i);
    l.mw = L.in;
    l.mh = L.out;
    if (L.is_output && pad_output_to > 1) {
      const int64_t padded = (l.mh + pad_output_to - 1) / pad_output_to * pad_output_to;
      if (padded != l.mh) l.mh_unpadded = l.mh;
      l.mh = padded;
    }
    l.wbits = L.declared_weight_bits;
    l.abits = p.acts[i].declared_bits;
    l.input_signed = p.acts[i].declared_signed;
    if (!L.is_output) {
      l.obits = p.acts[i + 1].declared_bits;
      l.thresholds = p.acts[i + 1].thresholds;
    }
    for (int b : {l.wbits, l.abits, l.obits})
      if (b > 8) throw ConfigError(fmt::format("{}: layer {} has {}-bit values; the FPGA cost model prices 1..8 bits", model.name(), l.name, b));
    d.layers.push_back(l);
  }
  return d;
}

bool imported_fpga_design(const std::string& path, int pad_output_to, hw::fpga::Design* design, std::string* source) {
  std::shared_ptr<QonnxModelImpl> model;
  if (is_onnx_file(path)) {
    model = std::make_shared<QonnxModelImpl>(path);
  } else {
    const auto run_json = fs::path(path) / "run.json";
    if (!fs::exists(run_json)) return false;
    const auto rec = RunRecord::from_json(read_json_file(run_json.string()));
    const auto arch = rec.config.value("model", nlohmann::json::object()).value("arch", std::string());
    if (models::find_family(arch) != models::Family::qonnx) return false;
    model = std::dynamic_pointer_cast<QonnxModelImpl>(train::load_trained_run(path).model);
    if (!model) return false;
  }
  *design = fpga_design(*model, pad_output_to);
  if (source) *source = path;
  return true;
}

}  // namespace nemokd::interop
