// FPGA estimate grids (`fpga grid --csv`): resources, throughput and fit per folding.
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

Section fpga_section(const FpgaGrid& g, const RunSet::Entry& e, const RunSet& runs, const std::string& id) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Route Q — FPGA estimates {}", short_dir(g.dir));
  sec.commands = e.commands;
  // Groups: topology -> folding -> points.
  std::map<std::string, std::map<std::pair<int, int>, std::vector<HwPoint>>> groups;
  for (const auto& r : g.rows) groups[r.topology][{r.hw.pe, r.hw.simd}].push_back({r.wbits, r.abits, r.hw});
  sec.intro = fmt::format("{} estimates from {} ({} topologies).", g.rows.size(), fmt::join(g.files, ", "), groups.size());
  int k = 0;
  for (const auto& [topo, foldings] : groups) {
    for (const auto& [fold, pts] : foldings) {
      std::set<int> ws, as;
      for (const auto& p : pts) ws.insert(p.wbits), as.insert(p.abits);
      if (ws.size() < 2 || as.size() < 2) continue;
      for (auto& b : hw_heatmap_blocks(pts, fmt::format("{}-{}", id, k++),
                                       fmt::format("{} at PE {} SIMD {}", topo, fold.first, fold.second)))
        sec.blocks.push_back(std::move(b));
    }
    if (foldings.size() < 2) continue;
    // FPS per folding, for the cells a sweep of this topology trained (all cells if none did).
    const Sweep* sweep = nullptr;
    for (const auto& s : runs.sweeps)
      if (s.topology == topo) sweep = &s;
    json rows = json::array(), acc_rows = json::array();
    Table t;
    t.caption = fmt::format("{}: FPS per folding{}", topo, sweep ? " and test accuracy" : "");
    t.header = {"cell", "PE", "SIMD", "cycles/frame", "FPS", "LUT", "BRAM18", "fits"};
    if (sweep) t.header.push_back("test accuracy");
    std::set<std::string> acc_cells;
    std::vector<FpgaRow> sorted = g.rows;
    std::stable_sort(sorted.begin(), sorted.end(), [](const FpgaRow& a, const FpgaRow& b) {
      return std::tie(a.wbits, a.abits, a.hw.pe, a.hw.simd) < std::tie(b.wbits, b.abits, b.hw.pe, b.hw.simd);
    });
    for (const auto& r : sorted) {
      if (r.topology != topo) continue;
      const SweepCell* c = sweep ? sweep->find(r.wbits, r.abits) : nullptr;
      if (sweep && !c) continue;
      const std::string cell = cell_label(r.wbits, r.abits), folding = fmt::format("PE {} SIMD {}", r.hw.pe, r.hw.simd);
      rows.push_back({{"cell", cell}, {"folding", folding}, {"pe", r.hw.pe}, {"fps", r.hw.fps}, {"fits", r.hw.fits ? "yes" : "no"}});
      std::vector<std::string> row{cell, std::to_string(r.hw.pe), std::to_string(r.hw.simd), grouped(double(r.max_cycles)),
                                   fps_text(r.hw.fps), grouped(r.hw.lut), grouped(r.hw.bram18), r.hw.fits ? "yes" : "no"};
      if (c) {
        row.push_back(pct(c->final_test_accuracy));
        if (acc_cells.insert(cell).second) acc_rows.push_back({{"cell", cell}, {"accuracy", c->final_test_accuracy}});
      }
      t.rows.push_back(std::move(row));
    }
    json fps_spec = {
        {"data", {{"values", rows}}},
        {"width", {{"step", 18}}}, {"height", 220},
        {"mark", "bar"},
        {"encoding",
         {{"x", {{"field", "cell"}, {"type", "nominal"}, {"title", "design"}, {"axis", {{"labelAngle", 0}}}}},
          {"xOffset", {{"field", "folding"}, {"sort", {{"field", "pe"}}}}},
          {"y", {{"field", "fps"}, {"type", "quantitative"}, {"title", "frames per second (log)"}, {"scale", {{"type", "log"}}},
                 {"stack", nullptr}}},
          {"color", {{"field", "folding"}, {"type", "nominal"}, {"sort", {{"field", "pe"}}}, {"title", "folding"}}},
          {"tooltip", tooltip({{"cell", "cell"}, {"folding", "folding"}, {"fps", "FPS"}, {"fits", "fits"}})}}}};
    Block b;
    b.chart = {fmt::format("{}-{}-fps", id, k), fmt::format("{}: throughput per folding", topo),
               "FPS at each uniform folding (PE, SIMD on every layer); f_clk / slowest layer's cycles per frame.", vl(fps_spec)};
    b.tables.push_back(std::move(t));
    sec.blocks.push_back(std::move(b));
    if (!acc_rows.empty()) {
      json acc_spec = {
          {"data", {{"values", acc_rows}}},
          {"width", {{"step", 56}}}, {"height", 220},
          {"layer", json::array({
                        {{"mark", "bar"},
                         {"encoding",
                          {{"x", {{"field", "cell"}, {"type", "nominal"}, {"title", "design"}, {"axis", {{"labelAngle", 0}}}}},
                           {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "test accuracy"},
                                  {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
                           {"tooltip", json::array({{{"field", "cell"}}, {{"field", "accuracy"}, {"format", ".2%"}}})}}}},
                        {{"mark", {{"type", "text"}, {"dy", -6}}},
                         {"encoding", {{"x", {{"field", "cell"}, {"type", "nominal"}}},
                                       {"y", {{"field", "accuracy"}, {"type", "quantitative"}}},
                                       {"text", {{"field", "accuracy"}, {"format", ".2%"}}}}}}})}};
      Block a;
      a.chart = {fmt::format("{}-{}-acc", id, k++), fmt::format("{}: test accuracy of the same designs", topo),
                 fmt::format("From the sweep {} (folding does not change accuracy).", short_dir(sweep->dir)), vl(acc_spec)};
      sec.blocks.push_back(std::move(a));
    } else {
      ++k;
    }
  }
  return sec;
}

}  // namespace nemokd::report
