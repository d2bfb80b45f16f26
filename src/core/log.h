// Logging goes to stderr (spdlog), so that `--json` output on stdout stays exactly one JSON object.
#pragma once
#include <spdlog/spdlog.h>

namespace nemokd {

enum class Verbosity { quiet, normal, verbose };

void setup_logging(Verbosity v);

}  // namespace nemokd
