// The kinds of run a child folder can hold, by the command recorded in its run.json: "train" (train/train_run.h) and
// "kd train" (kd/kd_run.h). One entry per kind: how to read its config (strictly; fields added since the run was
// recorded get their defaults), its identity (what a finished run must match to be reused), and how to run it.
// `nemokd run run.json`, the campaigns' read-back and (later) in-process workers all go through this table.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/run_record.h"
#include "train/train_run.h"

namespace nemokd::campaign {

struct RunKind {
  const char* command;     // as recorded in run.json
  const char* out_prefix;  // default output folder runs/<prefix>-<timestamp>
  // The identity of a recorded config of this kind (parsed, so a field added later takes its default).
  nlohmann::json (*identity)(const nlohmann::json& config);
  // Runs a recorded config; threads >= 0 replaces the recorded thread count (a speed setting).
  RunRecord (*run)(const nlohmann::json& config, int threads, const train::RunContext& ctx);
};

// The kind recorded as `command`; ConfigError naming `where` (a file) when this version cannot run it.
const RunKind& run_kind(const std::string& command, const std::string& where);
const std::vector<RunKind>& run_kinds();

}  // namespace nemokd::campaign
