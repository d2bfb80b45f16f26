// nemokd report RUN_DIR... --out report.html — the paper's figures for whatever the run folders hold, in one
// self-contained HTML page (Vega inlined: opens offline, no server). The work lives in src/report/.
#include <memory>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "report/report.h"

namespace nemokd::cli {

void register_report(CLI::App& app) {
  struct Flags {
    std::vector<std::string> dirs;
    std::string out = "report.html";
    std::string title;
    std::vector<int> generations;
    bool no_epoch_curves = false;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("report", "Write one self-contained HTML page with the figures of one or more runs");
  cmd->footer(
      "Run kinds, detected by their files: W x A sweep (sweep.json + results.json), KD grid (grid.json + results.json),\n"
      "training run (run.json), integer engine comparison (compare.csv), FPGA estimates (grid*.csv from `fpga grid\n"
      "--csv`), NEMOKD evolution (candidates.json). A folder holding runs one level down (experiments/q1) adds them all.\n"
      "Examples:\n"
      "  nemokd report experiments/q1 --out q1.html\n"
      "  nemokd report runs/q2 runs/q2-foldings runs/evolution --out compare.html --generations 1,10,30");
  cmd->add_option("runs", f->dirs, "Run folders")->required();
  cmd->add_option("--out,-o", f->out, "HTML file to write")->capture_default_str();
  cmd->add_option("--title", f->title, "Page title (default: from the folders)");
  cmd->add_option("--generations", f->generations, "Evolution: generations to plot (default: all)")->delimiter(',');
  cmd->add_flag("--no-epoch-curves", f->no_epoch_curves, "Sweeps: leave out the per-epoch validation curves");
  add_output_flags(cmd, f->output);
  cmd->callback([f] {
    report::ReportOptions o;
    o.title = f->title;
    o.generations = f->generations;
    o.epoch_curves = !f->no_epoch_curves;
    const auto s = report::write_report(f->dirs, f->out, o);
    if (f->output.json) {
      nlohmann::json runs = nlohmann::json::array();
      for (const auto& e : s.runs) runs.push_back({{"dir", e.dir}, {"kind", report::to_string(e.kind)}, {"commands", e.commands}});
      print_json({{"out", s.out_html}, {"bytes", s.bytes}, {"sections", s.sections}, {"charts", s.charts}, {"runs", runs}});
      return;
    }
    if (!f->output.quiet)
      for (const auto& e : s.runs) fmt::print("{:<28} {}\n", report::to_string(e.kind), e.dir);
    fmt::print("report: {} ({} charts, {:.1f} MB)\n", s.out_html, s.charts.size(), s.bytes / 1e6);
  });
}

}  // namespace nemokd::cli
