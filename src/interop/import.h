// Bringing a QONNX model trained elsewhere into nemokd: `nemokd import qonnx FILE --out RUN_DIR` writes a run folder
// that the other commands take like any trained run (engine build/eval, fpga estimate/fold, report), and the
// commands that take --model also accept FILE.onnx directly (imported in memory with the default options).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/run_record.h"
#include "data/config.h"
#include "data/loader.h"
#include "hw/fpga/cost_model.h"
#include "interop/qonnx_model.h"
#include "models/integer_net.h"
#include "train/train_run.h"

namespace nemokd::interop {

struct ImportOptions {
  data::DataConfig dataset;  // the data the model classifies (default mnist)
  // How pixels reach the graph's input: BNN-PYNQ/Brevitas models take pixel / 255 ("unit") and map it themselves.
  data::Normalization normalization = data::Normalization::unit;
  bool evaluate = true;  // measure the test accuracy when the dataset is on this machine
};

// True for a path ending in ".onnx".
bool is_onnx_file(const std::string& path);

// The imported model as a completed run (config, record, model), nothing written.
train::TrainedRun imported_run(const std::string& file, const ImportOptions& options);
// Imports FILE into OUT_DIR (run.json, model.pt carrying the file) and returns the record written. Refuses an
// OUT_DIR that already holds a run.
RunRecord import_qonnx(const std::string& file, const std::string& out_dir, const ImportOptions& options);

// A --model argument: FILE.onnx (default ImportOptions) or a run folder (train::load_trained_run).
train::TrainedRun load_model_arg(const std::string& path);

// The integer view of a model that has one: a quantized MLP or CNN (models/integer_net.h) or an imported QONNX model
// (with the graph's code maps). Throws ConfigError "WHAT: ..." saying why not (naming the layer or node).
models::IntegerNet integer_view_of(const models::ClassifierImpl& model, const std::string& what);

// The imported model as FINN would build it: a thresholding unit for the input quantizer, one MVAU per MatMul with
// the graph's declared bits and threshold counts. Throws ConfigError when the graph has no integer view (FINN's
// streamlining would fail on it too).
hw::fpga::Design fpga_design(const QonnxModelImpl& model, int pad_output_to);
// For `fpga estimate|fold --model PATH`: when PATH is an imported model (FILE.onnx or a run folder of arch qonnx),
// its design; false for anything else.
bool imported_fpga_design(const std::string& path, int pad_output_to, hw::fpga::Design* design, std::string* source);

}  // namespace nemokd::interop
