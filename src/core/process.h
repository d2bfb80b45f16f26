// Child processes for work that must survive a crash of its neighbours and be killable as a unit: sweeps
// run each training as `nemokd run ...` in its own process (own memory, own thread pool, own failure).
#pragma once
#include <string>
#include <vector>

namespace nemokd {

struct ChildProcess {
  int pid = -1;
};

// Starts `executable` (default argv[0]) with argv, stdout/stderr redirected to the given files (created/truncated;
// an empty path keeps this process's stream). The child is killed if this process dies (PR_SET_PDEATHSIG), so a
// killed sweep never leaves orphans writing into run folders that a restarted sweep would use too.
// `pass_fd` >= 0: that descriptor of this process becomes the child's fd 3 (kPassedFd; e.g. one end of a socketpair
// to a long-lived worker), every other one opened with O_CLOEXEC stays out of the child.
ChildProcess spawn_process(const std::vector<std::string>& argv, const std::string& stdout_path,
                           const std::string& stderr_path, const std::string& executable = "", int pass_fd = -1);
constexpr int kPassedFd = 3;

// Pass as `executable` to run this very program in the child: the forked child's /proc/self/exe is the
// parent's binary even after a rebuild replaced the file on disk (children then still run the same code).
extern const char* const kSameProgram;

struct ChildExit {
  int pid = -1;
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
};
// Waits for any child to finish.
ChildExit wait_any_child();
// Waits for this child to finish (safe beside other threads that wait for their own children).
ChildExit wait_child(int pid);

// Path of the running executable (/proc/self/exe), to re-invoke nemokd for child runs.
std::string self_executable();

}  // namespace nemokd
