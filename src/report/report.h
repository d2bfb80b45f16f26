// `nemokd report`: one self-contained HTML page (Vega/Vega-Lite and the data inlined; no server, no network) with
// the paper's figures for whatever the given run folders hold. Torch-free: run records (JSON/CSV) in, HTML out.
#pragma once
#include <string>
#include <vector>

#include "report/figures.h"
#include "report/runs.h"

namespace nemokd::report {

struct ReportSummary {
  std::string out_html;               // the file written
  std::size_t bytes = 0;              // its size
  std::vector<std::string> sections;  // section titles, in page order
  std::vector<std::string> charts;    // chart element ids (each a <div id=...> the page renders into)
  std::vector<RunSet::Entry> runs;    // folders found, their kind and commands
};

// The page for runs already loaded; fills `summary` (out_html and bytes excepted) when given.
std::string render_report(const RunSet& runs, const ReportOptions& options = {}, ReportSummary* summary = nullptr);

// Loads `run_dirs` (see load_runs: a run folder, or a folder with runs one level down), writes the page to
// `out_html` atomically (temp file + rename; parent folders created). Throws ConfigError for a missing folder or one
// without runs, DataError for a malformed record.
ReportSummary write_report(const std::vector<std::string>& run_dirs, const std::string& out_html,
                           const ReportOptions& options = {});

// `text` (a command line: space-separated words) with every absolute path below `base_dir` — a word, or the value of
// a KEY=PATH word — written relative to it; other words as they are. A page shows its runs' commands this way.
std::string relative_paths(const std::string& text, const std::string& base_dir);

// Text safe inside HTML element content and attribute values.
std::string html_escape(const std::string& text);
// JSON text safe inside <script type="application/json"> (every '<' as \u003c).
std::string script_safe_json(const nlohmann::json& j);

}  // namespace nemokd::report
