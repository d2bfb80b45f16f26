#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace nemokd {
void setup_logging(Verbosity v) {
  auto logger = spdlog::get("nemokd");
  if (!logger) {
    logger = spdlog::stderr_color_mt("nemokd");
    logger->set_pattern("%^[%H:%M:%S %L]%$ %v");
    spdlog::set_default_logger(logger);
  }
  switch (v) {
    case Verbosity::quiet: spdlog::set_level(spdlog::level::warn); break;
    case Verbosity::normal: spdlog::set_level(spdlog::level::info); break;
    case Verbosity::verbose: spdlog::set_level(spdlog::level::debug); break;
  }
}

}  // namespace nemokd
