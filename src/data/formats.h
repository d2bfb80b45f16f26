// Readers for the on-disk formats, with full validation: every defect (wrong magic, wrong dimensions,
// counts that disagree, truncated or over-long file, label out of range) is a DataError naming the file.
#pragma once
#include <string>
#include <vector>

#include <torch/types.h>

#include "data/dataset.h"
#include "data/idx.h"  // read_file_bytes and the byte-level IDX readers

namespace nemokd::data {


// IDX (LeCun): magic 0x00000803 for images [N, rows, cols] (uint8), 0x00000801 for labels [N] (uint8).
// Returns uint8 [N, 1, rows, cols] or int64 [N].
torch::Tensor read_idx_images(const std::string& path);
torch::Tensor read_idx_labels(const std::string& path, int classes);
// Images + labels, with counts checked against each other and the expected shape.
ImageSet read_idx_pair(const std::string& images_path, const std::string& labels_path, const DatasetSpec& spec);

// CIFAR binary: records of <label byte(s)><3072 pixel bytes>; CIFAR-10 one label byte, CIFAR-100 two
// (coarse, fine; the fine label is used). Several files are concatenated in order.
ImageSet read_cifar_bin(const std::vector<std::string>& paths, FileFormat format, int classes);

// Writers used by tests (and by users converting data): produce valid files in the same binary formats.
void write_idx_images(const std::string& path, const torch::Tensor& images_u8_nhw, bool gzip = false);
void write_idx_labels(const std::string& path, const torch::Tensor& labels, bool gzip = false);
void write_cifar_bin(const std::string& path, const torch::Tensor& images_u8_n3hw, const torch::Tensor& labels,
                     FileFormat format);

}  // namespace nemokd::data
