#include "hw/fpga/grid.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/csv.h"
#include "core/error.h"
#include "core/json_config.h"
#include "models/mlp.h"

namespace nemokd::hw::fpga {

namespace {

models::MlpConfig topology_mlp(const TopologyModel& t) {
  models::MlpConfig m;
  if (t.topology == "tfc" || t.topology == "sfc" || t.topology == "lfc")
    m.hidden = models::mlp_preset_widths(t.topology);
  else
    m.hidden = parse_int_list("topology", t.topology);
  m.activation = t.activation;
  m.quant.input = t.input;
  m.quant.input_bits = t.input_bits;
  m.quantized = true;
  return m;
}

CnnSpec topology_cnn(const TopologyModel& t) {
  CnnSpec s = cnn_topology(t.topology, t.classes);
  s.input = t.input;
  s.input_bits = t.input_bits;
  s.activation = t.activation;
  s.pad_output_to = t.pad_output;
  return s;
}

std::string csv_topology(std::string topo) {
  std::replace(topo.begin(), topo.end(), ',', 'x');  // 512,256 -> 512x256: the name reports show
  return topo;
}

}  // namespace

bool TopologyModel::is_cnn() const { return is_cnn_topology(topology); }

Design TopologyModel::design(const std::vector<int>& wbits, const std::vector<int>& abits) const {
  if (is_cnn()) {
    auto s = topology_cnn(*this);
    s.set_bits(wbits, abits);
    return cnn_design(s);
  }
  auto m = topology_mlp(*this);
  m.set_bits(wbits, abits);
  return mlp_design(m, MlpShape{inputs, classes, pad_output});
}

nlohmann::json TopologyModel::describe() const {
  nlohmann::json j = {{"topology", topology}, {"input", input},     {"input_bits", input_bits},
                      {"activation", activation}, {"classes", classes}, {"pad_output", pad_output}};
  if (is_cnn())
    j["cnn"] = topology_cnn(*this).to_json();
  else
    j["inputs"] = inputs;
  return j;
}

void GridSpec::validate() const {
  if (topologies.empty()) throw ConfigError("topology: give at least one");
  if (wbits.empty() || abits.empty()) throw ConfigError("wbits/abits: empty range");
  options.validate();
}

std::vector<GridRow> run_grid(const GridSpec& spec, const Device& device, const UsableFractions& usable) {
  spec.validate();
  std::vector<GridRow> rows;
  for (const auto& topo : spec.topologies) {
    TopologyModel m = spec.model;
    m.topology = topo;
    m.design({1}, {1});  // an unknown topology or a layer FINN cannot map is an error, not 64 empty rows
    for (int w : spec.wbits)
      for (int a : spec.abits) {
        GridRow r{topo, w, a, {}};
        try {
          r.hw = hw_point(m.design({w}, {a}), spec.folding, spec.options, device, usable);
        } catch (const ConfigError& e) {  // the model itself cannot be lowered: every cell of it says why
          r.hw.ok = false;
          r.hw.message = e.what();
        }
        rows.push_back(std::move(r));
      }
  }
  return rows;
}

std::string grid_csv(const GridSpec& spec, const std::vector<GridRow>& rows) {
  if (spec.folding.pe.size() > 1 || spec.folding.simd.size() > 1)
    throw ConfigError("--csv: a grid table takes one --pe and one --simd value");
  std::vector<std::string> header = {"topology", "wbits", "abits", "pe", "simd", "max_cycles"};
  for (const auto& c : HwPoint::csv_columns()) header.push_back(c);
  for (const auto* c : {"uram", "failing_planning", "failing_device", "message"}) header.push_back(c);
  CsvTable table(std::move(header));
  for (const auto& r : rows) {
    std::vector<std::string> f = {csv_topology(r.topology), std::to_string(r.wbits), std::to_string(r.abits),
                                  std::to_string(spec.folding.pe[0]), std::to_string(spec.folding.simd[0]),
                                  r.hw.ok ? std::to_string(r.hw.max_cycles) : ""};
    for (auto& v : r.hw.csv_fields()) f.push_back(std::move(v));
    f.push_back(r.hw.ok ? std::to_string(r.hw.total.uram) : "");
    f.push_back(fmt::format("{}", fmt::join(r.hw.fit.failing_planning, "; ")));
    f.push_back(fmt::format("{}", fmt::join(r.hw.fit.failing_device, "; ")));
    f.push_back(r.hw.message);  // quoted where it holds a comma or a quote (RFC 4180)
    table.add_row(f);
  }
  return table.text();
}

void write_grid_csv(const std::string& path, const GridSpec& spec, const std::vector<GridRow>& rows) {
  write_table_file(path, grid_csv(spec, rows), "--csv");
}

nlohmann::json grid_json(const GridSpec& spec, const std::vector<GridRow>& rows) {
  nlohmann::json grids = nlohmann::json::array();
  for (const auto& topo : spec.topologies) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : rows) {
      if (r.topology != topo) continue;
      auto j = r.hw.to_json();
      j["wbits"] = r.wbits;
      j["abits"] = r.abits;
      list.push_back(j);
    }
    grids.push_back({{"topology", topo}, {"rows", list}});
  }
  return {{"folding", spec.folding.to_json()}, {"options", spec.options.to_json()}, {"grids", grids}};
}

}  // namespace nemokd::hw::fpga
