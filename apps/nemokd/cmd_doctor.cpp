// nemokd doctor: what this installation will actually use — torch, CUDA, BLAS, threads, datasets.
#include <fmt/format.h>

#include "cli_common.h"
#include "core/runtime.h"
#include "core/run_record.h"
#include "data/sources.h"

namespace nemokd::cli {

void register_doctor(CLI::App& app) {
  struct Flags {
    int threads = 0;
    OutputFlags out;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("doctor", "Show torch version, CUDA, the BLAS in use, threads and datasets");
  cmd->add_option("--threads", f->threads, "Thread count to configure before reporting (0 = all cores)")
      ->capture_default_str();
  add_output_flags(cmd, f->out);
  cmd->callback([f] {
    configure_threads(f->threads);
    auto info = runtime_info();
    nlohmann::json j = to_json(info);
    j["nemokd"] = version_info();
    j["data_cache"] = data::data_cache_dir();
    nlohmann::json ds = nlohmann::json::object();
    for (const auto& s : data::dataset_specs()) {
      auto found = data::locate(s, "");
      ds[s.name] = found ? nlohmann::json{{"available", true}, {"source_kind", found->kind}, {"source_dir", found->dir}}
                         : nlohmann::json{{"available", false}, {"how_to_get", s.install_hint}};
    }
    j["datasets"] = ds;
    campaign::ExecutorOptions quiet;
    quiet.announce = false;
    const auto executor = campaign::make_executor(quiet);
    const bool cluster = executor->distributed();
    j["mpi"] = {{"built_with", dist::built_with_mpi()}, {"ranks", executor->ranks()}};
    std::vector<std::string> problems;
    if (!info.blas.is_openblas)
      problems.push_back(fmt::format("BLAS is not OpenBLAS ({}); run scripts/install-deps.sh", info.blas.library));
    j["problems"] = problems;
    exit_code() = problems.empty() ? 0 : 1;
    if (f->out.json) return print_json(j);

    fmt::print("{}\n", version_string());
    fmt::print("torch    {}   CUDA: {}\n", info.torch_version,
               info.cuda_available ? fmt::format("yes, {} device(s)", info.cuda_devices) : std::string("no"));
    fmt::print("BLAS     {}{}\n", info.blas.is_openblas ? "OpenBLAS" : (info.blas.is_reference ? "reference BLAS (slow!)" : "unknown"),
               info.blas.library.empty() ? "" : "  (" + info.blas.library + ")");
    if (!info.blas.config.empty()) fmt::print("         {}\n", info.blas.config);
    fmt::print("threads  torch {} (inter-op {}), BLAS {}, cores {}\n", info.torch_threads, info.torch_interop_threads,
               info.blas.threads, info.cores);
    fmt::print("MPI      {}\n", !dist::built_with_mpi() ? std::string("not built in (NEMOKD_WITH_MPI=OFF)")
                                 : cluster ? fmt::format("{} ranks", executor->ranks())
                                           : std::string("built in; this is a single process (start with mpirun/srun)"));
    fmt::print("data     cache {}\n", data::data_cache_dir());
    for (const auto& s : data::dataset_specs()) {
      const auto& d = ds[s.name];
      fmt::print("         {:<14} {}\n", s.name,
                 d["available"].get<bool>() ? fmt::format("{} ({})", d["source_dir"].get<std::string>(),
                                                          d["source_kind"].get<std::string>())
                                            : "missing: " + d["how_to_get"].get<std::string>());
    }
    for (const auto& p : problems) fmt::print(stderr, "problem: {}\n", p);
  });
}

}  // namespace nemokd::cli
