// Byte-level readers of the data files, without torch (so that they can be fuzzed with clang's sanitizers; see
// scripts/fuzz.sh): bounded reading, gzip, and IDX files checked against their header. Every defect is a DataError
// naming the file. data/formats.h turns what they return into tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nemokd::data {

// The most a headerless data file (CIFAR binaries) may hold, decompressed; the largest real one, CIFAR-100's
// train.bin, is 155 MB. IDX files are bounded by their header instead.
inline constexpr size_t kMaxHeaderlessBytes = size_t(512) << 20;
inline constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned byte data, 3 dimensions
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned byte data, 1 dimension
inline constexpr uint64_t kIdxImagesHeader = 16, kIdxLabelsHeader = 8;

// Reads a whole file (at most kMaxHeaderlessBytes), transparently gunzipping if it starts with the gzip magic
// (1f 8b). The name is not trusted: a ".gz" file without the magic (a browser may decompress but keep the name)
// is read as-is. A gzip stream is inflated up to the same bound (a bomb stops there), several members are read as
// one, and bytes after the last member are an error.
std::vector<uint8_t> read_file_bytes(const std::string& path);
// The same on bytes already read (`path` names them in messages).
std::vector<uint8_t> decode_file_bytes(const std::string& path, std::vector<uint8_t> raw);

// IDX (LeCun): magic 0x00000803 for images [N, rows, cols] (uint8), 0x00000801 for labels [N] (uint8). `bytes` is
// the whole decoded file, header included, exactly as long as the header says (checked). A gzip file is inflated
// header first and then only up to that length.
struct IdxImages {
  uint32_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> bytes;  // pixels from offset kIdxImagesHeader
};
struct IdxLabels {
  uint32_t count = 0;
  std::vector<uint8_t> bytes;  // labels from offset kIdxLabelsHeader, each < classes (checked)
};
IdxImages read_idx_image_bytes(const std::string& path);
IdxLabels read_idx_label_bytes(const std::string& path, int classes);
// The same on a file's raw bytes (`path` names them in messages).
IdxImages parse_idx_images(const std::string& path, std::vector<uint8_t> raw);
IdxLabels parse_idx_labels(const std::string& path, std::vector<uint8_t> raw, int classes);

}  // namespace nemokd::data
