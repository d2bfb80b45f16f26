// A deployable bundle of one trained run, the one writer behind `nemokd choose --export` (the chosen model) and
// `nemokd evolve` (every member of its final front, OUT/front/<key>/). Into one folder:
//   run.json, model.pt       copied from the run folder (model.pt when the run kept its weights)
//   accuracy.json            validation and test accuracy as the caller recorded them (the search's / choose's row)
//   fpga.json                for an FPGA target: the target, the fastest folding that fits and its estimate
//                            (cost::CostValue::to_json of the fpga backend; "estimated" by FINN's cost model)
//   model.nqe                the bit-exact integer engine's model (quantized models with their weights)
//   model.qonnx.onnx         QONNX for FINN (models with their weights that export)
//   engine.json              the engine's speed MEASURED on this CPU by the engine cost backend (engine_cost.cpp)
//   + the caller's own files (choose: cost.json, its row)
//   bundle.json              what was written, and for everything absent, why (a float model: no integer engine model,
//                            no QONNX, no FPGA figures)
// The folder is built beside `out_dir` and renamed into place when complete: a kill leaves the old state or the whole
// bundle, never half of one. No torch here.
#pragma once
#include <cmath>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cost/cost.h"

namespace nemokd::cost {

struct BundleOptions {
  std::string origin = "nemokd";  // who writes it ("nemokd choose", "nemokd evolve"): bundle.json, the QONNX doc
  std::string label;              // the model's name in bundle.json (a sweep label, an architecture)
  double val_accuracy = NAN, test_accuracy = NAN;  // accuracy.json (NaN: not measured)
  // fpga.json from a figure the caller already has (choose's row, possibly a search's record) for `fpga_target`;
  // without it, the `fpga` backend given to write_bundle prices the run (price_run).
  std::optional<CostValue> fpga_value;
  std::string fpga_target;
  // The engine cost that measures the engine speed (cost.h: "engine[:threads=N,batch=B,seconds=S]"); "" = not
  // measured (bundle.json says so).
  std::string engine = "engine";
  // engine.json's "cost" as the caller already has it for `engine` (CostValue::to_json(); an engine-cost search's
  // stored measurement: the bundle then holds the figure the search ranked, not a second, noisy one); null: measured.
  nlohmann::json engine_value;
  nlohmann::json files = nlohmann::json::object();  // more JSON files: name -> content (choose: "cost.json")
  nlohmann::json info = nlohmann::json::object();   // more keys of bundle.json
};

// Writes the bundle of the run in `run_dir` into `out_dir`, which must not exist or be empty (ConfigError otherwise:
// nothing is written over). `fpga`: the FPGA target to price it on, or null (no fpga.json unless options.fpga_value).
// Returns bundle.json: {"run_dir", "written": [...], "not_written": {name: why}, ...options.info}.
nlohmann::json write_bundle(const std::string& run_dir, const std::string& out_dir, CostBackend* fpga,
                            const BundleOptions& options);

}  // namespace nemokd::cost
