// nemokd choose RUN_DIR... --target SPEC [constraints] — which trained model to deploy on a target: the models of
// sweeps, KD grids, evolutions and runs priced on the target, those meeting the constraints ranked by validation
// accuracy. The work lives in src/choose/.
#include <memory>

#include <fmt/format.h>

#include "choose/choose.h"
#include "cli_common.h"
#include "core/error.h"

namespace nemokd::cli {

void register_choose(CLI::App& app) {
  struct Flags {
    std::vector<std::string> dirs;
    std::string target, devices, work_dir, exported;
    size_t top = 20;
    choose::Constraints c;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("choose", "Choose the most accurate trained model (by validation) that meets a target's constraints");
  cmd->footer(
      "Run folders: W x A sweeps, KD grids, evolutions, single runs (or a folder holding them one level down).\n"
      "fpga targets price from run.json alone (FINN cost model, fastest folding that fits); torch and command targets\n"
      "measure the model.pt (an evolution's recorded latency is reused when its probe is the same text); macs and\n"
      "params are proxies. Ranked on validation accuracy; test accuracy is shown, never used (unless --select-on test).\n"
      "Nothing meets the constraints: exit 1 with one line naming the closest model (--json: the rows too).\n"
      "Examples:\n"
      "  nemokd choose experiments/q1/runs --target fpga:xc7z020 --min-fps 100000\n"
      "  nemokd choose runs/sweep runs/grid --target fpga:xc7z020,usable=device --max-lut 30000 --export deploy/\n"
      "  nemokd choose runs/evolution --target torch:cpu:threads=1 --max-latency-ms 0.3 --json");
  cmd->add_option("runs", f->dirs, "Run folders")->required();
  cmd->add_option("--target", f->target, "Cost target: " + cost::cost_forms())->required();
  cmd->add_option("--min-fps", f->c.min_fps, "Frames per second at least (fpga: on --fps-basis; probes: measured)");
  cmd->add_option("--fps-basis", f->c.fps_basis,
                  "fpga: which FPS --min-fps reads: expected (on board, calibrated: what a deployer gets) or "
                  "estimated (FINN cost model)")
      ->capture_default_str();
  cmd->add_option("--max-latency-ms", f->c.max_latency_ms,
                  "Latency at most (fpga: one frame through the pipeline, estimated; probes: measured)");
  cmd->add_option("--max-lut", f->c.max_lut, "fpga: LUTs at most (estimated)");
  cmd->add_option("--max-bram18", f->c.max_bram18, "fpga: BRAM18 at most (estimated)");
  cmd->add_option("--role", f->c.role, "Only models of this role: uniform (sweeps), kd, no-kd (KD grids), search, "
                                       "baseline-kd, baseline-no-kd (evolutions), run");
  cmd->add_option("--select-on", f->c.select_on,
                  "Rank on val (default) or test (optimistic: the rows say so; for runs without a validation split)")
      ->capture_default_str();
  cmd->add_option("--devices", f->devices, "fpga: device table (JSON; default: the shipped data/fpga-devices.json)");
  cmd->add_option("--work-dir", f->work_dir, "command targets: where the model files are written (default: a temporary folder)");
  cmd->add_option("--export", f->exported,
                  "Write the chosen model's bundle here (run.json, model.pt, cost.json, fpga.json; model.nqe and "
                  "model.qonnx.onnx when the weights are there and the model has them)");
  cmd->add_option("--top", f->top,
                  "Text table: the first N models (the ranked ones first), then one line counting the rest; 0 = every "
                  "model (--json always has every row)")
      ->capture_default_str();
  add_output_flags(cmd, f->output);
  cmd->callback([f] {
    cost::CostContext ctx;
    ctx.devices = f->devices;
    ctx.work_dir = f->work_dir;
    const auto res = choose::choose(f->dirs, f->target, f->c, ctx);
    nlohmann::json bundle;
    if (res.chosen >= 0 && !f->exported.empty()) bundle = choose::export_bundle(res, f->exported);
    if (f->output.json) {
      auto j = res.to_json();
      if (!bundle.is_null()) j["export"] = bundle;
      print_json(j);  // also when nothing meets: the rows say by how much each misses
    } else if (res.chosen >= 0) {
      fmt::print("{}", res.table(f->top));
      if (!bundle.is_null())
        fmt::print("exported to {}: {}\n", f->exported, fmt::join(bundle["written"].get<std::vector<std::string>>(), ", "));
    }
    if (res.chosen < 0) throw Error(res.why);
  });
}

}  // namespace nemokd::cli
