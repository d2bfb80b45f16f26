// The message of an expected exception, for tests that check what an error says.
#pragma once
#include <string>

#include <gtest/gtest.h>

namespace nemokd::testing {

// The message of the exception of type E that `f` throws (a test failure if it throws nothing).
template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

}  // namespace nemokd::testing
