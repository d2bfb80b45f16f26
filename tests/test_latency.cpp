// Latency probes: the probe-string grammar (and its errors naming the accepted forms), the proxies (exactly the
// model's MACs / parameters, labelled as proxies), the command probe (exactly the printed value, units, regexes,
// a python3 command that really opens the exported file, failures reported with the command's output,
// timeouts, quoting), the torch probe (positive ordered statistics, batch 8 slower than batch 1, the time cap,
// model state and thread count restored) and the cache key.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"
#include "hw/latency/probe.h"
#include "models/registry.h"
#include "test_support.h"

using namespace nemokd;
using namespace nemokd::hw::latency;
namespace fs = std::filesystem;

namespace {

models::Classifier flexstudent() {
  torch::manual_seed(0);
  return models::build_model(models::preset_model("flexstudent"), {1, 28, 28}, 10);
}

models::Classifier resnet8() {
  torch::manual_seed(0);
  return models::build_model(models::preset_model("resnet8"), {1, 28, 28}, 10);
}

// A command probe around `command`, with optional regex / unit / match.
LatencyResult run_command(const std::string& command, const std::string& regex = "", const std::string& unit = "",
                          const std::string& match = "last", Materializer m = {}, const std::string& workdir = "") {
  auto spec = parse_probe("command:" + command);
  spec.regex = regex;
  spec.unit = unit;
  spec.match = match;
  spec.timeout_seconds = 20;
  auto model = flexstudent();
  return make_probe(spec, std::move(m), workdir)->measure(*model, {1, 28, 28});
}

template <typename E>
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

// ---- probe strings ----

TEST(ParseProbe, AcceptsTheDocumentedForms) {
  auto t = parse_probe("torch:cpu");
  EXPECT_EQ(t.kind, "torch");
  EXPECT_EQ(t.device, "cpu");
  EXPECT_EQ(t.resolved().batch, 1);
  EXPECT_EQ(t.resolved().runs, 50);
  EXPECT_EQ(t.resolved().warmup, 10);
  EXPECT_EQ(t.text(), "torch:cpu");
  EXPECT_EQ(parse_probe("torch").device, "cpu");
  EXPECT_EQ(parse_probe("torch:cuda").device, "cuda");
  EXPECT_EQ(parse_probe("torch:cuda:1").device, "cuda:1");
  auto o = parse_probe("torch:cpu:batch=8,runs=100,threads=1,pin=1,warmup=3");
  EXPECT_EQ(o.batch, 8);
  EXPECT_EQ(o.runs, 100);
  EXPECT_EQ(o.threads, 1);
  EXPECT_TRUE(o.pin);
  EXPECT_EQ(o.warmup, 3);
  EXPECT_EQ(o.text(), "torch:cpu:batch=8,warmup=3,runs=100,threads=1,pin=1");
  EXPECT_EQ(parse_probe(o.text()).text(), o.text());  // canonical text round-trips
  auto c1 = parse_probe("torch:cuda:1:batch=4");
  EXPECT_EQ(c1.device, "cuda:1");
  EXPECT_EQ(c1.batch, 4);
  EXPECT_EQ(parse_probe("macs").kind, "macs");
  EXPECT_EQ(parse_probe("params").kind, "params");
  auto c = parse_probe("command:benchmark_app -m {model} -d MYRIAD -niter 100");
  EXPECT_EQ(c.kind, "command");
  EXPECT_EQ(c.command, "benchmark_app -m {model} -d MYRIAD -niter 100");
  EXPECT_EQ(c.resolved().runs, 1);    // the command repeats inside itself
  EXPECT_EQ(c.resolved().warmup, 0);
  EXPECT_EQ(parse_probe("command:a:b,c=d {model}").command, "a:b,c=d {model}");  // the rest is the command
}

TEST(ParseProbe, RejectsJunkNamingTheAcceptedForms) {
  for (const std::string bad : {"", "foo", "gpu", "torch:gpu", "torch:cpu:", "torch:cpu:batch=0", "torch:cpu:batch=x",
                                "torch:cpu:bogus=1", "torch:cpu:runs", "torch:cuda:x", "macs:cpu", "params:batch=2",
                                "command:", "command:echo no placeholder", "torch:cpu:stable=2"}) {
    const auto msg = error_of<ConfigError>([&] { parse_probe(bad); });
    EXPECT_NE(msg.find("torch:cpu"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("command:"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("macs (proxy)"), std::string::npos) << bad << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_NE(error_of<ConfigError>([] { parse_probe("torch:cpu:bogus=1"); }).find("bogus"), std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] { parse_probe("command:echo hi"); }).find("{model}"), std::string::npos);
}

// ---- proxies ----

TEST(ProxyProbe, MacsAndParamsAreTheModelsCountsLabelledAsProxies) {
  auto model = flexstudent();
  auto macs = make_probe(parse_probe("macs"))->measure(*model, {1, 28, 28});
  EXPECT_TRUE(macs.proxy);
  EXPECT_EQ(int64_t(macs.value), model->macs());
  EXPECT_GT(macs.value, 1e6);
  EXPECT_EQ(macs.unit, "MACs");
  auto params = make_probe(parse_probe("params"))->measure(*model, {1, 28, 28});
  EXPECT_TRUE(params.proxy);
  EXPECT_EQ(int64_t(params.value), models::parameter_count(*model));
  EXPECT_EQ(params.unit, "parameters");
  const auto j = macs.to_json();
  EXPECT_EQ(j.at("proxy"), true);
  EXPECT_EQ(j.at("label"), "proxy (not a measurement)");
  EXPECT_FALSE(j.contains("median_ms"));  // no timing fields for something that was not timed
  EXPECT_NE(macs.summary().find("proxy (not a measurement)"), std::string::npos);
  EXPECT_TRUE(make_probe(parse_probe("params"))->is_proxy());
  EXPECT_FALSE(make_probe(parse_probe("torch:cpu"))->is_proxy());
}

// ---- command probe ----

TEST(CommandProbe, ParsesExactlyThePrintedValue) {
  auto r = run_command("sh -c \"test -s {model} && printf 'loading\\nLatency: 12.345 ms\\nThroughput: 81 FPS\\n'\"");
  EXPECT_FALSE(r.proxy);
  EXPECT_DOUBLE_EQ(r.value, 12.345);
  EXPECT_DOUBLE_EQ(r.median_ms, 12.345);
  EXPECT_EQ(r.unit, "ms");
  EXPECT_EQ(r.runs, 1);
  EXPECT_EQ(r.details.at("matched"), "Latency: 12.345 ms");
  EXPECT_EQ(r.details.at("model_file"), "model.pt");
  EXPECT_GT(r.details.at("model_bytes").get<int64_t>(), 100000);  // FlexStudent's weights, not an empty file
}

TEST(CommandProbe, UnitsRegexAndWhichMatch) {
  EXPECT_DOUBLE_EQ(run_command("echo 'median latency = 1500 us' {model}").value, 1.5);
  EXPECT_DOUBLE_EQ(run_command("echo 'took 0.25 seconds' {model}", "took ([0-9.]+)", "s").value, 250.0);
  EXPECT_DOUBLE_EQ(run_command("sh -c \"echo 'latency: 7 ms'; echo 'latency: 9 ms'\" {model}").value, 9.0);
  EXPECT_DOUBLE_EQ(run_command("sh -c \"echo 'latency: 7 ms'; echo 'latency: 9 ms'\" {model}", "", "", "first").value,
                   7.0);
  // OpenVINO benchmark_app (2022+) output: the median of the latency block; Average/Min/Max do not match.
  const std::string ov =
      "sh -c \"printf '[ INFO ] First inference took 5.23 ms\\n[ INFO ] Latency:\\n[ INFO ]    Median:     2.58 ms\\n"
      "[ INFO ]    Average:    2.65 ms\\n[ INFO ]    Min:        2.41 ms\\n[ INFO ] Throughput: 380.12 FPS\\n'\" {model}";
  EXPECT_DOUBLE_EQ(run_command(ov).value, 2.58);
  // {batch} is substituted too.
  auto spec = parse_probe("command:echo 'latency: {batch} ms' {model}");
  spec.batch = 4;
  auto model = flexstudent();
  EXPECT_DOUBLE_EQ(make_probe(spec)->measure(*model, {1, 28, 28}).value, 4.0);
}

TEST(CommandProbe, Python3ReallyOpensTheExportedFile) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  // The LibTorch archive is a zip; the script reads every member (exits 3 unless the tensors are there), then
  // times a loop over the file's bytes and prints the median like a benchmark tool would.
  const std::string script = R"PY(
import sys, time, zipfile, os
p = sys.argv[1]
z = zipfile.ZipFile(p)
names = z.namelist()
total = sum(len(z.read(n)) for n in names)
if not any(n.endswith("data.pkl") for n in names) or total < 100000: sys.exit(3)
data = open(p, "rb").read()
ts = []
for _ in range(5):
    t = time.perf_counter(); s = sum(data[::4096]); ts.append((time.perf_counter() - t) * 1000)
ts.sort()
print(f"file {os.path.getsize(p)} bytes, {len(names)} members")
print(f"Median: {ts[2]:.6f} ms")
)PY";
  nemokd::testing::TempDir tmp;
  std::ofstream(tmp.file("bench.py")) << script;
  auto r = run_command("/usr/bin/python3 " + tmp.file("bench.py") + " {model}");
  EXPECT_GT(r.value, 0);
  EXPECT_NE(r.details.at("matched").get<std::string>().find("Median:"), std::string::npos);
  // The same script on a file that is not the model fails, and the failure says so.
  Materializer junk = [](const models::ClassifierImpl&, models::InputShape, const std::string& dir) {
    std::ofstream(dir + "/junk.bin") << "not a zip";
    return dir + "/junk.bin";
  };
  const auto msg = error_of<ConfigError>([&] { run_command("/usr/bin/python3 " + tmp.file("bench.py") + " {model}",
                                                            "", "", "last", junk); });
  EXPECT_NE(msg.find("BadZipFile"), std::string::npos) << msg;
}

TEST(CommandProbe, CustomMaterializerAndQuotedPath) {
  nemokd::testing::TempDir tmp;
  int calls = 0;
  Materializer m = [&](const models::ClassifierImpl& model, models::InputShape input, const std::string& dir) {
    ++calls;
    const auto path = dir + "/my model's file.txt";  // a space and a quote: must reach the command intact
    std::ofstream(path) << "arch " << model.describe().value("arch", "?") << " input " << input.str() << "\n";
    return path;
  };
  // Inside an explicit sh -c the path is still one word: it reaches the shell as a plain-character alias.
  auto r = run_command("sh -c \"grep -q 'arch flexstudent input 1x28x28' {model} && echo 'Latency: 3 ms'\"", "", "",
                       "last", m, tmp.path());
  EXPECT_EQ(calls, 1);
  EXPECT_DOUBLE_EQ(r.value, 3.0);
  EXPECT_TRUE(fs::exists(tmp.file("my model's file.txt")));  // a given workdir is kept
  // Without a workdir the temporary folder is removed afterwards.
  std::string used;
  Materializer spy = [&](const models::ClassifierImpl& model, models::InputShape input, const std::string& dir) {
    used = dir;
    return materialize_libtorch_archive(model, input, dir);
  };
  run_command("echo 'latency: 1 ms' {model}", "", "", "last", spy);
  EXPECT_FALSE(used.empty());
  EXPECT_FALSE(fs::exists(used));
}

TEST(CommandProbe, FailuresAreReportedWithTheCommandsOutput) {
  const auto failed = error_of<ConfigError>([] { run_command("sh -c 'echo boom-output-42 >&2; exit 3' {model}"); });
  EXPECT_NE(failed.find("boom-output-42"), std::string::npos) << failed;
  EXPECT_NE(failed.find("status 3"), std::string::npos) << failed;
  EXPECT_EQ(failed.find('\n'), std::string::npos) << failed;
  const auto missing = error_of<ConfigError>([] { run_command("no-such-benchmark-tool -m {model}"); });
  EXPECT_NE(missing.find("not found"), std::string::npos) << missing;
  const auto nomatch = error_of<DataError>([] { run_command("echo 'all good, 81 FPS' {model}"); });
  EXPECT_NE(nomatch.find("all good, 81 FPS"), std::string::npos) << nomatch;
  EXPECT_NE(nomatch.find("no latency"), std::string::npos) << nomatch;
  const auto zero = error_of<DataError>([] { run_command("echo 'Latency: 0 ms' {model}"); });
  EXPECT_NE(zero.find("not a positive latency"), std::string::npos) << zero;
  EXPECT_NE(error_of<ConfigError>([] { run_command("true {model}", "no group"); }).find("capture group"),
            std::string::npos);
}

TEST(CommandProbe, TimeoutKillsTheCommandAndStragglersDoNotBlock) {
  const auto t0 = std::chrono::steady_clock::now();
  auto spec = parse_probe("command:sh -c 'sleep 20' {model}");
  spec.timeout_seconds = 0.3;
  auto model = flexstudent();
  const auto msg = error_of<ConfigError>([&] { make_probe(spec)->measure(*model, {1, 28, 28}); });
  EXPECT_NE(msg.find("timed out"), std::string::npos) << msg;
  // A background job that keeps the output pipe open does not hold the probe up.
  EXPECT_DOUBLE_EQ(run_command("sh -c \"sleep 20 & echo 'latency: 1 ms'\" {model}").value, 1.0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

// An infinite or huge timeout overflowed the deadline into the past: "timed out after inf s" at once.
TEST(CommandProbe, TimeoutMustBeFiniteAndBounded) {
  for (double t : {std::numeric_limits<double>::infinity(), 1e10, 1e300, 0.0, -1.0, std::nan("")}) {
    auto spec = parse_probe("command:echo 'latency: 1 ms' {model}");
    spec.timeout_seconds = t;
    EXPECT_NE(error_of<ConfigError>([&] { validate(spec); }).find("timeout"), std::string::npos) << t;
    EXPECT_THROW(hw::latency::run_command({"true"}, t), ConfigError) << t;
  }
  auto spec = parse_probe("command:echo 'latency: 1 ms' {model}");
  spec.timeout_seconds = kMaxTimeoutSeconds;  // the longest accepted still runs normally
  auto model = flexstudent();
  EXPECT_DOUBLE_EQ(make_probe(spec)->measure(*model, {1, 28, 28}).value, 1.0);
}

TEST(CommandProbe, SplitsLikeShWithoutBeingOne) {
  EXPECT_EQ(split_command_line("bench -m {model}  -n 3"), (std::vector<std::string>{"bench", "-m", "{model}", "-n", "3"}));
  EXPECT_EQ(split_command_line("a 'b c' \"d \\\"e\\\" $f\" g\\ h x'y'\"z\""),
            (std::vector<std::string>{"a", "b c", "d \"e\" $f", "g h", "xyz"}));
  EXPECT_EQ(split_command_line("sh -c 'x; y && $(z) `w`'"), (std::vector<std::string>{"sh", "-c", "x; y && $(z) `w`"}));
  // Shell syntax outside quotes would silently become arguments: refused, with the way to ask for a shell.
  for (const char* bad : {"bench {model}; rm x", "bench {model} | tee", "bench {model} && ok", "bench {model} > out",
                          "bench $(pwd)/{model}", "bench `pwd`", "bench 'open", "bench \"open", "bench {model} \\",
                          "bench ${HOME}"}) {
    const auto msg = error_of<ConfigError>([&] { split_command_line(bad); });
    EXPECT_NE(msg.find("without a shell"), std::string::npos) << bad << ": " << msg;
    EXPECT_THROW(parse_probe(std::string("command:") + bad), ConfigError) << bad;
  }
}

// The issue's injection: a model path with shell syntax in it (a TMPDIR or --out folder like `a;touch PWNED;b`, with
// spaces, quotes, $() and backticks) must reach the command as one argument and never run anything — written
// unquoted, single-quoted, double-quoted, or inside an explicit sh -c.
TEST(CommandProbe, ModelPathWithShellSyntaxNeverRuns) {
  nemokd::testing::TempDir tmp;
  const std::string canary = tmp.file("PWNED");
  const std::string evil = tmp.file(fmt::format("a b;touch {};'q'\"d\"$(touch {})`touch {}`", canary, canary, canary));
  fs::create_directories(evil);
  // A checker that prints the latency only when its one argument is a readable model archive.
  const std::string check = tmp.file("check.sh");
  std::ofstream(check) << "#!/bin/sh\n[ $# -eq 1 ] && [ -s \"$1\" ] && echo 'Latency: 2 ms'\n";
  fs::permissions(check, fs::perms::owner_all);
  for (const std::string command :
       {check + " {model}", check + " '{model}'", check + " \"{model}\"", "sh -c '" + check + " {model}'",
        "sh -c \"" + check + " '{model}'\"", "sh -c '" + check + " \"{model}\"'", "bash -c '" + check + " {model}'"}) {
    EXPECT_DOUBLE_EQ(run_command(command, "", "", "last", {}, evil).value, 2.0) << command;
    EXPECT_FALSE(fs::exists(canary)) << command;
  }
  // The alias folder is removed afterwards; the model written to the given workdir stays.
  EXPECT_TRUE(fs::exists(evil + "/model.pt"));
}

// ---- torch probe ----

TEST(TorchProbe, PositiveOrderedStatisticsAndStateRestored) {
  auto model = resnet8();
  model->train();
  const int threads_before = at::get_num_threads();
  const auto x = torch::randn({2, 1, 28, 28});
  model->eval();
  torch::Tensor y0;
  {
    torch::NoGradGuard ng;
    y0 = model->forward(x);
  }
  model->train();
  auto r = make_probe(parse_probe("torch:cpu:warmup=2,runs=10,threads=1"))->measure(*model, {1, 28, 28});
  EXPECT_FALSE(r.proxy);
  EXPECT_GT(r.median_ms, 0);
  EXPECT_EQ(r.value, r.median_ms);
  EXPECT_LE(r.p10_ms, r.median_ms);
  EXPECT_LE(r.median_ms, r.p90_ms);
  EXPECT_GT(r.mean_ms, 0);
  EXPECT_GE(r.runs, 10);
  EXPECT_EQ(r.runs % 10 == 0 || r.details.at("capped").get<bool>(), true);
  EXPECT_EQ(r.details.at("threads"), 1);
  EXPECT_GE(r.details.at("blocks").get<int>(), 1);
  EXPECT_TRUE(model->is_training());                 // mode restored
  EXPECT_EQ(at::get_num_threads(), threads_before);  // thread count restored
  model->eval();
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(model->forward(x), y0));  // measuring changed nothing (BN stats untouched)
  const auto j = r.to_json();
  EXPECT_EQ(j.at("proxy"), false);
  EXPECT_GT(j.at("median_ms").get<double>(), 0);
}

TEST(TorchProbe, Batch8TakesLongerThanBatch1) {
  auto model = resnet8();
  auto b1 = make_probe(parse_probe("torch:cpu:warmup=2,runs=10,threads=1"))->measure(*model, {1, 28, 28});
  auto b8 = make_probe(parse_probe("torch:cpu:batch=8,warmup=2,runs=10,threads=1"))->measure(*model, {1, 28, 28});
  EXPECT_EQ(b8.batch, 8);
  EXPECT_GT(b8.median_ms, b1.median_ms * 1.5) << b1.summary() << " / " << b8.summary();
}

TEST(TorchProbe, TimeCapStopsTheMeasurement) {
  auto model = flexstudent();
  auto r = make_probe(parse_probe("torch:cpu:warmup=1,runs=50,max_seconds=0.000001,threads=1"))
               ->measure(*model, {1, 28, 28});
  EXPECT_EQ(r.runs, 5);  // the cap is checked after each run once 5 samples exist
  EXPECT_TRUE(r.details.at("capped").get<bool>());
  EXPECT_FALSE(r.details.at("stable").get<bool>());
  EXPECT_EQ(r.details.at("blocks"), 1);
}

TEST(TorchProbe, CudaWithoutCudaIsAConfigError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA is available here";
  auto model = flexstudent();
  const auto msg =
      error_of<ConfigError>([&] { make_probe(parse_probe("torch:cuda"))->measure(*model, {1, 28, 28}); });
  EXPECT_NE(msg.find("cuda"), std::string::npos) << msg;
}

// ---- cache key ----

TEST(CacheKey, StableAndSensitiveToWhatIsMeasuredOnly) {
  auto model = flexstudent();
  const auto desc = model->describe();
  const auto spec = parse_probe("torch:cpu");
  const auto key = latency_cache_key(spec, desc, {1, 28, 28});
  EXPECT_EQ(key, latency_cache_key(parse_probe("torch:cpu"), desc, {1, 28, 28}));
  EXPECT_EQ(key.rfind("lat1-torch-", 0), 0u) << key;
  EXPECT_EQ(key.size(), std::string("lat1-torch-").size() + 16);
  // A fixed value: the key must not change between builds or runs (callers persist it). Independently:
  // the memo hash (core/hash.h: FNV-1a's steps from offset 1469598103934665603) of
  // {"input":[1,28,28],"model":{"arch":"x"},"probe":{"kind":"macs"},"v":1} in Python.
  EXPECT_EQ(latency_cache_key(parse_probe("macs"), {{"arch", "x"}}, {1, 28, 28}), "lat1-macs-34af148a983a8812");
  // Measurement effort does not change the key; what is measured does.
  EXPECT_EQ(key, latency_cache_key(parse_probe("torch:cpu:runs=7,warmup=1,blocks=2"), desc, {1, 28, 28}));
  EXPECT_NE(key, latency_cache_key(parse_probe("torch:cpu:batch=8"), desc, {1, 28, 28}));
  EXPECT_NE(key, latency_cache_key(parse_probe("torch:cuda"), desc, {1, 28, 28}));
  EXPECT_NE(key, latency_cache_key(parse_probe("torch:cpu:threads=1"), desc, {1, 28, 28}));
  EXPECT_NE(key, latency_cache_key(spec, desc, {3, 32, 32}));
  auto other = desc;
  other["flexstudent"]["fc_widths"] = {64};
  EXPECT_NE(key, latency_cache_key(spec, other, {1, 28, 28}));
  EXPECT_NE(latency_cache_key(parse_probe("command:a {model}"), desc, {1, 28, 28}),
            latency_cache_key(parse_probe("command:b {model}"), desc, {1, 28, 28}));
}
