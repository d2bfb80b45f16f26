#include "train/torch_file.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <torch/serialize/output-archive.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace nemokd::train {

void save_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  write_file_atomically(path, bytes);  // checked; PATH is the old file or the new one, never a mix
}

void verify_archive(const std::string& path) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  if (!a) throw Error("libarchive: out of memory");
  archive_read_support_format_zip(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw DataError(fmt::format("{}: not a readable torch file ({})", path, archive_error_string(a.get())));
  archive_entry* entry = nullptr;
  int members = 0;
  for (;;) {
    const int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK)
      throw DataError(fmt::format("{}: damaged torch file ({})", path, archive_error_string(a.get())));
    ++members;
    // Reading a member to its end makes libarchive compare its size and CRC-32 with the zip header's.
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r;
    while ((r = archive_read_data_block(a.get(), &block, &size, &offset)) == ARCHIVE_OK) {
    }
    if (r != ARCHIVE_EOF)
      throw DataError(fmt::format("{}: damaged torch file: member '{}' ({})", path, archive_entry_pathname(entry),
                                  archive_error_string(a.get())));
  }
  if (members == 0) throw DataError(fmt::format("{}: not a torch file (an empty archive)", path));
}

}  // namespace nemokd::train
