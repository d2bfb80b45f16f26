#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd {

AtomicFile::AtomicFile(std::string path, Temp temp)
    : path_(std::move(path)),
      tmp_(temp == Temp::fixed ? path_ + ".tmp" : fmt::format("{}.tmp.{}", path_, ::getpid())) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    throw Error(fmt::format("{}: cannot write, cannot create the file ({}); {} is unchanged", tmp_, std::strerror(err),
                            path_));
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::fail(const std::string& what, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  throw Error(fmt::format("{}: cannot write {} bytes, {} ({}); {} is unchanged", tmp_, size_, what,
                          std::strerror(err), path_));
}

void AtomicFile::write(const void* data, size_t n) {
  if (fd_ < 0) throw Error(fmt::format("{}: written after it was committed", tmp_));
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::write(fd_, p + done, n - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      size_ += done;
      fail("write failed", got < 0 ? errno : ENOSPC);
    }
    done += size_t(got);
  }
  size_ += n;
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t n) {
  if (fd_ < 0) throw Error(fmt::format("{}: written after it was committed", tmp_));
  if (offset + n > size_) throw Error(fmt::format("{}: write_at past the bytes written", tmp_));
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pwrite(fd_, p + done, n - done, off_t(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) fail("write failed", got < 0 ? errno : ENOSPC);
    done += size_t(got);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw Error(fmt::format("{}: committed twice", tmp_));
  if (::fsync(fd_) != 0) fail("write failed on flush", errno);  // on disk before the rename makes it visible
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    throw Error(fmt::format("{}: cannot write {} bytes, write failed on close ({}); {} is unchanged", tmp_, size_,
                            std::strerror(err), path_));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {  // atomic: PATH is the old file or the new one
    const int err = errno;
    ::unlink(tmp_.c_str());
    throw Error(fmt::format("{}: cannot replace it with {} ({}); {} is unchanged", path_, tmp_, std::strerror(err),
                            path_));
  }
}

void write_file_atomically(const std::string& path, std::string_view bytes, AtomicFile::Temp temp) {
  AtomicFile f(path, temp);
  f.write(bytes);
  f.commit();
}

}  // namespace nemokd
