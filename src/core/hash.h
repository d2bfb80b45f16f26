// One home per hash. CRC-32 is zlib's, SHA-256 and MD5 are OpenSSL's (EVP); FNV-1a (64-bit) is written here once,
// because no linked library offers it: it keys memo tables, where a stable, dependency-free value is all that is
// needed (http://www.isthe.com/chongo/tech/comp/fnv/ gives the constants). Torch-free (library core_io).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nemokd {

// zlib's crc32, continuing from `crc` (0 to start), over any length (zlib takes at most a uInt per call).
uint32_t crc32_of(const void* data, size_t n, uint32_t crc = 0);

// FNV-1a, 64 bits, of the bytes of `text`.
uint64_t fnv1a64(std::string_view text);

// Lowercase hex digests (OpenSSL). The _file forms stream the file; a file that cannot be read is a DataError.
std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::string& path);
std::string md5_file(const std::string& path);

}  // namespace nemokd
