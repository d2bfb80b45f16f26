// The MPI task distribution (dist/cluster.h). CTest runs this program twice: alone (the cluster-free behaviour; the
// cluster tests skip) and under `mpirun -np 3` (dist.mpi), where rank 0 runs the tests and ranks 1 and 2 serve
// tasks with the handlers registered in main() below.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "core/error.h"
#include "dist/cluster.h"

using namespace nemokd;
using namespace nemokd::dist;

namespace {

void register_test_handlers() {
  // Sleeps payload["ms"], answers who ran it.
  register_handler("sleep", [](const nlohmann::json& p, const RankInfo& self) {
    std::this_thread::sleep_for(std::chrono::milliseconds(p.value("ms", 0)));
    return nlohmann::json{{"rank", self.rank}, {"pid", ::getpid()}, {"threads", self.threads}, {"n", p.value("n", -1)}};
  });
  register_handler("fail", [](const nlohmann::json& p, const RankInfo&) -> nlohmann::json {
    throw Error("deliberate failure " + p.value("what", std::string()));
  });
}

Cluster& cluster_or_skip() {
  auto* c = Cluster::current();
  if (!c) throw std::runtime_error("no cluster");
  return *c;
}

#define REQUIRE_CLUSTER()                                                           \
  if (!Cluster::current()) GTEST_SKIP() << "not started by mpirun (see dist.mpi)"; \
  auto& cluster = cluster_or_skip();                                               \
  cluster.set_options(Options{})

}  // namespace

TEST(Dist, GpuFollowsLocalRank) {
  EXPECT_EQ(gpu_for_local_rank(0, 0), -1);
  EXPECT_EQ(gpu_for_local_rank(3, 0), -1);
  EXPECT_EQ(gpu_for_local_rank(0, 4), 0);
  EXPECT_EQ(gpu_for_local_rank(5, 4), 1);
}

TEST(Dist, ProcessesStartedByARankAreNotRanks) {
  // A rank marks its environment so the trainings it starts (which inherit mpirun's variables) run alone.
  if (!Cluster::current()) {
    ::setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
    EXPECT_TRUE(launched_by_mpi());
    ::setenv("NEMOKD_MPI_CHILD", "1", 1);
    EXPECT_FALSE(launched_by_mpi());
    ::unsetenv("NEMOKD_MPI_CHILD");
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
  } else {
    EXPECT_FALSE(launched_by_mpi()) << "a rank's own environment carries the child marker";
  }
}

TEST(DistMpi, EveryTaskRunsExactlyOnceOnAWorker) {
  REQUIRE_CLUSTER();
  ASSERT_EQ(cluster.size(), 3) << "run under mpirun -np 3";
  std::vector<Task> tasks;
  for (int n = 0; n < 12; ++n) tasks.push_back({"sleep", {{"ms", 5}, {"n", n}}, kAnyRank});
  std::multiset<int> seen;
  std::set<int> ranks;
  cluster.run(tasks, [&](size_t i, const TaskResult& r) {
    EXPECT_EQ(r.value.at("n").get<int>(), int(i));
    EXPECT_EQ(r.value.at("rank").get<int>(), r.rank);
    EXPECT_NE(r.rank, 0) << "rank 0 only coordinates unless root_works";
    seen.insert(int(i));
    ranks.insert(r.rank);
  });
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), 12u);
  EXPECT_EQ(ranks, (std::set<int>{1, 2}));
}

TEST(DistMpi, ASlowTaskDoesNotHoldTheOthersBack) {
  REQUIRE_CLUSTER();
  // One 1.5 s task and ten 50 ms ones: with dynamic assignment the rank that got the slow one runs nothing else,
  // the other runs all ten, and everything ends in about the slow task's time (static halves would take 1.75 s+).
  std::vector<Task> tasks{{"sleep", {{"ms", 1500}, {"n", 0}}, kAnyRank}};
  for (int n = 1; n <= 10; ++n) tasks.push_back({"sleep", {{"ms", 50}, {"n", n}}, kAnyRank});
  std::map<int, int> per_rank;
  int slow_rank = -1;
  const auto t0 = std::chrono::steady_clock::now();
  cluster.run(tasks, [&](size_t i, const TaskResult& r) {
    ++per_rank[r.rank];
    if (i == 0) slow_rank = r.rank;
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_NE(slow_rank, -1);
  EXPECT_EQ(per_rank[slow_rank], 1);
  EXPECT_EQ(per_rank[3 - slow_rank], 10);
  EXPECT_LT(s, 1.5 + 0.5 * 1.5) << "the fast tasks waited for the slow one";
}

TEST(DistMpi, PinnedTasksRunOnTheirRank) {
  REQUIRE_CLUSTER();
  std::vector<Task> tasks;
  for (int n = 0; n < 6; ++n) tasks.push_back({"sleep", {{"ms", 1}, {"n", n}}, n % 3});  // ranks 0, 1, 2
  cluster.run(tasks, [&](size_t i, const TaskResult& r) {
    EXPECT_EQ(r.rank, int(i % 3));
    EXPECT_EQ(r.value.at("rank").get<int>(), int(i % 3));
    if (r.rank == 0) {
      EXPECT_EQ(r.value.at("pid").get<int>(), int(::getpid())) << "rank 0's own tasks run here";
    }
  });
  EXPECT_THROW(cluster.run({{"sleep", {{"ms", 0}}, 7}}, [](size_t, const TaskResult&) {}), ConfigError);
}

TEST(DistMpi, RootWorksWhenAsked) {
  REQUIRE_CLUSTER();
  Options o;
  o.root_works = true;
  cluster.set_options(o);
  EXPECT_EQ(cluster.working_ranks(), 3);
  std::vector<Task> tasks;
  for (int n = 0; n < 9; ++n) tasks.push_back({"sleep", {{"ms", 100}, {"n", n}}, kAnyRank});
  std::set<int> ranks;
  cluster.run(tasks, [&](size_t, const TaskResult& r) { ranks.insert(r.rank); });
  EXPECT_EQ(ranks, (std::set<int>{0, 1, 2}));
  cluster.set_options(Options{});
}

TEST(DistMpi, ThreadsShareTheMachineAmongWorkingRanks) {
  REQUIRE_CLUSTER();
  // All three ranks on this machine: 2 working ranks (or 3 with root_works) share its cores; explicit counts win.
  const int cores = cluster.ranks()[1].cores;
  std::vector<Task> tasks{{"sleep", {{"ms", 0}}, 1}, {"sleep", {{"ms", 0}}, 2}};
  cluster.run(tasks, [&](size_t, const TaskResult& r) {
    EXPECT_EQ(r.value.at("threads").get<int>(), std::max(1, cores / 2));
  });
  Options o;
  o.threads = 3;
  cluster.set_options(o);
  cluster.run(tasks, [&](size_t, const TaskResult& r) { EXPECT_EQ(r.value.at("threads").get<int>(), 3); });
  cluster.set_options(Options{});
}

TEST(DistMpi, AFailingTaskIsAnErrorNamingRankAndHost) {
  REQUIRE_CLUSTER();
  try {
    cluster.run({{"fail", {{"what", "on purpose"}}, 2}}, [](size_t, const TaskResult&) {});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("rank 2"), std::string::npos) << m;
    EXPECT_NE(m.find(cluster.ranks()[2].host), std::string::npos) << m;
    EXPECT_NE(m.find("on purpose"), std::string::npos) << m;
  }
  // An unknown kind is the worker's error too; the cluster stays usable afterwards.
  EXPECT_THROW(cluster.run({{"no-such-kind", {{"ms", 0}}, 1}}, [](size_t, const TaskResult&) {}), Error);
  int done = 0;
  cluster.run({{"sleep", {{"ms", 0}}, 1}, {"sleep", {{"ms", 0}}, 2}}, [&](size_t, const TaskResult&) { ++done; });
  EXPECT_EQ(done, 2);
}

TEST(DistMpi, ResultsOfAnAbandonedCallAreDropped) {
  REQUIRE_CLUSTER();
  // The first call stops (its callback throws) while the other rank is still busy; that late result must not be
  // delivered to the next call as one of its own.
  std::vector<Task> first{{"sleep", {{"ms", 1}, {"n", 100}}, 1}, {"sleep", {{"ms", 400}, {"n", 200}}, 2}};
  EXPECT_THROW(cluster.run(first, [](size_t, const TaskResult&) { throw std::runtime_error("stop"); }),
               std::runtime_error);
  std::vector<int> got;
  cluster.run({{"sleep", {{"n", 1}}, 1}, {"sleep", {{"n", 2}}, 2}},
              [&](size_t, const TaskResult& r) { got.push_back(r.value.at("n").get<int>()); });
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

int main(int argc, char** argv) {
  Session session(argc, argv);
  register_test_handlers();
  if (session.is_worker()) return session.finish(session.serve());
  ::testing::InitGoogleTest(&argc, argv);
  return session.finish(RUN_ALL_TESTS());
}
