#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/config_layers.h"
#include "core/csv.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/folder_lock.h"
#include "core/json_config.h"
#include "core/pareto.h"
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

// A config in layers (core/config_layers.h): preset < file < the flags given; a flag given with the default value
// still wins over the file; lists are replaced, objects merged; a family change replaces the family's object.
TEST(ConfigLayers, PresetThenFileThenGivenFlags) {
  nemokd::testing::TempDir dir;
  const auto file = dir.file("config.json");
  std::ofstream(file) << R"({"train": {"epochs": 7, "lr": 0.5, "milestones": [3]}, "model": {"arch": "cnv"}})";
  const Json preset = {{"train", {{"epochs", 30}, {"lr", 0.1}, {"batch", 64}, {"milestones", {10, 20}}}},
                       {"model", {{"arch", "mlp"}, {"mlp", {{"hidden", {64, 64}}}}}}};
  const Json flags = {{"train", {{"lr", 0.1}}}};  // given, and equal to the preset's value
  const auto j = layer_config(preset, file, flags);
  EXPECT_EQ(j["train"]["epochs"], 7);                 // the file over the preset
  EXPECT_EQ(j["train"]["lr"], 0.1);                   // the flag over the file, though equal to the preset
  EXPECT_EQ(j["train"]["batch"], 64);                 // the preset where nothing else speaks
  EXPECT_EQ(j["train"]["milestones"], Json({3}));     // lists replaced, not merged
  EXPECT_EQ(j["model"], Json({{"arch", "cnv"}}));     // another family: its object starts afresh
  EXPECT_EQ(layer_config(preset, "", nullptr), preset);  // no file, no flags: the base itself

  // A key the config does not know stays in the layered JSON, so the config's strict reader refuses it by name.
  std::ofstream(file) << R"({"train": {"epochz": 7}})";
  const auto typo = layer_config(preset, file, flags);
  JsonReader r(typo.at("train"), "train");
  int epochs = 0, batch = 0;
  double lr = 0;
  std::vector<int> milestones;
  r.get("epochs", epochs).get("lr", lr).get("batch", batch).get("milestones", milestones);
  EXPECT_THAT([&] { r.finish(); }, ::testing::ThrowsMessage<ConfigError>(::testing::HasSubstr("train.epochz: unknown key")));

  std::ofstream(file) << "[1, 2]";
  EXPECT_THAT([&] { layer_config(preset, file, flags); },
              ::testing::ThrowsMessage<ConfigError>(::testing::HasSubstr("not a JSON object")));
}

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

// nlohmann's own get<int>() reads 1.5 and true as 1, 2^40 as 0 and -1 into an unsigned as 2^64-1: a config with
// "epochs": 1.5 trained silently for 1 epoch. Every JsonReader field is read strictly, errors naming the key.
TEST(JsonReader, NumbersAreReadStrictly) {
  auto error_for = [](const Json& value, auto out) {
    Json j = {{"epochs", value}};
    try {
      JsonReader(j, "train").get("epochs", out);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_THAT(error_for(1.5, int{}), ::testing::HasSubstr("train.epochs: wrong type: expected an integer, got 1.5"));
  EXPECT_THAT(error_for(true, int{}), ::testing::HasSubstr("train.epochs: wrong type: expected an integer, got true"));
  EXPECT_THAT(error_for("3", int{}), ::testing::HasSubstr("train.epochs"));
  EXPECT_THAT(error_for(int64_t(1) << 40, int{}),
              ::testing::HasSubstr("train.epochs: 1099511627776 is out of range [-2147483648, 2147483647]"));
  EXPECT_THAT(error_for(-1, uint64_t{}), ::testing::HasSubstr("train.epochs: -1 is out of range [0, "));
  EXPECT_THAT(error_for(1e300, int64_t{}), ::testing::HasSubstr("out of range"));
  EXPECT_THAT(error_for(1, bool{}), ::testing::HasSubstr("expected true or false"));
  EXPECT_THAT(error_for(true, double{}), ::testing::HasSubstr("expected a number"));
  EXPECT_THAT(error_for(Json::array({1, 2.5}), std::vector<int>{}), ::testing::HasSubstr("train.epochs[1]"));
  EXPECT_THAT(error_for(Json::array({"a", 2}), std::vector<std::string>{}), ::testing::HasSubstr("train.epochs[1]"));
  // What is right still reads: an integral float, the extremes of the type, nested lists.
  Json j = {{"a", 2.0}, {"b", -2147483648LL}, {"c", Json::array({Json::array({1, 2}), Json::array({3})})},
            {"d", 0.5}, {"e", 7}, {"f", false}};
  int a = 0, b = 0;
  double d = 0, e = 0;
  bool f = true;
  std::vector<std::vector<int>> c;
  JsonReader(j, "").get("a", a).get("b", b).get("c", c).get("d", d).get("e", e).get("f", f);
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, std::numeric_limits<int>::min());
  EXPECT_EQ(c, (std::vector<std::vector<int>>{{1, 2}, {3}}));
  EXPECT_DOUBLE_EQ(d, 0.5);
  EXPECT_DOUBLE_EQ(e, 7.0);
  EXPECT_FALSE(f);
}

// 150 000 nested arrays parsed fine (nlohmann's parser is iterative) and then overflowed the stack when copied:
// SIGSEGV. Every user JSON goes through parse_json, which refuses the nesting before it is built.
TEST(JsonInput, DepthIsBoundedBeforeTheValueIsBuilt) {
  const std::string deep = "{\"x\": " + std::string(150000, '[') + std::string(150000, ']') + "}";
  try {
    parse_json(deep, "deep.json");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("deep.json: JSON nested deeper than 64 levels"));
  }
  nemokd::testing::TempDir dir;
  std::ofstream(dir.file("deep.json")) << deep;
  EXPECT_THROW(read_json_file(dir.file("deep.json")), ConfigError);
  // The deepest accepted nesting still reads (and copies).
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  const Json j = parse_json(ok, "ok");
  EXPECT_EQ(Json(j).dump(), ok);
  EXPECT_THROW(parse_json("[" + ok + "]", "too deep"), ConfigError);
}

// 1e309 came out as nlohmann's out_of_range exception without the file's name; a folder as basic_filebuf::underflow.
TEST(JsonInput, EveryDefectNamesTheFile) {
  nemokd::testing::TempDir dir;
  std::ofstream(dir.file("big.json")) << "{\"lr\": 1e309}";
  try {
    read_json_file(dir.file("big.json"));
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(dir.file("big.json") + ": invalid JSON"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("1e309"));
  }
  EXPECT_THAT([&] {
    try {
      read_json_file(dir.path());
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  }(), ::testing::HasSubstr("is a folder"));
  EXPECT_THROW(parse_json("{\"a\": ", "--space"), ConfigError);
  EXPECT_THROW(read_json_file(dir.file("missing.json")), ConfigError);
}

// "--wbits 1-2147483647" expanded two billion integers before the bits were checked (GBs, bad_alloc).
TEST(Checks, RangesAreBoundedBeforeExpansion) {
  EXPECT_EQ(parse_int_ranges("--wbits", "1-3,8", 1, 32), (std::vector<int>{1, 2, 3, 8}));
  const auto t0 = std::chrono::steady_clock::now();
  try {
    parse_int_ranges("--wbits", "1-2147483647", 1, 32);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("--wbits: 2147483647 is out of range [1, 32]"));
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  EXPECT_THROW(parse_int_ranges("--wbits", "0-3", 1, 32), ConfigError);
  EXPECT_THROW(parse_int_ranges("--wbits", "40", 1, 32), ConfigError);
  EXPECT_THROW(parse_int_ranges("--wbits", "-2147483648-4", 1, 32), ConfigError);
}

// A full disk while writing a JSON record: one Error, the temp file removed, the previous file intact. The disk is
// "full" through RLIMIT_FSIZE (writes past the limit fail with EFBIG once SIGXFSZ is ignored), in a child process.
TEST(JsonOutputDeathTest, FullDiskLeavesThePreviousFileAndNoTemp) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  nemokd::testing::TempDir dir;
  const std::string path = dir.file("run.json");
  write_json_file(path, Json{{"old", true}});
  // The child: a lambda, because a block with commas cannot be a macro argument.
  auto child = [&] {
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    Json big = Json::array();
    for (int i = 0; i < 10000; ++i) big.push_back(i);
    bool error = false;
    try {
      write_json_file(path, big);
    } catch (const Error& e) {
      error = std::string(e.what()).find("write failed") != std::string::npos;
    }
    const bool ok = error && !std::filesystem::exists(path + ".tmp") && read_json_file(path) == Json{{"old", true}};
    std::filesystem::remove_all(dir.path());  // exit() skips the destructors of this (re-executed) test body
    std::exit(ok ? 0 : 1);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "");
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

// Issue 21, item 7: two processes on one --out mixed their files. The folder lock is exclusive (a second holder, even
// in this process, is refused naming the holder's PID), released with its object, and the lock file is not content.
TEST(FolderLock, SecondHolderIsRefusedNamingThePid) {
  nemokd::testing::TempDir dir;
  const std::string out = dir.file("run");
  EXPECT_FALSE(folder_has_content(out));
  {
    const FolderLock lock(out);
    EXPECT_FALSE(folder_has_content(out));  // only the lock file
    try {
      const FolderLock second(out);
      FAIL() << "a second lock on a held folder";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(fmt::format("run: in use by another nemokd process (pid {})", ::getpid())));
    }
    std::ofstream(dir.file("run/model.pt")) << "x";
    EXPECT_TRUE(folder_has_content(out));
  }
  EXPECT_NO_THROW(FolderLock{out});  // released with the first object
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
  const int by_default = configure_threads(0);  // the idle cores: all of them on a quiet machine
  EXPECT_GE(by_default, 1);
  EXPECT_LE(by_default, hardware_cores());
  EXPECT_EQ(runtime_info().blas.threads, 1);  // default: torch's pool parallelises, BLAS stays single
  EXPECT_THROW(configure_threads(-2), ConfigError);
  EXPECT_THROW(configure_threads(1, -1), ConfigError);
}

// Default threads beside a busy process: 2 cores with 1 busy took 2.8-6.7x longer to train TFC W2A2 on 2 threads
// than quiet, 1.08x on 1 thread (bench/bench_contention.sh). The default uses the idle cores only.
TEST(Runtime, DefaultThreadsUseTheIdleCores) {
  EXPECT_EQ(threads_for_free_cores(2, 0), 2);
  EXPECT_EQ(threads_for_free_cores(2, 1), 1);
  EXPECT_EQ(threads_for_free_cores(2, 7), 1);  // never fewer than one
  EXPECT_EQ(threads_for_free_cores(16, 3), 13);
  EXPECT_EQ(threads_for_free_cores(4, -1), 4);
  const int others = other_running_tasks();
  EXPECT_GE(others, 0);
  EXPECT_LT(others, 1 << 20);
}

// --threads 100000 created threads (hanging the process) before the 1..1024 check ran.
TEST(Runtime, ThreadCountsAreCheckedBeforeAnythingIsSet) {
  configure_threads(1);
  EXPECT_THROW(configure_threads(100000), ConfigError);
  EXPECT_THROW(configure_threads(1, 100000), ConfigError);
  EXPECT_EQ(runtime_info().torch_threads, 1);  // unchanged
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

// ---- issue 15, hygiene: the one atomic write, the one CSV writer, one home per hash, one Pareto sweep ----

TEST(Csv, QuotesFieldsWithCommasQuotesAndLineBreaks) {
  EXPECT_EQ(csv_field("plain 1.5"), "plain 1.5");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("512,256"), "\"512,256\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");
  CsvTable t({"name", "note"});
  t.add_row({"a", "x, y"});
  t.add_row({"b \"q\"", "line1\nline2"});
  t.add_row({"", "end"});
  EXPECT_EQ(t.rows(), 3u);
  EXPECT_EQ(t.text(), "name,note\na,\"x, y\"\n\"b \"\"q\"\"\",\"line1\nline2\"\n,end\n");
  // A reader gets every field back as it was.
  const auto back = parse_csv(t.text(), "t.csv");
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back[1], (std::vector<std::string>{"a", "x, y"}));
  EXPECT_EQ(back[2], (std::vector<std::string>{"b \"q\"", "line1\nline2"}));
  EXPECT_EQ(back[3], (std::vector<std::string>{"", "end"}));
  // CRLF line ends and empty lines are read too; a record of the wrong width is refused when written.
  EXPECT_EQ(parse_csv("a,b\r\n\r\n1,2\r\n", "x"), (std::vector<std::vector<std::string>>{{"a", "b"}, {"1", "2"}}));
  EXPECT_THROW(t.add_row({"only one"}), Error);
  EXPECT_THROW(parse_csv("a,\"open\n", "bad.csv"), DataError);
}

TEST(Csv, WriteIsAtomicAndAFailedWriteLeavesNoFile) {
  nemokd::testing::TempDir dir;
  CsvTable t({"k", "v"});
  t.add_row({"1", "a,b"});
  t.write(dir.file("t.csv"));
  std::ifstream in(dir.file("t.csv"));
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), t.text());
  EXPECT_FALSE(std::filesystem::exists(dir.file("t.csv.tmp")));
  // A folder that does not exist: one Error naming the file, nothing created.
  try {
    t.write(dir.file("missing/t.csv"));
    FAIL() << "wrote into a missing folder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing/t.csv"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing")));
}

// A full disk while a table is written (RLIMIT_FSIZE with SIGXFSZ ignored: writes past the limit fail with EFBIG,
// as with ENOSPC): one Error, no table and no temp file.
TEST(CsvDeathTest, FullDiskIsOneErrorWithNoFileLeft) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  nemokd::testing::TempDir dir;
  const std::string path = dir.file("results.csv");
  auto child = [&] {
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    CsvTable t({"i", "text"});
    for (int i = 0; i < 2000; ++i) t.add_row({std::to_string(i), "some, text"});
    std::string message;
    try {
      t.write(path);
    } catch (const Error& e) {
      message = e.what();
    }
    const bool ok = message.find("results.csv.tmp: cannot write") != std::string::npos &&
                    message.find("write failed") != std::string::npos && !std::filesystem::exists(path) &&
                    !std::filesystem::exists(path + ".tmp");
    std::filesystem::remove_all(dir.path());  // exit() skips the destructors of this (re-executed) test body
    std::exit(ok ? 0 : 1);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "");
}

TEST(AtomicFile, HeaderRewriteCommitAndAbandon) {
  nemokd::testing::TempDir dir;
  const std::string path = dir.file("f.bin");
  {
    AtomicFile f(path, AtomicFile::Temp::per_process);
    EXPECT_EQ(f.temp_path(), fmt::format("{}.tmp.{}", path, ::getpid()));
    f.write("xxxx-body");
    f.write_at(0, "head", 4);
    EXPECT_THROW(f.write_at(8, "ab", 2), Error);  // past the bytes written: a bug, refused
    EXPECT_FALSE(std::filesystem::exists(path));  // nothing visible before commit
    f.commit();
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "head-body");
  {
    AtomicFile f(path);
    f.write("half");
    EXPECT_TRUE(std::filesystem::exists(path + ".tmp"));
  }  // abandoned (an exception on the way): the temp file goes, the file keeps what it held
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(std::filesystem::file_size(path), 9u);
}

TEST(Hash, KnownValues) {
  // Published check values: CRC-32 of "123456789" (the CRC catalogue), SHA-256 and MD5 of "abc" (FIPS 180-2,
  // RFC 1321). The memo hash: FNV-1a's steps from its own offset (hash.h), values computed independently in Python.
  EXPECT_EQ(crc32_of("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(crc32_of("56789", 5, crc32_of("1234", 4)), 0xCBF43926u);  // continues
  EXPECT_EQ(memo_hash64(""), 1469598103934665603ull);
  EXPECT_EQ(memo_hash64("a"), 0x44bd8ad473cd9906ull);
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  nemokd::testing::TempDir dir;
  write_text_file(dir.file("abc"), "abc");
  EXPECT_EQ(sha256_file(dir.file("abc")), sha256_hex("abc"));
  EXPECT_EQ(md5_file(dir.file("abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_THROW(sha256_file(dir.file("absent")), DataError);
}

// The sorted sweep against the definition (strict dominance, all objectives minimised) on random points with ties.
TEST(Pareto, SweepFrontIsTheNonDominatedSet) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::pair<int, int>> pts(40);
    for (auto& p : pts) p = {int(rng() % 8), int(rng() % 8)};
    auto dominates = [](std::pair<int, int> a, std::pair<int, int> b) {
      return a.first <= b.first && a.second <= b.second && a != b;
    };
    std::vector<std::pair<int, int>> expected;
    for (const auto& p : pts)
      if (std::none_of(pts.begin(), pts.end(), [&](auto q) { return dominates(q, p); })) expected.push_back(p);
    auto sorted = pts;
    std::stable_sort(sorted.begin(), sorted.end());
    auto front = sweep_front(sorted, dominates);
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(front, expected);
    // Weak dominance (ties to the first): one point per distinct value.
    auto weak = sweep_front(sorted, [](auto a, auto b) { return a.first <= b.first && a.second <= b.second; });
    expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
    EXPECT_EQ(weak, expected);
  }
  // A refused point covers nothing.
  auto kept = sweep_front(std::vector<int>{1, 2, 3}, [](int a, int b) { return a <= b; }, [](int v) { return v != 1; });
  EXPECT_EQ(kept, std::vector<int>{2});
}
