// Single training runs and integer engine comparisons.
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

Section single_run_section(const SingleRun& r, const RunSet::Entry& e, const std::string& id) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Training run {}", short_dir(r.dir));
  sec.intro = fmt::format("{} on {}; {} epochs, status {}; final test accuracy {}, validation {}.", r.model, r.dataset,
                          r.epochs ? r.epochs : static_cast<int>(r.curve.size()), r.status, pct(r.final_test_accuracy), pct(r.final_val_accuracy));
  sec.commands = e.commands;
  json rows = json::array();
  Table t;
  t.caption = "Accuracy (%) per epoch";
  t.collapsed = r.curve.size() > 12;
  t.header = {"epoch", "train", "validation", "test"};
  for (const auto& p : r.curve) {
    const std::pair<const char*, double> series[] = {
        {"train", p.train_accuracy}, {"validation", p.val_accuracy}, {"test", p.test_accuracy}};
    for (const auto& [name, v] : series)
      if (!std::isnan(v)) rows.push_back({{"epoch", p.epoch}, {"split", name}, {"accuracy", v}});
    t.rows.push_back({std::to_string(p.epoch), fixed(100 * p.train_accuracy, 2), fixed(100 * p.val_accuracy, 2),
                      fixed(100 * p.test_accuracy, 2)});
  }
  if (rows.empty()) {
    sec.tables.push_back(std::move(t));
    return sec;
  }
  json spec = {{"data", {{"values", rows}}}, {"width", 420}, {"height", 220},
               {"mark", {{"type", "line"}, {"point", true}}},
               {"encoding",
                {{"x", {{"field", "epoch"}, {"type", "quantitative"}, {"axis", kEpochAxis}}},
                 {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
                 {"color", {{"field", "split"}, {"type", "nominal"}, {"sort", {"train", "validation", "test"}}}},
                 {"tooltip", json::array({{{"field", "split"}}, {{"field", "epoch"}}, {{"field", "accuracy"}, {"format", ".2%"}}})}}}};
  Block b;
  b.chart = {id + "-curve", "Accuracy per epoch", "From metrics.json (train, validation and test where evaluated).", vl(spec)};
  b.tables.push_back(std::move(t));
  sec.blocks.push_back(std::move(b));
  return sec;
}

Section engine_section(const EngineCompare& ec, const RunSet::Entry& e, const std::string& id) {
  Section sec;
  sec.id = id;
  sec.title = fmt::format("Integer engine against the QAT models {}", short_dir(ec.dir));
  int exact = 0;
  for (const auto& r : ec.rows) exact += r.exact;
  sec.intro = fmt::format("{} models; {} bit-exact with the quantization-aware model on the whole test set.", ec.rows.size(), exact);
  sec.commands = e.commands;
  json rows = json::array();
  Table t;
  t.caption = "Every model";
  t.collapsed = ec.rows.size() > 16;
  t.header = {"set", "cell", "model bytes", "engine accuracy", "QAT model accuracy", "prediction mismatches", "exact", "kernels"};
  for (const auto& r : ec.rows) {
    rows.push_back({{"set", r.set}, {"cell", r.cell}, {"bytes", r.bytes}, {"accuracy", r.engine_accuracy},
                    {"exact", r.exact ? "yes" : "no"}, {"kernels", r.kernels}});
    t.rows.push_back({r.set, r.cell, grouped(double(r.bytes)), pct(r.engine_accuracy), pct(r.model_accuracy),
                      std::to_string(r.prediction_mismatches), r.exact ? "yes" : "no", r.kernels});
  }
  json spec = {{"data", {{"values", rows}}}, {"width", 460}, {"height", 240},
               {"mark", {{"type", "point"}, {"filled", true}, {"size", 50}}},
               {"encoding",
                {{"x", {{"field", "bytes"}, {"type", "quantitative"}, {"title", "integer model file (bytes, log)"}, {"scale", {{"type", "log"}}}}},
                 {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "engine test accuracy"},
                        {"scale", {{"zero", false}}}, {"axis", {{"format", ".1%"}}}}},
                 {"color", {{"field", "set"}, {"type", "nominal"}}},
                 {"shape", {{"field", "exact"}, {"type", "nominal"}, {"title", "bit-exact"}}},
                 {"tooltip", tooltip({{"set", "set"}, {"cell", "cell"}, {"bytes", "bytes"}, {"accuracy", "accuracy"},
                                      {"exact", "bit-exact"}, {"kernels", "kernels"}})}}}};
  Block b;
  b.chart = {id + "-size", "Accuracy against integer model size", "From compare.csv.", vl(spec)};
  b.tables.push_back(std::move(t));
  sec.blocks.push_back(std::move(b));
  return sec;
}

}  // namespace nemokd::report
