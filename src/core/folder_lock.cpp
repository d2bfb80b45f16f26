#include "core/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd {
namespace fs = std::filesystem;

FolderLock::FolderLock(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw ConfigError(fmt::format("{}: cannot create the output folder ({})", dir, ec.message()));
  const std::string path = (fs::path(dir) / kFolderLockName).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw ConfigError(fmt::format("{}: cannot create {} ({})", dir, kFolderLockName, std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK)
      throw ConfigError(fmt::format("{}: cannot lock the output folder ({})", dir, std::strerror(err)));
    std::string holder(buf, n > 0 ? size_t(n) : 0);
    holder = holder.substr(0, holder.find_first_not_of("0123456789"));
    throw ConfigError(fmt::format("{}: in use by another nemokd process (pid {}); wait for it to finish or choose "
                                  "another --out",
                                  dir, holder.empty() ? "unknown" : holder));
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    // The lock holds without the note; the PID only makes a second process's message better.
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

bool folder_has_content(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename() != kFolderLockName) return true;
  return false;
}

}  // namespace nemokd
