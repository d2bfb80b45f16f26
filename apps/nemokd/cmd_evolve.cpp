// nemokd evolve — NEMOKD phase 2: NSGA-II over student architectures, KD-trained briefly, latency measured on the
// target by a probe; resumable from the run folder's SQLite state.
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "hw/latency/probe.h"
#include "models/registry.h"
#include "search/evolve.h"

namespace nemokd::cli {

void register_evolve(CLI::App& app) {
  struct Flags {
    search::EvolveConfig config;
    std::string student = "flexstudent", student_config, space, preset, config_file, objectives;
    TrainingFlags training;
    RunFlags run;
    OutputFlags output;
    MpiFlags mpi;
  };
  auto f = std::make_shared<Flags>();
  auto& c = f->config;
  c.base.base.train.epochs = 1;  // partial training
  auto* cmd = app.add_subcommand(
      "evolve", "NEMOKD: NSGA-II over student architectures (error after partial KD training vs latency on the target)");
  cmd->footer(
      "Example: nemokd evolve --teacher runs/teacher --student flexstudent --dataset fashion-mnist --population 16 \\\n"
      "           --generations 10 --epochs 1 --alpha 0.5 -T 4 --latency torch:cpu --jobs 2 --out runs/evolve\n"
      "Resume after a kill: nemokd evolve --resume --out runs/evolve   (the stored config is used)\n"
      "Latency probes: " + hw::latency::probe_forms() + "\n"
      "Outputs in --out: candidates.csv, results.json (every candidate, per-generation populations and fronts),\n"
      "candidates/<id>/ (each candidate's run folder: run.json, model.pt), state.db (SQLite, resumable).\n"
      "Across machines: mpirun -np 5 nemokd evolve ... --out /shared/evolve — rank 0 runs NSGA-II and the state,\n"
      "ranks 1-4 train each generation's candidates (docs/DISTRIBUTED.md).");
  add_dataset_flags(cmd, c.base.base.dataset);
  cmd->add_option("--teacher", c.base.kd.teacher, "Teacher: run folder or TorchScript file");
  cmd->add_option("--student", f->student, "Student architecture whose genome evolves: flexstudent | flexresnet8x4")
      ->capture_default_str();
  cmd->add_option("--student-config", f->student_config, "JSON (file or inline): the baseline student's config");
  cmd->add_option("--space", f->space,
                  "JSON (file or inline) overriding the search space, e.g. {\"max_conv\":4,\"channels\":[8,16,32,64]}");
  cmd->add_option("--alpha", c.base.kd.loss.alpha, "KD weight (phase 1's best)")->capture_default_str();
  cmd->add_option("--temperature,-T", c.base.kd.loss.temperature, "KD temperature (phase 1's best)")
      ->capture_default_str();
  cmd->add_option("--population,-p", c.population, "Population (>= 8, a multiple of 4)")->capture_default_str();
  cmd->add_option("--generations,-g", c.generations, "Generations after the initial population")->capture_default_str();
  cmd->add_option("--search-seed", c.seed, "NSGA-II and initial-population seed (--seed seeds the trainings)")
      ->check(non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--latency", c.latency, "Latency probe: torch:cpu, torch:cuda, command:..., macs, params")
      ->capture_default_str();
  cmd->add_option("--objectives", f->objectives, "Extra objectives to minimise: params, macs (comma-separated)");
  cmd->add_option("--jobs,-j", c.jobs, "Candidates trained at a time (threads are split); ignored under MPI")
      ->capture_default_str();
  cmd->add_option("--mpi-latency", c.mpi_latency,
                  "Under mpirun/srun, where latency is measured: root (default: rank 0 measures every candidate after "
                  "the generation's trainings, one device, nothing training beside it), trainer (the rank that "
                  "trained it; ranks must be identical hardware) or a rank number (that rank measures all)")
      ->capture_default_str();
  cmd->add_flag("!--no-baseline", c.baseline, "Skip the un-evolved student with and without KD");
  cmd->add_option("--preset", f->preset, "k1, k2, k3 (CIFAR) or k-fmnist: dataset, student and recipe");
  cmd->add_option("--config", f->config_file, "An evolve.json (written to every --out) to run again");
  f->training.add(cmd, c.base.base.train);
  f->run.add(cmd, c.base.base, "evolve");
  f->mpi.add(cmd);
  add_output_flags(cmd, f->output);
  cmd->callback([f, cmd] {
    search::EvolveConfig config;
    const std::string out = f->run.out.empty() ? default_out_dir("evolve") : f->run.out;
    const auto stored = std::filesystem::path(out) / "evolve.json";
    const bool only_resume = f->run.resume && f->config_file.empty() && !cmd->get_option("--teacher")->count();
    if (only_resume) {
      if (!std::filesystem::exists(stored))
        throw ConfigError(fmt::format("--resume: {} has no evolve.json to continue", out));
      config = search::evolve_config_from_json(read_json_file(stored.string()));
      if (cmd->get_option("--jobs")->count()) config.jobs = f->config.jobs;
      if (cmd->get_option("--generations")->count()) config.generations = f->config.generations;
      if (cmd->get_option("--threads")->count()) config.base.base.threads = f->config.base.base.threads;
      if (cmd->get_option("--mpi-latency")->count()) config.mpi_latency = f->config.mpi_latency;
    } else if (!f->config_file.empty()) {
      config = search::evolve_config_from_json(read_json_file(f->config_file));
    } else {
      auto c = f->config;
      if (c.base.kd.teacher.empty()) throw ConfigError("--teacher: required (a run folder or a TorchScript file)");
      if (!f->preset.empty()) {
        auto p = search::evolve_preset(f->preset, c.base.kd.teacher);
        p.base.base.dataset.load = c.base.base.dataset.load;
        p.base.kd.loss = c.base.kd.loss;
        p.base.base.threads = c.base.base.threads;
        if (cmd->get_option("--epochs")->count())
          kd::apply_reference_recipe(p.base.base.train, p.base.base.model.family(), c.base.base.train.epochs);
        p.population = c.population;
        p.generations = c.generations;
        p.seed = c.seed;
        p.latency = c.latency;
        p.jobs = c.jobs;
        p.mpi_latency = c.mpi_latency;
        // Where and how reproducibly to train are the user's, preset or not.
        if (cmd->get_option("--device")->count()) p.base.base.train.device = c.base.base.train.device;
        if (cmd->get_option("--seed")->count()) p.base.base.train.seed = c.base.base.train.seed;
        p.baseline = c.baseline;
        c = p;
      } else {
        c.base.base.model = model_from_flags(f->student, f->student_config, "--student-config");
        c.space.family = c.base.base.model.family();
        f->training.apply(c.base.base);
      }
      if (!f->space.empty()) {
        auto sj = to_json(c.space);
        const auto overrides = json_flag("--space", f->space);  // named: items() must not outlive a temporary
        for (auto& [k, v] : overrides.items()) sj[k] = v;
        c.space = search::search_space_from_json(sj, "space");
      }
      if (!f->objectives.empty()) {
        c.extra_objectives.clear();
        std::stringstream ss(f->objectives);
        std::string item;
        while (std::getline(ss, item, ',')) c.extra_objectives.push_back(item);
      }
      config = search::evolve_config_from_json(search::to_json(c));  // one validation path for CLI and files
    }
    auto executor = f->mpi.executor(cmd, config.jobs);
    if (!executor->distributed() && cmd->get_option("--mpi-latency")->count())
      spdlog::warn("--mpi-latency: ignored, this is a single process (latency is measured here)");
    search::EvolveContext ctx;
    ctx.executor = executor;
    ctx.out_dir = out;
    ctx.resume = f->run.resume;
    ctx.progress = !f->output.quiet;
    const auto result = search::run_evolution(config, ctx);
    auto j = result.to_json();
    j["out"] = out;
    if (f->output.json) {
      print_json(j);
      return;
    }
    fmt::print("nemokd evolve in {}: {} candidates ({} evaluated now, {} reused), {} generations\n", out,
               result.candidates.size(), result.evaluated_now, result.reused, result.members.size() - 1);
    fmt::print("{:<4} {:<15} {:<42} {:>9} {:>12} {:>10}\n", "gen", "role", "architecture", "error", "latency", "params");
    for (const auto& c : result.candidates) {
      const bool front = std::find(result.fronts.back().begin(), result.fronts.back().end(), c.key) !=
                         result.fronts.back().end();
      if (!front && c.role == search::Role::search) continue;
      fmt::print("{:<4} {:<15} {:<42} {:>8.2f}% {:>12.4g} {:>10}{}\n", c.generation, search::to_string(c.role), c.summary, 100 * c.error,
                 c.latency, c.params, front ? "  (final front)" : "");
    }
    fmt::print("all candidates: {}/candidates.csv\n", out);
  });
}

}  // namespace nemokd::cli
