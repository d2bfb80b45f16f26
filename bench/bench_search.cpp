// NEMOKD evaluation throughput: candidate evaluations per hour at the nemokd-fmnist experiment's settings —
// FlexStudent candidates from the k-fmnist search space (plus the space's baseline architecture), KD training on
// Fashion-MNIST through the teacher-output cache, each evaluated by the evolution's own ChildEvaluator (child run,
// then the latency probe) — on two paths, the SAME candidates, in the same run, interleaved old/new/old/new so that
// drift on a shared machine shows:
//   old: the process executor (one `nemokd run` process per candidate), candidates started in the order given;
//   new: the warm executor (long-lived `nemokd worker` processes), costliest candidates first (LPT, campaign.h).
// Both train with the same settings (equal fidelity: same epochs, val + test evaluation, same probe), so the ratio of
// evaluations per hour is the overhead removed, nothing else. For each path it prints where the time goes per
// candidate: the child's wall time (spawn -> reap, or request -> answer), run.json's total_seconds, its data load,
// training and evaluation, the process overhead (wall - total), and per batch the idle tail (jobs x batch wall -
// sum of child walls) and the time outside the batch (latency probes, bookkeeping).
//   build/bench/bench_search [--candidates N (8)] [--path old|new|both] [--rounds R (1)] [--jobs J (2)]
//       [--threads T (1 per job)] [--epochs E (1)] [--alpha A (0.5)] [--temperature T (4)] [--teacher DIR]
//       [--train-limit N (0 = all)] [--json FILE] [--nemokd PATH (build/apps/nemokd/nemokd)]
// Without --teacher the teacher is a ResNet-20 with random weights: its cost is paid once, filling the cache, and
// training speed does not depend on its values.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "campaign/executor.h"
#include "core/hash.h"
#include "core/json_config.h"
#include "core/run_record.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "kd/kd_run.h"
#include "models/registry.h"
#include "search/evolve.h"
#include "train/train_run.h"

using namespace nemokd;
namespace fs = std::filesystem;

namespace {

// Forwards to the real executor and records each child's outcome and the batch's wall time. A non-empty `order`
// (folder names): the jobs are started in that order, undoing the batch's longest-first order (the old path).
class Recorder : public campaign::Executor {
 public:
  Recorder(std::shared_ptr<campaign::Executor> inner, std::vector<std::string> order)
      : inner_(std::move(inner)), order_(std::move(order)) {}
  std::map<std::string, campaign::ChildOutcome> outcomes;  // by folder
  double batch_wall = 0;

  std::string describe(int t) const override { return inner_->describe(t); }
  void check_device(const std::string& d) const override { inner_->check_device(d); }
  bool distributed() const override { return false; }
  int ranks() const override { return 1; }
  void run_tasks(const std::vector<dist::Task>& t, const campaign::OnTaskDone& d) override { inner_->run_tasks(t, d); }
  void run(const std::vector<campaign::ChildJob>& jobs, const campaign::OnChildDone& on_done) override {
    std::vector<size_t> perm(jobs.size());
    for (size_t k = 0; k < perm.size(); ++k) perm[k] = k;
    if (!order_.empty()) {
      auto rank = [&](size_t k) {
        return size_t(std::find(order_.begin(), order_.end(), fs::path(jobs[k].dir).filename().string()) -
                      order_.begin());
      };
      std::stable_sort(perm.begin(), perm.end(), [&](size_t a, size_t b) { return rank(a) < rank(b); });
    }
    std::vector<campaign::ChildJob> given;
    for (size_t k : perm) given.push_back(jobs[k]);
    const auto t0 = std::chrono::steady_clock::now();
    inner_->run(given, [&](size_t k, const campaign::ChildOutcome& o) {
      outcomes[jobs[perm[k]].dir] = o;
      on_done(perm[k], o);
    });
    batch_wall += seconds_since(t0);
  }

 private:
  std::shared_ptr<campaign::Executor> inner_;
  std::vector<std::string> order_;
};

struct PathRun {
  std::string path;  // old | new
  int round = 0;
  int evaluations = 0, completed = 0;
  double wall = 0, batch_wall = 0;
  // Means per candidate, seconds.
  double child_wall = 0, total = 0, data_load = 0, fit = 0, train = 0, eval = 0;
  double per_hour() const { return wall > 0 ? 3600.0 * evaluations / wall : 0; }
  double overhead() const { return child_wall - total; }
  double setup() const { return total - data_load - fit; }
  nlohmann::json to_json(int jobs) const {
    return {{"path", path},
            {"round", round},
            {"evaluations", evaluations},
            {"completed", completed},
            {"wall_seconds", wall},
            {"evaluations_per_hour", per_hour()},
            {"batch_wall_seconds", batch_wall},
            {"batch_idle_tail_slot_seconds", jobs * batch_wall - child_wall * evaluations},
            {"outside_batch_seconds", wall - batch_wall},
            {"mean_child_wall_seconds", child_wall},
            {"mean_total_seconds", total},
            {"mean_data_load_seconds", data_load},
            {"mean_setup_seconds", setup()},
            {"mean_fit_seconds", fit},
            {"mean_train_seconds", train},
            {"mean_eval_seconds", eval},
            {"mean_process_overhead_seconds", overhead()}};
  }
};

double number(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  int candidates = 8, rounds = 1, jobs = 2, threads = 1, epochs = 1;
  int64_t train_limit = 0;
  double alpha = 0.5, temperature = 4;
  std::string exe = "build/apps/nemokd/nemokd", path = "both", teacher_dir, json_out;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--candidates") candidates = std::atoi(v.c_str());
    else if (a == "--nemokd") exe = v;
    else if (a == "--path") path = v;
    else if (a == "--rounds") rounds = std::atoi(v.c_str());
    else if (a == "--jobs") jobs = std::atoi(v.c_str());
    else if (a == "--threads") threads = std::atoi(v.c_str());
    else if (a == "--epochs") epochs = std::atoi(v.c_str());
    else if (a == "--alpha") alpha = std::atof(v.c_str());
    else if (a == "--temperature") temperature = std::atof(v.c_str());
    else if (a == "--teacher") teacher_dir = v;
    else if (a == "--train-limit") train_limit = std::atoll(v.c_str());
    else if (a == "--json") json_out = v;
    else {
      fmt::print(stderr, "bench_search: unknown flag {}\n", a);
      return 2;
    }
  }
  if (path != "old" && path != "new" && path != "both") {
    fmt::print(stderr, "bench_search: --path is old, new or both\n");
    return 2;
  }
  if (!fs::exists(exe)) {
    fmt::print(stderr, "bench_search: {} not found (build nemokd, or pass --nemokd PATH)\n", exe);
    return 2;
  }
  tune_allocator();
  configure_threads(0);
  const auto scratch = fs::temp_directory_path() / fmt::format("nemokd-bench-search-{}", ::getpid());
  const bool own_teacher = teacher_dir.empty();
  if (own_teacher) {
    train::TrainRunConfig tcfg;
    tcfg.dataset.name = "fashion-mnist";
    tcfg.model = models::preset_model("resnet20");
    torch::manual_seed(1);
    auto teacher = models::build_model(tcfg.model, {1, 28, 28}, 10);
    teacher_dir = (scratch / "teacher").string();
    train::save_trained_run(teacher_dir, tcfg, *teacher, {1, 28, 28}, 10);
  }

  auto config = search::evolve_preset("k-fmnist", teacher_dir);
  // A given teacher's outputs come from (or go to) the usual cache, as the evolution's would; a random one's here.
  if (own_teacher) config.base.kd.cache_dir = (scratch / "cache").string();
  config.base.kd.loss.alpha = alpha;
  config.base.kd.loss.temperature = temperature;
  config.base.base.train.epochs = epochs;
  config.base.base.dataset.load.train_limit = train_limit;
  config.base.base.threads = threads * jobs;  // split: `threads` per job
  config.jobs = jobs;
  config.cost = "torch:cpu:threads=1";
  // The cache once, as the evolution would have it from phase 1.
  kd::prepare_teacher_cache(config.base, false);
  // The same candidates for every path and round: the baseline architecture + random ones (seed 7).
  std::mt19937 rng(7);
  std::vector<search::Request> requests;
  {
    search::Request base;
    base.model = config.base.base.model;
    base.key = search::canonical_key(base.model);
    requests.push_back(base);
  }
  const auto lo = config.space.lower(), hi = config.space.upper();
  for (int k = 0; k < candidates; ++k) {
    search::Request rq;
    for (size_t g = 0; g < lo.size(); ++g)
      rq.genome.push_back(double(std::uniform_int_distribution<int>(int(lo[g]), int(hi[g]))(rng)));
    rq.model = config.space.decode(rq.genome, config.base.base.model);
    rq.key = search::canonical_key(rq.model);
    requests.push_back(rq);
  }
  fmt::print("bench_search: {} FlexStudent candidates (baseline + {} random, seed 7), {} epoch(s) of KD (alpha {}, T "
             "{}) on {} Fashion-MNIST training images each, jobs {}, threads {} per job, latency torch:cpu:threads=1; "
             "{} cores, load average {}\n",
             requests.size(), candidates, epochs, alpha, temperature,
             train_limit > 0 ? std::to_string(train_limit) : std::string("all"), jobs, threads, hardware_cores(),
             [] {
               std::ifstream f("/proc/loadavg");
               std::string a;
               f >> a;
               return a;
             }());

  std::vector<std::string> paths = path == "both" ? std::vector<std::string>{"old", "new"} : std::vector<std::string>{path};
  std::vector<PathRun> runs;
  for (int round = 1; round <= rounds; ++round)
    for (const auto& p : paths) {
      search::EvolveContext ctx;
      ctx.out_dir = (scratch / fmt::format("{}-{}", p, round)).string();
      ctx.progress = false;
      const bool old_path = p == "old";
      auto inner = campaign::make_executor(
          {jobs, fs::absolute(exe).string(), old_path ? campaign::ExecutorKind::process : campaign::ExecutorKind::warm});
      // The old path starts the candidates in request order: their folders, as the evaluator names them.
      std::vector<std::string> keep;
      if (old_path)
        for (const auto& rq : requests) keep.push_back(fmt::format("{:016x}", memo_hash64(rq.key)));
      auto recorder = std::make_shared<Recorder>(inner, keep);
      ctx.executor = recorder;
      auto evaluator = search::make_child_evaluator(config, ctx);
      const auto t0 = std::chrono::steady_clock::now();
      auto done = evaluator->evaluate(requests);
      PathRun r;
      r.path = p;
      r.round = round;
      r.wall = seconds_since(t0);
      r.batch_wall = recorder->batch_wall;
      r.evaluations = int(done.size());
      for (const auto& d : done) r.completed += d.status == RunStatus::completed;
      for (const auto& [dir, o] : recorder->outcomes) {
        r.child_wall += o.wall_seconds;
        const auto rec = RunRecord::from_json(read_json_file((fs::path(dir) / "run.json").string()));
        r.total += number(rec.timings, "total_seconds");
        r.data_load += number(rec.timings, "data_load_seconds");
        r.fit += number(rec.timings, "train_seconds");
        for (const auto& h : rec.results.value("history", nlohmann::json::array())) {
          r.train += number(h, "train_seconds");
          r.eval += number(h, "eval_seconds");
        }
      }
      const double n = std::max<size_t>(1, recorder->outcomes.size());
      for (double* x : {&r.child_wall, &r.total, &r.data_load, &r.fit, &r.train, &r.eval}) *x /= n;
      fmt::print("round {} {} ({}): {} evaluations ({} completed) in {:.1f} s = {:.0f} evaluations/hour\n", round, p,
                 old_path ? "process per child, order given" : "warm workers, longest first", r.evaluations,
                 r.completed, r.wall, r.per_hour());
      fmt::print("  per candidate (mean s): child wall {:.2f} = run.json total {:.2f} [data load {:.2f} + setup {:.2f} "
                 "+ fit {:.2f} (train {:.2f}, eval {:.2f})] + process overhead {:.2f}\n",
                 r.child_wall, r.total, r.data_load, r.setup(), r.fit, r.train, r.eval, r.overhead());
      fmt::print("  batch wall {:.1f} s; idle tail {:.1f} slot-s (jobs x batch wall - sum of child walls); outside the "
                 "batch (latency probes, bookkeeping) {:.1f} s\n",
                 r.batch_wall, jobs * r.batch_wall - r.child_wall * double(recorder->outcomes.size()),
                 r.wall - r.batch_wall);
      std::fflush(stdout);
      runs.push_back(r);
    }
  double wall[2] = {0, 0};  // old, new: over all rounds
  int evals[2] = {0, 0};
  for (const auto& r : runs) {
    wall[r.path == "new"] += r.wall;
    evals[r.path == "new"] += r.evaluations;
  }
  const double old_rate = wall[0] > 0 ? 3600.0 * evals[0] / wall[0] : 0;
  const double new_rate = wall[1] > 0 ? 3600.0 * evals[1] / wall[1] : 0;
  if (old_rate > 0 && new_rate > 0)
    fmt::print("evaluations/hour old {:.0f}, new {:.0f}, ratio {:.2f}x\n", old_rate, new_rate, new_rate / old_rate);
  if (!json_out.empty()) {
    nlohmann::json j = {{"candidates", requests.size()},
                        {"epochs", epochs},
                        {"jobs", jobs},
                        {"threads_per_job", threads},
                        {"alpha", alpha},
                        {"temperature", temperature},
                        {"train_limit", train_limit},
                        {"teacher", teacher_dir},
                        {"cores", hardware_cores()},
                        {"evaluations_per_hour_old", old_rate},
                        {"evaluations_per_hour_new", new_rate},
                        {"ratio", old_rate > 0 ? new_rate / old_rate : 0.0},
                        {"runs", nlohmann::json::array()}};
    for (const auto& r : runs) j["runs"].push_back(r.to_json(jobs));
    write_json_file(json_out, j);
  }
  fs::remove_all(scratch);
  return 0;
}
