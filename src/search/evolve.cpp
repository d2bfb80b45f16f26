#include "search/evolve.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <chrono>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <fmt/format.h>
#include <pagmo/algorithm.hpp>
#include <pagmo/algorithms/nsga2.hpp>
#include <pagmo/batch_evaluators/member_bfe.hpp>
#include <pagmo/bfe.hpp>
#include <pagmo/population.hpp>
#include <pagmo/problem.hpp>
#include <pagmo/rng.hpp>
#include <pagmo/s11n.hpp>
#include <pagmo/utils/generic.hpp>
#include <pagmo/utils/multi_objective.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "campaign/campaign.h"
#include "campaign/kd_grid.h"
#include "core/csv.h"
#include "core/error.h"
#include "core/folder_lock.h"
#include "core/hash.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "export/onnx_export.h"
#include "cost/bundle.h"
#include "data/loader.h"
#include "train/train_run.h"
#include "cost/cost.h"
#include "hw/latency/probe.h"
#include "search/fidelity.h"
#include "search/final_stage.h"

namespace nemokd::search {
namespace fs = std::filesystem;

// A failed or diverged candidate gets these objectives: never preferred, never a crash.
constexpr double kWorst = 1e12;
// Every member is a training run: beyond this a search is a typo, and pagmo would reserve the population up front.
constexpr int kMaxPopulation = 10000;

const char* to_string(SelectOn s) { return s == SelectOn::test ? "test" : "validation"; }

SelectOn parse_select_on(const std::string& text, const std::string& key) {
  if (text == "validation") return SelectOn::validation;
  if (text == "test") return SelectOn::test;
  throw ConfigError(fmt::format("{}: '{}' is not one of validation, test", key, text));
}

std::string UniformBaseline::text() const {
  return fmt::format("{}:{}x{}{}", model, w, a, kd ? "" : ":no-kd");
}

models::ModelConfig UniformBaseline::model_config(const models::ModelConfig& student) const {
  models::ModelConfig m;
  if (model == "cnv") {
    m = models::preset_model("cnv");
  } else {
    // The search's quantized-MLP recipe (activation, BatchNorm, dropout, input quantizer) when the student is one.
    const bool qmlp = student.family() == models::Family::mlp && student.mlp().quantized;
    m = qmlp ? student : train::default_qat_config().model;
    m.mlp().hidden = models::mlp_preset_widths(model);
  }
  models::set_quant_bits(m, {w}, {a});
  return m;
}

std::vector<UniformBaseline> parse_uniform_baselines(const std::string& text, const std::string& key) {
  std::vector<UniformBaseline> out;
  if (text == "none") return out;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    auto bad = [&](const std::string& why) {
      return ConfigError(fmt::format("{}: '{}' {} (PRESET:WxA[:kd|:no-kd|:both], e.g. tfc:1x1,lfc:2x2:both)", key,
                                     item, why));
    };
    std::vector<std::string> parts;
    std::stringstream ps(item);
    for (std::string p; std::getline(ps, p, ':');) parts.push_back(p);
    if (parts.size() < 2 || parts.size() > 3) throw bad("is not PRESET:WxA");
    UniformBaseline u;
    u.model = parts[0];
    const auto x = parts[1].find('x');
    const auto digits = [](const std::string& t) {
      return !t.empty() && t.size() <= 2 && t.find_first_not_of("0123456789") == std::string::npos;
    };
    if (x == std::string::npos || !digits(parts[1].substr(0, x)) || !digits(parts[1].substr(x + 1)))
      throw bad("has no WxA bits (weight x activation, e.g. 2x2)");
    u.w = std::stoi(parts[1].substr(0, x));
    u.a = std::stoi(parts[1].substr(x + 1));
    const std::string mode = parts.size() == 3 ? parts[2] : "kd";
    if (mode != "kd" && mode != "no-kd" && mode != "both") throw bad("ends in '" + mode + "', not kd, no-kd or both");
    u.kd = mode != "no-kd";
    out.push_back(u);
    if (mode == "both") {
      u.kd = false;
      out.push_back(u);
    }
  }
  if (out.empty()) throw ConfigError(fmt::format("{}: empty (give PRESET:WxA,... or none)", key));
  return out;
}

void EvolveConfig::validate() const {
  base.kd.validate("base.kd");
  if (select_on == SelectOn::validation) {
    const auto& load = base.base.dataset.load;
    const int64_t val = load.val_size < 0 ? data::dataset_spec(base.base.dataset.name).default_val_size : load.val_size;
    if (val == 0)
      throw ConfigError("select_on: 'validation' needs a validation split, and the dataset has none (--val-size 0): "
                        "give --val-size N, or --select-on test for the paper's protocol");
  }
  space.validate("space");
  if (space.bits != "none") {
    if (!models::quant_config(base.base.model))
      throw ConfigError(fmt::format("space.bits: '{}' needs a quantized baseline student (--student qmlp, qcnv or "
                                    "qflexstudent)",
                                    space.bits));
    const auto& act = space.act_bits;
    auto student = base.base.model;
    const auto* activation = models::quant_activation(student);
    if (activation && *activation == "relu" && std::find(act.begin(), act.end(), 1) != act.end())
      throw ConfigError("space.act_bits: 1 with a relu student (a 1-bit relu outputs one value): leave 1 out, or use "
                        "tanh");
  }
  if (needs_image(space.family)) {
    const auto& spec = data::dataset_spec(base.base.dataset.name);
    if (space.image_height != spec.height || space.image_width != spec.width)
      throw ConfigError(fmt::format("space.image: [{}, {}], but {} has {}x{} images (the pooling is planned for the "
                                    "dataset's; leave it out to take them)",
                                    space.image_height, space.image_width, base.base.dataset.name, spec.height,
                                    spec.width));
  }
  for (size_t i = 0; i < uniform_baselines.size(); ++i) {
    const auto& u = uniform_baselines[i];
    const std::string key = fmt::format("uniform_baselines[{}]", i);
    check_one_of(key + ".model", u.model, {"tfc", "sfc", "lfc", "cnv"});
    check_range(key + ".w", u.w, 1, 8);
    check_range(key + ".a", u.a, 1, 8);
    const auto m = u.model_config(base.base.model);
    models::model_config_from_json(models::to_json(m), key);  // the model's own checks (a 1-bit relu, ...)
    if (const auto need = models::required_normalization(m);
        !need.empty() && need != data::to_string(base.base.train.normalization))
      throw ConfigError(fmt::format("{}: {}'s input quantizer needs '{}' pixels, the search trains on '{}'", key,
                                    u.text(), need, data::to_string(base.base.train.normalization)));
  }
  if (base.base.model.family() != space.family)
    throw ConfigError(fmt::format("space.arch: {} does not match the baseline student's arch {}",
                                  models::family_name(space.family), models::family_name(base.base.model.family())));
  if (population < 8 || population % 4 != 0 || population > kMaxPopulation)
    throw ConfigError(fmt::format("population: {} (NSGA-II needs >= 8 and a multiple of 4; at most {})", population,
                                  kMaxPopulation));
  check_range("generations", generations, 0, 100000);
  check_range("jobs", jobs, 1, 256);
  if (mpi_latency != "root" && mpi_latency != "trainer" &&
      (mpi_latency.empty() || mpi_latency.find_first_not_of("0123456789") != std::string::npos))
    throw ConfigError(fmt::format("mpi_latency: '{}' (root, trainer or a rank number)", mpi_latency));
  cost::parse_cost(cost);
  for (const auto& o : extra_objectives) check_one_of("objectives", o, {"params", "macs"});
  check_range("nsga2.cr", cr, 0.0, 0.999999);
  check_range("nsga2.eta_c", eta_c, 1.0, 100.0);
  check_range("nsga2.m", m, 0.0, 1.0);
  check_range("nsga2.eta_m", eta_m, 1.0, 100.0);
  check_fidelity(rungs, promote, base.base.train.epochs, "");
  check_range("max_wall", max_wall, 0.0, 1e9);
  check_range("final.epochs", final_epochs, 0, 100000);
  check_range("final.seeds", final_seeds, 1, 1000);
  check_range("final.max", final_max, 1, 10000);
  if (const auto n = seed_genomes().size(); n > size_t(population))
    throw ConfigError(fmt::format("seed_archs: {} distinct seeds (with the baseline) exceed the population of {}", n,
                                  population));
}

std::vector<int> EvolveConfig::effective_rungs() const {
  return search::effective_rungs(rungs, base.base.train.epochs);
}

std::vector<std::vector<double>> EvolveConfig::seed_genomes() const {
  std::vector<std::vector<double>> out;
  std::set<std::string> keys;
  auto add = [&](const models::ModelConfig& m, const std::string& key, const std::string& hint) {
    std::string why;
    auto g = space.encode(m, base.base.model, &why);
    if (!g) throw ConfigError(fmt::format("{}: not in the search space: {}{}", key, why, hint));
    if (keys.insert(canonical_key(space.decode(*g, base.base.model))).second) out.push_back(std::move(*g));
  };
  if (seed_baseline)
    add(base.base.model, "seed_baseline",
        " (the baseline student seeds generation 0: widen --space, or --no-seed-baseline)");
  for (size_t i = 0; i < seed_archs.size(); ++i) add(seed_archs[i], fmt::format("seed_archs[{}]", i), "");
  return out;
}

static nlohmann::json seed_archs_json(const EvolveConfig& c) {
  auto out = nlohmann::json::array();
  for (const auto& m : c.seed_archs) out.push_back(models::to_json(m));
  return out;
}

static nlohmann::json uniform_baselines_json(const EvolveConfig& c) {
  auto out = nlohmann::json::array();
  for (const auto& u : c.uniform_baselines) out.push_back({{"model", u.model}, {"w", u.w}, {"a", u.a}, {"kd", u.kd}});
  return out;
}

nlohmann::json to_json(const EvolveConfig& c) {
  return {{"base", kd::to_json(c.base)},
          {"space", to_json(c.space)},
          {"population", c.population},
          {"generations", c.generations},
          {"seed", c.seed},
          {"cost", c.cost},
          {"extra_objectives", c.extra_objectives},
          {"jobs", c.jobs},
          {"mpi_latency", c.mpi_latency},
          {"baseline", c.baseline},
          {"uniform_baselines", uniform_baselines_json(c)},
          {"select_on", to_string(c.select_on)},
          {"seed_baseline", c.seed_baseline},
          {"seed_archs", seed_archs_json(c)},
          {"nsga2", {{"cr", c.cr}, {"eta_c", c.eta_c}, {"m", c.m}, {"eta_m", c.eta_m}}},
          {"rungs", c.rungs},
          {"promote", c.promote},
          {"max_wall", c.max_wall},
          {"final", {{"epochs", c.final_epochs}, {"seeds", c.final_seeds}, {"max", c.final_max}, {"dir", c.final_dir}}},
          {"preset", c.preset}};
}

nlohmann::json with_cost_key(nlohmann::json j, const std::string& where) {
  if (!j.is_object() || !j.contains("latency")) return j;
  if (j.contains("cost"))
    throw ConfigError(fmt::format("{}: both 'cost' and 'latency' given ('latency' is the old name of 'cost'): keep one",
                                  where));
  j["cost"] = j["latency"];
  j.erase("latency");
  return j;
}

EvolveConfig evolve_config_from_json(const nlohmann::json& j_in) {
  EvolveConfig c;
  const auto j = with_cost_key(j_in);
  JsonReader r(j, "evolve");
  if (const auto* b = r.child("base")) c.base = kd::kd_run_config_from_json(*b);
  if (const auto* s = r.child("space")) {
    // A genome that plans its pooling for the image (qflexstudent) takes the dataset's when the space does not say.
    auto space = *s;
    if (space.is_object() && !space.contains("image") && space.contains("arch") && space["arch"].is_string() &&
        needs_image(models::parse_family(space["arch"].get<std::string>(), "space.arch"))) {
      const auto& spec = data::dataset_spec(c.base.base.dataset.name);
      space["image"] = {spec.height, spec.width};
    }
    c.space = search_space_from_json(space, "space");
  }
  r.get("population", c.population).get("generations", c.generations).get("seed", c.seed);
  r.get("cost", c.cost).get("extra_objectives", c.extra_objectives).get("jobs", c.jobs);
  r.get("mpi_latency", c.mpi_latency);
  r.get("baseline", c.baseline).get("preset", c.preset);
  std::string select_on = to_string(c.select_on);
  r.get("select_on", select_on);
  c.select_on = parse_select_on(select_on, r.key_path("select_on"));
  r.get("seed_baseline", c.seed_baseline);
  r.get("rungs", c.rungs).get("promote", c.promote).get("max_wall", c.max_wall);
  if (const auto* seeds = r.child("seed_archs"); seeds && !seeds->is_null()) {
    if (!seeds->is_array()) throw ConfigError(r.key_path("seed_archs") + ": expected a list of model configs");
    for (size_t i = 0; i < seeds->size(); ++i)
      c.seed_archs.push_back(models::model_config_from_json((*seeds)[i], fmt::format("{}[{}]", r.key_path("seed_archs"), i)));
  }
  if (const auto* u = r.child("uniform_baselines"); u && !u->is_null()) {
    if (!u->is_array()) throw ConfigError(r.key_path("uniform_baselines") + ": expected a list of {model, w, a, kd}");
    for (size_t i = 0; i < u->size(); ++i) {
      UniformBaseline b;
      JsonReader ur((*u)[i], fmt::format("{}[{}]", r.key_path("uniform_baselines"), i));
      ur.get("model", b.model).get("w", b.w).get("a", b.a).get("kd", b.kd);
      ur.finish();
      c.uniform_baselines.push_back(b);
    }
  }
  if (const auto* n = r.child("nsga2")) {
    JsonReader nr(*n, "nsga2");
    nr.get("cr", c.cr).get("eta_c", c.eta_c).get("m", c.m).get("eta_m", c.eta_m);
    nr.finish();
  }
  if (const auto* f = r.child("final")) {
    JsonReader fr(*f, "final");
    fr.get("epochs", c.final_epochs).get("seeds", c.final_seeds).get("max", c.final_max).get("dir", c.final_dir);
    fr.finish();
  }
  r.finish();
  c.validate();
  return c;
}

nlohmann::json identity(const EvolveConfig& c) {
  auto j = without(to_json(c), {"jobs", "mpi_latency", "generations", "final", "max_wall"});
  j["base"] = kd::identity(c.base);
  j["rungs"] = c.effective_rungs();  // [] and [--epochs] are the same search
  if (j["rungs"].size() == 1) j.erase("promote");  // nothing is promoted
  return j;
}

EvolveConfig evolve_preset(const std::string& name, const std::string& teacher, int epochs) {
  EvolveConfig c;
  const int e = epochs > 0 ? epochs : 1;  // the partial training is 1 epoch by default
  if (name == "joint-fmnist") {
    // Issue 19's joint search: the QAT recipe of route Q (Adam, cosine; not phase 1's CNN SGD recipe) at the
    // search's epochs, phase 1's alpha and T, FINN's cost model on the XC7Z020 at 100 MHz, and route Q's uniform grid
    // trained the same way beside it.
    c.base.base = train::default_qat_config();
    c.base.base.dataset.name = "fashion-mnist";
    c.base.base.train.epochs = e;
    c.base.kd.teacher = teacher;
    c.base.kd.loss.alpha = 0.5;
    c.base.kd.loss.temperature = 4;
    c.space.family = models::Family::mlp;
    c.space.bits = "per-layer";
    c.cost = "fpga:xc7z020,fclk=100";
    c.select_on = SelectOn::validation;
    for (const char* model : {"tfc", "sfc", "lfc"})
      for (int bits : {1, 2, 3, 4})
        for (bool kd : {true, false}) c.uniform_baselines.push_back({model, bits, bits, kd});
    c.preset = name;
    return c;
  }
  // Dataset, student, recipe: as phase 1's presets.
  try {
    c.base = campaign::kd_grid_preset(name, teacher, 1.0).base;
  } catch (const ConfigError&) {
    throw ConfigError(fmt::format("preset: '{}' is not one of k1, k2, k3, k-fmnist, joint-fmnist", name));
  }
  kd::apply_reference_recipe(c.base.base.train, c.base.base.model.family(), e);
  c.space.family = c.base.base.model.family();
  c.preset = name;
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// The default evaluator: KD training of each candidate as a child `nemokd run` (resumable from its own checkpoint
// if the run is killed), `jobs` at a time; then, with no training running, the latency probe on the candidate's
// architecture (latency does not depend on the trained values), parameters and MACs.
namespace {

std::string short_hash(const std::string& s) { return fmt::format("{:016x}", memo_hash64(s)); }

constexpr const char* kLatencyTask = "latency";

// One candidate priced by `cost` (the model built from its config for the probes and fpga, the trained run folder
// for the engine): {"value", "detail", "cost"}, or {"error", "cost"} when it cannot be priced or deployed there (e.g.
// a float layer on the integer engine: the candidate then fails with the reason; the search goes on). "cost" is the
// backend's label without the detail (how: measured / estimated / proxy, unit), stored with the candidate.
nlohmann::json price_candidate(cost::CostBackend& cost, const std::string& kind, const nlohmann::json& config,
                               const std::string& run_dir, models::InputShape input, int classes) {
  const auto v = kind == "engine" ? cost.price_run(run_dir)
                                  : cost.price(models::model_config_from_json(config, "model"), input, classes);
  auto label = v.to_json();
  label.erase("detail");
  if (!v.ok || !v.feasible) return {{"error", v.message}, {"cost", label}};
  return {{"value", v.objective}, {"detail", v.detail}, {"cost", label}};
}

// What a candidate is, from its request (the rest is what evaluating it finds).
Candidate candidate_of(const Request& rq, const SearchSpace& space) {
  Candidate c;
  c.key = rq.key;
  c.genome = rq.genome;
  c.config = models::to_json(rq.model);
  c.summary = rq.label.empty() ? space.summary(rq.model) : rq.label;
  c.role = rq.role;
  c.generation = rq.generation;
  return c;
}

// A target that prices a model from its config alone and can refuse it (fpga: a design that fits at no folding, a
// layer FINN cannot map) prices every new candidate before training (BatchRun::resolve); the evaluator then leaves
// the cost alone. The probes keep being measured by the evaluator after the trainings, as before.
bool priced_before_training(const std::string& cost_kind) { return cost_kind == "fpga"; }

class ChildEvaluator : public Evaluator {
 public:
  // `cost`: the search's backend (EvolveContext::cost, checked against config.cost); null: made from config.cost.
  ChildEvaluator(EvolveConfig config, std::string out_dir, std::shared_ptr<campaign::Executor> executor,
                 bool progress, std::shared_ptr<cost::CostBackend> cost = nullptr)
      : config_(std::move(config)), out_dir_(std::move(out_dir)), executor_(std::move(executor)),
        progress_(progress), cost_(std::move(cost)) {
    // A command probe measures the candidate's ONNX export (e.g. OpenVINO benchmark_app on a Myriad X).
    const auto cost_spec = cost::parse_cost(config_.cost);
    kind_ = cost_spec.kind;
    // A probe device this process lacks would fail every candidate after its training: refused now, when this
    // process measures (alone, or --mpi-latency root; other ranks own their devices).
    if (cost_spec.kind == "torch" && (!executor_->distributed() || config_.mpi_latency == "root")) {
      try {
        check_device(hw::latency::parse_probe(cost_spec.probe).device);
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("cost: probe '{}' cannot measure here ({})", config_.cost, e.what()));
      }
    }
    if (!cost_) cost_ = cost::make_cost(cost_spec, {"", (fs::path(out_dir_) / "latency-work").string()});
    const auto& spec = data::dataset_spec(config_.base.base.dataset.name);
    input_ = {spec.channels, spec.height, spec.width};
    classes_ = spec.classes;
    // A measurement rank that does not exist is an error now, not after the first batch's trainings.
    if (executor_->distributed() && config_.mpi_latency != "root" && config_.mpi_latency != "trainer" &&
        std::stol(config_.mpi_latency) >= executor_->ranks())
      throw ConfigError(fmt::format("--mpi-latency: rank {}, but this job has ranks 0..{}", config_.mpi_latency,
                                    executor_->ranks() - 1));
  }

  std::vector<Candidate> evaluate(const std::vector<Request>& requests) override {
    std::vector<Candidate> out(requests.size());
    const int threads = campaign::threads_per_run(config_.base.base.threads, config_.jobs);
    // Runs finished before a kill are read back, not retrained; the rest run as one batch.
    campaign::Batch batch("evolve", progress_);
    for (size_t i = 0; i < requests.size(); ++i) {
      const auto& rq = requests[i];
      auto& c = out[i];
      c = candidate_of(rq, config_.space);
      c.run_dir = rq.run_dir.empty() ? (fs::path(out_dir_) / "candidates" / short_hash(rq.key)).string() : rq.run_dir;
      const RunRecord request = training_request(config_, rq, threads);
      // Longest first in the batch: MACs x epochs ranks the trainings' cost (same data, same batch size).
      const double cost = double(models::build_model(rq.model, input_, classes_)->macs()) *
                          double(std::max(1, rq.epochs > 0 ? rq.epochs : config_.base.base.train.epochs));
      batch.add({c.summary, c.run_dir, request, cost});
    }
    batch.run(*executor_);
    std::vector<int> trained_on(out.size(), -1);  // MPI rank that trained each (-1: read back, not trained now)
    for (size_t i = 0; i < out.size(); ++i) {
      const auto& r = batch.result(i);
      fill(out[i], r.run);
      if (r.ran) trained_on[i] = r.outcome.rank;
    }
    measure(out, trained_on, requests);
    return out;
  }

  // The final stage's rounds: the cost priced again from each architecture on this process (a measured time varies, an
  // estimate or a proxy gives the same figure each round; FinalResult says which). The engine measures a trained
  // run folder (a final point has several): empty, the search's figure stays.
  std::vector<std::vector<double>> remeasure_latency(const std::vector<models::ModelConfig>& configs,
                                                     int rounds) override {
    if (kind_ == "engine") return {};
    std::vector<std::vector<double>> out(configs.size());
    for (int r = 0; r < rounds; ++r)
      for (size_t i = 0; i < configs.size(); ++i) {
        const auto answer = price_candidate(*cost_, kind_, models::to_json(configs[i]), "", input_, classes_);
        out[i].push_back(answer.contains("error") ? NAN : answer.at("value").get<double>());
      }
    return out;
  }

 private:
  // Both errors as the run recorded them (NaN where it measured none); the search picks the selected one.
  static void fill(Candidate& c, const campaign::RunSummary& run) {
    c.status = run.status;
    c.message = run.message;
    c.val_error = 1.0 - run.val_accuracy;
    c.test_error = 1.0 - run.test_accuracy;
    c.train_seconds = run.train_seconds;
  }

  // Latency after all the batch's trainings: here, or under MPI where --mpi-latency says.
  void measure(std::vector<Candidate>& out, const std::vector<int>& trained_on, const std::vector<Request>& requests) {
    std::vector<dist::Task> remote;
    std::vector<size_t> remote_index;
    const bool cluster = executor_->distributed();
    for (size_t i = 0; i < out.size(); ++i) {
      auto& c = out[i];
      auto model = models::build_model(models::model_config_from_json(c.config, "model"), input_, classes_);
      c.params = models::parameter_count(*model);
      c.macs = model->macs();
      int rank = 0;
      if (cluster && config_.mpi_latency == "trainer")
        rank = trained_on[i] >= 0 ? trained_on[i] : dist::kAnyRank;
      else if (cluster && config_.mpi_latency != "root")
        rank = std::stoi(config_.mpi_latency);
      // Priced before training (BatchRun::evaluate sets its cost), or a final-stage training (re-measured apart).
      if (priced_before_training(kind_) || !requests[i].measure) continue;
      if (rank == 0) {
        record_latency(c, price_candidate(*cost_, kind_, c.config, c.run_dir, input_, classes_));
      } else {
        remote.push_back({kLatencyTask,
                          {{"cost", config_.cost},
                           {"config", c.config},
                           {"run_dir", c.run_dir},
                           {"input", {input_.channels, input_.height, input_.width}},
                           {"classes", classes_},
                           {"work_dir", fs::absolute(fs::path(out_dir_) / "latency-work").string()}},
                          rank});
        remote_index.push_back(i);
      }
    }
    if (!remote.empty())
      executor_->run_tasks(remote, [&](size_t k, const dist::TaskResult& r) {
        auto answer = r.value;
        answer["detail"]["rank"] = r.rank;
        answer["detail"]["host"] = r.host;
        record_latency(out[remote_index[k]], answer);
      });
  }

  static void record_latency(Candidate& c, const nlohmann::json& answer) {
    if (answer.contains("cost")) c.cost = answer["cost"];
    if (answer.contains("error")) {
      c.latency = kWorst;
      c.latency_detail = {{"error", answer["error"]}};
      if (c.status == RunStatus::completed) {
        c.status = RunStatus::failed;
        c.message = "latency probe: " + answer["error"].get<std::string>();
      }
      return;
    }
    c.latency = answer.at("value");
    c.latency_detail = answer.at("detail");
  }

  EvolveConfig config_;
  std::string out_dir_;
  std::shared_ptr<campaign::Executor> executor_;
  bool progress_ = true;
  std::shared_ptr<cost::CostBackend> cost_;
  std::string kind_;
  models::InputShape input_;
  int classes_ = 10;
};

// `error` := the selected metric of an evaluated candidate; a completed run that did not measure it failed.
void apply_selection(Candidate& c, SelectOn select_on) {
  const double selected = select_on == SelectOn::validation ? c.val_error : c.test_error;
  if (c.status == RunStatus::completed && !std::isfinite(selected)) {
    c.status = RunStatus::failed;
    c.message = fmt::format("the run recorded no {} accuracy (the selection metric)", to_string(select_on));
  }
  c.error = c.status == RunStatus::completed ? selected : 1.0;
}

}  // namespace

// The objective vector of an evaluated candidate (failures: the worst values). An infeasible candidate (never
// trained) gets a graded penalty instead of a pagmo constraint (pagmo's nsga2 refuses constrained problems):
// (1 + v) * [1, kWorst, kWorst...] with v its violation >= 0, so every feasible candidate (error <= 1, cost <
// kWorst) dominates every infeasible one, and among infeasible ones the less violating dominates (Deb's constrained
// domination, by objective values; deterministic, so a resume ends the same).
std::vector<double> objectives_of(const EvolveConfig& config, const Candidate& c) {
  if (!c.feasible) {
    const double p = 1.0 + std::max(0.0, c.violation());
    std::vector<double> f{p, kWorst * p};
    f.resize(size_t(config.objectives()), kWorst * p);
    return f;
  }
  const bool ok = c.status == RunStatus::completed;
  std::vector<double> f{ok ? c.error : 1.0, ok ? c.latency : kWorst};
  for (const auto& o : config.extra_objectives) f.push_back(double(o == "params" ? c.params : c.macs));
  return f;
}

namespace {

// ---------------------------------------------------------------------------------------------------------------
// What pagmo's problem calls: decode, memo lookup in the store, evaluate the unknown ones as one batch, objectives.
class BatchRun {
 public:
  BatchRun(const EvolveConfig& config, Store& store, Evaluator& evaluator, const EvolveContext& ctx,
           std::shared_ptr<cost::CostBackend> cost)
      : config_(config), store_(store), evaluator_(evaluator), ctx_(ctx), cost_(std::move(cost)),
        rungs_(config.effective_rungs()) {
    const auto& spec = data::dataset_spec(config_.base.base.dataset.name);
    input_ = {spec.channels, spec.height, spec.width};
    classes_ = spec.classes;
    pre_price_ = priced_before_training(cost::parse_cost(config_.cost).kind);
    for (const auto& g : config.seed_genomes()) forced_.insert(canonical_key(config.space.decode(g, config.base.base.model)));
  }

  void set_generation(int g) { generation_ = g; }
  int evaluated_now() const { return evaluated_now_; }
  int reused() const { return reused_; }

  std::vector<double> objectives(const Candidate& c) const { return objectives_of(config_, c); }

  // Evaluates the requests that are not in the store yet (unique keys, in order); returns all candidates. A new
  // search candidate trains at the first rung (search/fidelity.h); the baselines at --epochs (the top rung).
  std::vector<Candidate> resolve(const std::vector<Request>& requests) {
    std::vector<Request> todo;
    std::map<std::string, bool> queued;
    for (const auto& rq : requests) {
      if (store_.candidate(rq.key) || queued[rq.key]) continue;
      queued[rq.key] = true;
      todo.push_back(at_rung(rq, rq.role == Role::search ? 0 : int(rungs_.size()) - 1));
    }
    reused_ += int(requests.size() - todo.size());
    train(todo);
    std::vector<Candidate> out;
    for (const auto& rq : requests) out.push_back(*store_.candidate(rq.key));
    return out;
  }

  std::vector<double> batch_fitness(const std::vector<double>& dvs) {
    const size_t n = config_.space.genes();
    std::vector<Request> requests;
    for (size_t b = 0; b < dvs.size(); b += n) {
      Request rq;
      rq.genome.assign(dvs.begin() + long(b), dvs.begin() + long(b + n));
      rq.model = config_.space.decode(rq.genome, config_.base.base.model);
      rq.key = canonical_key(rq.model);
      rq.generation = generation_;
      requests.push_back(std::move(rq));
    }
    resolve(requests);  // rung 0 for every architecture
    if (rungs_.size() > 1) successive_halving(requests);
    std::vector<double> out;
    for (const auto& rq : requests) {  // each architecture's highest rung reached (the candidate row)
      auto f = objectives(*store_.candidate(rq.key));
      out.insert(out.end(), f.begin(), f.end());
    }
    return out;
  }

  // Wall seconds per generation, as stored (the invocation that finished it; time before a kill is not counted).
  void record_wall(int generation, double seconds) {
    store_.set_meta(fmt::format("wall_seconds.{}", generation), fmt::format("{:.3f}", seconds));
  }

 private:
  // The request trained at rung i: its epochs (0 = the config's own training at the top rung), its folder.
  Request at_rung(Request rq, int i) const {
    rq.rung = i;
    const int top = rungs_.back();
    if (rungs_[size_t(i)] != top) {
      rq.epochs = rungs_[size_t(i)];
      rq.run_dir = rung_dir((fs::path(ctx_.out_dir) / "candidates" / short_hash(rq.key)).string(), rq.epochs, top);
    }
    return rq;
  }

  // Trains `todo` (at most what stop_after_evaluations allows), logging each finished training and its candidate in
  // one transaction: inserted, or (a promotion) its result replaced by the longer training's.
  // `promotion`: the candidates are priced already (a cost priced before training is not asked again).
  void train(std::vector<Request> todo, bool promotion = false) {
    // The whole batch goes to the evaluator at once: the executor starts the next training as soon as any ends
    // (locally `jobs` at a time, or on whichever MPI rank is free). Trainings finished before a kill survive in their
    // run folders and are read back, not retrained, by the resumed run.
    bool interrupted = false;
    if (ctx_.stop_after_evaluations >= 0) {
      const auto allowed = size_t(std::max<int64_t>(0, ctx_.stop_after_evaluations - evaluated_now_));
      if (todo.size() > allowed) {
        todo.resize(allowed);
        interrupted = true;
      }
    }
    if (!todo.empty()) {
      auto done = promotion ? evaluator_.evaluate(todo) : evaluate(todo);
      for (size_t i = 0; i < done.size(); ++i) {
        const auto& rq = todo[i];
        auto c = done[i];
        if (auto row = store_.candidate(rq.key)) {  // promoted: the row keeps its genome, latency, generation
          row->status = c.status;
          row->message = c.message;
          row->val_error = c.val_error;
          row->test_error = c.test_error;
          row->train_seconds = c.train_seconds;
          row->run_dir = c.run_dir;
          c = *row;
        }
        apply_selection(c, config_.select_on);
        c.epochs = rungs_[size_t(rq.rung)];
        c.rung = rq.rung;
        if (!c.feasible) {  // priced infeasible before training: never trained, never promoted, no evaluation
          store_.put_candidate(c);
          ++evaluated_now_;
          if (ctx_.progress) spdlog::info("evolve: gen {} {}: {}: {}", rq.generation, c.summary, status_text(c), c.message);
          continue;
        }
        Evaluation e;
        e.key = c.key;
        e.epochs = c.epochs;
        e.seed = int64_t(config_.base.base.train.seed);
        e.role = rq.role;
        e.status = c.status;
        e.message = c.message;
        e.val_error = c.val_error;
        e.test_error = c.test_error;
        e.train_seconds = c.train_seconds;
        e.run_dir = c.run_dir;
        e.generation = rq.generation;
        e.rung = rq.rung;
        store_.put_evaluation(e, c);
        ++evaluated_now_;
        if (ctx_.progress)
          spdlog::info("evolve: gen {} {} [{}{}]: {}", rq.generation, c.summary, to_string(c.role),
                       rungs_.size() > 1 ? fmt::format(", rung {}: {} ep", c.rung, c.epochs) : std::string(),
                       c.status == RunStatus::completed
                           ? fmt::format("{} error {:.2f}%, cost {:.4g}", to_string(config_.select_on), 100 * c.error,
                                         c.latency)
                                               : fmt::format("{}: {}", status_text(c), c.message));
      }
    }
    if (interrupted) throw Interrupted("stopped after the requested number of evaluations");
  }

  // The candidate's result at `epochs` (its row with that training's result), if it has one.
  std::optional<Candidate> result_at(const Candidate& row, int epochs) const {
    if ((row.epochs == 0 ? rungs_.back() : row.epochs) == epochs) return row;
    const auto e = store_.evaluation(row.key, epochs);
    if (!e) return std::nullopt;
    auto c = row;
    c.status = e->status;
    c.message = e->message;
    c.val_error = e->val_error;
    c.test_error = e->test_error;
    apply_selection(c, config_.select_on);
    return c;
  }

  // Successive halving over the generation's distinct architectures (rung 0 done): rank each rung's results,
  // promote (search/fidelity.h), train the promoted ones lacking the next rung's result. An architecture that
  // already holds a result beyond a rung without one there (the baseline's, trained at the top rung) passes on.
  void successive_halving(const std::vector<Request>& requests) {
    std::vector<std::string> pool;
    std::set<std::string> seen;
    for (const auto& rq : requests)
      if (seen.insert(rq.key).second) pool.push_back(rq.key);
    for (size_t i = 0; i + 1 < rungs_.size(); ++i) {
      std::vector<RungEntry> entries;
      std::vector<std::string> next;
      for (const auto& key : pool) {
        const auto row = store_.candidate(key);
        if (const auto r = result_at(*row, rungs_[i])) {
          entries.push_back({key, objectives(*r), r->status == RunStatus::completed, forced_.count(key) > 0});
        } else if ((row->epochs == 0 ? rungs_.back() : row->epochs) > rungs_[i]) {
          next.push_back(key);
        }
      }
      for (auto& key : promote_from(entries, config_.promote))
        if (std::find(next.begin(), next.end(), key) == next.end()) next.push_back(std::move(key));
      std::vector<Request> todo;
      for (const auto& key : next) {
        const auto row = store_.candidate(key);
        if (result_at(*row, rungs_[i + 1]) || (row->epochs == 0 ? rungs_.back() : row->epochs) > rungs_[i + 1])
          continue;  // trained at that rung before (an earlier generation, or before a kill): the memo
        Request rq;
        rq.key = key;
        rq.genome = row->genome;
        rq.model = models::model_config_from_json(row->config, "candidate " + key);
        rq.role = row->role;
        rq.generation = generation_;
        rq.measure = false;  // latency does not depend on the training: measured at rung 0
        todo.push_back(at_rung(rq, int(i + 1)));
      }
      reused_ += int(next.size() - todo.size());
      train(todo, true);
      pool = next;
    }
  }

 private:
  // The evaluator's results, in request order; with pricing before training, the infeasible (and unpriceable) ones
  // are recorded without reaching it, the others get their price.
  std::vector<Candidate> evaluate(const std::vector<Request>& todo) {
    if (!pre_price_) return evaluator_.evaluate(todo);
    std::vector<cost::CostValue> prices;
    std::vector<Request> trainable;
    for (const auto& rq : todo) {
      prices.push_back(cost_->price(rq.model, input_, classes_));
      if (prices.back().ok && prices.back().feasible) trainable.push_back(rq);
    }
    auto trained = trainable.empty() ? std::vector<Candidate>{} : evaluator_.evaluate(trainable);
    std::vector<Candidate> out;
    size_t t = 0;
    for (size_t i = 0; i < todo.size(); ++i) {
      const auto& v = prices[i];
      auto cost_json = v.to_json();
      cost_json.erase("detail");
      if (v.ok && v.feasible) {
        out.push_back(std::move(trained.at(t++)));
      } else {
        const auto& rq = todo[i];
        Candidate c = candidate_of(rq, config_.space);
        c.status = RunStatus::failed;
        c.feasible = !v.ok;  // a backend that could not price it: failed, not infeasible
        c.message = v.message;
        auto model = models::build_model(rq.model, input_, classes_);
        c.params = models::parameter_count(*model);
        c.macs = model->macs();
        out.push_back(std::move(c));
      }
      auto& c = out.back();
      c.latency = v.objective;
      c.latency_detail = v.detail;
      c.cost = std::move(cost_json);
    }
    return out;
  }

  const EvolveConfig& config_;
  Store& store_;
  Evaluator& evaluator_;
  const EvolveContext& ctx_;
  std::shared_ptr<cost::CostBackend> cost_;
  models::InputShape input_;
  int classes_ = 10;
  bool pre_price_ = false;
  std::vector<int> rungs_;
  std::set<std::string> forced_;  // the seeded architectures: always promoted
  int generation_ = 0, evaluated_now_ = 0, reused_ = 0;
};

// The pagmo user-defined problem: integer genes, 2+ objectives, batch fitness through BatchRun.
struct NemokdProblem {
  NemokdProblem() = default;
  NemokdProblem(BatchRun* run, std::vector<double> lo, std::vector<double> hi, size_t nobj)
      : run_(run), lo_(std::move(lo)), hi_(std::move(hi)), nobj_(nobj) {}
  pagmo::vector_double fitness(const pagmo::vector_double& x) const { return run_->batch_fitness(x); }
  pagmo::vector_double batch_fitness(const pagmo::vector_double& dvs) const { return run_->batch_fitness(dvs); }
  std::pair<pagmo::vector_double, pagmo::vector_double> get_bounds() const { return {lo_, hi_}; }
  pagmo::vector_double::size_type get_nobj() const { return nobj_; }
  pagmo::vector_double::size_type get_nix() const { return lo_.size(); }
  std::string get_name() const { return "NEMOKD student architecture search"; }

  BatchRun* run_ = nullptr;
  std::vector<double> lo_, hi_;
  size_t nobj_ = 2;
};

std::string save_algorithm(const pagmo::algorithm& algo) {
  std::ostringstream ss;
  {
    boost::archive::binary_oarchive oa(ss);
    oa << algo;
  }
  return ss.str();
}

pagmo::algorithm load_algorithm(const std::string& bytes) {
  pagmo::algorithm algo;
  std::istringstream ss(bytes);
  boost::archive::binary_iarchive ia(ss);
  ia >> algo;
  return algo;
}

}  // namespace

std::vector<size_t> non_dominated(const std::vector<std::vector<double>>& f) {
  if (f.size() < 2) return f.empty() ? std::vector<size_t>{} : std::vector<size_t>{0};
  const auto sorted = pagmo::fast_non_dominated_sorting(f);
  const auto& first = std::get<0>(sorted).front();
  return {first.begin(), first.end()};
}

namespace {

// results.json "budget": every finished search training of the store (a store written before the evaluations
// table: its candidate rows, one training each at --epochs) per generation and rung, with the stored walls.
nlohmann::json search_budget(const EvolveConfig& config, const Store& store) {
  std::vector<EvaluationLog> log;
  std::set<std::string> logged;
  const auto rungs = config.effective_rungs();
  for (const auto& e : store.evaluations()) {
    log.push_back({e.generation, e.rung, e.epochs, e.train_seconds});
    logged.insert(e.key);
  }
  for (const auto& c : store.candidates())
    if (!logged.count(c.key))
      log.push_back({c.generation, c.rung, c.epochs == 0 ? rungs.back() : c.epochs, c.train_seconds});
  std::vector<std::pair<int, double>> walls;
  for (int g = 0; g <= store.generations_done(); ++g)
    if (const auto w = store.meta(fmt::format("wall_seconds.{}", g))) walls.push_back({g, std::stod(*w)});
  return budget_json(log, walls);
}


// OUT/front/<short key>/: the deployable bundle (cost::write_bundle) of every member of the final front, and nothing
// else. A member whose folder already holds a finished bundle of its run folder keeps it (a resume re-measures
// nothing); the others are written (atomically: a kill leaves no half bundle). Folders of candidates that left the
// front (and leftovers of a killed write) are removed: the pareto list is the truth, and every candidate's run folder
// stays in candidates/ (`nemokd choose --export` rebuilds a bundle from it). Members without a run folder (a test's
// evaluator) get none.
std::map<std::string, std::string> write_front_bundles(const std::vector<const Candidate*>& front,
                                                       const std::string& out_dir, cost::CostBackend* fpga,
                                                       const cost::CostSpec& search_cost) {
  std::map<std::string, std::string> out;
  const fs::path dir = fs::path(out_dir) / "front";
  std::set<std::string> keep;
  for (const auto* c : front) {
    if (c->run_dir.empty() || !fs::is_regular_file(fs::path(c->run_dir) / "run.json")) continue;
    const auto folder = dir / short_hash(c->key);
    keep.insert(folder.filename().string());
    const auto listing = folder / "bundle.json";
    bool current = false;
    if (fs::is_regular_file(listing)) {
      try {
        const auto j = read_json_file(listing.string());
        current = j.value("key", std::string()) == c->key && j.value("run_dir", std::string()) == c->run_dir &&
                  j.value("fpga_target", std::string()) == (fpga ? fpga->text() : std::string());
      } catch (const Error&) {
      }
    }
    if (!current) {
      fs::remove_all(folder);
      cost::BundleOptions o;
      o.origin = "nemokd evolve";
      o.label = c->summary;
      o.val_accuracy = 1.0 - c->val_error;
      o.test_accuracy = 1.0 - c->test_error;
      o.info = {{"key", c->key}, {"fpga_target", fpga ? fpga->text() : std::string()}};
      if (!fpga) o.info["no_fpga"] = "the search's cost is no FPGA target";
      if (search_cost.kind == "engine" && c->cost.is_object()) {  // the search's measurement, not a second one
        o.engine = search_cost.text();
        o.engine_value = c->cost;
        o.engine_value["detail"] = c->latency_detail;
      }
      try {
        cost::write_bundle(c->run_dir, folder.string(), fpga, o);
      } catch (const std::exception& e) {  // a finished search keeps its outputs; this member has no bundle
        spdlog::warn("evolve: no bundle for {} ({}): {}", c->summary, c->run_dir, e.what());
        keep.erase(folder.filename().string());
        continue;
      }
    }
    out[c->key] = folder.string();
  }
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (!keep.count(e.path().filename().string())) fs::remove_all(e.path());
  return out;
}

void write_outputs(const EvolveConfig& config, const Store& store, EvolveResult& result, const std::string& out_dir,
                   cost::CostBackend* fpga) {
  result.candidates = store.candidates();
  result.budget = search_budget(config, store);
  result.members.clear();
  result.fronts.clear();
  std::map<std::string, const Candidate*> by_key;
  for (const auto& c : result.candidates) by_key[c.key] = &c;
  const int last = store.generations_done();
  for (int g = 0; g <= last; ++g) {
    auto keys = store.members(g);
    // The front is made of completed candidates only: failures carry placeholder objectives, and a generation
    // where everything failed has an empty front rather than a front of failures.
    std::vector<std::vector<double>> f;
    std::vector<std::string> ok_keys;
    for (const auto& k : keys) {
      const auto it = by_key.find(k);
      if (it == by_key.end())
        throw DataError(fmt::format("{}: generation {} lists candidate '{}', which the store does not hold",
                                    (fs::path(out_dir) / "state.db").string(), g, k));
      // Completed and feasible only: a penalty never reaches a front (objectives_of grades infeasible ones below
      // every feasible one; this is the second guard).
      if (it->second->status != RunStatus::completed || !it->second->feasible) continue;
      f.push_back(objectives_of(config, *it->second));
      ok_keys.push_back(k);
    }
    std::vector<std::string> front;
    for (size_t i : non_dominated(f))
      if (std::find(front.begin(), front.end(), ok_keys[i]) == front.end()) front.push_back(ok_keys[i]);
    result.members.push_back(keys);
    result.fronts.push_back(front);
  }
  std::vector<const Candidate*> last_front;
  if (!result.fronts.empty())
    for (const auto& k : result.fronts.back()) last_front.push_back(by_key.at(k));
  result.bundles = write_front_bundles(last_front, out_dir, fpga, cost::parse_cost(config.cost));
  write_json_file((fs::path(out_dir) / "results.json").string(), result.to_json());

  // candidates.json: what `nemokd report` draws — every generation's population in (latency, error) with its
  // Pareto front, and the baselines. Latency in ms only when the probe measured time; a proxy probe's value goes
  // to "latency_proxy" (never passed off as milliseconds).
  const auto cost_kind = cost::parse_cost(config.cost).kind;
  const bool in_ms = cost_kind != "macs" && cost_kind != "params";
  auto latency_fields = [&](nlohmann::json& j, const Candidate& c) {
    const bool ok = c.status == RunStatus::completed;
    // An FPGA's figures beside the objective (ms per frame = 1000 / estimated FPS), infeasible ones included (at
    // their smallest folding): what the report and `nemokd choose` read.
    if (c.latency_detail.is_object())
      for (const char* k : {"fps_estimated", "fps_expected", "lut", "bram18", "fits_planning", "fits_device"})
        if (c.latency_detail.contains(k)) j[k] = c.latency_detail[k];
    if (in_ms)
      j["latency_ms"] = ok ? nlohmann::json(c.latency) : nlohmann::json();
    else
      j["latency_proxy"] = ok ? nlohmann::json(c.latency) : nlohmann::json();
  };
  nlohmann::json cj = {{"device", config.cost},
                       {"host", cpu_description()},  // where the search ran: what a torch probe measured on
                       {"dataset", config.base.base.dataset.name},
                       {"command", fmt::format("nemokd evolve --config {}/evolve.json", out_dir)},
                       {"selected_on", to_string(config.select_on)},  // what "error" is
                       {"cost", {{"spec", config.cost},
                                 {"unit", cost::unit_of(cost::parse_cost(config.cost)).unit},
                                 {"how", cost::to_string(cost::unit_of(cost::parse_cost(config.cost)).how)}}},
                       {"candidates", nlohmann::json::array()},
                       {"baseline", nlohmann::json::array()}};
  for (size_t g = 0; g < result.members.size(); ++g) {
    std::map<std::string, int> seen;
    for (size_t i = 0; i < result.members[g].size(); ++i) {
      const auto& key = result.members[g][i];
      if (seen[key]++) continue;
      const Candidate& c = *by_key.at(key);
      nlohmann::json j = {{"generation", g},
                          {"id", fmt::format("g{}-{}", g, i)},
                          {"feasible", c.feasible},
                          {"genome", c.genome},
                          {"architecture", c.summary},
                          {"error", c.status == RunStatus::completed ? nlohmann::json(c.error) : nlohmann::json()},
                          {"val_error", c.val_error},
                          {"test_error", c.test_error},
                          {"params", c.params},
                          {"macs", c.macs},
                          {"status", status_text(c)},
                          {"pareto", std::find(result.fronts[g].begin(), result.fronts[g].end(), key) !=
                                         result.fronts[g].end()}};
      latency_fields(j, c);
      cj["candidates"].push_back(j);
    }
  }
  for (const auto& c : result.candidates) {
    if (c.role == Role::search) continue;
    const bool uniform = c.role == Role::uniform_kd || c.role == Role::uniform_no_kd;
    const std::string name = fmt::format("{} ({})", uniform ? "uniform " + c.summary : "baseline",
                                         distilled(c.role) ? "KD" : "no KD");
    nlohmann::json j = {{"name", name},
                        {"role", to_string(c.role)},
                        {"error", c.status == RunStatus::completed ? nlohmann::json(c.error) : nlohmann::json()},
                        {"val_error", c.val_error},
                        {"test_error", c.test_error},
                        {"status", status_text(c)},
                        {"feasible", c.feasible},
                        {"architecture", c.summary},
                        {"params", c.params},
                        {"macs", c.macs}};
    latency_fields(j, c);
    cj["baseline"].push_back(j);
  }
  write_json_file((fs::path(out_dir) / "candidates.json").string(), cj);
  const auto csv = (fs::path(out_dir) / "candidates.csv").string();
  // Every row says what `error` is: a CSV row travels without its file's context.
  CsvTable table({"generation", "role", "summary", "status", "selected_on", "error", "val_error", "test_error", "latency",
                  "latency_unit", "params", "macs", "train_seconds", "genome", "run_dir"});
  auto fraction = [](double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : std::string(); };
  for (const auto& c : result.candidates)
    table.add_row({std::to_string(c.generation), to_string(c.role), c.summary, status_text(c),
                   to_string(config.select_on), fraction(c.error), fraction(c.val_error), fraction(c.test_error),
                   fmt::format("{:.6g}", c.latency),
                   c.latency_detail.is_object() ? c.latency_detail.value("unit", std::string()) : std::string(),
                   fmt::format("{}", c.params), fmt::format("{}", c.macs), fmt::format("{:.1f}", c.train_seconds),
                   fmt::format("{}", fmt::join(c.genome, " ")), c.run_dir});
  table.write(csv);  // checked: a full disk is an error, not an empty table
}

}  // namespace

nlohmann::json EvolveResult::to_json() const {
  nlohmann::json cands = nlohmann::json::array();
  std::map<std::string, int> in_last_front;
  if (!fronts.empty())
    for (const auto& k : fronts.back()) in_last_front[k] = 1;
  for (const auto& c : candidates)
    cands.push_back({{"key", c.key},
                     {"generation", c.generation},
                     {"role", to_string(c.role)},
                     {"genome", c.genome},
                     {"config", c.config},
                     {"summary", c.summary},
                     {"status", status_text(c)},
                     {"feasible", c.feasible},
                     {"cost", c.cost},
                     {"message", c.message},
                     {"error", c.error},
                     {"val_error", c.val_error},
                     {"test_error", c.test_error},
                     {"latency", c.latency},
                     {"latency_detail", c.latency_detail},
                     {"params", c.params},
                     {"macs", c.macs},
                     {"train_seconds", c.train_seconds},
                     {"run_dir", c.run_dir},
                     {"epochs", c.epochs},
                     {"rung", c.rung},
                     {"final_front", in_last_front.count(c.key) > 0}});
  // The final front with its figures: what a script reads from `nemokd evolve --json` (and results.json).
  nlohmann::json pareto = nlohmann::json::array();
  for (const auto& c : candidates) {
    if (!in_last_front.count(c.key)) continue;
    nlohmann::json p = {{"key", c.key},         {"summary", c.summary},       {"error", c.error},
                        {"val_error", c.val_error}, {"test_error", c.test_error}, {"cost", c.latency},
                        {"params", c.params},   {"macs", c.macs},             {"run_dir", c.run_dir}};
    const auto bundle = bundles.find(c.key);
    p["bundle"] = bundle == bundles.end() ? nlohmann::json() : nlohmann::json(bundle->second);
    if (c.latency_detail.is_object()) {
      if (c.latency_detail.contains("unit")) p["cost_unit"] = c.latency_detail["unit"];
      for (const char* k : {"fps_estimated", "fps_expected", "lut", "bram18", "fits_planning", "fits_device"})
        if (c.latency_detail.contains(k)) p[k] = c.latency_detail[k];
    }
    if (c.cost.is_object()) {
      p["cost_unit"] = c.cost.value("unit", std::string());
      p["cost_how"] = c.cost.value("how", std::string());
    }
    pareto.push_back(p);
  }
  nlohmann::json j = {{"protocol", protocol_json()}, {"candidates", cands}, {"generations", members},
                      {"fronts", fronts},         {"pareto", pareto},     {"evaluated_now", evaluated_now},
                      {"reused", reused},         {"budget", budget}};
  if (!final.is_null()) j["final"] = final;
  return j;
}

std::string EvolveResult::selection_line() const {
  if (selected_on == SelectOn::validation) return "selection: validation error (test error reported only)";
  return std::string("selection: TEST error (paper protocol: the front's test errors are what it was selected on, not "
                     "an unbiased estimate)") +
         (legacy_protocol ? "; a run recorded before selection on validation" : "");
}

nlohmann::json EvolveResult::protocol_json() const {
  return {{"select_on", to_string(selected_on)}, {"legacy", legacy_protocol}, {"seeds", seeds},
          {"rungs", rungs},     {"promote", promote},        {"stopped_by_max_wall", stopped_by_max_wall},
          {"note", selection_line()}};
}

// A request's recipe at another length (the final stage, a successive-halving rung): a search on the reference
// recipe (the presets of route K) gets the reference recipe at that length, as before; any other recipe (route Q's
// QAT recipe of the joint search: Adam, cosine) keeps its optimiser and takes the new length, its multistep
// milestones scaled with it. (Applying the SGD recipe of CNN distillation to every family retrained a quantized MLP
// front with a recipe the search never used.)
static void with_epochs(train::TrainOptions& t, models::Family base_family, models::Family family, int epochs) {
  auto reference = t;
  kd::apply_reference_recipe(reference, base_family, t.epochs);
  if (t.batch_size == reference.batch_size && train::to_json(t.optim) == train::to_json(reference.optim)) return kd::apply_reference_recipe(t, family, epochs);
  if (t.optim.schedule == "multistep" && t.epochs > 0) {
    std::vector<int> scaled;
    for (int m : t.optim.milestones) {
      const int at = std::max(1, int(int64_t(m) * epochs / t.epochs));
      if (scaled.empty() || at > scaled.back()) scaled.push_back(at);
    }
    t.optim.milestones = std::move(scaled);
  }
  t.epochs = epochs;
}

RunRecord training_request(const EvolveConfig& config, const Request& rq, int threads) {
  RunRecord request;
  request.status = to_string(RunStatus::requested);
  auto k = config.base;
  k.base.model = rq.model;
  k.base.threads = threads;
  if (rq.epochs > 0) with_epochs(k.base.train, config.base.base.model.family(), rq.model.family(), rq.epochs);
  k.base.train.seed += uint64_t(rq.seed_offset);
  if (!distilled(rq.role)) {
    request.command = "train";
    request.config = train::to_json(k.base);
  } else {
    request.command = "kd train";
    request.config = kd::to_json(k);
  }
  return request;
}

void register_latency_task() {
  dist::register_handler(kLatencyTask, [](const nlohmann::json& p, const dist::RankInfo& self) {
    // Each rank its own folder for the command probe's exported files.
    const auto work = (fs::path(p.at("work_dir").get<std::string>()) / fmt::format("rank-{}", self.rank)).string();
    const auto spec = cost::parse_cost(p.at("cost").get<std::string>());
    auto cost = cost::make_cost(spec, {"", work});
    const auto in = p.at("input");
    const models::InputShape input{in.at(0).get<int>(), in.at(1).get<int>(), in.at(2).get<int>()};
    return price_candidate(*cost, spec.kind, p.at("config"), p.value("run_dir", std::string()), input,
                           p.at("classes").get<int>());
  });
}

std::shared_ptr<Evaluator> make_child_evaluator(const EvolveConfig& config, const EvolveContext& ctx) {
  return std::make_shared<ChildEvaluator>(config, ctx.out_dir,
                                          ctx.executor ? ctx.executor : campaign::make_executor({config.jobs}),
                                          ctx.progress, ctx.cost);
}

// What a resume will read from state.db, checked before any training: the last (population, algorithm) checkpoint
// fits this search, and every generation's members are candidates of the store. (A hand-edited or foreign file
// otherwise failed inside pagmo, or with map::at after the baseline's training.)
static void check_store(const Store& store, const EvolveConfig& config, const std::string& path) {
  const auto cp = store.last_checkpoint();
  if (!cp) return;
  const size_t genes = config.space.genes(), objectives = size_t(config.objectives());
  if (cp->xs.size() != size_t(config.population) || cp->fs.size() != cp->xs.size())
    throw DataError(fmt::format("{}: checkpoint of generation {} holds {} members and {} objective vectors, the "
                                "search has a population of {}",
                                path, cp->generation, cp->xs.size(), cp->fs.size(), config.population));
  for (size_t i = 0; i < cp->xs.size(); ++i) {
    if (cp->xs[i].size() != genes || cp->fs[i].size() != objectives)
      throw DataError(fmt::format("{}: checkpoint of generation {}, member {}: {} genes and {} objectives, expected {} "
                                  "and {}",
                                  path, cp->generation, i, cp->xs[i].size(), cp->fs[i].size(), genes, objectives));
    for (double v : cp->xs[i])
      if (!std::isfinite(v))
        throw DataError(fmt::format("{}: checkpoint of generation {}, member {}: a gene is not a finite number", path,
                                    cp->generation, i));
  }
  try {
    load_algorithm(cp->algorithm);
  } catch (const std::exception& e) {
    throw DataError(fmt::format("{}: checkpoint of generation {}: the NSGA-II state cannot be read ({})", path,
                                cp->generation, e.what()));
  }
  std::set<std::string> known;
  for (const auto& c : store.candidates()) known.insert(c.key);
  for (int g = 0; g <= cp->generation; ++g)
    for (const auto& key : store.members(g))
      if (!known.count(key))
        throw DataError(fmt::format("{}: generation {} lists candidate '{}', which the store does not hold", path, g,
                                    key));
}

// What a store recorded before selection on validation was run with, and goes on with.
static EvolveConfig with_legacy_protocol(EvolveConfig c) {
  c.select_on = SelectOn::test;
  c.seed_baseline = false;
  return c;
}

EvolveResult run_evolution(const EvolveConfig& requested, const EvolveContext& ctx) {
  requested.validate();
  EvolveConfig config = requested;  // a store recorded before selection on validation keeps its protocol (below)
  if (ctx.out_dir.empty()) throw ConfigError("out: an evolution needs an output folder");
  auto executor = ctx.executor ? ctx.executor : campaign::make_executor({config.jobs});
  // A device the trainings cannot use where they run is an error now (a plugged-in evaluator trains nothing).
  if (!ctx.evaluator) executor->check_device(config.base.base.train.device);
  // Before anything is written: an evaluator that cannot work (a probe, an MPI rank) is an error here.
  // The backend that prices candidates before training (fpga): one whose device is not in the table is an error now.
  std::shared_ptr<cost::CostBackend> cost = ctx.cost;
  if (cost && cost->text() != cost::parse_cost(config.cost).text())
    throw ConfigError(fmt::format("cost: the backend given prices '{}', the search's cost is '{}'", cost->text(),
                                  config.cost));
  std::shared_ptr<Evaluator> evaluator = ctx.evaluator;
  if (!evaluator) evaluator = std::make_shared<ChildEvaluator>(config, ctx.out_dir, executor, ctx.progress, ctx.cost);
  if (!cost && priced_before_training(cost::parse_cost(config.cost).kind))
    cost = cost::make_cost(cost::parse_cost(config.cost));
  const FolderLock lock(ctx.out_dir);  // one process per search folder (evolve --resume on a running search too)
  const fs::path out(ctx.out_dir);
  const auto db_path = out / "state.db";
  const bool existed = fs::exists(db_path);
  campaign::refuse_without_resume(existed, ctx.resume, ctx.out_dir, "an evolution");
  fs::create_directories(out);
  Store store(db_path.string());
  const bool legacy = store.legacy_protocol();
  if (legacy) {
    if (!config.seed_archs.empty())
      throw ConfigError(fmt::format("seed_archs: {} was recorded before seeding; seeds need a new --out",
                                    db_path.string()));
    config = with_legacy_protocol(config);
    spdlog::warn("evolve: {} was recorded before selection on validation: it goes on selecting on TEST error (the "
                 "paper's protocol), as it began; every output says so",
                 db_path.string());
  }
  // The stored identity (older runs stored their config less the speed settings: read back the same way).
  const auto now = identity(config);
  if (auto old = store.meta("config"))
    campaign::check_identity(
        parse_json(*old, db_path.string() + ": meta 'config'"), now,
        [legacy](const nlohmann::json& j) {
          auto k = j;
          if (legacy && k.is_object()) {  // not in a schema-1 config
            k["select_on"] = to_string(SelectOn::test);
            k["seed_baseline"] = false;
          }
          return identity(evolve_config_from_json(k));
        },
        db_path.string(),
        fmt::format("resume with the same ones (or `nemokd evolve --resume --out {}` alone) or use a new --out",
                    ctx.out_dir));
  if (existed) check_store(store, config, db_path.string());  // a damaged store is an error before any training
  store.set_meta("config", now.dump());
  write_json_file((out / "evolve.json").string(), to_json(config));

  // Teacher outputs computed once, here, before parallel trainings (or ranks) would each compute them.
  if (!ctx.evaluator) kd::prepare_teacher_cache(config.base, executor->distributed());
  BatchRun run(config, store, *evaluator, ctx, cost);
  EvolveResult result;
  result.selected_on = config.select_on;
  result.legacy_protocol = legacy;
  result.seeds = int(config.seed_genomes().size());
  result.rungs = config.effective_rungs();
  result.promote = result.rungs.size() > 1 ? config.promote : 1.0;
  // Per generation: wall stored, budget line logged.
  auto timer = std::chrono::steady_clock::now();
  auto generation_done = [&](int g) {
    const auto now_t = std::chrono::steady_clock::now();
    run.record_wall(g, std::chrono::duration<double>(now_t - timer).count());
    timer = now_t;
    if (ctx.progress)
      for (const auto& e : search_budget(config, store))
        if (e.at("generation").get<int>() == g) spdlog::info("evolve: budget {}", budget_line(e));
  };

  // The baseline student, with and without distillation, trained the same way.
  if (config.baseline) {
    Request kd_rq, plain_rq;
    kd_rq.model = plain_rq.model = config.base.base.model;
    kd_rq.key = canonical_key(kd_rq.model);
    plain_rq.key = "no-kd:" + kd_rq.key;
    kd_rq.role = Role::baseline_kd;
    plain_rq.role = Role::baseline_no_kd;
    kd_rq.generation = plain_rq.generation = -1;
    run.resolve({kd_rq, plain_rq});
    timer = std::chrono::steady_clock::now();  // generation 0's wall: not the baselines'
  }
  // Route Q's uniform-precision points, trained and priced like every candidate (one batch, memoised: a resume reads
  // them back). Their keys carry their role, so a search candidate of the same model is a candidate of its own and
  // no uniform point is ever a member of a population or on a front.
  if (!config.uniform_baselines.empty()) {
    std::vector<Request> uniform;
    for (const auto& u : config.uniform_baselines) {
      Request rq;
      rq.model = u.model_config(config.base.base.model);
      rq.role = u.role();
      rq.key = std::string(to_string(rq.role)) + ":" + canonical_key(rq.model);
      rq.label = fmt::format("{} W{}A{}", u.model, u.w, u.a);
      rq.generation = -1;
      uniform.push_back(std::move(rq));
    }
    run.resolve(uniform);
  }

  const size_t genes = config.space.genes();
  pagmo::problem prob(NemokdProblem(&run, config.space.lower(), config.space.upper(), size_t(config.objectives())));
  pagmo::algorithm algo;
  pagmo::population pop;
  int start = 0;
  auto checkpoint_of = [&](const pagmo::population& p, const pagmo::algorithm& a, int g) {
    Checkpoint cp;
    cp.generation = g;
    std::vector<std::string> keys;
    for (pagmo::population::size_type i = 0; i < p.size(); ++i) {
      cp.xs.push_back(p.get_x()[i]);
      cp.fs.push_back(p.get_f()[i]);
      keys.push_back(canonical_key(config.space.decode(p.get_x()[i], config.base.base.model)));
    }
    cp.algorithm = save_algorithm(a);
    store.put_generation(g, keys, cp);
  };
  if (auto cp = store.last_checkpoint()) {
    algo = load_algorithm(cp->algorithm);
    pop = pagmo::population(prob, 0u, config.seed);
    for (size_t i = 0; i < cp->xs.size(); ++i) pop.push_back(cp->xs[i], cp->fs[i]);
    start = cp->generation + 1;
    spdlog::info("evolve: resuming after generation {} ({} candidates evaluated so far)", cp->generation,
                 store.candidates().size());
  } else {
    pagmo::nsga2 uda(1u, config.cr, config.eta_c, config.m > 0 ? config.m : 1.0 / double(genes), config.eta_m,
                     unsigned(config.seed));
    uda.set_bfe(pagmo::bfe(pagmo::member_bfe{}));
    algo = pagmo::algorithm(uda);
    run.set_generation(0);
    // Generation 0: the seeds, then pagmo's random decision vectors from the search seed (without seeds: exactly
    // the population pagmo::population(prob, bfe, N, seed) draws), evaluated as one batch.
    const auto seeds = config.seed_genomes();
    pagmo::detail::random_engine_type rng(static_cast<unsigned>(config.seed));
    pagmo::vector_double dvs;
    for (const auto& x : seeds) dvs.insert(dvs.end(), x.begin(), x.end());
    const auto random = pagmo::batch_random_decision_vector(prob, size_t(config.population) - seeds.size(), rng);
    dvs.insert(dvs.end(), random.begin(), random.end());
    const auto fvs = pagmo::bfe(pagmo::member_bfe{})(prob, dvs);
    const size_t nobj = prob.get_nf();
    pop = pagmo::population(prob, 0u, config.seed);
    for (size_t i = 0; i < size_t(config.population); ++i)
      pop.push_back(pagmo::vector_double(dvs.begin() + long(i * genes), dvs.begin() + long((i + 1) * genes)),
                    pagmo::vector_double(fvs.begin() + long(i * nobj), fvs.begin() + long((i + 1) * nobj)));
    checkpoint_of(pop, algo, 0);
    generation_done(0);
    start = 1;
  }
  for (int g = start; g <= config.generations; ++g) {
    if (config.max_wall > 0) {  // no generation starts that the mean generation would take past the budget
      double spent = 0;
      int n = 0;
      for (int k = 0; k < g; ++k)
        if (const auto w = store.meta(fmt::format("wall_seconds.{}", k))) spent += std::stod(*w), ++n;
      if (n > 0 && spent + spent / n > config.max_wall) {
        result.stopped_by_max_wall = true;
        spdlog::info("evolve: --max-wall {:.0f} s: {:.0f} s spent in {} generations, the next would end past it; "
                     "stopping after generation {}",
                     config.max_wall, spent, n, g - 1);
        break;
      }
    }
    run.set_generation(g);
    pop = algo.evolve(pop);
    checkpoint_of(pop, algo, g);
    generation_done(g);
    if (ctx.progress) spdlog::info("evolve: generation {}/{} done", g, config.generations);
  }
  result.evaluated_now = run.evaluated_now();
  result.reused = run.reused();
  write_outputs(config, store, result, ctx.out_dir,
                cost && cost::parse_cost(config.cost).kind == "fpga" ? cost.get() : nullptr);
  if (config.final_epochs > 0) {  // the final stage: results.json gains "final"
    const int64_t left = ctx.stop_after_evaluations < 0 ? -1 : std::max<int64_t>(0, ctx.stop_after_evaluations - run.evaluated_now());
    result.final = run_final_stage(config, store, *evaluator, ctx.out_dir, ctx.progress, left).to_json();
    write_json_file((out / "results.json").string(), result.to_json());
  }
  return result;
}

}  // namespace nemokd::search
