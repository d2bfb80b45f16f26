// User-facing errors. Anything the user can cause (bad config, corrupt file, missing data, NaN loss) is
// reported as one of these: the CLI prints its message on one line and exits non-zero, never a stack trace.
#pragma once
#include <stdexcept>
#include <string>

namespace nemokd {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration value or command-line option is invalid; the message names the key.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A data file is missing, corrupt or truncated; the message names the file and the defect.
class DataError : public Error {
 public:
  using Error::Error;
};

// Training diverged (NaN/Inf loss); the run is stopped and recorded as such.
class DivergedError : public Error {
 public:
  using Error::Error;
};

}  // namespace nemokd
