#!/usr/bin/env bash
# Opens a `nemokd report` page in headless Chromium and checks it: every chart element rendered (an <svg> inside
# each <div class="chart">), the page's own status line says so with no errors or warnings, and Chromium logged no
# console error. Optionally saves a screenshot.
#   scripts/report-check.sh REPORT.html [SCREENSHOT.png] [WIDTHxHEIGHT (default 1400x2200)] [SECTION_IDS]
# SECTION_IDS (comma-separated, e.g. q-vs-k or sweep0,kd0) limits the screenshot to those sections (the page's
# #only= view). Exit codes: 0 pass, 1 fail, 2 usage, 77 Chromium not installed (CTest reports the test skipped).
set -euo pipefail
report="${1:-}"
shot="${2:-}"
size="${3:-1400x2200}"
only="${4:-}"
if [[ -z "$report" || ! -f "$report" ]]; then
  echo "usage: $0 REPORT.html [SCREENSHOT.png] [WIDTHxHEIGHT] [SECTION_IDS]" >&2
  exit 2
fi
browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [[ -z "$browser" ]]; then
  echo "SKIP: no Chromium found (install it: apt-get install -y --no-install-recommends chromium)" >&2
  exit 77
fi
command -v python3 >/dev/null 2>&1 || { echo "report-check: python3 is needed to read the DOM" >&2; exit 1; }

url="file://$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A private profile per run: no state shared with another Chromium, nothing written to $HOME.
flags=(--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --no-default-browser-check
       --disable-extensions --disable-background-networking --user-data-dir="$work/profile"
       --enable-logging=stderr --v=0 --virtual-time-budget=30000)

# 1. Load the page, let it render (virtual time), dump the DOM; keep the browser's log for console messages.
if ! timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" >"$work/dom.html" 2>"$work/log.txt"; then
  echo "report-check: $browser failed to load $url" >&2
  tail -20 "$work/log.txt" >&2
  exit 1
fi

python3 - "$work/dom.html" "$work/log.txt" "$report" <<'PY'
import re, sys
from html.parser import HTMLParser

dom_path, log_path, report = sys.argv[1:]
dom = open(dom_path, encoding="utf-8", errors="replace").read()
log = open(log_path, encoding="utf-8", errors="replace").read()

class Charts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts = {}      # id -> {"rendered": bool, "svg": bool}
        self.stack = []       # open chart ids by depth
        self.depth = 0
        self.status = None
        self.done = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.done = a.get("data-report-done")
        if a.get("id") == "status":
            self.status = a
        if tag == "div" and "chart" in (a.get("class") or "").split():
            self.charts[a["id"]] = {"rendered": a.get("data-rendered") == "1", "svg": False}
            self.stack.append((a["id"], self.depth))
        if tag == "svg" and self.stack:
            self.charts[self.stack[-1][0]]["svg"] = True
        if tag not in ("br", "img", "input", "meta", "link", "hr", "path", "rect", "line", "circle"):
            self.depth += 1
    def handle_endtag(self, tag):
        if tag not in ("br", "img", "input", "meta", "link", "hr", "path", "rect", "line", "circle"):
            self.depth -= 1
            while self.stack and self.stack[-1][1] >= self.depth:
                self.stack.pop()

p = Charts()
p.feed(dom)
problems = []
if not p.charts:
    problems.append("no chart elements in the page")
for cid, c in p.charts.items():
    if not c["rendered"] or not c["svg"]:
        problems.append(f"chart #{cid} not rendered (data-rendered={c['rendered']}, svg={c['svg']})")
status_text = ""
m = re.search(r'<div id="status"[^>]*>(.*?)</div>', dom, re.S)
if m:
    status_text = re.sub(r"<[^>]+>", "", m.group(1)).strip()
if p.status is None:
    problems.append("no #status element")
else:
    if p.status.get("data-errors") != "0":
        problems.append(f"page errors: {status_text}")
    if p.status.get("data-warnings") not in ("0", None):
        problems.append(f"page warnings: {status_text}")
    if p.status.get("data-rendered") != p.status.get("data-charts"):
        problems.append(f"status: {status_text}")
if p.done != "ok":
    problems.append(f"page did not finish cleanly (data-report-done={p.done!r})")
# Console messages Chromium logged at error level (uncaught exceptions, console.error).
for line in log.splitlines():
    if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line):
        problems.append("console: " + line.strip()[:300])
    elif re.search(r"Uncaught|SyntaxError|ReferenceError|TypeError", line):
        problems.append("log: " + line.strip()[:300])
if problems:
    print(f"report-check: FAIL {report}")
    for x in problems:
        print("  - " + x)
    sys.exit(1)
print(f"report-check: OK {report}: {len(p.charts)} charts rendered ({', '.join(sorted(p.charts))}); {status_text}")
PY

# 2. Screenshot (optionally of some sections only).
if [[ -n "$shot" ]]; then
  mkdir -p "$(dirname "$shot")"
  target="$url"
  [[ -n "$only" ]] && target="$url#only=$only"
  abs_shot="$(cd "$(dirname "$shot")" && pwd)/$(basename "$shot")"
  if ! timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size="${size/x/,}" \
      --screenshot="$abs_shot" "$target" >"$work/shot.log" 2>&1 || [[ ! -s "$abs_shot" ]]; then
    echo "report-check: screenshot failed" >&2
    tail -20 "$work/shot.log" >&2
    exit 1
  fi
  echo "report-check: screenshot $shot ($size${only:+, sections $only})"
fi
