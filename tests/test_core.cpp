#include <malloc.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/run_record.h"
#include "core/runtime.h"
#include "test_support.h"

using namespace nemokd;

TEST(JsonReader, ReadsKnownKeysAndRejectsUnknownOnesByFullPath) {
  Json j = {{"epochs", 3}, {"lr", 0.5}, {"typo_key", 1}};
  int epochs = 0;
  double lr = 0;
  JsonReader r(j, "train");
  r.get("epochs", epochs).get("lr", lr);
  EXPECT_EQ(epochs, 3);
  EXPECT_DOUBLE_EQ(lr, 0.5);
  try {
    r.finish();
    FAIL() << "unknown key accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "train.typo_key: unknown key");
  }
}

TEST(JsonReader, WrongTypeNamesTheKey) {
  Json j = {{"epochs", "three"}};
  int epochs = 0;
  JsonReader r(j, "train");
  try {
    r.get("epochs", epochs);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.epochs"), std::string::npos);
  }
}

TEST(JsonReader, NonObjectIsRejected) { EXPECT_THROW(JsonReader(Json::array(), "model"), ConfigError); }

TEST(Checks, RangeAndChoiceMessagesNameTheKey) {
  EXPECT_NO_THROW(check_range("bits", 8, 1, 8));
  try {
    check_range("quant.bits", 9, 1, 8);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("quant.bits"), std::string::npos);
  }
  EXPECT_THROW(check_range("x", NAN, 0, 1), ConfigError);
  EXPECT_THROW(check_one_of("optim.name", "rmsprop", {"sgd", "adam"}), ConfigError);
}

TEST(Checks, IntListParsing) {
  EXPECT_EQ(parse_int_list("hidden", "64,32,16"), (std::vector<int>{64, 32, 16}));
  EXPECT_THROW(parse_int_list("hidden", "64,,16"), ConfigError);
  EXPECT_THROW(parse_int_list("hidden", "64x"), ConfigError);
  EXPECT_THROW(parse_int_list("hidden", ""), ConfigError);
}

TEST(RunRecord, RoundTripsThroughFile) {
  nemokd::testing::TempDir dir;
  RunRecord r;
  r.command = "train";
  r.config = {{"threads", 2}};
  r.status = "completed";
  r.results = {{"accuracy", 0.5}};
  r.write(dir.path());
  auto back = RunRecord::from_json(read_json_file(dir.file("run.json")));
  EXPECT_EQ(back.command, "train");
  EXPECT_EQ(back.config, r.config);
  EXPECT_EQ(back.status, "completed");
  EXPECT_EQ(back.results, r.results);
  EXPECT_THROW(RunRecord::from_json(Json{{"command", "train"}}), ConfigError);
}

TEST(Runtime, ThreadsAreSetForTorchAndBlas) {
  // scripts/install-deps.sh makes OpenBLAS the active BLAS; its thread count must be what we set.
  ASSERT_TRUE(blas_info().is_openblas) << blas_info().library;
  EXPECT_EQ(configure_threads(1), 1);
  EXPECT_EQ(runtime_info().torch_threads, 1);
  EXPECT_EQ(runtime_info().blas.threads, 1);
  configure_threads(2, 2);
  EXPECT_EQ(runtime_info().torch_threads, 2);
  EXPECT_EQ(runtime_info().blas.threads, 2);
  EXPECT_EQ(configure_threads(0), hardware_cores());
  EXPECT_EQ(runtime_info().blas.threads, 1);  // default: torch's pool parallelises, BLAS stays single
  EXPECT_THROW(configure_threads(-2), ConfigError);
  EXPECT_THROW(configure_threads(1, -1), ConfigError);
}

TEST(Runtime, DeviceValidation) {
  EXPECT_NO_THROW(check_device("cpu"));
  EXPECT_THROW(check_device("tpu"), ConfigError);
  if (!runtime_info().cuda_available) {
    EXPECT_THROW(check_device("cuda"), ConfigError);
  } else {
    EXPECT_NO_THROW(check_device("cuda"));
  }
  EXPECT_THROW(check_device("cuda:x"), ConfigError);
}

TEST(Runtime, AllocatorTuningKeepsLargeBlocksInTheHeap) {
  ASSERT_TRUE(tune_allocator());
  // An 8 MiB block (a batch-sized tensor) must come from the heap, not from a fresh mmap.
  const auto mapped_before = mallinfo2().hblks;  // blocks mapped earlier (e.g. by library start-up) stay
  void* p = std::malloc(size_t(8) << 20);
  const auto mapped_during = mallinfo2().hblks;
  std::free(p);
  EXPECT_EQ(mapped_during, mapped_before);
}
