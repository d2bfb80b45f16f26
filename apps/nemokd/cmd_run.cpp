// nemokd run RUN.json: re-runs a recorded run from its resolved config; the hidden `nemokd worker` runs them for a
// warm executor.
#include <filesystem>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "campaign/executor.h"
#include "campaign/run_kinds.h"
#include "core/process.h"

namespace nemokd::cli {

void register_run(CLI::App& app) {
  struct Flags {
    std::string record_path, out;
    bool resume = false, force = false;
    int threads = -1;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("run", "Re-run a recorded run from its run.json (same config, new output folder)");
  cmd->add_option("record", f->record_path, "Path to a run.json written by an earlier run")->required();
  cmd->add_option("--out,-o", f->out, "Output folder (default runs/<command>-<timestamp>)");
  cmd->add_flag("--resume", f->resume, "Continue the checkpoint in --out instead of starting fresh");
  cmd->add_flag("--force", f->force, "Replace the run --out holds (its run.json, model.pt, checkpoint, metrics)")
      ->excludes("--resume");
  cmd->add_option("--threads", f->threads,
                  "Torch threads, replacing the recorded count (a speed setting: it is not part of the run's identity)")
      ->check(non_negative_integer());
  add_output_flags(cmd, f->output);
  cmd->callback([f] {
    std::error_code ec;
    if (std::filesystem::is_directory(f->record_path, ec))
      throw ConfigError(fmt::format("{}: is a folder; `nemokd run` takes a run.json file (e.g. {}/run.json)",
                                    f->record_path, f->record_path));
    auto record = RunRecord::from_json(read_json_file(f->record_path));
    const auto& kind = campaign::run_kind(record.command, f->record_path);
    const std::string out = f->out.empty() ? default_out_dir(kind.out_prefix) : f->out;
    auto result = kind.run(record.config, f->threads, train::RunContext{out, f->resume, !f->output.quiet, nullptr, f->force});
    exit_code() = report_training(result, out, f->output);
  });

  // Hidden: a warm executor's worker (campaign/executor.h), started by nemokd itself with its socket on fd 3.
  auto* worker = app.add_subcommand("worker", "Serve a warm executor's child runs (started by nemokd itself)");
  worker->group("");
  worker->callback([] { exit_code() = campaign::serve_worker(kPassedFd); });
}

}  // namespace nemokd::cli
