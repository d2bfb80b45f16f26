// nemokd export onnx | qonnx — a trained run as ONNX (deployment: OpenCV DNN, OpenVINO, onnxruntime) or QONNX
// (quantized MLPs and CNNs for FINN). See docs/EXPORT.md.
#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <torch/torch.h>

#include "cli_common.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "core/runtime.h"
#include "engine/build.h"
#include "engine/runtime.h"
#include "export/onnx_exec.h"
#include "export/onnx_export.h"
#include "models/integer_net.h"
#include "models/mlp.h"
#include "models/qcnn.h"
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
  auto* cmd = export_cmd->add_subcommand("qonnx", "QONNX (Quant/BipolarQuant nodes) of a quantized MLP or CNN, for FINN");
  cmd->add_option("--model", f->model, "Run folder of a quantized MLP or CNN (`nemokd quant train`)")->required();
  cmd->add_option("--out,-o", f->out, "QONNX file to write (e.g. model.qonnx.onnx)")->required();
  cmd->add_flag("--flat-input", f->flat_input, "Graph input [1, C*H*W] instead of [1, C, H, W]");
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
    if ((mlp && !mlp->config().quantized) || (!mlp && !std::dynamic_pointer_cast<models::QCnnImpl>(run.model)))
      throw ConfigError(fmt::format("export qonnx: {} is {}; QONNX export is for quantized MLPs and CNNs (use `nemokd "
                                    "export onnx`)",
                                    f->model, mlp ? std::string("a float MLP")
                                                  : fmt::format("a float '{}' model", models::family_name(run.config.model.family()))));
    onnx_export::ExportOptions o;
    o.layout = f->flat_input ? onnx_export::InputLayout::flat : onnx_export::InputLayout::nchw;
    o.rounding_mode = f->rounding;
    o.doc = fmt::format("nemokd run {}", run.dir);
    auto r = onnx_export::export_qonnx(*run.model, built_input(run), f->out, o);
    report(r, run, f->output);
  });
}

// The exported file's predictions on a dataset split, by nemokd's independent executor, against the integer
// engine built from the same run (every prediction) and the labels.
void register_verify(CLI::App* export_cmd) {
  struct Flags {
    std::string model, onnx, split = "test";
    int64_t limit = 0;
    int threads = 0;
    data::DataConfig data;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = export_cmd->add_subcommand(
      "verify", "Run an exported (Q)ONNX file with nemokd's independent executor on a dataset split and compare every "
                "prediction with the integer engine built from the same run");
  cmd->add_option("--model", f->model, "Run folder the file was exported from")->required();
  cmd->add_option("--onnx", f->onnx, "The exported ONNX or QONNX file")->required();
  cmd->add_option("--split", f->split, "test | val")->check(CLI::IsMember({"test", "val"}))->capture_default_str();
  cmd->add_option("--limit", f->limit, "Only the first N images (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", f->threads, "Engine threads (0 = all cores)")->capture_default_str();
  add_output_flags(cmd, f->output);
  cmd->callback([f] {
    const auto t0 = std::chrono::steady_clock::now();
    auto run = train::load_trained_run(f->model);
    const auto& model = *run.model;
    if (const auto why = models::integer_exact_blocker(model); !why.empty())
      throw ConfigError(fmt::format("{}: no integer engine to compare with: {}", f->model, why));
    onnx_export::OnnxExecutor ex(f->onnx);  // an unreadable file or unsupported op fails before the data loads
    configure_threads(f->threads, 0);
    engine::EngineOptions eo;
    eo.threads = f->threads > 0 ? f->threads : hardware_cores();
    const auto affine = data::pixel_affine(data::dataset_spec(run.config.dataset.name), run.config.train.normalization);
    engine::Engine eng(engine::build_integer_model(model, affine, run.dir), eo);
    auto dataset = data::load_dataset(run.config.dataset.name, run.config.dataset.load);
    const auto& set = f->split == "test" ? dataset.test : dataset.val;
    const int64_t n = f->limit > 0 ? std::min(f->limit, set.size()) : set.size();
    if (n == 0) throw ConfigError(fmt::format("--split {}: no images", f->split));
    auto pixels = set.images.slice(0, 0, n).contiguous();
    std::vector<int32_t> engine_pred(static_cast<size_t>(n));
    eng.predict(pixels.data_ptr<uint8_t>(), n, engine_pred.data());
    auto x = pixels.to(torch::kFloat);
    for (int64_t ch = 0; ch < x.size(1); ++ch) x.select(1, ch).mul_(affine.scale[size_t(ch)]).add_(affine.shift[size_t(ch)]);
    const bool flat = ex.input_shape().size() == 2;
    int64_t mismatches = 0, exec_correct = 0, engine_correct = 0;
    const auto labels = set.labels.slice(0, 0, n).contiguous();
    for (int64_t b = 0; b < n; b += 100) {
      const int64_t e = std::min(n, b + 100);
      auto chunk = x.slice(0, b, e).to(torch::kDouble).contiguous();
      if (flat) chunk = chunk.reshape({e - b, -1});
      onnx_export::ExecTensor in;
      in.shape.assign(chunk.sizes().begin(), chunk.sizes().end());
      in.values.assign(chunk.data_ptr<double>(), chunk.data_ptr<double>() + chunk.numel());
      const auto out = ex.run(in);
      const int64_t classes = out.shape.back();
      for (int64_t i = 0; i < e - b; ++i) {
        const double* row = out.values.data() + i * classes;
        const auto pred = int32_t(std::max_element(row, row + classes) - row);
        const int64_t label = labels.data_ptr<int64_t>()[b + i];
        mismatches += pred != engine_pred[size_t(b + i)];
        exec_correct += pred == label;
        engine_correct += engine_pred[size_t(b + i)] == label;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json out = {{"model", f->model},
                          {"onnx", f->onnx},
                          {"dataset", run.config.dataset.name},
                          {"split", f->split},
                          {"frames", n},
                          {"prediction_mismatches_vs_engine", mismatches},
                          {"executor_accuracy", double(exec_correct) / double(n)},
                          {"engine_accuracy", double(engine_correct) / double(n)},
                          {"quant_ties", ex.quant_ties()},
                          {"seconds", secs}};
    exit_code() = mismatches == 0 ? 0 : 1;
    if (f->output.json) return print_json(out);
    fmt::print("{} on {} {} ({} images): {} prediction mismatches vs the integer engine; executor accuracy {:.2f}%, "
               "engine {:.2f}%; {} Quant rounding ties; {:.1f} s\n",
               f->onnx, run.config.dataset.name, f->split, n, mismatches, 100.0 * exec_correct / n,
               100.0 * engine_correct / n, ex.quant_ties(), secs);
  });
}

}  // namespace

void register_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Export a trained run: ONNX (deployment) or QONNX (FINN)");
  cmd->require_subcommand(1);
  register_onnx(cmd);
  register_qonnx(cmd);
  register_verify(cmd);
}

}  // namespace nemokd::cli
