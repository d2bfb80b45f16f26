// nemokd import qonnx — bring a QONNX model trained elsewhere (Brevitas, FINN) into a nemokd run folder. See
// docs/IMPORT.md.
#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "data/loader.h"
#include "interop/import.h"

namespace nemokd::cli {
namespace {

void register_qonnx(CLI::App* import_cmd) {
  struct Flags {
    std::string file, out, normalization = "unit";
    bool no_eval = false;
    data::DataConfig data;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = import_cmd->add_subcommand(
      "qonnx", "Import a QONNX MLP (Brevitas export, qonnx cleanup, FINN streamlining) into a run folder that engine, "
               "fpga and report take");
  cmd->add_option("file", f->file, "The .onnx file")->required();
  cmd->add_option("--out,-o", f->out, "Run folder to write (run.json, model.pt with the file inside)")->required();
  cmd->add_option("--normalization", f->normalization,
                  "How pixels reach the graph input: unit (pixel/255, Brevitas' BNN-PYNQ recipe), signed (2 pixel/255 "
                  "- 1), raw (0..255), standard")
      ->capture_default_str();
  cmd->add_flag("--no-eval", f->no_eval, "Do not measure the test accuracy");
  add_dataset_flags(cmd, f->data);
  add_output_flags(cmd, f->output);
  cmd->callback([f] {
    interop::ImportOptions o;
    o.dataset = f->data;
    o.normalization = data::parse_normalization(f->normalization);
    o.evaluate = !f->no_eval;
    const auto rec = interop::import_qonnx(f->file, f->out, o);
    if (f->output.json) {
      print_json({{"run", f->out}, {"record", rec.to_json()}});
      return;
    }
    const auto& m = rec.results["model"];
    fmt::print("imported {} into {}\n", f->file, f->out);
    fmt::print("  {} ({}), sha256 {}\n", m.value("producer", std::string("?")),
               m["qonnx"].value("file", std::string()), m["qonnx"].value("sha256", std::string()).substr(0, 16));
    fmt::print("  input {} -> {} classes; {} weights, {} MACs per image\n", m.value("input", std::string("?")),
               m.value("classes", 0), m.value("parameters", int64_t(0)), m.value("macs", int64_t(0)));
    fmt::print("  stages: {}\n", fmt::join(m.value("stages", std::vector<std::string>()), ", "));
    const auto iv = rec.results.value("integer_view", nlohmann::json());
    fmt::print("  integer view: {}\n", iv.is_string() ? iv.get<std::string>() : std::string("?"));
    if (rec.results.contains("final_test_accuracy"))
      fmt::print("  test accuracy {:.2f}% on {} {} images (float32, as the graph computes)\n",
                 100 * rec.results["final_test_accuracy"].get<double>(), rec.results.value("test_images", 0),
                 f->data.name);
    else if (rec.results.contains("evaluation"))
      fmt::print("  test accuracy {}\n", rec.results["evaluation"].get<std::string>());
    fmt::print("next: nemokd fpga estimate --model {0}; nemokd engine build --model {0} --out model.nqe\n", f->out);
  });
}

}  // namespace

void register_import(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Import models trained elsewhere (QONNX from Brevitas/FINN)");
  cmd->require_subcommand(1);
  register_qonnx(cmd);
}

}  // namespace nemokd::cli
