// nemokd demo: the end-to-end tour on real data, a few minutes on 2 cores (the stages are src/demo/demo.h).
#include <fmt/format.h>

#include "cli_common.h"
#include "demo/demo.h"

namespace nemokd::cli {

void register_demo(CLI::App& app) {
  struct Flags {
    demo::DemoOptions demo;
    OutputFlags output;
  };
  auto f = std::make_shared<Flags>();
  auto& d = f->demo;
  auto* cmd = app.add_subcommand("demo", "Run every nemokd capability end to end on real MNIST / Fashion-MNIST");
  cmd->footer(
      "Stages: (1) float MLP 784-256x3-10 on MNIST and (2) on Fashion-MNIST; (3) quantization-aware training of the\n"
      "TFC MLP with 2-bit weights and activations on MNIST; (4) a W x A sweep (W1A1, W2A2, W4A4) of TFC on\n"
      "Fashion-MNIST, two trainings at a time, with FPGA columns; the FPGA cost of (3) on an XC7Z020; (5) the integer\n"
      "engine built from (3), checked bit-exact against it on the MNIST test set, and its throughput vs LibTorch;\n"
      "(6) distillation on Fashion-MNIST: a ResNet-8 teacher, then a small (alpha, T) grid for the FlexStudent\n"
      "baseline plus the no-KD baseline, with the teacher-output cache; (7) a small NEMOKD evolution of FlexStudent\n"
      "(population 8, 1 generation, latency measured with LibTorch); (8) QONNX and ONNX export of the QAT model and\n"
      "the distilled student; (9) one HTML report of it all. Each stage writes run folders under --out.");
  cmd->add_option("--out,-o", d.out, "Output folder")->capture_default_str();
  cmd->add_option("--epochs,-e", d.epochs, "Epochs of the float stages")->capture_default_str();
  cmd->add_option("--qat-epochs", d.qat_epochs, "Epochs of the quantization-aware stages")->capture_default_str();
  cmd->add_option("--kd-epochs", d.kd_epochs, "Epochs of the distillation students (grid cells, evolution)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--teacher-epochs", d.teacher_epochs,
                  "Epochs of the ResNet-8 teacher (longer than the students', so that it is the stronger model)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--threads", d.threads, "Threads (0 = the cores no other process is using)")->capture_default_str();
  cmd->add_option("--train-limit", d.train_limit, "Use only the first N training images (0 = all)")
      ->capture_default_str();
  cmd->add_flag("--resume", d.resume, "Continue an interrupted demo (finished stages are not redone)");
  add_output_flags(cmd, f->output);
  cmd->callback([f] {
    f->demo.progress = !f->output.quiet;
    const auto result = demo::run_demo(f->demo);
    exit_code() = result.exit_code;
    if (f->output.json) return print_json(result.summary);
    fmt::print("{}", demo::summary_text(f->demo, result));
  });
}

}  // namespace nemokd::cli
