#include "campaign/campaign.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "campaign/run_kinds.h"
#include "core/error.h"
#include "core/json_config.h"
#include "core/runtime.h"

namespace nemokd::campaign {
namespace fs = std::filesystem;

RunSummary RunSummary::from_record(const RunRecord& rec) {
  RunSummary s;
  s.status = parse_run_status(rec.status, "run.json status");
  s.message = rec.message;
  const auto& res = rec.results;
  auto number = [&](const char* key) {
    return res.contains(key) && res[key].is_number() ? res[key].get<double>() : NAN;
  };
  if (res.contains("model") && res["model"].is_object()) s.parameters = res["model"].value("parameters", int64_t(0));
  if (res.contains("history") && res["history"].is_array())
    for (const auto& h : res["history"])
      if (h.contains("test_accuracy") && h["test_accuracy"].is_number())
        s.test_accuracy_at[h.at("epoch").get<int>()] = h["test_accuracy"].get<double>();
  s.test_accuracy = number("final_test_accuracy");
  s.val_accuracy = number("final_val_accuracy");
  s.train_seconds = rec.timings.value("train_seconds", 0.0);
  return s;
}

std::string status_column(const RunSummary& run) {
  return run.status == RunStatus::requested ? std::string() : to_string(run.status);
}

std::optional<RunSummary> read_finished(const std::string& dir, const RunRecord& request) {
  const auto path = fs::path(dir) / "run.json";
  if (!fs::exists(path)) return std::nullopt;
  RunRecord rec;
  RunStatus status;
  try {
    rec = RunRecord::from_json(read_json_file(path.string()));
    status = parse_run_status(rec.status, path.string());
  } catch (const Error&) {
    return std::nullopt;  // torn or foreign: redone (resuming the checkpoint, which has its own guard)
  }
  if (!finished(status)) return std::nullopt;
  const auto& kind = run_kind(request.command, path.string());
  bool same = rec.command == request.command;
  if (same) {
    try {
      same = kind.identity(rec.config) == kind.identity(request.config);
    } catch (const ConfigError&) {
      same = false;
    }
  }
  if (!same) throw ConfigError(fmt::format("{}: holds a run with a different configuration; use a new --out", dir));
  return RunSummary::from_record(rec);
}

size_t Batch::add(ChildRun child) {
  const size_t i = children_.size();
  ChildResult r;
  if (auto done = read_finished(child.dir, child.request)) {
    r.run = *done;
    r.reused = true;
  } else {
    pending_.push_back(i);
  }
  children_.push_back(std::move(child));
  results_.push_back(std::move(r));
  return i;
}

size_t Batch::reused() const {
  return size_t(std::count_if(results_.begin(), results_.end(), [](const ChildResult& r) { return r.reused; }));
}

int Batch::failed() const {
  return int(std::count_if(results_.begin(), results_.end(),
                           [](const ChildResult& r) { return r.ran && r.run.status == RunStatus::failed; }));
}

void Batch::run(Executor& executor, const std::function<void(size_t)>& after_each) {
  // Longest first (LPT): the executor starts jobs in the order given.
  std::stable_sort(pending_.begin(), pending_.end(),
                   [&](size_t a, size_t b) { return children_[a].cost_hint > children_[b].cost_hint; });
  std::vector<ChildJob> jobs;
  for (size_t i : pending_) jobs.push_back({children_[i].dir, children_[i].request});
  size_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  executor.run(jobs, [&](size_t k, const ChildOutcome& outcome) {
    const size_t i = pending_[k];
    auto& r = results_[i];
    r.ran = true;
    r.outcome = outcome;
    if (auto finished_run = read_finished(children_[i].dir, children_[i].request)) {
      r.run = *finished_run;
    } else {
      r.run = RunSummary{};
      r.run.status = RunStatus::failed;
      r.run.message = outcome.describe();
    }
    ++done;
    if (progress_) {
      const auto& s = r.run;
      spdlog::info("{} [{}/{}] {}: {}  ({:.0f}s; ETA {:.0f}s)", label_, done, jobs.size(), children_[i].name,
                   s.status == RunStatus::completed ? fmt::format("test {:.2f}%", 100 * s.test_accuracy)
                                                    : std::string(to_string(s.status)) + ": " + s.message,
                   s.train_seconds, seconds_since(t0) / double(done) * double(jobs.size() - done));
    }
    if (after_each) after_each(i);
  });
  pending_.clear();
}

void refuse_without_resume(bool exists, bool resume, const std::string& out_dir, const std::string& what,
                           const std::string& kept) {
  if (exists && !resume)
    throw ConfigError(fmt::format("{}: {} already lives here; pass --resume to continue it{} or choose another --out",
                                  out_dir, what, kept));
}

void check_identity(const nlohmann::json& stored, const nlohmann::json& now, const IdentityOf& identity_of,
                    const std::string& state, const std::string& hint) {
  nlohmann::json before;
  try {
    before = identity_of(stored);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: cannot be read back ({}); use a new --out", state, e.what()));
  }
  if (before == now) return;
  // Which settings differ (the first few, values shortened): "select_on: "validation", now "test"".
  std::vector<std::string> changed;
  const auto shown = [](const nlohmann::json& j, const nlohmann::json::json_pointer& at) {
    if (!j.contains(at)) return std::string("absent");
    auto text = j.at(at).dump();
    return text.size() > 40 ? text.substr(0, 37) + "..." : text;
  };
  for (const auto& op : nlohmann::json::diff(before, now)) {
    if (changed.size() == 3) {
      changed.push_back("...");
      break;
    }
    const nlohmann::json::json_pointer at(op.at("path").get<std::string>());
    changed.push_back(fmt::format("{}: {}, now {}", at.to_string().substr(1), shown(before, at), shown(now, at)));
  }
  throw ConfigError(fmt::format("{}: was started with different settings ({}); {}", state, fmt::join(changed, "; "),
                                hint));
}

void open_state(const std::string& out_dir, const std::string& state_name, const nlohmann::json& config,
                const nlohmann::json& identity, const IdentityOf& identity_of, bool resume, const std::string& what,
                const std::string& kept) {
  const auto state = fs::path(out_dir) / state_name;
  const bool exists = fs::exists(state);
  refuse_without_resume(exists, resume, out_dir, what, kept);
  if (exists) check_identity(read_json_file(state.string()), identity, identity_of, state.string());
  fs::create_directories(out_dir);
  write_json_file(state.string(), config);
}

int threads_per_run(int total, int jobs) {
  return std::max(1, (total > 0 ? total : hardware_cores()) / std::max(1, jobs));
}

}  // namespace nemokd::campaign
