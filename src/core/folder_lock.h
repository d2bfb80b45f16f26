// One nemokd process per output folder: two processes on one --out mixed their files (one run's model.pt with the
// other's run.json).
#pragma once
#include <string>

namespace nemokd {

// The lock file inside a locked folder; it stays there (empty but for the holder's PID) and is not part of a run.
inline constexpr const char* kFolderLockName = ".nemokd.lock";

// An exclusive lock on an output folder for the life of the object: flock(2) on DIR/.nemokd.lock, which the kernel
// releases however the process ends (no stale locks after a kill). The folder is created if needed. A second
// process (or a second lock in this one) gets a ConfigError naming the holder's PID.
class FolderLock {
 public:
  explicit FolderLock(const std::string& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Whether DIR holds anything besides the lock file (false when it does not exist).
bool folder_has_content(const std::string& dir);

}  // namespace nemokd
