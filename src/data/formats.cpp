#include "data/formats.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd::data {
namespace {

constexpr int kCifarChannels = 3, kCifarSide = 32;
constexpr int64_t kCifarPixels = int64_t{kCifarChannels} * kCifarSide * kCifarSide;

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;


void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 24));
  b.push_back(static_cast<uint8_t>(v >> 16));
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

// Writes `bytes` to `path`, through zlib when `gzip` is set. Any failure is a DataError naming the file.
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    if (!f) throw DataError(fmt::format("{}: cannot create ({})", path, std::strerror(errno)));
    size_t written = 0;
    while (written < bytes.size()) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes.size() - written, 1u << 30));
      if (gzwrite(f, bytes.data() + written, chunk) != static_cast<int>(chunk)) {
        gzclose(f);
        throw DataError(fmt::format("{}: gzip write failed", path));
      }
      written += chunk;
    }
    if (gzclose(f) != Z_OK) throw DataError(fmt::format("{}: gzip write failed on close", path));
    return;
  }
  FilePtr f(std::fopen(path.c_str(), "wb"));
  if (!f) throw DataError(fmt::format("{}: cannot create ({})", path, std::strerror(errno)));
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) {
    throw DataError(fmt::format("{}: write failed ({})", path, std::strerror(errno)));
  }
  if (std::fclose(f.release()) != 0) throw DataError(fmt::format("{}: write failed on close", path));
}

std::string shape_text(const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

// The images as a contiguous uint8 [N, H, W] view, accepting [N, H, W] or [N, 1, H, W].
torch::Tensor as_nhw_u8(const std::string& path, const torch::Tensor& images) {
  if (images.scalar_type() != torch::kUInt8 || !(images.dim() == 3 || (images.dim() == 4 && images.size(1) == 1))) {
    throw DataError(fmt::format("{}: IDX images must be uint8 [N, H, W] or [N, 1, H, W], got {} {}", path,
                                std::string(c10::toString(images.scalar_type())), shape_text(images)));
  }
  return (images.dim() == 4 ? images.squeeze(1) : images).contiguous().cpu();
}

// Labels as a contiguous int64 vector, each checked to fit the single byte the formats store.
torch::Tensor as_label_bytes(const std::string& path, const torch::Tensor& labels, int64_t expected_count) {
  if (labels.dim() != 1 || !c10::isIntegralType(labels.scalar_type(), /*includeBool=*/false)) {
    throw DataError(fmt::format("{}: labels must be an integer tensor [N], got {}", path, shape_text(labels)));
  }
  if (expected_count >= 0 && labels.size(0) != expected_count) {
    throw DataError(fmt::format("{}: {} labels for {} images", path, labels.size(0), expected_count));
  }
  torch::Tensor l = labels.to(torch::kInt64).contiguous().cpu();
  if (l.numel() > 0 && (l.min().item<int64_t>() < 0 || l.max().item<int64_t>() > 255)) {
    throw DataError(fmt::format("{}: labels must be in [0, 255] to be stored as bytes", path));
  }
  return l;
}

}  // namespace

torch::Tensor read_idx_images(const std::string& path) {
  const IdxImages idx = read_idx_image_bytes(path);
  const uint64_t pixels = uint64_t{idx.count} * idx.rows * idx.cols;
  torch::Tensor images =
      torch::empty({int64_t{idx.count}, 1, int64_t{idx.rows}, int64_t{idx.cols}}, torch::kUInt8);
  if (pixels) std::memcpy(images.data_ptr<uint8_t>(), idx.bytes.data() + kIdxImagesHeader, pixels);
  return images;
}

torch::Tensor read_idx_labels(const std::string& path, int classes) {
  const IdxLabels idx = read_idx_label_bytes(path, classes);
  torch::Tensor labels = torch::empty({int64_t{idx.count}}, torch::kInt64);
  int64_t* out = labels.data_ptr<int64_t>();
  const uint8_t* in = idx.bytes.data() + kIdxLabelsHeader;
  for (uint32_t i = 0; i < idx.count; ++i) out[i] = in[i];
  return labels;
}

ImageSet read_idx_pair(const std::string& images_path, const std::string& labels_path, const DatasetSpec& spec) {
  ImageSet set;
  set.images = read_idx_images(images_path);
  if (spec.channels != 1 || set.images.size(2) != spec.height || set.images.size(3) != spec.width) {
    throw DataError(fmt::format("{}: images are {}x{}x{}, expected {}x{}x{} for {}", images_path, set.images.size(1),
                                set.images.size(2), set.images.size(3), spec.channels, spec.height, spec.width,
                                spec.name));
  }
  set.labels = read_idx_labels(labels_path, spec.classes);
  if (set.images.size(0) != set.labels.size(0)) {
    throw DataError(fmt::format("{}: {} labels, but {} has {} images", labels_path, set.labels.size(0), images_path,
                                set.images.size(0)));
  }
  return set;
}

ImageSet read_cifar_bin(const std::vector<std::string>& paths, FileFormat format, int classes) {
  if (format != FileFormat::cifar10_bin && format != FileFormat::cifar100_bin) {
    throw DataError("read_cifar_bin: format must be cifar10_bin or cifar100_bin");
  }
  if (paths.empty()) throw DataError("read_cifar_bin: no files given");
  const int64_t label_bytes = format == FileFormat::cifar10_bin ? 1 : 2;
  const int64_t label_offset = label_bytes - 1;  // CIFAR-100: <coarse><fine>, the fine label is used
  const int64_t record = label_bytes + kCifarPixels;

  // One file at a time, so at most one file's raw bytes are alive next to the decoded tensors.
  std::vector<torch::Tensor> images, labels;
  for (const std::string& path : paths) {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    const int64_t size = static_cast<int64_t>(bytes.size());
    if (size == 0) throw DataError(fmt::format("{}: empty file", path));
    if (size % record != 0) {
      throw DataError(
          fmt::format("{}: truncated: {} bytes is not a multiple of the {}-byte record ({} whole "
                      "records + {} bytes)",
                      path, size, record, size / record, size % record));
    }
    const int64_t n = size / record;
    torch::Tensor img = torch::empty({n, kCifarChannels, kCifarSide, kCifarSide}, torch::kUInt8);
    torch::Tensor lab = torch::empty({n}, torch::kInt64);
    uint8_t* img_out = img.data_ptr<uint8_t>();
    int64_t* lab_out = lab.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* rec = bytes.data() + i * record;
      const int label = rec[label_offset];
      if (label >= classes) {
        throw DataError(fmt::format("{}: record {}: label {} is out of range [0, {})", path, i, label, classes));
      }
      lab_out[i] = label;
      std::memcpy(img_out + i * kCifarPixels, rec + label_bytes, kCifarPixels);
    }
    images.push_back(std::move(img));
    labels.push_back(std::move(lab));
  }
  ImageSet set;
  set.images = images.size() == 1 ? images[0] : torch::cat(images, 0);
  set.labels = labels.size() == 1 ? labels[0] : torch::cat(labels, 0);
  return set;
}

void write_idx_images(const std::string& path, const torch::Tensor& images_u8_nhw, bool gzip) {
  const torch::Tensor images = as_nhw_u8(path, images_u8_nhw);
  std::vector<uint8_t> bytes;
  bytes.reserve(16 + static_cast<size_t>(images.numel()));
  put_be32(bytes, kIdxImagesMagic);
  for (int d = 0; d < 3; ++d) put_be32(bytes, static_cast<uint32_t>(images.size(d)));
  const uint8_t* data = images.data_ptr<uint8_t>();
  bytes.insert(bytes.end(), data, data + images.numel());
  write_bytes(path, bytes, gzip);
}

void write_idx_labels(const std::string& path, const torch::Tensor& labels, bool gzip) {
  const torch::Tensor l = as_label_bytes(path, labels, -1);
  std::vector<uint8_t> bytes;
  bytes.reserve(8 + static_cast<size_t>(l.numel()));
  put_be32(bytes, kIdxLabelsMagic);
  put_be32(bytes, static_cast<uint32_t>(l.numel()));
  const int64_t* data = l.data_ptr<int64_t>();
  for (int64_t i = 0; i < l.numel(); ++i) bytes.push_back(static_cast<uint8_t>(data[i]));
  write_bytes(path, bytes, gzip);
}

void write_cifar_bin(const std::string& path, const torch::Tensor& images_u8_n3hw, const torch::Tensor& labels,
                     FileFormat format) {
  if (format != FileFormat::cifar10_bin && format != FileFormat::cifar100_bin) {
    throw DataError(fmt::format("{}: write_cifar_bin needs format cifar10_bin or cifar100_bin", path));
  }
  if (images_u8_n3hw.scalar_type() != torch::kUInt8 || images_u8_n3hw.dim() != 4 ||
      images_u8_n3hw.size(1) != kCifarChannels || images_u8_n3hw.size(2) != kCifarSide ||
      images_u8_n3hw.size(3) != kCifarSide) {
    throw DataError(
        fmt::format("{}: CIFAR images must be uint8 [N, 3, 32, 32], got {}", path, shape_text(images_u8_n3hw)));
  }
  const torch::Tensor images = images_u8_n3hw.contiguous().cpu();
  const int64_t n = images.size(0);
  const torch::Tensor l = as_label_bytes(path, labels, n);
  const bool two_labels = format == FileFormat::cifar100_bin;
  std::vector<uint8_t> bytes;
  bytes.reserve(static_cast<size_t>(n * ((two_labels ? 2 : 1) + kCifarPixels)));
  const uint8_t* pixels = images.data_ptr<uint8_t>();
  const int64_t* label = l.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    // CIFAR-100's coarse label is not modelled here (readers use the fine label); fine/5 stands in for it
    // so the byte is at least in the coarse range [0, 20).
    if (two_labels) bytes.push_back(static_cast<uint8_t>(label[i] / 5));
    bytes.push_back(static_cast<uint8_t>(label[i]));
    bytes.insert(bytes.end(), pixels + i * kCifarPixels, pixels + (i + 1) * kCifarPixels);
  }
  write_bytes(path, bytes, false);
}

}  // namespace nemokd::data
