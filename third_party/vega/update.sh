#!/usr/bin/env bash
# Re-vendors the pinned Vega builds that `nemokd report` inlines into every HTML page (the page must work offline,
# so the builds live in the repository and are compiled into the binary; nothing is fetched at build or run time).
# Usage: third_party/vega/update.sh            (needs npm and the registry; run only to change the pinned versions)
# After changing a version: update the sha256 lines below and in README.md, rebuild, run scripts/report-check.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VEGA=6.4.0 VEGA_LITE=6.5.0 VEGA_EMBED=7.3.0
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts "vega@$VEGA" "vega-lite@$VEGA_LITE" "vega-embed@$VEGA_EMBED" >&2
m=node_modules
cp "$m/vega/build/vega.min.js" "$m/vega-lite/build/vega-lite.min.js" "$m/vega-embed/build/vega-embed.min.js" "$here/"
cp "$m/vega/LICENSE" "$here/LICENSE.vega"
cp "$m/vega-lite/LICENSE" "$here/LICENSE.vega-lite"
cp "$m/vega-embed/LICENSE" "$here/LICENSE.vega-embed"
cp "$m/vega-tooltip/LICENSE" "$here/LICENSE.vega-tooltip"
cp "$m/d3-array/LICENSE" "$here/LICENSE.d3"   # vega.min.js bundles the d3-* modules (ISC, same text)
cp "$m/fast-json-patch/LICENSE.txt" "$here/LICENSE.fast-json-patch"   # bundled in vega-embed.min.js
cp "$m/json-stringify-pretty-compact/LICENSE" "$here/LICENSE.json-stringify-pretty-compact"
cp "$m/semver/LICENSE" "$here/LICENSE.semver"
cp "$m/tslib/LICENSE.txt" "$here/LICENSE.tslib"
cd "$here"
sha256sum -c <<'SUMS'
8f6a3587cf8d4f42c7e08120e3eb05d067e746d554e39d2dcf52acc0bd5ba28f  vega.min.js
83e215e84e308ee8688fa6503ba0f1cf8a3c05c0d61df2841a0b92bf86809e00  vega-lite.min.js
b1455caba2fb1a72fb46025ba0ba1316e2dbc7f0dd40a3f6040172bf9c08ba91  vega-embed.min.js
SUMS
