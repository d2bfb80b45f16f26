#include "core/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd {

ChildProcess spawn_process(const std::vector<std::string>& argv, const std::string& stdout_path,
                           const std::string& stderr_path, const std::string& executable, int pass_fd) {
  if (argv.empty()) throw Error("spawn: empty command");
  const char* exec_path = executable.empty() ? argv[0].c_str() : executable.c_str();
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // An empty path keeps this process's stream.
  auto open_out = [](const std::string& path, int own) {
    return path.empty() ? ::fcntl(own, F_DUPFD_CLOEXEC, 0) : ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  };
  const int out_fd = open_out(stdout_path, STDOUT_FILENO);
  const int err_fd = open_out(stderr_path, STDERR_FILENO);
  if (out_fd < 0 || err_fd < 0) {
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    throw Error(fmt::format("spawn: cannot open {} / {}: {}", stdout_path, stderr_path, std::strerror(errno)));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(fmt::format("spawn: fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);  // the parent died before prctl took effect
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    if (pass_fd >= 0 && pass_fd != kPassedFd) ::dup2(pass_fd, kPassedFd);  // dup2 clears O_CLOEXEC on the copy
    if (pass_fd == kPassedFd) ::fcntl(kPassedFd, F_SETFD, 0);
    ::execv(exec_path, args.data());
    // Only async-signal-safe calls here: say why in the child's log, then exit like a shell would.
    const char* msg = "spawn: cannot execute the program (execv failed)\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, std::strlen(msg));
    (void)ignored;
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  return ChildProcess{pid};
}

namespace {
ChildExit wait_for(pid_t which) {
  int status = 0;
  pid_t pid;
  do {
    pid = ::waitpid(which, &status, 0);
  } while (pid < 0 && errno == EINTR);
  if (pid < 0) throw Error(fmt::format("wait: {}", std::strerror(errno)));
  ChildExit e;
  e.pid = pid;
  if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}
}  // namespace

ChildExit wait_any_child() { return wait_for(-1); }
ChildExit wait_child(int pid) { return wait_for(pid_t(pid)); }

std::string self_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

const char* const kSameProgram = "/proc/self/exe";

}  // namespace nemokd
