// The report page: the runs table, then one section per run (by kind), then the sections across runs.
#include "report/figures.h"

#include "report/figure_kit.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

namespace nemokd::report {
using nlohmann::json;

std::vector<Section> build_sections(const RunSet& runs, const ReportOptions& o) {
  std::vector<Section> out;
  {
    Section s;
    s.id = "runs";
    s.title = "Runs in this report";
    Table t;
    t.caption = "Folders, what they hold, and the commands that produced them";
    t.header = {"folder", "kind", "command"};
    for (const auto& e : runs.entries)
      t.rows.push_back({short_dir(e.dir), to_string(e.kind),
                        e.commands.empty() ? "(not recorded)" : fmt::format("{}", fmt::join(e.commands, "\n"))});
    s.tables.push_back(std::move(t));
    out.push_back(std::move(s));
  }
  // Sections by kind (sweeps, FPGA grids, KD grids, evolutions, single runs, engine), each kind in the given order.
  size_t isw = 0, ikd = 0, irun = 0, ieng = 0, ifp = 0, iev = 0;
  std::vector<std::pair<const RunSet::Entry*, size_t>> order;  // entry, index among its kind
  for (const auto& e : runs.entries) {
    size_t& i = e.kind == RunKind::sweep ? isw : e.kind == RunKind::kd_grid ? ikd : e.kind == RunKind::single_run ? irun
              : e.kind == RunKind::engine_compare ? ieng : e.kind == RunKind::fpga_grid ? ifp : iev;
    order.push_back({&e, i++});
  }
  auto rank = [](RunKind k) {
    switch (k) {
      case RunKind::sweep: return 0;
      case RunKind::fpga_grid: return 1;
      case RunKind::kd_grid: return 2;
      case RunKind::evolution: return 3;
      case RunKind::single_run: return 4;
      case RunKind::engine_compare: return 5;
    }
    return 6;
  };
  std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) { return rank(a.first->kind) < rank(b.first->kind); });
  for (const auto& [ep, idx] : order) {
    const auto& e = *ep;
    isw = ikd = irun = ieng = ifp = iev = idx;
    switch (e.kind) {
      case RunKind::sweep: out.push_back(sweep_section(runs.sweeps[isw], e, fmt::format("sweep{}", isw), o)), ++isw; break;
      case RunKind::kd_grid: out.push_back(kd_section(runs.kd_grids[ikd], e, fmt::format("kd{}", ikd))), ++ikd; break;
      case RunKind::single_run: out.push_back(single_run_section(runs.runs[irun], e, fmt::format("run{}", irun))), ++irun; break;
      case RunKind::engine_compare: out.push_back(engine_section(runs.engine[ieng], e, fmt::format("engine{}", ieng))), ++ieng; break;
      case RunKind::fpga_grid: out.push_back(fpga_section(runs.fpga[ifp], e, runs, fmt::format("fpga{}", ifp))), ++ifp; break;
      case RunKind::evolution: out.push_back(evolution_section(runs.evolution[iev], e, fmt::format("evo{}", iev), o)), ++iev; break;
    }
  }
  if (auto s = q_cost_section(runs)) out.push_back(std::move(*s));
  if (auto s = q_vs_k_section(runs, o)) out.push_back(std::move(*s));
  if (auto s = joint_section(runs)) out.push_back(std::move(*s));
  return out;
}

}  // namespace nemokd::report
