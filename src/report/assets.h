// The vendored Vega builds (third_party/vega), compiled in by embed_assets.cmake; inlined into every report page.
#pragma once

namespace nemokd::report::assets {

extern const char* const vega_js;        // vega 6.4.0, build/vega.min.js
extern const char* const vega_lite_js;   // vega-lite 6.5.0, build/vega-lite.min.js
extern const char* const vega_embed_js;  // vega-embed 7.3.0, build/vega-embed.min.js
inline constexpr const char* versions = "vega 6.4.0, vega-lite 6.5.0, vega-embed 7.3.0";

}  // namespace nemokd::report::assets
