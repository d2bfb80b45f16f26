#include "test_support.h"

#include <filesystem>
#include <random>

#include <torch/torch.h>

namespace nemokd::testing {

TempDir::TempDir() {
  static std::mt19937_64 rng(std::random_device{}());
  auto base = std::filesystem::temp_directory_path();
  do {
    path_ = (base / ("nemokd-test-" + std::to_string(rng()))).string();
  } while (std::filesystem::exists(path_));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
data::ImageSet toy_split(int64_t n, std::mt19937_64& rng) {
  data::ImageSet s;
  s.images = torch::zeros({n, 1, 28, 28}, torch::kUInt8);
  s.labels = torch::empty({n}, torch::kInt64);
  auto img = s.images.accessor<uint8_t, 4>();
  auto lab = s.labels.accessor<int64_t, 1>();
  std::uniform_int_distribution<int> cls(0, 9), noise(0, 60);
  for (int64_t i = 0; i < n; ++i) {
    const int k = cls(rng);
    lab[i] = k;
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) img[i][0][y][x] = static_cast<uint8_t>(noise(rng));
    const int oy = 2 + 6 * (k / 4), ox = 2 + 6 * (k % 4);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) img[i][0][oy + y][ox + x] = 255;
  }
  return s;
}
}  // namespace

data::Dataset toy_dataset(int64_t train, int64_t val, int64_t test, uint64_t seed) {
  std::mt19937_64 rng(seed);
  data::Dataset d;
  d.spec = data::dataset_spec("mnist");
  d.train = toy_split(train, rng);
  d.val = toy_split(val, rng);
  d.test = toy_split(test, rng);
  d.source_kind = "synthetic (unit test)";
  d.sliced = true;
  return d;
}

}  // namespace nemokd::testing
