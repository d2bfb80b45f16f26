// Helpers shared by the test programs: temporary folders and small synthetic datasets for unit tests.
// (Synthetic data is for unit tests only; the main job and demo always use the real datasets.)
#pragma once
#include <string>

#include "data/dataset.h"

namespace nemokd::testing {

// A fresh, empty folder under the system temp dir, removed when the object is destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A learnable toy problem in MNIST's shape: class k images have a bright 4x4 patch at a class-specific
// position plus noise. Deterministic given the seed.
data::Dataset toy_dataset(int64_t train, int64_t val, int64_t test, uint64_t seed = 1);

}  // namespace nemokd::testing
