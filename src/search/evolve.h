// NEMOKD phase 2: NSGA-II (pagmo2) over student architectures. Objectives, minimised: validation error after partial
// KD training (phase 1's alpha and T, the teacher-output cache; test error is measured and reported, never selected
// on, unless select_on = test reproduces the paper's protocol) and latency from a probe on the target (plus,
// optionally, parameters and MACs). One generation = one batch: pagmo builds all offspring, then asks for their
// fitness in one call (member_bfe -> batch_fitness), which nemokd evaluates as one batch of child runs of the
// campaign (campaign/campaign.h) on the executor it is given (`jobs` at a time, the next starting when any ends, or
// spread over MPI ranks: campaign/executor.h — the algorithm code is the same either way). Every evaluation is
// memoised in the run's SQLite store by canonical architecture; the (population, algorithm) pair is checkpointed
// after each generation, so a killed run resumes with nothing finished lost or redone (finished trainings are read
// back from their run folders), and ends exactly where an uninterrupted run with the same seed ends.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "campaign/executor.h"
#include "cost/cost.h"
#include "kd/kd_run.h"
#include "search/space.h"
#include "search/store.h"

namespace nemokd::search {

// The error the search minimises. validation: the split held out of the training file (test error only reported,
// so the test figures of the front are not the ones it was chosen by); test: the paper's protocol, kept to
// reproduce it (the front's test error is then optimistically biased). JSON and CLI: "validation" | "test".
enum class SelectOn { validation, test };
const char* to_string(SelectOn s);
SelectOn parse_select_on(const std::string& text, const std::string& key);  // ConfigError naming `key`

// A route Q point evaluated beside the search (issue 19): a uniform-precision model — FINN's TFC, SFC or LFC MLP
// (the baseline student's quantized-MLP recipe, else the QAT default's, with that preset's hidden widths) or FINN's
// CNV — with every layer at `w` weight and `a` activation bits, trained like every candidate (same recipe, epochs,
// data) with the search's distillation (kd) or without it, priced by the search's cost backend. Stored with role
// uniform-kd / uniform-no-kd; never a member of a population, never on a front. JSON {"model", "w", "a", "kd"}.
struct UniformBaseline {
  std::string model = "tfc";  // tfc | sfc | lfc | cnv
  int w = 2, a = 2;
  bool kd = true;
  // "tfc:2x2" (distilled) or "tfc:2x2:no-kd".
  std::string text() const;
  // The model it trains, given the search's baseline student.
  models::ModelConfig model_config(const models::ModelConfig& student) const;
  Role role() const { return kd ? Role::uniform_kd : Role::uniform_no_kd; }
};
// The CLI's list: "tfc:1x1,sfc:2x2:no-kd,lfc:1x1:both" — PRESET:WxA, then :kd (the default), :no-kd or :both (one
// of each); "none" = no uniform baselines. ConfigError naming `key`.
std::vector<UniformBaseline> parse_uniform_baselines(const std::string& text, const std::string& key);

struct EvolveConfig {
  kd::KdRunConfig base;  // teacher, dataset, training (epochs = the partial training), alpha/T; model = baseline
  SearchSpace space;
  int population = 16;   // >= 8, a multiple of 4 (NSGA-II)
  int generations = 10;
  uint64_t seed = 0;
  // The hardware objective: a cost spec (cost/cost.h parse_cost): torch:..., command:..., macs, params (the latency
  // probes, numbers as before), fpga:DEVICE[,...] (FINN's cost model), engine[:...] (the integer engine, measured).
  // JSON "cost"; the old key "latency" is still read (both: ConfigError). CLI --cost, alias --latency.
  std::string cost = "torch:cpu";
  std::vector<std::string> extra_objectives;  // "params", "macs"
  int jobs = 1;          // candidates trained at a time (threads are split); under MPI: one per rank
  // Under MPI, where latencies are measured: "root" (rank 0, after the generation's trainings, so every figure comes
  // from one device with nothing training beside it), "trainer" (the rank that trained the candidate, right after
  // the generation's trainings: ranks must be identical hardware), or a rank number.
  std::string mpi_latency = "root";
  bool baseline = true;  // also evaluate the un-evolved student with and without KD
  std::vector<UniformBaseline> uniform_baselines;  // route Q's points, evaluated once before generation 0
  SelectOn select_on = SelectOn::validation;  // needs a validation split (dataset val_size != 0)
  // Seeding: the initial population holds the baseline student (when seed_baseline) and every seed_archs model
  // (each must be in the space: SearchSpace::encode), the rest random; so the search has evaluated the baseline's
  // architecture with the same partial training as every candidate, in generation 0.
  bool seed_baseline = true;
  std::vector<models::ModelConfig> seed_archs;
  double cr = 0.95, eta_c = 10, m = 0, eta_m = 50;  // NSGA-II; m = 0: 1 / genes
  // Multi-fidelity (search/fidelity.h): successive halving inside a generation over these training lengths in
  // epochs, strictly increasing, the last = base.base.train.epochs; the best `promote` fraction of a rung (and the
  // seeds) go on to the next. Empty: one rung at --epochs (no promotion). Both are in identity().
  std::vector<int> rungs;
  double promote = 1.0 / 3.0;
  // Wall-clock budget of the search in seconds (0: none): no generation starts once the stored generations' wall
  // plus their mean would pass it (the final stage still runs). Not in identity(): it may change on a resume; how
  // many generations it allows depends on the machine (results.json protocol.stopped_by_max_wall says if it cut).
  double max_wall = 0;
  // Final stage (search/final_stage.h), after the last generation: the archive front (at most final_max points)
  // and both baselines retrained for final_epochs over final_seeds train seeds, in final_dir (empty: OUT/final).
  // final_epochs = 0: off. None of them is in identity(): they may change or grow on a resume.
  int final_epochs = 0, final_seeds = 3, final_max = 12;
  std::string final_dir;
  std::string preset;
  void validate() const;
  int objectives() const { return 2 + int(extra_objectives.size()); }
  std::vector<int> effective_rungs() const;  // rungs, or {base.base.train.epochs}
  // The seeds' genomes (baseline first, then seed_archs), one per distinct architecture; ConfigError naming
  // seed_baseline / seed_archs[i] for a model outside the space.
  std::vector<std::vector<double>> seed_genomes() const;
};
nlohmann::json to_json(const EvolveConfig& c);
// An evolve.json (or a layer of one) with the old key "latency" renamed "cost"; ConfigError naming `where` when both
// are given. evolve_config_from_json applies it; a CLI merging layers applies it to each layer first.
nlohmann::json with_cost_key(nlohmann::json j, const std::string& where = "evolve");
EvolveConfig evolve_config_from_json(const nlohmann::json& j);
// What a resumed evolution must keep: everything but jobs, threads and mpi_latency (speed and placement; each
// candidate's latency_detail says which rank measured it) and generations (a finished run may be asked for more).
nlohmann::json identity(const EvolveConfig& c);
// Presets: k1/k2 (CIFAR-10/100, FlexStudent), k3 (CIFAR-100, flexible ResNet8x4), k-fmnist (phase 1's recipe for the
// student: kd::apply_reference_recipe), joint-fmnist (issue 19: Fashion-MNIST, the qmlp student (TFC W2A2) with
// per-layer bit genes and the default QAT recipe (Adam, cosine), alpha 0.5, T 4, cost fpga:xc7z020,fclk=100,
// selection on validation, uniform baselines TFC/SFC/LFC x W1A1..W4A4 with and without KD); `teacher` a run folder.
// `epochs` > 0: the partial training's length (the recipe scaled to it); 0: 1 epoch.
EvolveConfig evolve_preset(const std::string& name, const std::string& teacher, int epochs = 0);

// One evaluation to perform.
struct Request {
  std::string key;
  std::string label;  // the candidate's summary when set (a uniform baseline: "tfc W1A1"); else the space's summary
  std::vector<double> genome;
  models::ModelConfig model;
  Role role = Role::search;
  int generation = 0;
  // The final stage's trainings (0 / empty: the search's own): epochs = that length of the search's recipe (the reference
  // recipe re-applied at it, or another recipe with its length and milestones scaled: training_request),
  // train seed = base.train.seed + seed_offset, the run folder; measure = false: no latency probe (measured later).
  int epochs = 0;
  int seed_offset = 0;
  std::string run_dir;
  bool measure = true;
  int rung = 0;  // the search's rung (search/fidelity.h) this training is for
};

// Trains and measures candidates. The default (make_child_evaluator) runs each training as a child `nemokd run`;
// tests plug in a deterministic in-process one.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // One Candidate per request, in order (status, val_error and test_error (NaN when not measured), latency,
  // params, MACs, run_dir filled). The search sets `error` from the selected metric.
  virtual std::vector<Candidate> evaluate(const std::vector<Request>& requests) = 0;
  // The cost objective of each model measured (or priced) again, nothing training: `rounds` interleaved rounds (each
  // round measures every model once, in order); per model its `rounds` values. Empty (the default): this evaluator
  // cannot re-measure.
  virtual std::vector<std::vector<double>> remeasure_latency(const std::vector<models::ModelConfig>& models,
                                                             int rounds) {
    (void)models, (void)rounds;
    return {};
  }
};

// The child run a request trains: "kd train" (or "train" for a no-KD baseline) with the search's config, the
// request's model, `threads`, and its epochs / seed offset (Request).
RunRecord training_request(const EvolveConfig& config, const Request& rq, int threads);

struct EvolveContext {
  std::string out_dir;
  bool resume = false;
  bool progress = true;
  std::shared_ptr<campaign::Executor> executor;  // where the trainings run (null: make_executor with jobs)
  std::shared_ptr<Evaluator> evaluator;   // null: child-run training + the configured latency probe
  int64_t stop_after_evaluations = -1;    // tests: throw Interrupted after this many new evaluations
  // The cost backend of config.cost (its text() must be that spec's); null: cost::make_cost with the default device
  // table. Tests plug in an fpga backend on a made-up device table, or a stand-in for the engine's measurement (the
  // default evaluator prices the trained runs with it).
  std::shared_ptr<cost::CostBackend> cost{};
};

// Thrown when stop_after_evaluations is reached (what a kill looks like to the store).
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct EvolveResult {
  SelectOn selected_on = SelectOn::validation;       // what `error` is (results.json "protocol")
  bool legacy_protocol = false;  // a store recorded before selection on validation: run with its own protocol
  int seeds = 0;                 // distinct seeded architectures in generation 0 (0: all random)
  std::vector<int> rungs;        // the training lengths of successive halving (one: none); results.json 'protocol'
  double promote = 1.0;
  bool stopped_by_max_wall = false;  // the search ended before --generations because of max_wall
  std::vector<Candidate> candidates;                 // every evaluation of the run, in order
  std::vector<std::vector<std::string>> members;     // per generation (0 = initial): canonical keys
  std::vector<std::vector<std::string>> fronts;      // per generation: keys of the non-dominated members
  int evaluated_now = 0, reused = 0;                 // in this invocation
  nlohmann::json final;                              // the final stage's results (null when it is off)
  // The deployable bundle of each member of the final front (key -> OUT/front/<short key>); a member without one
  // (no run folder, e.g. a test's evaluator) is absent. write_front_bundles in evolve.cpp, docs/SEARCH.md.
  std::map<std::string, std::string> bundles;
  nlohmann::json budget = nlohmann::json::array();   // per generation: trainings per rung, epochs, wall (fidelity.h)
  nlohmann::json to_json() const;
  std::string selection_line() const;  // "selection: validation error (test error reported only)" or the TEST one
  nlohmann::json protocol_json() const;  // results.json 'protocol'
};

// The objective vector of an evaluated candidate (error, cost, extras; failures: the worst values; an infeasible
// one: a penalty every feasible candidate dominates, graded by its violation).
std::vector<double> objectives_of(const EvolveConfig& config, const Candidate& c);
// Indices of the non-dominated points (all objectives minimised), ascending: pagmo's first non-dominated front
// (pagmo::pareto_dominance; equal points are all on it).
std::vector<size_t> non_dominated(const std::vector<std::vector<double>>& f);

std::shared_ptr<Evaluator> make_child_evaluator(const EvolveConfig& config, const EvolveContext& ctx);
// Registers the "latency" task with dist, so any rank can measure a candidate (call once per process).
void register_latency_task();
EvolveResult run_evolution(const EvolveConfig& config, const EvolveContext& ctx);

}  // namespace nemokd::search
