#include "report/report.h"

#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"
#include "report/assets.h"

namespace nemokd::report {
namespace fs = std::filesystem;
using nlohmann::json;

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string script_safe_json(const json& j) {
  const std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

namespace {

// A script's text inside <script>: "</script" would end the element early.
std::string script_safe_js(const char* js) {
  std::string s(js);
  for (size_t pos = 0; (pos = s.find("</script", pos)) != std::string::npos; pos += 2) s.replace(pos, 2, "<\\/");
  return s;
}

constexpr const char* kStyle = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2327; background: #fafafa; }
header { background: #1f3a5f; color: #fff; padding: 14px 28px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header .meta { font-size: 13px; opacity: 0.85; }
#status { display: inline-block; margin-top: 6px; font-size: 12px; padding: 2px 8px; border-radius: 3px; background: #8a6d00; }
#status.ok { background: #2e7d32; } #status.bad { background: #b71c1c; }
nav { padding: 8px 28px; background: #eef2f6; font-size: 13px; border-bottom: 1px solid #d8dee4; }
nav a { margin-right: 14px; color: #1f3a5f; }
main { padding: 4px 28px 40px 28px; max-width: 1500px; }
section { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; padding: 6px 18px 14px 18px; margin: 16px 0; }
h2 { font-size: 19px; margin: 10px 0 4px 0; color: #1f3a5f; }
h3 { font-size: 15px; margin: 18px 0 2px 0; }
p.intro, p.caption { font-size: 13px; color: #444; margin: 2px 0 6px 0; max-width: 1100px; }
pre.command { background: #f3f4f6; border: 1px solid #e1e4e8; padding: 6px 8px; font-size: 12px; white-space: pre-wrap; word-break: break-all; margin: 4px 0; }
.chart { margin: 4px 0 6px 0; }
table { border-collapse: collapse; font-size: 12px; margin: 4px 0 10px 0; }
th, td { border: 1px solid #d8dee4; padding: 2px 7px; text-align: left; white-space: pre-wrap; vertical-align: top; }
th { background: #f3f4f6; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-size: 12px; color: #555; padding: 2px 0; font-weight: 600; }
details > summary { font-size: 12px; color: #1f3a5f; cursor: pointer; margin: 4px 0; }
.vega-bind { font-size: 12px; }
)css";

// Renders every chart with vega-embed (SVG), then writes the outcome into #status: data-charts, data-rendered,
// data-errors and a line of text; document.body gets data-report-done. scripts/report-check.sh reads these.
constexpr const char* kDriver = R"js(
(function () {
  var status = document.getElementById('status');
  var errors = [], warnings = [], rendered = [];
  window.addEventListener('error', function (e) { errors.push('page: ' + e.message); });
  var origError = console.error, origWarn = console.warn;
  console.error = function () { errors.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); origError.apply(console, arguments); };
  console.warn = function () { warnings.push(Array.prototype.join.call(arguments, ' ')); origWarn.apply(console, arguments); };
  var data = JSON.parse(document.getElementById('report-data').textContent);
  // report.html#only=ID,ID shows only those sections, or only those charts (with their tables) of a section: a
  // view for screenshots of one figure.
  var only = /^#only=(.+)$/.exec(location.hash);
  if (only) {
    var keep = decodeURIComponent(only[1]).split(',');
    Array.prototype.forEach.call(document.querySelectorAll('main > section'), function (s) {
      if (keep.indexOf(s.id) >= 0) return;
      var blocks = s.querySelectorAll('div.block'), any = false;
      Array.prototype.forEach.call(blocks, function (b) { any = any || keep.indexOf(b.dataset.chart) >= 0; });
      if (!any) { s.style.display = 'none'; return; }
      Array.prototype.forEach.call(s.children, function (c) {
        if (c.tagName !== 'H2' && !(c.classList.contains('block') && keep.indexOf(c.dataset.chart) >= 0)) c.style.display = 'none';
      });
    });
    document.querySelector('nav').style.display = 'none';
  }
  function finish() {
    status.dataset.charts = data.charts.length;
    status.dataset.rendered = rendered.length;
    status.dataset.errors = errors.length;
    status.dataset.warnings = warnings.length;
    var ok = errors.length === 0 && warnings.length === 0 && rendered.length === data.charts.length;
    status.className = ok ? 'ok' : 'bad';
    status.textContent = 'charts rendered: ' + rendered.length + '/' + data.charts.length +
      (errors.length ? '; errors: ' + errors.join(' | ') : '; no errors') +
      (warnings.length ? '; warnings: ' + warnings.join(' | ') : '');
    document.body.setAttribute('data-report-done', ok ? 'ok' : 'failed');
  }
  if (typeof vegaEmbed === 'undefined' || typeof vega === 'undefined' || typeof vegaLite === 'undefined') {
    errors.push('the inlined Vega scripts did not load');
    finish();
    return;
  }
  Promise.all(data.charts.map(function (c) {
    return vegaEmbed('#' + c.id, c.spec, { actions: false, renderer: 'svg', mode: c.lite ? 'vega-lite' : 'vega' })
      .then(function () { rendered.push(c.id); document.getElementById(c.id).setAttribute('data-rendered', '1'); })
      .catch(function (e) { errors.push(c.id + ': ' + (e && e.message ? e.message : e)); });
  })).then(finish, function (e) { errors.push(String(e)); finish(); });
})();
)js";

std::string render_table(const Table& t) {
  std::string h;
  if (t.collapsed) h += fmt::format("<details><summary>{} ({} rows)</summary>\n", html_escape(t.caption), t.rows.size());
  h += "<table>";
  if (!t.collapsed) h += fmt::format("<caption>{}</caption>", html_escape(t.caption));
  h += "<thead><tr>";
  for (const auto& c : t.header) h += "<th>" + html_escape(c) + "</th>";
  h += "</tr></thead><tbody>\n";
  for (const auto& r : t.rows) {
    h += "<tr>";
    for (const auto& c : r) {
      // Numbers right-aligned: "12,345", "97.51 %", "–", "+0.42 points", "(×1.20)".
      const bool number = !c.empty() && (std::isdigit(static_cast<unsigned char>(c[0])) || c == "–" ||
                                         ((c[0] == '-' || c[0] == '+') && c.size() > 1 && std::isdigit(static_cast<unsigned char>(c[1]))));
      h += (number ? "<td class=\"n\">" : "<td>") + html_escape(c) + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</tbody></table>\n";
  if (t.collapsed) h += "</details>\n";
  return h;
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace

std::string relative_paths(const std::string& text, const std::string& base_dir) {
  if (base_dir.empty()) return text;
  const fs::path base = fs::path(base_dir).lexically_normal();
  std::string out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(' ', pos), text.size());
    std::string word = text.substr(pos, end - pos);
    // A word that is an absolute path, or KEY=absolute path, below the page's folder.
    size_t at = 0;
    const size_t eq = word.find('=');
    if (eq != std::string::npos && eq + 1 < word.size() && word[eq + 1] == '/') at = eq + 1;
    if (at < word.size() && word[at] == '/') {
      const auto rel = fs::path(word.substr(at)).lexically_normal().lexically_relative(base);
      if (!rel.empty() && *rel.begin() != "..") word = word.substr(0, at) + rel.string();
    }
    out += (pos ? " " : "") + word;
    pos = end + 1;
  }
  return out;
}

std::string render_report(const RunSet& runs_as_loaded, const ReportOptions& options, ReportSummary* summary) {
  // Commands as the page's reader can use them: paths below the page's folder relative to it.
  RunSet runs = runs_as_loaded;
  for (auto& e : runs.entries)
    for (auto& c : e.commands) c = relative_paths(c, options.base_dir);
  const auto sections = build_sections(runs, options);
  std::string title = options.title;
  if (title.empty()) {
    std::vector<std::string> dirs;
    for (const auto& e : runs.entries)
      dirs.push_back(relative_paths(fs::absolute(e.dir).lexically_normal().string(), options.base_dir));
    title = fmt::format("nemokd report: {}", fmt::join(dirs, ", "));
  }
  json charts = json::array();
  std::string body;
  std::string nav;
  for (const auto& s : sections) {
    nav += fmt::format("<a href=\"#{}\">{}</a>", html_escape(s.id), html_escape(s.title));
    body += fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n", html_escape(s.id), html_escape(s.title));
    if (!s.intro.empty()) body += fmt::format("<p class=\"intro\">{}</p>\n", html_escape(s.intro));
    for (const auto& c : s.commands) body += fmt::format("<pre class=\"command\">{}</pre>\n", html_escape(c));
    for (const auto& t : s.tables) body += render_table(t);
    for (const auto& b : s.blocks) {
      body += fmt::format("<div class=\"block\" data-chart=\"{}\">\n<h3>{}</h3>\n", html_escape(b.chart.id),
                          html_escape(b.chart.title));
      if (!b.chart.caption.empty()) body += fmt::format("<p class=\"caption\">{}</p>\n", html_escape(b.chart.caption));
      body += fmt::format("<div class=\"chart\" id=\"{}\" data-kind=\"{}\"></div>\n", html_escape(b.chart.id),
                          b.chart.vega_lite ? "vega-lite" : "vega");
      for (const auto& t : b.tables) body += render_table(t);
      body += "</div>\n";
      charts.push_back({{"id", b.chart.id}, {"lite", b.chart.vega_lite}, {"spec", b.chart.spec}});
      if (summary) summary->charts.push_back(b.chart.id);
    }
    body += "</section>\n";
    if (summary) summary->sections.push_back(s.title);
  }
  if (summary) summary->runs = runs.entries;

  std::string html;
  html.reserve(1 << 20);
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"generator\" content=\"nemokd report\">\n";
  html += fmt::format("<title>{}</title>\n<style>{}</style>\n", html_escape(title), kStyle);
  html += fmt::format("<!-- {} (BSD-3-Clause; third_party/vega) -->\n", assets::versions);
  html += "<script>" + script_safe_js(assets::vega_js) + "</script>\n";
  html += "<script>" + script_safe_js(assets::vega_lite_js) + "</script>\n";
  html += "<script>" + script_safe_js(assets::vega_embed_js) + "</script>\n";
  html += "</head>\n<body>\n<header>\n";
  html += fmt::format("<h1>{}</h1>\n<div class=\"meta\">{} run folder(s), {} charts; generated {} by nemokd report with {}</div>\n",
                      html_escape(title), runs.entries.size(), charts.size(), utc_now(), assets::versions);
  html += "<div id=\"status\">rendering…</div>\n</header>\n";
  html += "<nav>" + nav + "</nav>\n<main>\n" + body + "</main>\n";
  html += "<script id=\"report-data\" type=\"application/json\">" + script_safe_json({{"charts", charts}}) + "</script>\n";
  html += std::string("<script>") + kDriver + "</script>\n</body>\n</html>\n";
  return html;
}

ReportSummary write_report(const std::vector<std::string>& run_dirs, const std::string& out_html,
                           const ReportOptions& options) {
  if (out_html.empty()) throw ConfigError("report: --out: give the HTML file to write");
  const RunSet runs = load_runs(run_dirs);
  ReportSummary summary;
  ReportOptions with_base = options;
  if (with_base.base_dir.empty()) with_base.base_dir = fs::absolute(out_html).parent_path().lexically_normal().string();
  const std::string html = render_report(runs, with_base, &summary);
  const fs::path out(out_html);
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  if (fs::is_directory(out, ec)) throw ConfigError(fmt::format("report: --out {}: is a folder, give a file name", out_html));
  write_text_file(out_html, html);  // checked and atomic: a full disk leaves no half page and no .tmp
  summary.out_html = out_html;
  summary.bytes = html.size();
  return summary;
}

}  // namespace nemokd::report
