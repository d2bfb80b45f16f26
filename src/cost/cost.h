// What a model costs on a target, behind one interface: the hardware objective of a search and the constraint of
// `nemokd choose`. A target is a text spec (parse_cost), a backend prices a model config (or a trained run folder)
// and says how each figure was obtained — estimated by a cost model, expected on a board (calibrated), measured, or a
// proxy that measures nothing.
//
//   fpga:DEVICE[,fclk=MHz][,usable=finn|device]   FINN's cost model (hw/fpga): the fastest folding that fits DEVICE
//                                                   within FINN's planning shares (usable=finn, the default) or the
//                                                   whole part (usable=device); objective 1000 / estimated FPS (ms per
//                                                   frame). Nothing fits, not even PE = SIMD = 1: infeasible, with a
//                                                   graded violation (below). A float or unmappable layer: infeasible,
//                                                   the lowering's message.
//   engine[:threads=N,batch=B,seconds=S]           the bit-exact integer engine built from a trained run, MEASURED on
//                                                   this CPU: frames/s on B real test images (defaults 1 thread, batch
//                                                   256, 0.6 s); objective ms per frame. Needs the run's model.pt.
//   torch:..., command:..., macs, params            the latency probes of hw/latency (docs/LATENCY.md), numbers
//                                                   unchanged: ms per forward pass, or MACs / parameters (proxies).
//
// No torch here: model configs and input shapes are only named.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/fpga/devices.h"

namespace nemokd::models {
struct ModelConfig;
struct InputShape;
}  // namespace nemokd::models

namespace nemokd::cost {

// How a figure was obtained; never one without its label.
enum class CostHow { estimated, expected_on_board, measured, proxy };
const char* to_string(CostHow how);  // "estimated", "expected on board", "measured", "proxy"

// One model priced on one target.
struct CostValue {
  bool ok = true;         // false: the backend could not price it (message says why; e.g. a probe failed)
  std::string message;    // why !ok, or why infeasible
  bool feasible = true;   // false: it cannot be deployed there (never on a front, never chosen)
  bool priceable = true;  // false: the target cannot run this model at all (a float or unmappable layer on an FPGA;
                          // infeasible, message says which layer); true and infeasible: too large (violation > 0)
  double violation = 0;   // infeasible and priceable: how far from feasible (violation_of)
  double objective = 0;   // minimised: ms per frame (1000 / FPS), probe latency in ms, or the proxy's count
  CostHow how = CostHow::estimated;
  std::string unit;       // "ms/frame", "ms", "MACs", "parameters"
  std::string label;      // "estimated (FINN legacy cost model, fastest folding that fits xc7z020 at ...)"
  nlohmann::json detail = nlohmann::json::object();  // fpga: fps_estimated, fps_expected(+sd, basis), lut, ff,
                                                     // bram18, dsp, fits_planning, fits_device, folding; probes:
                                                     // LatencyResult::to_json()
  nlohmann::json to_json() const;
};

// A parsed target. kind: fpga | engine | torch | command | macs | params.
struct CostSpec {
  std::string kind;
  // fpga
  std::string device;
  double fclk_mhz = 100;
  std::string usable = "finn";  // finn (FINN's planning shares) | device (the whole part)
  // engine
  int threads = 1, batch = 256;
  double seconds = 0.6;  // measurement effort: in the text only when not the default
  // torch | command | macs | params: the probe's canonical text (hw::latency::ProbeSpec::text())
  std::string probe;
  // Canonical text: "fpga:xc7z020,fclk=100,usable=finn", "engine:threads=1,batch=256", "torch:cpu:batch=8", "macs",
  // "command:<cmd>". Stored in
  // records and compared (a recorded cost is reused only for the same text).
  std::string text() const;
};

// The unit of a target's objective and how its figures are obtained, without pricing anything: what every CostValue
// of that target says (fpga: "ms/frame", estimated; engine: "ms/frame", measured; torch/command: "ms", measured;
// macs/params: "MACs"/"parameters", proxy).
struct CostUnit {
  std::string unit;
  CostHow how = CostHow::estimated;
};
CostUnit unit_of(const CostSpec& spec);

// The accepted forms, for help texts and errors.
std::string cost_forms();
// Throws ConfigError naming the text and the accepted forms.
CostSpec parse_cost(const std::string& text);

class CostBackend {
 public:
  virtual ~CostBackend();
  virtual std::string text() const = 0;           // the spec's canonical text
  virtual bool architecture_only() const = 0;     // priced from the config alone (fpga, macs, params)
  virtual bool prices_float() const = 0;          // a float model has a cost here (not fpga)
  virtual bool measures_time() const = 0;         // a measurement: run nothing beside it (torch, command)
  // The model built for `input` images and `classes` (weights do not change any backend's figure here).
  virtual CostValue price(const models::ModelConfig& model, const models::InputShape& input, int classes) = 0;
  // A trained run folder (run.json; model.pt where the backend measures): the default reads the config and the
  // dataset's shape from run.json and calls price(); a measuring backend needs the folder's model.pt (else !ok,
  // "no model.pt"). ConfigError for a folder that is no training run.
  virtual CostValue price_run(const std::string& run_dir);
};

struct CostContext {
  std::string devices;   // fpga: device table file; empty = hw::fpga::default_device_table_path()
  std::string work_dir;  // command probe: where the model files are written; empty = a temporary folder each time
};
std::unique_ptr<CostBackend> make_cost(const CostSpec& spec, const CostContext& context = {});

// The violation of a design that fits nowhere: the sum over LUT, FF, BRAM18, URAM and DSP of max(0, used / budget - 1),
// budget = the usable share of the part (what `fit` was checked against; a zero budget counts as 1). The fpga backend
// takes it at the smallest folding (PE = SIMD = 1), so a larger design has a larger violation. Exposed for tests.
double violation_of(const hw::fpga::FitReport& fit);

}  // namespace nemokd::cost
