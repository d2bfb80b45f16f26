// Campaigns of child runs: the typed run summary, read-back with the identity guard, the resume guard of a campaign's
// state, the local executor's one dynamic batch (real child processes of a stand-in program), a Batch's progress and
// failures, and the sweep and grid configurations built on them. The whole orchestration through `nemokd` is covered
// by tests/cli/test_cli.sh (and test_mpi.sh under mpirun).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "campaign/campaign.h"
#include "campaign/executor.h"
#include "campaign/kd_grid.h"
#include "campaign/run_kinds.h"
#include "campaign/sweep.h"
#include "core/error.h"
#include "core/json_config.h"
#include "kd/kd_run.h"
#include "test_support.h"

using namespace nemokd;
using namespace nemokd::campaign;
namespace fs = std::filesystem;

namespace {

train::TrainRunConfig small_train_config() {
  train::TrainRunConfig c;
  c.model.mlp().hidden = {8};
  c.train.epochs = 2;
  return c;
}

RunRecord request_of(const train::TrainRunConfig& c) {
  RunRecord r;
  r.command = "train";
  r.config = train::to_json(c);
  r.status = "requested";
  return r;
}

// What a child leaves in its folder: run.json with the given status and test accuracy.
void write_finished(const std::string& dir, const RunRecord& request, const std::string& status, double test_acc) {
  RunRecord rec = request;
  rec.status = status;
  rec.results = {{"final_test_accuracy", test_acc},
                 {"final_val_accuracy", test_acc - 0.01},
                 {"model", {{"parameters", 1234}}},
                 {"history", {{{"epoch", 1}, {"test_accuracy", nullptr}}, {{"epoch", 2}, {"test_accuracy", test_acc}}}}};
  rec.timings = {{"train_seconds", 3.5}};
  rec.write(dir);
}

// An executor that runs nothing: it writes a finished run.json for the children whose epochs are even and leaves
// the others without one (as a crashed child would), recording the order it was given.
class ScriptedExecutor : public Executor {
 public:
  std::vector<std::string> ran;
  std::string describe(int) const override { return "scripted"; }
  void check_device(const std::string&) const override {}
  bool distributed() const override { return false; }
  int ranks() const override { return 1; }
  void run(const std::vector<ChildJob>& jobs, const OnChildDone& on_done) override {
    for (size_t i = 0; i < jobs.size(); ++i) {
      ran.push_back(jobs[i].dir);
      ChildOutcome o;
      if (jobs[i].request.config["train"]["epochs"].get<int>() % 2 == 0) {
        write_finished(jobs[i].dir, jobs[i].request, "completed", 0.75);
        o.exit_code = 0;
      } else {
        o.exit_code = 2;
        o.log_tail = "nemokd: error: boom";
      }
      on_done(i, o);
    }
  }
  void run_tasks(const std::vector<dist::Task>&, const OnTaskDone&) override {}
};

// A stand-in for the nemokd binary: an executable python script in tmp.
std::string python_stand_in(const nemokd::testing::TempDir& tmp, const std::string& body) {
  const auto path = tmp.file("fake-nemokd");
  std::ofstream(path) << "#!/usr/bin/env python3\n" << body;
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

}  // namespace

TEST(Campaign, RunSummaryIsReadFromTheRecord) {
  RunRecord rec = request_of(small_train_config());
  rec.status = "completed";
  rec.results = {{"final_test_accuracy", 0.91},
                 {"model", {{"parameters", 42}}},
                 {"history", {{{"epoch", 1}, {"test_accuracy", 0.5}}, {{"epoch", 2}, {"test_accuracy", 0.91}}}}};
  rec.timings = {{"train_seconds", 7.0}};
  const auto s = RunSummary::from_record(rec);
  EXPECT_EQ(s.status, RunStatus::completed);
  EXPECT_DOUBLE_EQ(s.test_accuracy, 0.91);
  EXPECT_TRUE(std::isnan(s.val_accuracy));  // absent: not a number, never 0
  EXPECT_EQ(s.parameters, 42);
  EXPECT_EQ(s.test_accuracy_at, (std::map<int, double>{{1, 0.5}, {2, 0.91}}));
  EXPECT_DOUBLE_EQ(s.train_seconds, 7.0);
  rec.status = "exploded";
  EXPECT_THROW(RunSummary::from_record(rec), ConfigError);
}

TEST(Campaign, AFinishedRunIsReusedOnlyForTheSameIdentity) {
  nemokd::testing::TempDir tmp;
  const auto dir = tmp.file("cell");
  auto config = small_train_config();
  config.threads = 4;
  EXPECT_FALSE(read_finished(dir, request_of(config)));  // nothing there
  write_finished(dir, request_of(config), "running", 0.5);
  EXPECT_FALSE(read_finished(dir, request_of(config)));  // killed mid-way: redone (from its checkpoint)
  write_finished(dir, request_of(config), "completed", 0.8);
  auto other_threads = config;
  other_threads.threads = 1;  // a speed setting: the same run
  other_threads.blas_threads = 2;
  ASSERT_TRUE(read_finished(dir, request_of(other_threads)));
  EXPECT_DOUBLE_EQ(read_finished(dir, request_of(other_threads))->test_accuracy, 0.8);
  // A field added after the run was recorded (absent from its run.json) takes its default: still the same run.
  auto rec = read_json_file(dir + "/run.json");
  rec["config"]["train"].erase("eval_batch_size");
  write_json_file(dir + "/run.json", rec);
  EXPECT_TRUE(read_finished(dir, request_of(config)));
  // Anything that changes the result is another run: refused, not overwritten.
  auto other = config;
  other.train.optim.lr *= 2;
  EXPECT_THROW(read_finished(dir, request_of(other)), ConfigError);
  auto kd_request = request_of(config);
  kd_request.command = "kd train";
  EXPECT_THROW(read_finished(dir, kd_request), ConfigError);
  // A torn record is redone.
  std::ofstream(dir + "/run.json") << "{\"nemokd_run\": 1, \"comm";
  EXPECT_FALSE(read_finished(dir, request_of(config)));
}

TEST(Campaign, StateIsResumedOnlyWithTheSameIdentity) {
  nemokd::testing::TempDir tmp;
  const auto out = tmp.file("sweep");
  auto s = sweep_preset("q2", 0.1);
  auto identity_of = [](const nlohmann::json& j) { return identity(sweep_config_from_json(j)); };
  open_state(out, "sweep.json", to_json(s), identity(s), identity_of, false, "a sweep");
  EXPECT_TRUE(fs::exists(out + "/sweep.json"));
  try {
    open_state(out, "sweep.json", to_json(s), identity(s), identity_of, false, "a sweep", " (kept)");
    FAIL() << "an existing sweep was started over";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("a sweep already lives here; pass --resume to continue it (kept)"),
              std::string::npos)
        << e.what();
  }
  // Speed settings, more cells and other FPGA columns resume the same sweep.
  auto more = s;
  more.jobs = 3;
  more.base.threads = 7;
  more.cells.push_back({5, 5});
  more.hw.pe = 4;
  EXPECT_EQ(identity(more), identity(s));
  EXPECT_NO_THROW(open_state(out, "sweep.json", to_json(more), identity(more), identity_of, true, "a sweep"));
  // A sweep.json from before the "hw" columns existed is the same sweep.
  auto old = read_json_file(out + "/sweep.json");
  old.erase("hw");
  write_json_file(out + "/sweep.json", old);
  EXPECT_NO_THROW(open_state(out, "sweep.json", to_json(s), identity(s), identity_of, true, "a sweep"));
  // Anything that changes a training is refused.
  auto longer = s;
  longer.base.train.epochs += 1;
  longer.eval_at = {longer.base.train.epochs};
  EXPECT_NE(identity(longer), identity(s));
  EXPECT_THROW(open_state(out, "sweep.json", to_json(longer), identity(longer), identity_of, true, "a sweep"),
               ConfigError);
  // The grid's identity ignores its cells and speed settings, not the training.
  auto g = kd_grid_preset("k-fmnist", "t", 1.0);
  auto g2 = g;
  g2.alphas = {0.5};
  g2.baseline = false;
  g2.jobs = 4;
  EXPECT_EQ(identity(g2), identity(g));
  g2.base.kd.loss.form = "gamma";
  EXPECT_NE(identity(g2), identity(g));
}

TEST(Campaign, ABatchReadsBackRunsAndFailuresAndSkipsFinishedChildren) {
  nemokd::testing::TempDir tmp;
  Batch batch("test", false);
  auto done = small_train_config();  // epochs 2: the scripted executor "trains" it
  auto crashes = small_train_config();
  crashes.train.epochs = 3;  // odd: leaves no record
  auto earlier = small_train_config();
  earlier.train.epochs = 4;
  write_finished(tmp.file("earlier"), request_of(earlier), "completed", 0.9);
  batch.add({"done", tmp.file("done"), request_of(done)});
  batch.add({"crashes", tmp.file("crashes"), request_of(crashes)});
  batch.add({"earlier", tmp.file("earlier"), request_of(earlier)});
  EXPECT_EQ(batch.reused(), 1u);
  EXPECT_EQ(batch.pending(), 2u);
  ScriptedExecutor ex;
  std::vector<size_t> after;
  batch.run(ex, [&](size_t i) { after.push_back(i); });
  EXPECT_EQ(ex.ran, (std::vector<std::string>{tmp.file("done"), tmp.file("crashes")}));  // never the finished one
  EXPECT_EQ(after, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(batch.result(0).run.status, RunStatus::completed);
  EXPECT_DOUBLE_EQ(batch.result(0).run.test_accuracy, 0.75);
  EXPECT_EQ(batch.result(0).run.parameters, 1234);
  EXPECT_EQ(batch.result(1).run.status, RunStatus::failed);
  EXPECT_EQ(batch.result(1).run.message, "exit code 2: nemokd: error: boom");
  EXPECT_TRUE(batch.result(2).reused);
  EXPECT_DOUBLE_EQ(batch.result(2).run.test_accuracy, 0.9);
  EXPECT_EQ(batch.failed(), 1);
  EXPECT_EQ(batch.pending(), 0u);
}

// Longest processing time first: a batch hands its pending children to the executor in descending cost_hint (equal
// hints in the order added; finished children are never handed out), and each result comes back to its own index.
TEST(Campaign, ABatchStartsTheCostliestChildrenFirstAndMapsResultsBack) {
  nemokd::testing::TempDir tmp;
  Batch batch("test", false);
  const std::vector<double> hints = {1, 5, 0, 3, 5};
  for (size_t k = 0; k < hints.size(); ++k) {
    auto c = small_train_config();
    c.train.epochs = 2 * int(k + 1);  // even: the scripted executor finishes it, with accuracy epochs / 100
    batch.add({fmt::format("c{}", k), tmp.file(fmt::format("c{}", k)), request_of(c), hints[k]});
  }
  auto earlier = small_train_config();
  earlier.train.epochs = 40;
  write_finished(tmp.file("earlier"), request_of(earlier), "completed", 0.9);
  batch.add({"earlier", tmp.file("earlier"), request_of(earlier), 100});  // the costliest, but already finished
  struct Recording : ScriptedExecutor {
    void run(const std::vector<ChildJob>& jobs, const OnChildDone& on_done) override {
      // Report in reverse start order, so the index mapping is exercised, not the identity.
      for (size_t i = jobs.size(); i-- > 0;) {
        ran.push_back(jobs[i].dir);
        write_finished(jobs[i].dir, jobs[i].request, "completed", jobs[i].request.config["train"]["epochs"].get<int>() / 100.0);
        ChildOutcome o;
        o.exit_code = 0;
        on_done(i, o);
      }
      std::reverse(ran.begin(), ran.end());
    }
  } ex;
  batch.run(ex);
  EXPECT_EQ(ex.ran, (std::vector<std::string>{tmp.file("c1"), tmp.file("c4"), tmp.file("c3"), tmp.file("c0"),
                                              tmp.file("c2")}));
  for (size_t k = 0; k < hints.size(); ++k) {
    EXPECT_TRUE(batch.result(k).ran) << k;
    EXPECT_DOUBLE_EQ(batch.result(k).run.test_accuracy, 2.0 * double(k + 1) / 100.0) << k;
  }
  EXPECT_TRUE(batch.result(5).reused);
  EXPECT_DOUBLE_EQ(batch.result(5).run.test_accuracy, 0.9);
}

// The local executor runs real child processes; a stand-in program (python) plays `nemokd run` and writes a completed
// run.json. With 2 at a time, a long child must not hold back the short ones queued behind it: the next child starts
// as soon as any ends. The long child (job0) ends only once the last short one (job3) has ended and been reaped by the
// executor (its pid is gone), or after 20 s:
// with one dynamic batch job3 runs beside it, so the order is 1, 2, 3, 0 however loaded the machine is; chunks of 2
// would start job3 only after job0 ended (20 s later), giving 1, 0, 2, 3.
TEST(LocalExecutor, RunsOneDynamicBatchNotChunks) {
  nemokd::testing::TempDir tmp;
  const auto fake = python_stand_in(
      tmp,
      "import json, sys, time, os\n"
      "req = json.load(open(sys.argv[2])); out = sys.argv[4]\n"
      "open(os.path.join(out, 'pid'), 'w').write(str(os.getpid()))\n"
      "def job3_gone():\n"
      "  try:\n"
      "    os.kill(int(open(os.path.join(os.path.dirname(os.path.abspath(out)), 'job3', 'pid')).read()), 0)\n"
      "  except (OSError, ValueError): return os.path.exists(os.path.join(os.path.dirname(os.path.abspath(out)), 'job3', 'run.json'))\n"
      "  return False\n"
      "t0 = time.time()\n"
      "while req['config']['train']['epochs'] > 1 and not job3_gone() and time.time() - t0 < 20: time.sleep(0.05)\n"
      "req['status'] = 'completed'; req['results'] = {'final_test_accuracy': 0.5}\n"
      "json.dump(req, open(os.path.join(out, 'run.json'), 'w'))\n");
  auto ex = make_executor({2, fake});
  EXPECT_FALSE(ex->distributed());
  EXPECT_EQ(ex->ranks(), 1);
  EXPECT_EQ(ex->describe(3), "2 at a time (3 threads each)");
  std::vector<ChildJob> jobs;
  for (int epochs : {30, 1, 1, 1}) {
    auto c = small_train_config();
    c.train.epochs = epochs;
    jobs.push_back({tmp.file(fmt::format("job{}", jobs.size())), request_of(c)});
  }
  std::vector<size_t> order;
  ex->run(jobs, [&](size_t i, const ChildOutcome& o) {
    EXPECT_EQ(o.exit_code, 0) << o.describe();
    order.push_back(i);
  });
  // Chunks of 2 would wait for child 0 before starting 2 and 3: they would end after it.
  EXPECT_EQ(order, (std::vector<size_t>{1, 2, 3, 0}));
  for (const auto& j : jobs) EXPECT_TRUE(read_finished(j.dir, j.request)) << j.dir;
}

// The warm executor keeps `jobs` worker processes and hands them one folder after another over fd 3 (one JSON line
// each way). A stand-in worker (python) plays `nemokd worker`: it records its pid in each folder and writes a
// completed run.json, except for the child with 3 epochs, where it kills itself mid-run. That child alone fails, with
// the signal; a fresh worker takes the rest; a second batch on the same executor finds the same (warm) worker.
TEST(WarmExecutor, AWorkerThatDiesFailsItsChildAloneAndIsReplaced) {
  nemokd::testing::TempDir tmp;
  const auto fake = python_stand_in(
      tmp,
      "import json, os, signal, sys\n"
      "assert sys.argv[1] == 'worker'\n"
      "io = os.fdopen(3, 'r+b', buffering=0)\n"
      "buf = b''\n"
      "while True:\n"
      "  while b'\\n' not in buf:\n"
      "    chunk = io.read(4096)\n"
      "    if not chunk: sys.exit(0)\n"
      "    buf += chunk\n"
      "  line, buf = buf.split(b'\\n', 1)\n"
      "  out = json.loads(line)['dir']\n"
      "  req = json.load(open(os.path.join(out, 'request.json')))\n"
      "  open(os.path.join(out, 'pid'), 'w').write(str(os.getpid()))\n"
      "  if req['config']['train']['epochs'] == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
      "  req['status'] = 'completed'; req['results'] = {'final_test_accuracy': 0.5}\n"
      "  json.dump(req, open(os.path.join(out, 'run.json'), 'w'))\n"
      "  io.write(json.dumps({'exit_code': 0, 'seconds': 0.0}).encode() + b'\\n')\n");
  auto ex = make_executor({1, fake, ExecutorKind::warm});
  EXPECT_EQ(ex->describe(2), "1 at a time in warm workers (2 threads each)");
  auto batch_of = [&](const std::string& prefix, std::vector<int> epochs) {
    std::vector<ChildJob> jobs;
    for (int e : epochs) {
      auto c = small_train_config();
      c.train.epochs = e;
      jobs.push_back({tmp.file(fmt::format("{}{}", prefix, jobs.size())), request_of(c)});
    }
    return jobs;
  };
  auto pid_of = [](const ChildJob& j) {
    std::ifstream f(fs::path(j.dir) / "pid");
    int pid = 0;
    f >> pid;
    return pid;
  };
  const auto jobs = batch_of("a", {2, 3, 2, 2});
  std::vector<ChildOutcome> outcomes(jobs.size());
  std::vector<size_t> order;
  ex->run(jobs, [&](size_t i, const ChildOutcome& o) {
    outcomes[i] = o;
    order.push_back(i);
  });
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(outcomes[1].signal, 9) << outcomes[1].describe();
  EXPECT_FALSE(read_finished(jobs[1].dir, jobs[1].request));
  for (size_t i : {0, 2, 3}) {
    EXPECT_EQ(outcomes[i].exit_code, 0) << i << ": " << outcomes[i].describe();
    EXPECT_GE(outcomes[i].wall_seconds, 0.0);
    EXPECT_TRUE(read_finished(jobs[i].dir, jobs[i].request)) << i;
  }
  EXPECT_EQ(pid_of(jobs[0]), pid_of(jobs[1]));  // one warm worker ran both
  EXPECT_NE(pid_of(jobs[2]), pid_of(jobs[1]));  // a fresh one after the crash
  EXPECT_EQ(pid_of(jobs[2]), pid_of(jobs[3]));
  const auto more = batch_of("b", {2});
  ex->run(more, [&](size_t, const ChildOutcome& o) { EXPECT_EQ(o.exit_code, 0) << o.describe(); });
  EXPECT_EQ(pid_of(more[0]), pid_of(jobs[3]));  // still warm between batches
  EXPECT_THROW(parse_executor_kind("threads", "--executor"), ConfigError);
  EXPECT_EQ(parse_executor_kind("warm", "--executor"), ExecutorKind::warm);
}

// The campaigns committed under experiments/ were recorded by earlier versions: resuming them must reuse every
// finished child (read back under the current identity rules, nothing retrained), and every run.json they and
// tests/data hold must still be a run `nemokd run` accepts.
TEST(Campaign, CampaignsRecordedBeforeResumeWithoutRetraining) {
  const fs::path root(NEMOKD_SOURCE_DIR);
  int sweeps = 0, grids = 0, reused = 0;
  for (const auto& e : fs::recursive_directory_iterator(root / "experiments")) {
    const auto name = e.path().filename().string();
    const auto dir = e.path().parent_path();
    if (name == "sweep.json") {
      ++sweeps;
      const auto s = sweep_config_from_json(read_json_file(e.path().string()));
      EXPECT_NO_THROW(check_identity(read_json_file(e.path().string()), identity(s),
                                     [](const nlohmann::json& j) { return identity(sweep_config_from_json(j)); },
                                     e.path().string()));
      for (const auto& cell : s.cells) {
        const auto cell_dir = dir / cell.name();
        if (!fs::exists(cell_dir / "run.json")) continue;
        RunRecord request;
        request.command = "train";
        request.config = train::to_json(s.cell_config(cell));
        const auto back = read_finished(cell_dir.string(), request);
        ASSERT_TRUE(back) << cell_dir;
        EXPECT_TRUE(finished(back->status)) << cell_dir;
        ++reused;
      }
    } else if (name == "grid.json") {
      ++grids;
      const auto g = kd_grid_config_from_json(read_json_file(e.path().string()));
      for (double a : g.alphas)
        for (double t : g.temperatures) {
          const auto cell_dir = dir / fmt::format("a{}-t{}", a, t);
          if (!fs::exists(cell_dir / "run.json")) continue;
          RunRecord request;
          request.command = "kd train";
          request.config = kd::to_json(g.cell_config(a, t));
          ASSERT_TRUE(read_finished(cell_dir.string(), request)) << cell_dir;
          ++reused;
        }
    }
  }
  EXPECT_GE(sweeps, 3);
  EXPECT_GE(grids, 1);
  EXPECT_GE(reused, 80);  // every cell committed under experiments/ (88 when this was written)
  int runs = 0;
  for (const auto& top : {root / "experiments", root / "tests" / "data"})
    for (const auto& e : fs::recursive_directory_iterator(top)) {
      if (e.path().filename() != "run.json") continue;
      const auto rec = RunRecord::from_json(read_json_file(e.path().string()));
      EXPECT_NO_THROW(run_kind(rec.command, e.path().string()).identity(rec.config)) << e.path();
      ++runs;
    }
  EXPECT_GT(runs, 150);
}

TEST(Campaign, ThreadsAreSplitNeverBelowOne) {
  EXPECT_EQ(threads_per_run(8, 2), 4);
  EXPECT_EQ(threads_per_run(2, 8), 1);
  EXPECT_GE(threads_per_run(0, 1), 1);
}

TEST(RunKinds, EveryRecordedCommandHasOneEntry) {
  EXPECT_STREQ(run_kind("train", "x").command, "train");
  EXPECT_STREQ(run_kind("kd train", "x").out_prefix, "kd-train");
  try {
    run_kind("sweep", "some/run.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "some/run.json: command 'sweep' cannot be re-run by this version");
  }
}

// ---- W x A sweep and (alpha, T) grid configurations (moved from test_train / test_kd) ----

TEST(Sweep, PresetsFollowThePaperAndScale) {
  auto q1 = sweep_preset("q1", 1.0);
  EXPECT_EQ(q1.cells.size(), 64u);
  EXPECT_EQ(q1.base.dataset.name, "mnist");
  EXPECT_EQ(q1.base.train.epochs, 100);
  EXPECT_EQ(q1.eval_at, (std::vector<int>{10, 20, 30, 50, 100}));
  auto q2 = sweep_preset("q2", 0.1);
  EXPECT_EQ(q2.base.dataset.name, "fashion-mnist");
  EXPECT_EQ(q2.base.train.epochs, 4);  // 40 x 0.1
  EXPECT_EQ(q2.eval_at, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(q2.cells.size(), 3u);
  EXPECT_THROW(sweep_preset("q3", 1.0), ConfigError);
  EXPECT_THROW(sweep_preset("q1", 0.0), ConfigError);
  EXPECT_THROW(sweep_preset("q1", 1.5), ConfigError);
}

TEST(Sweep, CellConfigSetsBitsAndSplitsThreads) {
  auto s = sweep_preset("q2", 1.0);
  s.base.threads = 4;
  s.jobs = 2;
  auto c = s.cell_config(QuantCell{3, 5});
  EXPECT_EQ(c.model.mlp().quant.weight_bits, (std::vector<int>{3, 3, 3, 3}));
  EXPECT_EQ(c.model.mlp().quant.act_bits, (std::vector<int>{5, 5, 5}));
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.train.test_eval_epochs, s.eval_at);
  s.jobs = 8;
  EXPECT_EQ(s.cell_config(QuantCell{3, 5}).threads, 1);  // never zero
}

TEST(Sweep, ConfigRoundTripsAndRejectsBadInput) {
  auto s = sweep_preset("q2", 0.5);
  auto back = sweep_config_from_json(to_json(s));
  EXPECT_EQ(to_json(back), to_json(s));

  auto j = to_json(s);
  j["cells"].push_back({{"wbits", 2}, {"abits", 2}});  // W2A2 twice
  EXPECT_THROW(sweep_config_from_json(j), ConfigError);
  j = to_json(s);
  j["cells"][0]["wbits"] = 9;
  EXPECT_THROW(sweep_config_from_json(j), ConfigError);
  j = to_json(s);
  j["eval_at"] = {1000};  // beyond train.epochs
  EXPECT_THROW(sweep_config_from_json(j), ConfigError);
  j = to_json(s);
  j["jobz"] = 2;
  EXPECT_THROW(sweep_config_from_json(j), ConfigError);
  j = to_json(s);
  j["cells"] = nlohmann::json::array();
  EXPECT_THROW(sweep_config_from_json(j), ConfigError);
}

TEST(Sweep, OneBitReluCellsAreRejectedNamingTheKey) {
  auto s = sweep_preset("q2", 1.0);
  s.base.model.mlp().activation = "relu";
  s.base.model.mlp().quant.input = "signed";
  try {
    s.cell_config(QuantCell{2, 1});
    FAIL() << "1-bit ReLU accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("act_bits"), std::string::npos) << e.what();
  }
}

TEST(KdGrid, PresetsAndCells) {
  for (const std::string& p : {std::string("k1"), std::string("k2"), std::string("k3"), std::string("k-fmnist")}) {
    auto g = kd_grid_preset(p, "runs/teacher", 1.0);
    EXPECT_NO_THROW(g.validate()) << p;
    EXPECT_EQ(g.alphas.size() * g.temperatures.size(), 25u);
    auto cell = g.cell_config(0.3, 8);
    EXPECT_DOUBLE_EQ(cell.kd.loss.alpha, 0.3);
    EXPECT_DOUBLE_EQ(cell.kd.loss.temperature, 8);
    EXPECT_EQ(g.baseline_config().model.family(), g.base.base.model.family());
  }
  EXPECT_EQ(kd_grid_preset("k1", "t", 1.0).base.base.dataset.name, "cifar10");
  EXPECT_EQ(kd_grid_preset("k3", "t", 1.0).base.base.model.family(), models::Family::flexresnet8x4);
  EXPECT_EQ(kd_grid_preset("k2", "t", 1.0).base.base.train.epochs, 30);
  EXPECT_THROW(kd_grid_preset("k9", "t", 1.0), ConfigError);
  auto g = kd_grid_preset("k-fmnist", "t", 1.0);
  auto round = kd_grid_config_from_json(to_json(g));
  EXPECT_EQ(to_json(round), to_json(g));
}
