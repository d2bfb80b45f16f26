// nemokd evolve — NEMOKD phase 2: NSGA-II over student architectures, KD-trained briefly, latency measured on the
// target by a probe; resumable from the run folder's SQLite state.
#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/json_config.h"
#include "core/config_layers.h"
#include "cost/cost.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "models/registry.h"
#include "search/evolve.h"
#include "search/fidelity.h"
#include "search/space.h"
#include "train/train_run.h"

namespace nemokd::cli {

void register_evolve(CLI::App& app) {
  struct Flags {
    search::EvolveConfig config;
    std::string student = "flexstudent", student_config, space, preset, objectives, select_on = "validation", bits,
        uniform, rungs;
    std::vector<std::string> seed_archs;
    ConfigFlags config_flags;
    FlagPatch patch;
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
      "           --generations 10 --epochs 1 --alpha 0.5 -T 4 --cost torch:cpu --jobs 2 --out runs/evolve\n"
      "Resume after a kill: nemokd evolve --resume --out runs/evolve   (the stored config; flags typed with it are\n"
      "laid over it, and a changed search setting is refused, named)\n"
      "Costs (--cost; --latency is its old name): " + cost::cost_forms() + "\n"
      "Outputs in --out: candidates.csv, results.json (every candidate, per-generation populations and fronts),\n"
      "candidates/<id>/ (each candidate's run folder: run.json, model.pt), state.db (SQLite, resumable);\n"
      "with --final-epochs: final.json, final.csv (front + baselines retrained over seeds, docs/SEARCH.md).\n"
      "Across machines: mpirun -np 5 nemokd evolve ... --out /shared/evolve — rank 0 runs NSGA-II and the state,\n"
      "ranks 1-4 train each generation's candidates (docs/DISTRIBUTED.md).");
  add_dataset_flags(cmd, c.base.base.dataset);
  cmd->add_option("--teacher", c.base.kd.teacher, "Teacher: run folder or TorchScript file");
  cmd->add_option("--student", f->student,
                  "Student architecture whose genome evolves: flexstudent | flexresnet8x4 | mlp | qmlp (a quantized "
                  "MLP: FINN's TFC recipe, W2A2, tanh, signed 8-bit input, trained on signed [-1, 1] pixels) | qcnv "
                  "(FINN's CNV, W2A2 hardtanh: a channel gene per conv from space.cnv_channels, a width gene per "
                  "hidden FC) | qflexstudent (the quantized FlexStudent, pooled while the map is even so FINN can "
                  "lower every design)")
      ->capture_default_str();
  cmd->add_option("--bits", f->bits,
                  "Bit genes of a quantized student (qmlp, qcnv, qflexstudent): per-layer (a weight and an activation width per layer) or "
                  "uniform (one of each for every layer: route Q's setting); choices in --space weight_bits/act_bits")
      ->check(CLI::IsMember({"uniform", "per-layer"}));
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
  cmd->add_option("--cost,--latency", c.cost,
                  "The hardware objective: a latency probe (torch:cpu, torch:cuda, command:..., macs, params) or "
                  "fpga:DEVICE[,fclk=MHz] (FINN's cost model); --latency is the old name")
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
  cmd->add_option("--select-on", f->select_on,
                  "Error the search minimises: validation (default; test error is measured and reported only) or "
                  "test (the paper's protocol, labelled so in every output). A resume keeps the run's own")
      ->check(CLI::IsMember({"validation", "test"}))
      ->capture_default_str();
  cmd->add_flag("!--no-seed-baseline", c.seed_baseline,
                "Leave the baseline student out of the initial population (seeded by default: the search evaluates "
                "its architecture in generation 0)");
  cmd->add_option("--seed-arch", f->seed_archs,
                  "A student (JSON file or inline, like --student-config) seeding the initial population; repeatable. "
                  "It must be in the search space");
  cmd->add_option("--rungs", f->rungs,
                  "Successive halving inside a generation: training lengths in epochs, e.g. 1,3 (strictly increasing, "
                  "the last = --epochs): every new architecture trains for the first, the best --promote fraction "
                  "of each rung goes on to the next (default: --epochs alone, no promotion; docs/SEARCH.md)");
  cmd->add_option("--promote", c.promote, "Fraction of a rung promoted to the next (0 < f <= 1; default 1/3)")
      ->capture_default_str();
  cmd->add_option("--max-wall", c.max_wall,
                  "Wall-clock budget of the search in seconds (0 = none): no generation starts that would end past it "
                  "at the mean generation's wall; the final stage still runs (may be set on a resume)")
      ->check(CLI::Range(0.0, 1e9));
  cmd->add_option("--final-epochs", c.final_epochs,
                  "Final stage: retrain the archive front (at most --final-max points) and both baselines for this "
                  "many epochs over --final-seeds seeds, reported as mean +- sd (0 = off; may be set on a resume)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--final-seeds", c.final_seeds,
                  "Final stage: train seeds per point (base seed + 0..N-1); raised on a resume, only the new seeds train")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--final-max", c.final_max, "Final stage: at most this many front points")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--final-dir", c.final_dir,
                  "Final stage: run folders, one per training identity (default OUT/final); searches sharing it share "
                  "identical trainings (e.g. the baselines)");
  cmd->add_option("--uniform-baselines", f->uniform,
                  "Route Q's uniform-precision models trained beside the search with its recipe, epochs and cost, for "
                  "the comparison (roles uniform-kd / uniform-no-kd, never on a front): PRESET:WxA[:kd|:no-kd|:both] "
                  "comma-separated, PRESET tfc|sfc|lfc (an MLP of FINN's widths with the student's quantized-MLP "
                  "recipe) or cnv, W and A the weight and activation bits of every layer, kd (the default: with the "
                  "search's distillation), no-kd, or both; e.g. tfc:1x1,tfc:2x2,sfc:2x2,lfc:1x1:both; none = no "
                  "baselines");
  cmd->add_option("--preset", f->preset,
                  "k1, k2, k3 (CIFAR) or k-fmnist: dataset, student and recipe; joint-fmnist: issue 19's joint "
                  "search (Fashion-MNIST, qmlp with per-layer bits, the QAT recipe, alpha 0.5, T 4, "
                  "fpga:xc7z020,fclk=100, uniform baselines TFC/SFC/LFC x W1A1..W4A4 with and without KD)");
  f->training.add(cmd, c.base.base.train);
  f->run.add(cmd, c.base.base, "evolve");
  f->mpi.add(cmd);
  add_output_flags(cmd, f->output);
  f->config_flags.add(cmd, "an evolve.json, written to every --out, or a part of one");
  f->patch.bind_run(cmd, "/base").bind_kd(cmd, "/base");
  f->patch.bind(cmd, "--student", "/base/model").bind(cmd, "--student-config", "/base/model");
  f->patch.bind(cmd, "--student", "/space/arch").bind(cmd, "--student-config", "/space/arch");
  // qmlp trains on signed [-1, 1] pixels (its 8-bit signed input quantizer): the student brings its normalisation.
  f->patch.bind(cmd, "--student", "/base/train/normalization");
  for (const auto& [flag, field] : std::vector<std::pair<std::string, std::string>>{
           {"--population", "/population"}, {"--generations", "/generations"}, {"--search-seed", "/seed"},
           {"--cost", "/cost"}, {"--objectives", "/extra_objectives"}, {"--jobs", "/jobs"},
           {"--mpi-latency", "/mpi_latency"}, {"--no-baseline", "/baseline"}, {"--select-on", "/select_on"},
           {"--no-seed-baseline", "/seed_baseline"}, {"--seed-arch", "/seed_archs"}, {"--bits", "/space/bits"},
           {"--final-epochs", "/final/epochs"}, {"--final-seeds", "/final/seeds"}, {"--final-max", "/final/max"},
           {"--final-dir", "/final/dir"}, {"--uniform-baselines", "/uniform_baselines"}, {"--rungs", "/rungs"},
           {"--promote", "/promote"}, {"--max-wall", "/max_wall"}})
    f->patch.bind(cmd, flag, field);
  cmd->callback([f, cmd] {
    const std::string out = f->run.out.empty() ? default_out_dir("evolve") : f->run.out;
    const auto stored = std::filesystem::path(out) / "evolve.json";
    // The flags' own config (the command's defaults, every flag applied): the base without a preset, and where
    // the values of the flags given come from.
    auto c = f->config;
    const bool qmlp = f->student == "qmlp";
    c.base.base.model = qmlp && f->student_config.empty()
                            ? train::default_qat_config().model
                            : model_from_flags(qmlp ? "mlp" : f->student == "qcnv" ? "cnv" : f->student,
                                               f->student_config, "--student-config");
    // A quantized student brings the pixel normalisation of its input quantizer (signed [-1, 1] for 8-bit signed).
    if (const auto n = models::required_normalization(c.base.base.model); !n.empty())
      c.base.base.train.normalization = data::parse_normalization(n);
    c.space.family = c.base.base.model.family();
    if (!f->bits.empty()) c.space.bits = f->bits;
    c.select_on = search::parse_select_on(f->select_on, "--select-on");
    if (!f->uniform.empty()) c.uniform_baselines = search::parse_uniform_baselines(f->uniform, "--uniform-baselines");
    if (!f->rungs.empty()) c.rungs = parse_int_list("--rungs", f->rungs);
    for (const auto& text : f->seed_archs)
      c.seed_archs.push_back(model_from_flags(models::family_name(c.space.family), text, "--seed-arch"));
    f->training.apply(c.base.base);
    if (!f->objectives.empty()) {
      c.extra_objectives.clear();
      std::stringstream ss(f->objectives);
      std::string item;
      while (std::getline(ss, item, ',')) c.extra_objectives.push_back(item);
    }
    if (!f->space.empty()) f->patch.set("/space", json_flag("--space", f->space));  // merged into the space
    const auto flags = search::to_json(c);
    // Base, --config file, flags: each layer read with the old key "latency" as "cost", so an evolve.json written
    // before the rename layers under --cost (and one layer giving both is refused).
    // --student qflexstudent with the auto pooling rule: the baseline is pooled like every design the genome
    // decodes (while the map is even, search::finn_pools), so FINN can lower it and it seeds generation 0.
    auto plan_student_pools = [&](nlohmann::json& j) {
      if (f->student != "qflexstudent" || !cmd->get_option("--student")->count()) return;
      auto& model = j["base"]["model"];
      if (model.value("arch", std::string()) != "qflexstudent" || !model["qflexstudent"].is_object()) return;
      auto& net = model["qflexstudent"];
      if (net.value("pool", nlohmann::json("auto")) != "auto" || !net["conv_channels"].is_array()) return;
      const auto& spec = data::dataset_spec(j["base"]["dataset"].value("name", std::string()));
      net["pool"] = search::finn_pools(int(net["conv_channels"].size()), spec.height, spec.width);
    };
    auto layers = [&](const nlohmann::json& base, const nlohmann::json& patch) {
      auto j = search::with_cost_key(base, "base config");
      if (!f->config_flags.file.empty())
        merge_layer(j, search::with_cost_key(layer_config(nlohmann::json::object(), f->config_flags.file, nullptr),
                                             "--config " + f->config_flags.file));
      merge_layer(j, patch);
      plan_student_pools(j);
      return search::evolve_config_from_json(j);
    };
    search::EvolveConfig config;
    if (f->run.resume && std::filesystem::exists(stored)) {
      // Resume: the stored config with what was typed laid over it (--config, then the flags). What may change on a
      // resume (jobs, threads, generations, the final stage, --max-wall) changes; any other setting that differs is
      // refused by the store's check, which names only it. (The flags used to be laid over the defaults whenever
      // --teacher was typed, so the refusal listed every stored setting; and a typed --population was ignored.)
      if (!f->preset.empty())
        throw ConfigError(fmt::format("--preset: not with --resume ({} holds the search's config; a new preset is a "
                                      "new search: another --out)",
                                      stored.string()));
      config = layers(read_json_file(stored.string()), f->patch.patch(flags));
    } else if (f->run.resume && f->config_flags.file.empty() && !cmd->get_option("--teacher")->count()) {
      throw ConfigError(fmt::format("--resume: {} has no evolve.json to continue", out));
    } else {
      auto base = flags;
      if (!f->preset.empty()) {
        // --epochs: the preset's recipe at that length (its milestones scaled too).
        auto p = search::evolve_preset(f->preset, c.base.kd.teacher,
                                       cmd->get_option("--epochs")->count() ? c.base.base.train.epochs : 0);
        base = search::to_json(p);
      }
      config = layers(base, f->patch.patch(flags));
      if (config.base.kd.teacher.empty())
        throw ConfigError("--teacher: required (a run folder or a TorchScript file)");
    }
    if (f->config_flags.print) return print_json(search::to_json(config));
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
    fmt::print("{}\n", result.selection_line());
    fmt::print("{:<4} {:<15} {:<42} {:>9} {:>10} {:>12} {:>10}\n", "gen", "role", "architecture", "val err", "test err",
               "latency", "params");
    auto pct = [](double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", 100 * v) : std::string("-"); };
    for (const auto& c : result.candidates) {
      const bool front = std::find(result.fronts.back().begin(), result.fronts.back().end(), c.key) !=
                         result.fronts.back().end();
      if (!front && c.role == search::Role::search) continue;
      fmt::print("{:<4} {:<15} {:<42} {:>9} {:>10} {:>12.4g} {:>10}{}\n", c.generation, search::to_string(c.role),
                 c.summary, pct(c.val_error), pct(c.test_error), c.latency, c.params, front ? "  (final front)" : "");
    }
    fmt::print("all candidates: {}/candidates.csv\n", out);
    for (const auto& e : result.budget) fmt::print("budget {}\n", search::budget_line(e));
    if (result.stopped_by_max_wall)
      fmt::print("stopped by --max-wall after generation {}\n", result.members.size() - 1);
    if (!result.final.is_null()) {
      const auto& fin = result.final;
      fmt::print("final stage: {} epochs x {} seeds ({} trained now, {} reused), cost in {} ({}): {}\n",
                 fin["epochs"].get<int>(), fin["seeds"].get<int>(), fin["trained_now"].get<int>(),
                 fin["reused"].get<int>(), fin["cost"]["unit"].get<std::string>(),
                 fin["cost"]["how"].get<std::string>(), fin["latency"].get<std::string>());
      auto stat = [](const nlohmann::json& s) {
        return s["mean"].is_number() ? fmt::format("{:.2f}% +- {}", 100 * s["mean"].get<double>(),
                                                   s["sd"].is_number() ? fmt::format("{:.2f}", 100 * s["sd"].get<double>())
                                                                       : std::string("-"))
                                     : std::string("-");
      };
      for (const auto& p : fin["points"])
        fmt::print("{:<18} {:<42} {:>10} {:>18} {:>18}{}\n", p["name"].get<std::string>(), p["architecture"].get<std::string>(),
                   p["latency"].is_number() ? fmt::format("{:.4g}", p["latency"].get<double>()) : std::string("-"),
                   "val " + stat(p["val_error"]), "test " + stat(p["test_error"]), p["front"].get<bool>() ? "  (front)" : "");
      const auto& v = fin["verdicts"];
      fmt::print("Beats the distilled baseline: {}\n", v["beats_baseline_kd"].get<bool>() ? "yes" : "no");
      fmt::print(">= 3x faster within 1 point of it: {}\n", v["fast_within_1pt"].get<bool>() ? "yes" : "no");
      fmt::print("final results: {}/final.json, final.csv\n", out);
    }
  });
}

}  // namespace nemokd::cli
