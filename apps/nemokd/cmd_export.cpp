// nemokd export onnx | qonnx — a trained run as ONNX (deployment: OpenCV DNN, OpenVINO, onnxruntime) or QONNX
// (quantized MLPs for FINN). See docs/EXPORT.md.
#include <fmt/format.h>
#include <torch/torch.h>

#include "cli_common.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "export/onnx_export.h"
#include "models/mlp.h"
#include "train/train_run.h"

namespace nemokd::cli {
namespace {

models::InputShape built_input(const train::TrainedRun& run) {
  const auto d = run.model->describe();
  if (d.contains("input") && d["input"].is_string()) return models::InputShape::parse(d["input"].get<std::string>());
  const auto& spec = data::dataset_spec(run.config.dataset.name);
  return models::InputShape{spec.channels, spec.height, spec.width};
}

// How images become the graph input (the loader's mapping of uint8 pixels, per channel: x = p * scale + shift).
nlohmann::json input_mapping(const train::TrainedRun& run) {
  const auto norm = run.config.train.normalization;
  nlohmann::json j = {{"dataset", run.config.dataset.name}, {"normalization", data::to_string(norm)}};
  try {
    const auto a = data::pixel_affine(data::dataset_spec(run.config.dataset.name), norm);
    j["pixel_scale"] = a.scale;
    j["pixel_shift"] = a.shift;
  } catch (const Error&) {
  }
  return j;
}

void report(const onnx_export::ExportResult& r, const train::TrainedRun& run, const OutputFlags& out) {
  const auto mapping = input_mapping(run);
  if (out.json) {
    auto j = r.to_json();
    j["model"] = run.dir;
    j["input_mapping"] = mapping;
    print_json(j);
    return;
  }
  auto dims = [](const std::vector<int64_t>& s) {
    std::string t;
    for (size_t i = 0; i < s.size(); ++i) t += (i ? "x" : "") + (s[i] > 0 ? std::to_string(s[i]) : std::string("N"));
    return t;
  };
  fmt::print("{} {} ({} bytes): {} model from {}, {} nodes, opset {}\n", r.format, r.path, r.bytes, r.arch, run.dir,
             r.nodes, r.opset);
  std::string ops;
  for (const auto& [op, n] : r.ops) ops += fmt::format("{}{} x{}", ops.empty() ? "" : ", ", op, n);
  fmt::print("  ops: {}\n", ops);
  fmt::print("  input  '{}' {} float32: {} images, normalisation '{}' (x = pixel * scale + shift)\n", "input",
             dims(r.input_shape), mapping["dataset"].get<std::string>(), mapping["normalization"].get<std::string>());
  fmt::print("  output 'logits' {}\n", dims(r.output_shape));
}

void register_onnx(CLI::App* export_cmd) {
  struct Flags {
    std::string model, out, input_shape = "nchw";
    int64_t batch = 1;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = export_cmd->add_subcommand("onnx", "Plain ONNX (opset 11) of any trained model, for deployment");
  cmd->add_option("--model", f->model, "Run folder with run.json and model.pt")->required();
  cmd->add_option("--out,-o", f->out, "ONNX file to write (e.g. model.onnx)")->required();
  cmd->add_option("--input-shape", f->input_shape, "Graph input: nchw ([N, C, H, W]) or flat ([N, C*H*W])")
      ->capture_default_str();
  cmd->add_option("--batch", f->batch, "Batch size of the graph input (0 = symbolic dimension N)")->capture_default_str();
  add_output_flags(cmd, f->output);
  cmd->callback([f] {
    onnx_export::ExportOptions o;
    o.layout = onnx_export::parse_input_layout(f->input_shape);
    if (f->batch < 0) throw ConfigError(fmt::format("--batch: {} (use >= 1, or 0 for a symbolic batch)", f->batch));
    o.batch = f->batch;
    refuse_output_over_run("--out", f->out, f->model);
    auto run = train::load_trained_run(f->model);
    o.doc = fmt::format("nemokd run {}", run.dir);
    auto r = onnx_export::export_model_onnx(*run.model, built_input(run), f->out, o);
    report(r, run, f->output);
  });
}

void register_qonnx(CLI::App* export_cmd) {
  struct Flags {
    std::string model, out, rounding = "HALF_UP";
    bool flat_input = false;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = export_cmd->add_subcommand("qonnx", "QONNX (Quant/BipolarQuant nodes) of a quantized MLP, for FINN");
  cmd->add_option("--model", f->model, "Run folder of a quantized MLP (`nemokd quant train`)")->required();
  cmd->add_option("--out,-o", f->out, "QONNX file to write (e.g. model.qonnx.onnx)")->required();
  cmd->add_flag("--flat-input", f->flat_input, "Graph input [1, 784] instead of [1, 1, 28, 28]");
  cmd->add_option("--rounding-mode", f->rounding,
                  "Quant rounding_mode: HALF_UP (nemokd's rule except exact negative ties) or ROUND (half to even; "
                  "what older qonnx/FINN releases accept)")
      ->check(CLI::IsMember({"HALF_UP", "ROUND"}))
      ->capture_default_str();
  add_output_flags(cmd, f->output);
  cmd->callback([f] {
    refuse_output_over_run("--out", f->out, f->model);
    auto run = train::load_trained_run(f->model);
    auto mlp = std::dynamic_pointer_cast<models::MlpImpl>(run.model);
    if (!mlp)
      throw ConfigError(fmt::format("export qonnx: {} is a '{}' model; QONNX export is for quantized MLPs (use "
                                    "`nemokd export onnx`)",
                                    f->model, run.config.model.arch));
    if (!mlp->config().quantized)
      throw ConfigError(fmt::format("export qonnx: {} is a float MLP; QONNX export is for quantized MLPs (use "
                                    "`nemokd export onnx`)",
                                    f->model));
    onnx_export::ExportOptions o;
    o.layout = f->flat_input ? onnx_export::InputLayout::flat : onnx_export::InputLayout::nchw;
    o.rounding_mode = f->rounding;
    o.doc = fmt::format("nemokd run {}", run.dir);
    auto r = onnx_export::export_qonnx(*mlp, built_input(run), f->out, o);
    report(r, run, f->output);
  });
}

}  // namespace

void register_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Export a trained run: ONNX (deployment) or QONNX (FINN)");
  cmd->require_subcommand(1);
  register_onnx(cmd);
  register_qonnx(cmd);
}

}  // namespace nemokd::cli
