// Shared pieces of the report's figures (figure_kit.h).
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

// ---- formatting --------------------------------------------------------------------------------------------------

std::string pct(double v, int decimals) {
  return std::isnan(v) ? "–" : fmt::format("{:.{}f} %", 100.0 * v, decimals);
}
std::string grouped(double v) {
  if (std::isnan(v)) return "–";
  const long long n = std::llround(v);
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return (n < 0 ? "-" : "") + out;
}
std::string fixed(double v, int decimals) { return std::isnan(v) ? "–" : fmt::format("{:.{}f}", v, decimals); }
std::string fps_text(double v) { return std::isnan(v) ? "–" : v >= 1000 ? grouped(v) : fmt::format("{:.1f}", v); }
json num_or_null(double v) { return std::isnan(v) ? json() : json(v); }
std::string cell_label(int w, int a) { return fmt::format("W{}A{}", w, a); }

// Position of v in [lo, hi] (0..1); for label colours on heatmaps.
double position(double v, double lo, double hi, bool log_scale) {
  if (log_scale && lo > 0 && v > 0) v = std::log(v), lo = std::log(lo), hi = std::log(hi);
  return hi > lo ? (v - lo) / (hi - lo) : 0.5;
}

// ---- spec pieces -------------------------------------------------------------------------------------------------

json vl(json spec) {
  spec["$schema"] = "https://vega.github.io/schema/vega-lite/v6.json";
  spec["config"] = {{"font", "system-ui, sans-serif"}, {"axis", {{"labelFontSize", 11}, {"titleFontSize", 12}}},
                    {"legend", {{"labelFontSize", 11}, {"titleFontSize", 12}}}};
  return spec;
}

// Numbers for people: epochs are whole (no 1.5 tick, no "3.000000"), and a numeric legend shows at most 3
// significant digits ("2.11", not "2.11456827251").
const json kEpochAxis = {{"format", "d"}, {"tickMinStep", 1}};
const json kNumberLegend = {{"format", ".3~g"}, {"formatType", "number"}};
const json kWAxes = json::parse(R"({
  "x": {"field": "abits", "type": "ordinal", "title": "activation bits A", "axis": {"labelAngle": 0}},
  "y": {"field": "wbits", "type": "ordinal", "title": "weight bits W"}
})");

// A W x A heatmap layer pair: rect coloured by `field`, text `label` (white on dark cells: t > 0.6).
json heatmap_layers(const std::string& field, const std::string& title, const json& color_scale, const std::string& label,
                    const json& tooltip) {
  return json::array({
      {{"mark", {{"type", "rect"}}},
       {"encoding",
        {{"color", {{"field", field}, {"type", "quantitative"}, {"title", title}, {"scale", color_scale}}},
         {"tooltip", tooltip}}}},
      {{"mark", {{"type", "text"}, {"fontSize", 10}}},
       {"encoding",
        {{"text", {{"field", label}}},
         {"color", {{"condition", {{"test", "datum.t > 0.6"}, {"value", "white"}}}, {"value", "black"}}}}}},
  });
}

std::vector<int> sorted_unique(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// A W x A matrix table: rows W, columns A.
Table matrix_table(const std::string& caption, const std::vector<int>& ws, const std::vector<int>& as,
                   const std::function<std::string(int, int)>& cell, bool collapsed) {
  Table t;
  t.caption = caption;
  t.collapsed = collapsed;
  t.header.push_back("W \\ A");
  for (int a : as) t.header.push_back(fmt::format("A{}", a));
  for (int w : ws) {
    std::vector<std::string> row{fmt::format("W{}", w)};
    for (int a : as) row.push_back(cell(w, a));
    t.rows.push_back(std::move(row));
  }
  return t;
}

double min_positive(const std::vector<double>& v) {
  double m = kNaN;
  for (double x : v)
    if (x > 0 && (std::isnan(m) || x < m)) m = x;
  return m;
}

std::string short_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto rel = fs::relative(dir, fs::current_path(), ec);
  const std::string r = ec ? dir : rel.string();
  return r.rfind("..", 0) == 0 ? dir : r;
}

CostBasis cost_basis(const Evolution& ev) {
  if (!ev.proxy_unit.empty())
    return {"proxy", ev.cost_spec, ev.proxy_unit + " (proxy)", ev.proxy_unit + " (proxy, not a measurement)"};
  if (ev.fpga_cost()) {
    const std::string device = fpga_device_of(ev.cost_spec);
    return {"estimated", device.empty() ? "FPGA" : device, "ms per frame (estimated)",
            "ms per frame (= 1000 / FPS estimated by the FPGA cost model, " + ev.cost_spec + ")"};
  }
  const std::string host = ev.host.empty() ? "an unrecorded CPU" : ev.host;
  const std::string& spec = ev.cost_spec;
  if (spec.empty() || spec == "cpu" || spec.rfind("torch:cpu", 0) == 0)
    return {"measured", host, "latency (ms)", "latency (ms, batch 1), measured: LibTorch on " + host};
  if (spec.rfind("engine", 0) == 0)
    return {"measured", host, "ms per frame", "ms per frame, measured: integer engine (" + spec + ") on " + host};
  return {"measured", spec, "latency (ms)", "latency (ms, batch 1), measured by the probe " + spec};
}

json tooltip(std::initializer_list<std::pair<const char*, const char*>> fields) {
  json t = json::array();
  for (const auto& [f, title] : fields) t.push_back({{"field", f}, {"title", title}});
  return t;
}

}  // namespace nemokd::report
