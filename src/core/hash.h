// One home per hash. CRC-32 is zlib's, SHA-256 and MD5 are OpenSSL's (EVP); the 64-bit memo hash is written here
// once, because no linked library offers it. Torch-free (library core_io).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nemokd {

// zlib's crc32, continuing from `crc` (0 to start), over any length (zlib takes at most a uInt per call).
uint32_t crc32_of(const void* data, size_t n, uint32_t crc = 0);

// The memo hash of latency cache keys ("lat1-<kind>-<16 hex>") and of the evolution's candidate names: FNV-1a's
// steps (per byte: xor, then multiply by the 64-bit FNV prime 1099511628211; see
// http://www.isthe.com/chongo/tech/comp/fnv/) from the offset 1469598103934665603. That is *not* FNV-1a's standard
// offset basis (14695981039346656037): the first copy lost a digit. It is kept because keys made with it are
// persisted (state.db, latency memo files) and must not change; stable across compilers and runs (std::hash is not).
uint64_t memo_hash64(std::string_view text);

// Lowercase hex digests (OpenSSL). The _file forms stream the file; a file that cannot be read is a DataError.
std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::string& path);
std::string md5_file(const std::string& path);

}  // namespace nemokd
