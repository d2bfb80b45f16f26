// nemokd — compress neural networks for hardware accelerators (quantization for FPGAs, distillation +
// evolution for fixed accelerators). This file only wires the subcommands together.
#include <iostream>
#include <memory>
#include <set>
#include <string>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/log.h"
#include "core/run_record.h"
#include "core/runtime.h"
#include "campaign/executor.h"
#include "dist/cluster.h"
#include "interop/qonnx_model.h"
#include "search/evolve.h"

namespace nemokd::cli {
void register_models(CLI::App& app);  // cmd_models.cpp
}

namespace {
int run_command(int argc, char** argv);
}

int main(int argc, char** argv) {
  // Commands that run torch's thread pool start again with a bounded OpenMP spin (core/runtime.h), before anything
  // else happens (MPI start-up included); quick ones (data, fpga, models, report, export, --help) are not worth it.
  // One thread (--threads 1) has no idle team to spin, so no restart either.
  static const std::set<std::string> kParallel = {"train", "run", "quant", "kd", "evolve", "demo", "latency", "engine",
                                                  "doctor", "worker"};
  bool one_thread = false;
  for (int i = 1; i < argc; ++i)
    one_thread |= (std::string(argv[i]) == "--threads" && i + 1 < argc && std::string(argv[i + 1]) == "1") ||
                  std::string(argv[i]) == "--threads=1";
  if (argc > 1 && kParallel.count(argv[1]) && !one_thread) nemokd::reexec_with_bounded_openmp_spin(argv);
  nemokd::set_command_line(argc, argv);
  nemokd::setup_logging(nemokd::Verbosity::normal);
  nemokd::tune_allocator();  // keep freed tensors in the heap instead of mmap/munmap per batch

  // Under mpirun/srun every rank starts here: rank 0 runs the command below, the others serve its tasks (trainings,
  // latency measurements) until it ends. Alone, the session is empty.
  std::unique_ptr<nemokd::dist::Session> session;
  try {
    session = std::make_unique<nemokd::dist::Session>(argc, argv);
  } catch (const nemokd::Error& e) {
    fmt::print(stderr, "nemokd: error: {}\n", e.what());
    return 1;
  }
  nemokd::campaign::register_tasks();
  nemokd::search::register_latency_task();
  nemokd::interop::register_qonnx_family();  // --model FILE.onnx and run folders of imported models
  if (session->is_worker()) return session->finish(session->serve());
  return session->finish(run_command(argc, argv));
}

namespace {
int run_command(int argc, char** argv) {
  CLI::App app{"nemokd: quantization-aware training, FPGA cost models, knowledge distillation and hardware-aware "
               "evolution of compressed neural networks"};
  app.set_version_flag("--version", nemokd::version_string());
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("--verbose,-v", verbose, "Debug logging");
  app.parse_complete_callback([&verbose] {
    if (verbose) nemokd::setup_logging(nemokd::Verbosity::verbose);
  });

  nemokd::cli::register_data(app);
  nemokd::cli::register_train(app);
  nemokd::cli::register_run(app);
  nemokd::cli::register_doctor(app);
  nemokd::cli::register_quant(app);
  nemokd::cli::register_fpga(app);
  nemokd::cli::register_engine(app);
  nemokd::cli::register_kd(app);
  nemokd::cli::register_evolve(app);
  nemokd::cli::register_export(app);
  nemokd::cli::register_demo(app);
  nemokd::cli::register_models(app);
  nemokd::cli::register_latency(app);
  nemokd::cli::register_report(app);
  nemokd::cli::register_choose(app);
  nemokd::cli::register_import(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // A bad flag is one line like every other error (CLI11's own printer adds a second, "Run with --help ...").
    fmt::print(stderr, "nemokd: error: {} (see --help)\n", e.what());
    return e.get_exit_code();
  } catch (const nemokd::Error& e) {
    fmt::print(stderr, "nemokd: error: {}\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    fmt::print(stderr, "nemokd: torch error: {}\n", e.msg());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "nemokd: error: {}\n", e.what());
    return 1;
  }
  return nemokd::cli::exit_code();
}
}  // namespace
