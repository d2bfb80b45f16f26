// Byte-level readers of the data files (no torch): reading with size bounds, gzip, IDX headers and bodies.
#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd::data {
namespace {

// deflate cannot compress better than about 1032:1 (RFC 1951: a 258-byte match costs at least 2 bits); a header
// promising more than that from the compressed size cannot be honest.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

std::vector<uint8_t> read_raw(const std::string& path, size_t limit) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status)) throw DataError(fmt::format("{}: is a directory, not a file", path));
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) throw DataError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  std::vector<uint8_t> bytes;
  if (std::filesystem::is_regular_file(status)) {
    // Known size: the whole file in one fread, no incremental growth.
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw DataError(fmt::format("{}: cannot stat ({})", path, ec.message()));
    if (size > limit) throw DataError(fmt::format("{}: {} bytes, more than the {} a data file may have", path, size, limit));
    bytes.resize(static_cast<size_t>(size));
    const size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f.get());
    if (got != bytes.size()) {
      throw DataError(fmt::format("{}: read error after {} of {} bytes", path, got, bytes.size()));
    }
    return bytes;
  }
  // A pipe or device (e.g. --from /dev/fd/N): read until end of file.
  std::vector<uint8_t> chunk(1 << 20);
  size_t got;
  while ((got = std::fread(chunk.data(), 1, chunk.size(), f.get())) > 0) {
    bytes.insert(bytes.end(), chunk.data(), chunk.data() + got);
    if (bytes.size() > limit)
      throw DataError(fmt::format("{}: more than the {} bytes a data file may have", path, limit));
  }
  if (std::ferror(f.get())) throw DataError(fmt::format("{}: read error after {} bytes", path, bytes.size()));
  return bytes;
}

bool is_gzip(const std::vector<uint8_t>& bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

// Inflates a gzip stream (possibly several concatenated members, as `cat a.gz b.gz` produces). At most `limit`
// bytes come out: a stream with more is refused as soon as byte limit+1 appears (a gzip bomb never gets
// inflated), except with `prefix`, which returns the first `limit` bytes and stops. A stream that ends before its
// trailer is a truncated file, and bytes after the last member that are not another member are junk: both are
// reported rather than returning partial data.
std::vector<uint8_t> gunzip(const std::string& path, const std::vector<uint8_t>& compressed, size_t limit,
                            bool prefix = false) {
  std::vector<uint8_t> out(std::min<size_t>(limit + 1, size_t(1) << 20));
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw DataError(fmt::format("{}: zlib initialisation failed", path));
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = const_cast<Bytef*>(compressed.data());
  size_t in_left = compressed.size();
  size_t produced = 0;
  bool stream_end = false;
  for (;;) {
    if (prefix && produced >= limit) {
      out.resize(limit);
      return out;
    }
    if (produced > limit) {
      throw DataError(fmt::format("{}: decompresses to more than {} bytes (trailing data, or a gzip bomb); stopped there",
                                  path, limit));
    }
    if (produced == out.size()) out.resize(std::min(out.size() * 2, limit + 1));
    // zlib counts in uInt; feed and drain in chunks of at most 1 GiB so huge files still work.
    const size_t in_chunk = std::min<size_t>(in_left, 1u << 30);
    const size_t out_chunk = std::min<size_t>(out.size() - produced, 1u << 30);
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(out_chunk);
    int rc = inflate(&zs, Z_NO_FLUSH);
    in_left -= in_chunk - zs.avail_in;
    produced += out_chunk - zs.avail_out;
    if (rc == Z_STREAM_END) {
      stream_end = true;
      if (in_left == 0) break;
      // Another gzip member follows: keep going; anything else after the trailer is not gzip data.
      if (in_left >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        inflateReset(&zs);
        stream_end = false;
        continue;
      }
      throw DataError(fmt::format("{}: {} bytes of trailing junk after the gzip data", path, in_left));
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_out == 0) continue;  // output full: grow (or stop at the limit) and retry
    if (rc == Z_BUF_ERROR && in_left == 0) break;          // input exhausted mid-stream: truncated
    throw DataError(fmt::format("{}: corrupt gzip data ({})", path, zs.msg ? zs.msg : "inflate error"));
  }
  if (produced > limit) {
    throw DataError(
        fmt::format("{}: decompresses to more than {} bytes (trailing data, or a gzip bomb); stopped there", path, limit));
  }
  if (!stream_end && !(prefix && produced >= limit)) {
    if (prefix) {  // a stream shorter than the prefix: what there is (the caller reports it as truncated)
      out.resize(produced);
      return out;
    }
    throw DataError(
        fmt::format("{}: truncated gzip file (stream ends after {} compressed bytes)", path, compressed.size()));
  }
  out.resize(produced);
  return out;
}

uint32_t read_be32(const std::vector<uint8_t>& b, size_t offset) {
  return uint32_t{b[offset]} << 24 | uint32_t{b[offset + 1]} << 16 | uint32_t{b[offset + 2]} << 8 |
         uint32_t{b[offset + 3]};
}

void check_exact_length(const std::string& path, uint64_t expected, size_t actual) {
  if (actual < expected) {
    throw DataError(fmt::format("{}: truncated: expected {} bytes, file has {}", path, expected, actual));
  }
  if (actual > expected) {
    throw DataError(fmt::format("{}: {} bytes of trailing data: expected {} bytes, file has {}", path,
                                actual - expected, expected, actual));
  }
}

// An IDX file's raw bytes, gunzipped if they are gzip, checked: magic number, header length, and the exact size the
// header gives (`total_size` of the header bytes, which also validates the dimensions). A gzip file is inflated
// header first, then only up to that size: more data, junk after the stream, or a header promising more than its
// compressed size can hold is refused without inflating the rest.
std::vector<uint8_t> decode_idx(const std::string& path, std::vector<uint8_t> raw, uint32_t expected_magic,
                                size_t header_bytes, const char* what,
                                const std::function<uint64_t(const std::vector<uint8_t>&)>& total_size) {
  const bool gzip = is_gzip(raw);
  // A ".gz" name without the magic is read as-is: browsers often decompress downloads but keep the name,
  // and the magic check catches anything that is really damaged.
  const std::vector<uint8_t> head =
      gzip ? gunzip(path, raw, header_bytes, /*prefix=*/true)
           : std::vector<uint8_t>(raw.begin(), raw.begin() + std::min(raw.size(), header_bytes));
  if (head.size() < 4) {
    throw DataError(
        fmt::format("{}: truncated: expected at least {} header bytes, file has {}", path, header_bytes, head.size()));
  }
  const uint32_t magic = read_be32(head, 0);
  if (magic != expected_magic) {
    throw DataError(
        fmt::format("{}: not an IDX {} file (magic 0x{:08x}, expected 0x{:08x})", path, what, magic, expected_magic));
  }
  if (head.size() < header_bytes) {
    throw DataError(
        fmt::format("{}: truncated: expected at least {} header bytes, file has {}", path, header_bytes, head.size()));
  }
  const uint64_t expected = total_size(head);
  if (!gzip) {
    check_exact_length(path, expected, raw.size());
    return raw;
  }
  if (expected > uint64_t(raw.size()) * kMaxDeflateRatio + 1024) {
    throw DataError(fmt::format("{}: the header promises {} bytes, more than a {}-byte gzip file can hold (damaged or "
                                "truncated)",
                                path, expected, raw.size()));
  }
  std::vector<uint8_t> bytes = gunzip(path, raw, static_cast<size_t>(expected));
  raw = {};
  check_exact_length(path, expected, bytes.size());
  return bytes;
}

}  // namespace

std::vector<uint8_t> decode_file_bytes(const std::string& path, std::vector<uint8_t> bytes) {
  // A ".gz" name without the magic is read as-is: browsers often decompress downloads but keep the name,
  // and the format reader's own magic check catches anything that is really damaged.
  if (is_gzip(bytes)) {
    const uint64_t most = std::min<uint64_t>(kMaxHeaderlessBytes, uint64_t(bytes.size()) * kMaxDeflateRatio + 1024);
    return gunzip(path, bytes, static_cast<size_t>(most));
  }
  return bytes;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  return decode_file_bytes(path, read_raw(path, kMaxHeaderlessBytes));
}

IdxImages parse_idx_images(const std::string& path, std::vector<uint8_t> raw) {
  IdxImages idx;
  idx.bytes = decode_idx(path, std::move(raw), kIdxImagesMagic, kIdxImagesHeader, "image",
                         [&](const std::vector<uint8_t>& h) {
                           idx.count = read_be32(h, 4), idx.rows = read_be32(h, 8), idx.cols = read_be32(h, 12);
                           if (idx.rows == 0 || idx.cols == 0 || idx.rows > 65535 || idx.cols > 65535)
                             throw DataError(fmt::format("{}: implausible image size {}x{}", path, idx.rows, idx.cols));
                           // count < 2^32 and rows*cols < 2^32, so the product fits in 64 bits.
                           return kIdxImagesHeader + uint64_t{idx.count} * idx.rows * idx.cols;
                         });
  return idx;
}

IdxLabels parse_idx_labels(const std::string& path, std::vector<uint8_t> raw, int classes) {
  IdxLabels idx;
  idx.bytes = decode_idx(path, std::move(raw), kIdxLabelsMagic, kIdxLabelsHeader, "label",
                         [&](const std::vector<uint8_t>& h) {
                           idx.count = read_be32(h, 4);
                           return kIdxLabelsHeader + uint64_t{idx.count};
                         });
  const uint8_t* in = idx.bytes.data() + kIdxLabelsHeader;
  for (uint32_t i = 0; i < idx.count; ++i)
    if (in[i] >= classes)
      throw DataError(fmt::format("{}: label {} at index {} is out of range [0, {})", path, in[i], i, classes));
  return idx;
}

// An uncompressed IDX file is bounded by the header's largest promise (2^32 images of 65535^2 pixels), and the
// file's size is what it is; a gzip one by its header (see decode_idx).
IdxImages read_idx_image_bytes(const std::string& path) {
  return parse_idx_images(path, read_raw(path, std::numeric_limits<size_t>::max()));
}

IdxLabels read_idx_label_bytes(const std::string& path, int classes) {
  return parse_idx_labels(path, read_raw(path, std::numeric_limits<size_t>::max()), classes);
}

}  // namespace nemokd::data
