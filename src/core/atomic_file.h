// The one way nemokd replaces a file: write PATH.tmp, flush it to the disk, rename it over PATH. A reader sees the
// old file or the new one, never a mix; a failed write (a full disk, a missing folder, EFBIG under `ulimit -f`) is
// one nemokd::Error naming the file, the temp file is removed and PATH keeps what it held. Torch-free (library
// core_io), so the integer engine, reports and the fuzz targets use it too.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace nemokd {

// A file being written to PATH.tmp; commit() makes it PATH. Destroyed without commit() (an exception on the way),
// the temp file is removed. Every write is checked at once: the first failure throws.
class AtomicFile {
 public:
  // `fixed`: the temp file is PATH.tmp (what a run folder's readers know to ignore). `per_process`: PATH.tmp.PID,
  // for files that several processes may write at once (the shared teacher-output cache); the last rename wins.
  enum class Temp { fixed, per_process };
  explicit AtomicFile(std::string path, Temp temp = Temp::fixed);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);  // appends
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void write_at(uint64_t offset, const void* data, size_t n);  // overwrites bytes already written (a header)
  uint64_t size() const { return size_; }
  // fsync, close and rename over PATH. Throws (and removes the temp file) when any of them fails.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// All of BYTES as the new contents of PATH (AtomicFile: write, commit).
void write_file_atomically(const std::string& path, std::string_view bytes,
                           AtomicFile::Temp temp = AtomicFile::Temp::fixed);

}  // namespace nemokd
