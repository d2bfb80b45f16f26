// The .nqe file: an IntegerModel (engine/integer_model.h) on disk, exactly (doubles bit for bit), and small
// (weights packed as n-bit codes: a 784-64-64-64-10 model with 2-bit weights is ~17 KB).
//
// Layout, version 2 (version 1 = the same without the fields marked "v2"; it is still read, as an MLP: image
// 1 x pixels per channel, every layer dense). All integers little-endian; "section" = u64 byte count of its
// body, then the body.
//
//   header (32 bytes)
//     0  char[8]  magic "NEMOKDQE"
//     8  u32      format version (kModelFileVersion)
//    12  u32      header size in bytes (32)
//    16  u64      total file size in bytes (header + payload)
//    24  u32      CRC-32 (zlib crc32) of the payload, bytes [header size, total size)
//    28  u32      layer count (1 .. kMaxLayers)
//   payload
//     input section
//       u8 passthrough (0/1), u8 output encoding, u8 output bits, u8 reserved (0)
//       u32 channels, u32 pixels per channel
//       u32 threshold count, then that many u16 thresholds ([channel][level])
//       v2: u32 image height, u32 image width (height * width = pixels per channel; 0, 0: a row of pixels)
//     layer section, once per layer
//       u8 is_output (0/1), then (u8 encoding, u8 bits) for the input, weight and output operands,
//       u8 reserved (0)
//       u32 inputs, u32 outputs
//       weights: inputs * outputs codes of b bits each (b = weight bits; bipolar: 1), row-major
//         [output][input], packed least significant bit first, ceil(count * b / 8) bytes; the unused high
//         bits of the last byte are 0. Code of a value: bipolar 1 = +1, 0 = -1; unsigned: the value;
//         signed: b-bit two's complement (so the code -2^(b-1) exists but is rejected as out of range).
//       u32 threshold count, then that many i32 ([output][level]; hidden layers)
//       u32 logit count, then that many f64 scales, then that many f64 biases (IEEE-754 bits; output layer)
//       v2: u8 layer kind (0 dense, 1 conv, 2 max-pool, 3 flatten), u8 x3 reserved (0), u32 map channels,
//           u32 map height, u32 map width (the map read; dense: 0, 1, 1), u32 kernel, u32 stride,
//           u32 padding, i32 pad value (dense: 0, 1, 0, 0; flatten: 0, 1, 0, 0)
//     source section: the `source` text, UTF-8, no terminator
//
// The format is canonical: every field is checked (reserved bytes and padding bits must be 0, each section
// must be consumed exactly, the file must end where the header says), so a model has exactly one file.
// Loading checks magic, version and sizes, then the CRC, then the structure (every count against the bytes
// left *before* anything is allocated), then engine::validate(); every defect is a DataError naming the
// file. A version this build does not know (0, or newer) is refused with a message that says so. The
// sections carry their sizes so that a later version can append fields to a section (as v2 did).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/integer_model.h"

namespace nemokd::engine {

constexpr uint32_t kModelFileVersion = 2;      // what serialize() writes
constexpr uint32_t kOldestModelFileVersion = 1;  // the oldest version deserialize() reads
constexpr uint32_t kMaxLayers = 1024;
// Largest file load_model reads (and deserialize accepts): far beyond any MLP this engine runs, small enough
// that a corrupt size field cannot make the loader allocate gigabytes.
constexpr uint64_t kMaxModelFileBytes = uint64_t(256) << 20;

// The model as file bytes. Validates the model first (throws DataError): only loadable files are written.
std::string serialize(const IntegerModel& m);

// Parses file bytes; `name_for_errors` (the path) starts every error message.
IntegerModel deserialize(const uint8_t* data, size_t size, const std::string& name_for_errors);

// For the fuzzer: random mutations almost never keep the CRC right, so with verify_checksum = false it can
// reach the structural parser and validate() behind it. Everything else is checked as usual.
struct DeserializeOptions {
  bool verify_checksum = true;
};
IntegerModel deserialize(const uint8_t* data, size_t size, const std::string& name_for_errors,
                         const DeserializeOptions& options);

// Writes the file atomically (a temp file in the same folder, then rename): a failed save leaves no partial
// file and an existing file at `path` untouched.
void save_model(const IntegerModel& m, const std::string& path);

// Reads and deserializes `path`; DataError naming the file and the defect.
IntegerModel load_model(const std::string& path);

}  // namespace nemokd::engine
