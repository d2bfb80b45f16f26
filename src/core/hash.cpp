#include "core/hash.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd {

uint32_t crc32_of(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const auto chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(::crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

uint64_t memo_hash64(std::string_view text) {
  uint64_t h = 1469598103934665603ull;  // not FNV's standard basis: see hash.h
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;  // FNV prime
  }
  return h;
}

namespace {

using Ctx = std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)>;

Ctx start(const EVP_MD* md, const char* name) {
  Ctx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) throw Error(fmt::format("OpenSSL {} is unavailable", name));
  return ctx;
}

std::string finish(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  std::string hex;
  hex.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

std::string digest_file(const std::string& path, const EVP_MD* md, const char* name) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw DataError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  auto ctx = start(md, name);
  std::vector<unsigned char> buffer(1 << 16);
  size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), f.get())) > 0) EVP_DigestUpdate(ctx.get(), buffer.data(), got);
  if (std::ferror(f.get())) throw DataError(fmt::format("{}: read error while computing its {}", path, name));
  return finish(ctx.get());
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  auto ctx = start(EVP_sha256(), "SHA-256");
  EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  return finish(ctx.get());
}

std::string sha256_file(const std::string& path) { return digest_file(path, EVP_sha256(), "SHA-256"); }
std::string md5_file(const std::string& path) { return digest_file(path, EVP_md5(), "MD5"); }

}  // namespace nemokd
