// nemokd engine build | eval | bench — the bit-exact integer inference engine (Route Q, part 3): quantized
// MLPs and CNNs.
#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "engine/build.h"
#include "engine/model_file.h"
#include "engine/runtime.h"
#include "engine/verify.h"
#include "interop/import.h"
#include "models/integer_net.h"
#include "train/train_run.h"

namespace nemokd::cli {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The integer view of a run's model: a quantized MLP or CNN, or an imported QONNX model (with its code maps); the
// error names the run and the layer or node that prevents it.
models::IntegerNet integer_view(const train::TrainedRun& run) { return interop::integer_view_of(*run.model, run.dir); }

data::PixelAffine run_pixel_affine(const train::TrainedRun& run) {
  return data::pixel_affine(data::dataset_spec(run.config.dataset.name), run.config.train.normalization);
}

// What the model file remembers about where it came from (JSON text in IntegerModel::source).
nlohmann::json source_of(const engine::IntegerModel& m) {
  try {
    auto j = parse_json(m.source, "model source");
    return j.is_object() ? j : nlohmann::json::object();
  } catch (const ConfigError&) {
    return nlohmann::json::object();  // informational only: a file's unreadable note is left out
  }
}

nlohmann::json layers_json(const engine::IntegerModel& m, const std::vector<engine::LayerPlan>* plan) {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const auto& l = m.layers[i];
    nlohmann::json j = {{"kind", engine::to_string(l.kind)},
                        {"inputs", l.inputs},
                        {"outputs", l.outputs},
                        {"input", engine::describe(l.input)},
                        {"weights", engine::describe(l.weight)},
                        {"output", l.is_output ? std::string("logits") : engine::describe(l.output)},
                        {"accumulator_bound", l.accumulator_bound()}};
    if (l.kind != engine::LayerKind::dense) {
      j["map"] = engine::describe(l.in_map);
      j["kernel"] = l.kernel;
      j["stride"] = l.stride;
      j["padding"] = l.padding;
      j["pad_value"] = l.pad_value;
    }
    if (plan) {
      j["kernel"] = engine::to_string((*plan)[i].kernel);
      j["isa"] = engine::to_string((*plan)[i].isa);
      j["why"] = (*plan)[i].why;
    }
    layers.push_back(j);
  }
  return layers;
}

void print_layers(const engine::IntegerModel& m, const std::vector<engine::LayerPlan>* plan) {
  const auto& in = m.input;
  fmt::print("  input   {} -> {}{}\n", engine::describe(in.map()), engine::describe(in.output),
             in.passthrough ? " (pixels as they are)" : " (thresholds on uint8 pixels)");
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const auto& l = m.layers[i];
    switch (l.kind) {
      case engine::LayerKind::dense:
        fmt::print("  layer {} dense   {:>5} -> {:<5} {} x {} -> {}", i, l.inputs, l.outputs, engine::describe(l.input),
                   engine::describe(l.weight), l.is_output ? std::string("logits") : engine::describe(l.output));
        break;
      case engine::LayerKind::conv:
        fmt::print("  layer {} conv    {} {}x{} p{} -> {} ch, {} x {} -> {}", i, engine::describe(l.in_map), l.kernel,
                   l.kernel, l.padding, l.outputs, engine::describe(l.input), engine::describe(l.weight),
                   engine::describe(l.output));
        break;
      case engine::LayerKind::maxpool:
        fmt::print("  layer {} maxpool {} {}x{}/{} on {} codes", i, engine::describe(l.in_map), l.kernel, l.kernel,
                   l.stride, engine::describe(l.input));
        break;
      case engine::LayerKind::flatten:
        fmt::print("  layer {} flatten {}", i, engine::describe(l.in_map));
        break;
    }
    if (plan)
      fmt::print("   kernel {}/{} ({})", engine::to_string((*plan)[i].kernel), engine::to_string((*plan)[i].isa),
                 (*plan)[i].why);
    fmt::print("\n");
  }
}

struct EngineFlags {
  std::string kernel = "auto", isa = "auto";
  int threads = 0;
  void add(CLI::App* cmd) {
    cmd->add_option("--kernel", kernel,
                    "auto (per layer, the fastest measured here) or force scalar | xnor | bitserial | int8")
        ->capture_default_str();
    cmd->add_option("--isa", isa, "auto (best this CPU has) or force scalar | avx2 | avx512")->capture_default_str();
    cmd->add_option("--threads", threads,
                    "Worker threads for batch inference (0 = the cores no other process is using; all of them on a "
                    "quiet machine)")
        ->capture_default_str();
  }
  engine::EngineOptions options() const {
    check_range("--threads", threads, 0, kMaxThreads);  // before any pool is made: 100000 threads hang
    engine::EngineOptions o;
    o.kernel = kernel;
    o.isa = isa;
    o.threads = threads > 0 ? threads : threads_for_free_cores(hardware_cores(), other_running_tasks());
    return o;
  }
};

// ---- build ----
void register_build(CLI::App* engine_cmd) {
  struct Flags {
    std::string model, out;
    OutputFlags output;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = engine_cmd->add_subcommand(
      "build", "Fold a trained quantized MLP or CNN (a `nemokd quant train` run) or an imported QONNX MLP (`nemokd "
               "import qonnx`, or the .onnx file) into an integer model file (.nqe)");
  cmd->add_option("--model", flags->model,
                  "Run folder with run.json and model.pt (a quantized MLP or CNN, or an imported QONNX model), or a "
                  "QONNX file (.onnx: MNIST, pixels/255; import it first for other data)")
      ->required();
  cmd->add_option("--out,-o", flags->out, "Integer model file to write (e.g. model.nqe)")->required();
  add_output_flags(cmd, flags->output);
  cmd->callback([flags] {
    configure_threads(0, 0);
    refuse_output_over_run("--out", flags->out, flags->model);
    const auto t0 = Clock::now();
    auto run = interop::load_model_arg(flags->model);
    const auto view = integer_view(run);
    auto described = run.model->describe();
    described.erase("stages");  // an imported graph's stage list stays in its run.json
    nlohmann::json source = {{"run", std::filesystem::absolute(flags->model).string()},
                             {"dataset", run.config.dataset.name},
                             {"normalization", data::to_string(run.config.train.normalization)},
                             {"model", described}};
    engine::BuildStats stats;
    auto im = engine::build_integer_model(view, run_pixel_affine(run), source.dump(), &stats);
    engine::save_model(im, flags->out);
    const auto bytes = std::filesystem::file_size(flags->out);
    const double secs = seconds_since(t0);
    if (flags->output.json) {
      print_json({{"model", flags->out},
                  {"bytes", bytes},
                  {"source", source},
                  {"flipped_channels", stats.flipped_channels},
                  {"constant_channels", stats.constant_channels},
                  {"layers", layers_json(im, nullptr)},
                  {"seconds", secs}});
      return;
    }
    fmt::print("integer model {} ({} bytes) from {}\n", flags->out, bytes, flags->model);
    print_layers(im, nullptr);
    fmt::print("  {} channel(s) with negative folded scale (weights negated), {} constant channel(s); {:.2f} s\n",
               stats.flipped_channels, stats.constant_channels, secs);
  });
}

// ---- eval ----
void register_eval(CLI::App* engine_cmd) {
  struct Flags {
    std::string model, compare, split = "test";
    data::DataConfig data;
    EngineFlags engine;
    OutputFlags output;
  };
  auto flags = std::make_shared<Flags>();
  flags->data.name = "";
  auto* cmd = engine_cmd->add_subcommand("eval", "Accuracy of an integer model on a dataset; --compare checks every "
                                                 "prediction and every output code against the QAT model");
  cmd->add_option("--model", flags->model, "Integer model file (.nqe)")->required();
  cmd->add_option("--compare", flags->compare,
                  "Run folder (or QONNX file) of the model it was built from: compare codes, accumulators, logits, "
                  "predictions");
  cmd->add_option("--split", flags->split, "test | val")->check(CLI::IsMember({"test", "val"}))->capture_default_str();
  add_dataset_flags(cmd, flags->data);
  flags->engine.add(cmd);
  add_output_flags(cmd, flags->output);
  cmd->callback([flags] {
    auto im = engine::load_model(flags->model);
    const auto source = source_of(im);
    if (flags->data.name.empty()) flags->data.name = source.value("dataset", std::string("mnist"));
    configure_threads(flags->engine.threads, 0);
    engine::Engine eng(im, flags->engine.options());  // first: bad kernel/ISA options fail before any data loads
    auto dataset = data::load_dataset(flags->data.name, flags->data.load);
    const auto& set = flags->split == "test" ? dataset.test : dataset.val;
    if (set.size() == 0) throw ConfigError(fmt::format("--split {}: {} has no such images", flags->split, flags->data.name));
    if (set.images.size(1) * set.images.size(2) * set.images.size(3) != im.input.size())
      throw ConfigError(fmt::format("{}: the model reads {} pixels per frame, {} images have {}", flags->model,
                                    im.input.size(), flags->data.name,
                                    set.images.size(1) * set.images.size(2) * set.images.size(3)));
    const auto images = set.images.contiguous();
    std::vector<int32_t> pred(size_t(set.size()));
    const auto t0 = Clock::now();
    eng.predict(images.data_ptr<uint8_t>(), set.size(), pred.data());
    const double secs = seconds_since(t0);
    const auto labels = set.labels.contiguous();
    int64_t correct = 0;
    for (int64_t k = 0; k < set.size(); ++k) correct += pred[size_t(k)] == labels.data_ptr<int64_t>()[k];
    const double acc = double(correct) / double(set.size());
    nlohmann::json out = {{"model", flags->model},
                          {"dataset", dataset.describe()},
                          {"split", flags->split},
                          {"frames", set.size()},
                          {"correct", correct},
                          {"accuracy", acc},
                          {"seconds", secs},
                          {"layers", layers_json(im, &eng.plan())}};
    bool ok = true;
    if (!flags->compare.empty()) {
      auto run = interop::load_model_arg(flags->compare);
      const auto c = engine::compare_with_model(eng, integer_view(run), run_pixel_affine(run), set);
      ok = c.exact() && c.engine_correct == correct;
      out["compare"] = {{"run", flags->compare},
                        {"frames", c.frames},
                        {"code_mismatches", c.code_mismatches},
                        {"accumulator_mismatches", c.accumulator_mismatches},
                        {"logit_mismatches", c.logit_mismatches},
                        {"prediction_mismatches", c.prediction_mismatches},
                        {"model_accuracy", c.model_accuracy()},
                        {"exact", ok}};
    }
    if (flags->output.json) {
      print_json(out);
    } else {
      fmt::print("{} on {} {} ({} images): accuracy {:.2f}% ({} correct) in {:.3f} s\n", flags->model,
                 flags->data.name, flags->split, set.size(), 100 * acc, correct, secs);
      print_layers(im, &eng.plan());
      if (out.contains("compare")) {
        const auto& c = out["compare"];
        fmt::print("compare with {}: {} — {} code, {} accumulator, {} logit, {} prediction mismatches; model accuracy "
                   "{:.2f}%\n",
                   flags->compare, ok ? "bit-exact" : "MISMATCH", c["code_mismatches"].get<int64_t>(),
                   c["accumulator_mismatches"].get<int64_t>(), c["logit_mismatches"].get<int64_t>(),
                   c["prediction_mismatches"].get<int64_t>(), 100 * c["model_accuracy"].get<double>());
      }
    }
    if (!ok) exit_code() = 1;
  });
}

// ---- bench ----
void register_bench(CLI::App* engine_cmd) {
  struct Flags {
    std::string model, save;
    int64_t batch = 4096;
    double seconds = 2.0;
    data::DataConfig data;
    EngineFlags engine;
    OutputFlags output;
  };
  auto flags = std::make_shared<Flags>();
  flags->data.name = "";
  auto* cmd = engine_cmd->add_subcommand(
      "bench", "Throughput (frames/s, ns/frame) and single-frame latency of an integer model on real images, with "
               "the same-shaped LibTorch fp32 network measured in the same run");
  cmd->add_option("--model", flags->model, "Integer model file (.nqe)")->required();
  cmd->add_option("--batch", flags->batch, "Frames per batch")->check(CLI::Range(int64_t(1), int64_t(1) << 22))
      ->capture_default_str();
  cmd->add_option("--seconds", flags->seconds, "Minimum time per measurement")->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  cmd->add_option("--save", flags->save,
                  "Also write the measurement (the --json record plus the CPU and the model's source) to this JSON "
                  "file. Saved as engine_bench.json in a sweep cell's or training run's folder, `nemokd report` "
                  "puts the model on the Q-vs-K chart as measured on this CPU");
  add_dataset_flags(cmd, flags->data);
  flags->engine.add(cmd);
  add_output_flags(cmd, flags->output);
  cmd->callback([flags] {
    if (!flags->save.empty() && std::filesystem::path(flags->save).extension() != ".json")
      throw ConfigError(fmt::format("--save {}: name a .json file", flags->save));
    if (!flags->save.empty() && std::filesystem::exists(flags->save) && std::filesystem::is_directory(flags->save))
      throw ConfigError(fmt::format("--save {}: is a folder; name a .json file", flags->save));
    auto im = engine::load_model(flags->model);
    if (flags->data.name.empty()) flags->data.name = source_of(im).value("dataset", std::string("mnist"));
    const auto options = flags->engine.options();
    // The LibTorch baseline gets the engine's threads on both of its pools: torch's (elementwise ops) and OpenBLAS's
    // (the fp32 matrix products), or it would measure one BLAS thread against N engine threads.
    const int torch_threads = configure_threads(options.threads, options.threads);
    const int blas_threads = runtime_info().blas.threads;
    engine::Engine eng(im, options);  // first: bad kernel/ISA options fail before any data loads
    auto dataset = data::load_dataset(flags->data.name, flags->data.load);
    // A batch of real test images (repeated when the batch is larger than the test set).
    const int64_t n = dataset.test.size();
    auto idx = torch::arange(flags->batch, torch::kInt64).remainder(n);
    auto pixels = dataset.test.images.index_select(0, idx).contiguous();
    if (pixels[0].numel() != im.input.size())
      throw ConfigError(fmt::format("{}: the model reads {} pixels per frame, {} has {}", flags->model, im.input.size(),
                                    flags->data.name, pixels[0].numel()));
    const auto t = engine::measure_throughput(eng, pixels, flags->seconds);
    const double fps = t.engine_frames_per_second, torch_fps = t.torch_frames_per_second, single_s = t.single_frame_seconds;
    nlohmann::json out = {{"model", flags->model},
                          {"batch", flags->batch},
                          {"threads", options.threads},
                          {"libtorch_threads", {{"torch", torch_threads}, {"blas", blas_threads}}},
                          {"frames_per_second", fps},
                          {"ns_per_frame", 1e9 / fps},
                          {"single_frame_latency_us", single_s * 1e6},
                          {"libtorch_fp32_frames_per_second", torch_fps},
                          {"speedup_vs_libtorch_fp32", fps / torch_fps},
                          {"layers", layers_json(im, &eng.plan())},
                          {"runtime", to_json(runtime_info())}};
    if (!flags->save.empty()) {
      auto record = out;
      record["nemokd_engine_bench"] = 1;
      record["measured_on"] = cpu_description();
      record["dataset"] = flags->data.name;
      record["source"] = source_of(im);
      write_json_file(flags->save, record);
    }
    if (flags->output.json) {
      print_json(out);
      return;
    }
    fmt::print("{}: batch {}, {} thread(s)\n", flags->model, flags->batch, options.threads);
    print_layers(im, &eng.plan());
    fmt::print("integer engine   {:>12.0f} frames/s  {:8.1f} ns/frame   single frame {:.2f} us\n", fps, 1e9 / fps,
               single_s * 1e6);
    fmt::print("LibTorch fp32    {:>12.0f} frames/s  {:8.1f} ns/frame   (same shapes, same run; {} torch / {} BLAS "
               "thread(s))\n",
               torch_fps, 1e9 / torch_fps, torch_threads, blas_threads);
    fmt::print("ratio            {:.2f}x\n", fps / torch_fps);
  });
}

}  // namespace

void register_engine(CLI::App& app) {
  auto* cmd = app.add_subcommand("engine", "Bit-exact integer inference of quantized MLPs and CNNs (what FINN's "
                                           "hardware computes), fast on CPU: build, eval, bench");
  cmd->require_subcommand(1);
  register_build(cmd);
  register_eval(cmd);
  register_bench(cmd);
}

}  // namespace nemokd::cli
