// libFuzzer target for the data files' byte-level readers (data/idx.h): IDX images and labels, plain or gzip, and
// the headerless reader CIFAR files go through. Any input may be rejected with nemokd::DataError; anything else — a
// crash, a sanitizer report, an allocation beyond -rss_limit_mb (a gzip bomb, a header's count trusted before the
// bytes are there) — is a bug. What is accepted must be exactly what its header says.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nemokd::data;
  const std::vector<uint8_t> raw(data, data + size);
  try {
    const IdxImages im = parse_idx_images("fuzz-images", raw);
    if (im.bytes.size() != kIdxImagesHeader + uint64_t{im.count} * im.rows * im.cols) std::abort();
  } catch (const nemokd::DataError&) {
  }
  try {
    const IdxLabels lab = parse_idx_labels("fuzz-labels", raw, 10);
    if (lab.bytes.size() != kIdxLabelsHeader + uint64_t{lab.count}) std::abort();
    for (uint32_t i = 0; i < lab.count; ++i)
      if (lab.bytes[kIdxLabelsHeader + i] >= 10) std::abort();
  } catch (const nemokd::DataError&) {
  }
  try {
    const auto bytes = decode_file_bytes("fuzz-bytes", raw);
    if (bytes.size() > kMaxHeaderlessBytes) std::abort();
  } catch (const nemokd::DataError&) {
  }
  return 0;
}
