// libFuzzer target for the .nqe loader. Any input may be rejected with nemokd::DataError; anything else —
// another exception, a sanitizer report, a crash, an allocation beyond -rss_limit_mb — is a bug. An input
// that loads must round-trip: a file of the current version gives back the very same bytes from serialize()
// (the format is canonical); an older version (still read) is written as the current one; either way those
// bytes load again, with the checksum verified, to the same file.
//
// The loader runs with verify_checksum = false: random mutations would almost never keep the CRC-32
// right and would all bounce off at the checksum, never reaching the structural parser or validate().
// The checksum path itself is checked on the side: a checked load must agree with whether the CRC matches.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <zlib.h>

#include "core/error.h"
#include "engine/model_file.h"

namespace {

constexpr size_t kCrcAt = 24, kCrcEnd = 28;  // the header's CRC field (engine/model_file.h)

[[noreturn]] void bug(const char* what) {
  std::fprintf(stderr, "fuzz_model_file: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nemokd::engine;
  IntegerModel m;
  try {
    m = deserialize(data, size, "fuzz.nqe", DeserializeOptions{false});
  } catch (const nemokd::DataError&) {
    return 0;  // rejected, as most inputs should be
  }
  const std::string bytes = serialize(m);  // a loaded model is valid: serialize must not throw
  const auto* out = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint32_t version = uint32_t(data[8]) | uint32_t(data[9]) << 8 | uint32_t(data[10]) << 16 | uint32_t(data[11]) << 24;
  if (version == kModelFileVersion &&
      (bytes.size() != size || std::memcmp(out, data, kCrcAt) != 0 ||
       std::memcmp(out + kCrcEnd, data + kCrcEnd, size - kCrcEnd) != 0))
    bug("serialize(deserialize(x)) differs from x outside the CRC field: the format is not canonical");

  // The file loaded, so it is complete (its size is the declared one): its checksum can be computed.
  const uint32_t stored = uint32_t(data[kCrcAt]) | uint32_t(data[kCrcAt + 1]) << 8 | uint32_t(data[kCrcAt + 2]) << 16 |
                          uint32_t(data[kCrcAt + 3]) << 24;
  const bool crc_ok = uint32_t(crc32_z(crc32_z(0L, Z_NULL, 0), data + 32, size - 32)) == stored;
  try {
    deserialize(data, size, "fuzz.nqe");
    if (!crc_ok) bug("a wrong checksum was accepted");
  } catch (const nemokd::DataError&) {
    if (crc_ok) bug("a checked load rejected a file that loads unchecked and has the right checksum");
  }

  const IntegerModel back = deserialize(out, bytes.size(), "reserialized.nqe");  // checksum verified
  if (serialize(back) != bytes) bug("the re-serialized model does not round-trip");
  return 0;
}
