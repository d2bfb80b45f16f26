// Latency probes: how long one model takes on a target, behind one interface, so that the evolution (NEMOKD,
// Route K) can ask the same question of every candidate — cheaply, repeatably and honestly.
//
//   torch    LibTorch forward passes on cpu / cuda[:N]: eval mode, no autograd, a fixed random input of the
//            model's shape, warm-up, then timed runs in blocks until the median is stable (rule below).
//   command  a user command measures a file written from the model: the command is split into words once (sh
//            quoting rules) and run WITHOUT a shell; "{model}" is replaced inside its word by the file's path (a
//            path of plain characters — a symbolic link when the real one has others — so that even inside an
//            explicit `sh -c '... {model}'` it cannot be read as shell syntax), and the latency it prints is parsed
//            with a regex — e.g. OpenVINO's benchmark_app on a Myriad X.
//   macs     the model's MACs for one image         } deterministic PROXIES, not measurements: for tests and
//   params   the model's parameter count            } for users without the target at hand.
//
// Noise rule (torch): after `warmup` untimed runs, timed runs come in blocks of `runs`; after each block the
// median of ALL samples so far is compared with the median before that block. The measurement stops when the
// two differ by at most `stable` (relative, default 1 %) — at least two blocks — or when `max_blocks` blocks
// or `max_seconds` of timed work are reached (then `stable` is false in the result). The reported latency is
// that median; p10/p90/mean/stddev/CV describe the samples. See docs/LATENCY.md.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/classifier.h"

namespace nemokd::hw::latency {

struct ProbeSpec {
  std::string kind;             // torch | command | macs | params
  std::string device = "cpu";   // torch: cpu | cuda | cuda:N
  int batch = 1;                // images per forward pass (torch; {batch} in a command)
  int warmup = -1;              // torch: untimed runs first; command: untimed executions of the command
  int runs = -1;                // torch: timed runs per block; command: executions (median of their values)
                                // (-1 = the kind's default: torch 10 / 50, command 0 / 1; see resolved())
  int threads = 0;              // torch intra-op threads during the measurement (0 = all cores); restored after
  bool pin = false;             // torch on cpu: pin worker i to allowed core i while measuring (threads < cores)
  int max_blocks = 8;           // torch: at most this many blocks of `runs`
  double max_seconds = 10;      // torch: stop adding blocks after this much timed work
  double stable = 0.01;         // torch: relative median change under which a block ends the measurement
  std::string command;          // command: with {model} (required) and optionally {batch}
  std::string regex;            // command: empty = default (Latency/Median: <number> <unit>); group 1 = number,
                                //          optional group 2 = unit
  std::string unit;             // command: ms | us | s | ns; empty = group 2 of the match, else ms
  std::string match = "last";   // command: which regex match counts: first | last
  double timeout_seconds = 600; // command: per execution; the process group is killed after it
  // This spec with -1 fields replaced by the kind's defaults.
  ProbeSpec resolved() const;
  // Canonical text: "torch:cpu:batch=1,runs=50,...", "macs", "command:<cmd>".
  std::string text() const;
  nlohmann::json to_json() const;
};

// The default regex of the command probe (ECMAScript, case-insensitive): "Latency: 12.3 ms", "Median: 2.58 ms"
// (OpenVINO benchmark_app), "median latency = 120 us".
extern const char* const kDefaultLatencyRegex;

// "torch:cpu", "torch:cuda", "torch:cuda:1", "torch:cpu:batch=8,runs=100,threads=1,pin=1", "macs", "params",
// "command:<command with {model}>" (the rest of the string is the command; set regex/unit/match/timeout
// on the returned spec). Throws ConfigError naming the accepted forms.
ProbeSpec parse_probe(const std::string& text);
// The accepted forms, for help texts and error messages.
std::string probe_forms();
// Throws ConfigError when a field is out of range (batch >= 1, runs >= 1, ...); parse_probe and make_probe call it.
void validate(const ProbeSpec& spec);

struct LatencyResult {
  std::string probe;   // ProbeSpec::text()
  bool proxy = false;  // true for macs/params: NOT a measurement
  double value = 0;    // the objective: median_ms for measurements, MACs or parameters for proxies
  std::string unit;    // "ms" | "MACs" | "parameters"
  double median_ms = 0, p10_ms = 0, p90_ms = 0, mean_ms = 0, stddev_ms = 0;
  double cv = 0;       // stddev / mean of the samples
  int runs = 0;        // timed samples behind the statistics (0 for proxies)
  int batch = 1;
  nlohmann::json details = nlohmann::json::object();  // probe-specific: threads, blocks, stable, command output...
  // {"probe", "proxy", "value", "unit", "batch", ...}; proxies carry "label": "proxy (not a measurement)" and
  // no timing fields.
  nlohmann::json to_json() const;
  std::string summary() const;  // one line for humans
};

class LatencyProbe {
 public:
  virtual ~LatencyProbe();
  // `model` is not const: forward() is not, and the torch probe switches it to eval mode (and to the device)
  // for the measurement; its training flag and device are restored before returning.
  virtual LatencyResult measure(models::ClassifierImpl& model, models::InputShape input) = 0;
  virtual std::string describe() const = 0;
  virtual bool is_proxy() const = 0;
};

// Writes `model` (built for `input`) as a file in `dir` and returns its path: what the command probe hands to
// the command. The default writes the LibTorch archive `model.pt` (torch::serialize::OutputArchive, the format of
// run folders); once the export area lands, the ONNX materializer (exporting::export_onnx) is passed here instead.
using Materializer =
    std::function<std::string(const models::ClassifierImpl& model, models::InputShape input, const std::string& dir)>;
std::string materialize_libtorch_archive(const models::ClassifierImpl& model, models::InputShape input,
                                         const std::string& dir);

// `materialize` is used by the command probe only (empty = materialize_libtorch_archive); `workdir` is where the
// command probe writes the file (empty = a fresh temporary folder per measurement, removed afterwards).
std::unique_ptr<LatencyProbe> make_probe(const ProbeSpec& spec, Materializer materialize = {},
                                         const std::string& workdir = "");

// Memoisation key for a (probe, model, input) triple: "lat1-<kind>-<16 hex digits>" from the 64-bit memo hash (core/hash.h) of
// the canonical JSON of what determines the value — the probe's target (kind, device, batch, threads, pin;
// command, regex, unit, match) and the model description and input shape — but not the measurement effort
// (warmup, runs, blocks, time cap). It does not identify the machine: callers that persist latencies must key
// their store by host/target themselves. No storage here.
std::string latency_cache_key(const ProbeSpec& spec, const nlohmann::json& model_description,
                              models::InputShape input);

// Running a command with a time limit (used by the command probe; exposed for tests). No shell is involved: args[0]
// is looked up on PATH and gets args as its argv.
struct CommandOutput {
  int exit_code = -1;     // -1 when killed by a signal or timed out
  int signal = 0;
  bool timed_out = false;
  std::string output;     // stdout + stderr interleaved (the last 1 MiB)
  double seconds = 0;
};
// Longest timeout (and torch max_seconds) accepted: 10^6 s, about 11.6 days; inf or 1e300 would overflow the deadline.
inline constexpr double kMaxTimeoutSeconds = 1e6;
CommandOutput run_command(const std::vector<std::string>& args, double timeout_seconds);
// The command probe's words, split once as sh would split them — ' and " quotes, backslash escapes — but nothing
// else of a shell: an unquoted ; | & < > ` $( or ${ is a ConfigError (they would not do what they do in a shell).
// {model} and {batch} are substituted inside each word afterwards, so the model's path is always one argument.
std::vector<std::string> split_command_line(const std::string& command);

}  // namespace nemokd::hw::latency
