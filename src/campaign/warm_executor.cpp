// The warm executor (campaign/executor.h): `jobs` long-lived `nemokd worker` processes, each taking one child folder
// after another over a socket, instead of one `nemokd run` process per child. A child folder ends exactly as the
// process executor leaves it (request.json, run.json, stdout.json, log.txt, model.pt), so campaigns, resume and the
// memo of finished runs do not change; what is saved is the process start (exec, the OpenMP re-exec, loading the
// shared libraries and libtorch's start-up) per child.
//
// Protocol (one JSON object per line, both ways): {"dir": DIR} in; {"exit_code": N, "seconds": S} out, after the
// worker has run DIR/request.json exactly as `nemokd run DIR/request.json --out DIR --resume --quiet --json` would
// (its stdout to DIR/stdout.json, its stderr to DIR/log.txt, that command line in run.json's argv). A worker that dies
// (crash, kill -9) fails the child it was running, with its signal, as a crashed `nemokd run` would; a fresh worker
// takes the rest. Workers end when the executor is destroyed (their socket closes) or with this process
// (PR_SET_PDEATHSIG, core/process.h). A worker keeps the dataset files it has read in memory (data::keep_loaded_files).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "campaign/executor.h"
#include "campaign/run_kinds.h"
#include "core/error.h"
#include "core/json_config.h"
#include "core/log.h"
#include "core/process.h"
#include "core/runtime.h"
#include "data/dataset.h"

namespace nemokd::campaign {
namespace fs = std::filesystem;

namespace {

// Sends one line; false when the other end is gone (no SIGPIPE: MSG_NOSIGNAL).
bool send_line(int fd, const std::string& line) {
  const std::string text = line + "\n";
  size_t sent = 0;
  while (sent < text.size()) {
    const ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += size_t(n);
  }
  return true;
}

// Reads what is there into buf; false at EOF or on an error.
bool read_some(int fd, std::string& buf) {
  char chunk[4096];
  ssize_t n;
  do {
    n = ::read(fd, chunk, sizeof chunk);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  buf.append(chunk, size_t(n));
  return true;
}

// Takes the first complete line out of buf.
bool take_line(std::string& buf, std::string& line) {
  const auto nl = buf.find('\n');
  if (nl == std::string::npos) return false;
  line = buf.substr(0, nl);
  buf.erase(0, nl + 1);
  return true;
}

class WarmExecutor : public Executor {
 public:
  WarmExecutor(int jobs, std::string executable)
      : workers_(size_t(std::max(1, jobs))), executable_(std::move(executable)) {}
  ~WarmExecutor() override {
    for (auto& w : workers_) stop(w);
  }

  std::string describe(int threads) const override {
    return fmt::format("{} at a time in warm workers ({} threads each)", workers_.size(), threads);
  }
  void check_device(const std::string& device) const override { nemokd::check_device(device); }
  bool distributed() const override { return false; }
  int ranks() const override { return 1; }

  void run(const std::vector<ChildJob>& jobs, const OnChildDone& on_done) override {
    size_t next = 0, busy = 0;
    while (next < jobs.size() || busy > 0) {
      for (auto& w : workers_) {
        if (w.job >= 0 || next >= jobs.size()) continue;
        const size_t i = next++;
        write_request(jobs[i]);
        const std::string request = nlohmann::json{{"dir", fs::absolute(jobs[i].dir).string()}}.dump();
        if (w.pid < 0 || w.runs >= kRecycleAfter) start(w);
        if (!send_line(w.fd, request)) {  // died while idle: one fresh worker, once
          start(w);
          if (!send_line(w.fd, request)) throw Error("warm executor: a fresh worker refuses requests");
        }
        w.job = long(i);
        w.started = std::chrono::steady_clock::now();
        ++busy;
      }
      std::vector<pollfd> fds;
      std::vector<Worker*> polled;
      for (auto& w : workers_)
        if (w.job >= 0) {
          fds.push_back({w.fd, POLLIN, 0});
          polled.push_back(&w);
        }
      int ready;
      do {
        ready = ::poll(fds.data(), fds.size(), -1);
      } while (ready < 0 && errno == EINTR);
      if (ready < 0) throw Error(fmt::format("warm executor: poll: {}", std::strerror(errno)));
      for (size_t k = 0; k < fds.size(); ++k) {
        if (!fds[k].revents) continue;
        Worker& w = *polled[k];
        const size_t i = size_t(w.job);
        const fs::path dir(jobs[i].dir);
        const auto started = w.started;
        ChildOutcome o;
        std::string line;
        const bool open = read_some(w.fd, w.buf);
        if (take_line(w.buf, line)) {
          const auto answer = parse_json(line, "warm worker answer");
          o.exit_code = answer.at("exit_code").get<int>();
          ++w.runs;
        } else if (open) {
          continue;  // the rest of the line is still to come
        } else {  // EOF: the worker died running this child
          const auto ex = wait_child(w.pid);
          ::close(w.fd);
          w = Worker{};
          o.exit_code = ex.exit_code;
          o.signal = ex.signal;
        }
        o.wall_seconds = seconds_since(started);
        o.log_tail = tail_of_file((dir / "log.txt").string(), 300);
        w.job = -1;
        --busy;
        on_done(i, o);
      }
    }
  }

  void run_tasks(const std::vector<dist::Task>& tasks, const OnTaskDone& on_done) override {
    for (size_t i = 0; i < tasks.size(); ++i) on_done(i, dist::run_here(tasks[i]));
  }

 private:
  // A fresh worker per this many children: bounds whatever a process accumulates (allocator growth).
  static constexpr int kRecycleAfter = 200;

  struct Worker {
    int pid = -1;
    int fd = -1;  // this process's end of the socket
    std::string buf;
    long job = -1;  // index being run, -1 idle
    int runs = 0;
    std::chrono::steady_clock::time_point started;
  };

  void start(Worker& w) {
    stop(w);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw Error(fmt::format("warm executor: socketpair: {}", std::strerror(errno)));
    const std::string exe = executable_.empty() ? self_executable() : executable_;
    // Its own output between requests goes nowhere (each request's goes to its folder); errors before the first
    // request reach this process's stderr.
    auto child = spawn_process({exe, "worker"}, "/dev/null", "",
                               executable_.empty() ? std::string(kSameProgram) : executable_, sv[1]);
    ::close(sv[1]);
    w.pid = child.pid;
    w.fd = sv[0];
    w.runs = 0;
    w.buf.clear();
  }

  void stop(Worker& w) {
    if (w.pid < 0) return;
    // Still running a child (the batch was abandoned by an exception): that child resumes from its checkpoint later.
    if (w.job >= 0) ::kill(w.pid, SIGKILL);
    ::close(w.fd);  // EOF: an idle worker returns from serve_worker and exits
    wait_child(w.pid);
    w = Worker{};
  }

  std::vector<Worker> workers_;
  std::string executable_;
};

}  // namespace

std::shared_ptr<Executor> make_warm_executor(int jobs, std::string executable) {
  return std::make_shared<WarmExecutor>(jobs, std::move(executable));
}

int serve_worker(int fd) {
  // The same dataset files, run after run: read once per worker (the teacher and its output cache are small:
  // their load is left as it is, see bench/bench_search's setup column).
  data::keep_loaded_files();
  // This process's own stdout/stderr, put back after each request.
  std::fflush(nullptr);
  const int own_out = ::dup(STDOUT_FILENO), own_err = ::dup(STDERR_FILENO);
  std::string buf, line;
  const std::string exe = command_line().empty() ? std::string("nemokd") : command_line().front();
  while (true) {
    if (!take_line(buf, line)) {
      if (!read_some(fd, buf)) return 0;  // the executor is done (or gone)
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const std::string dir = parse_json(line, "warm worker request").at("dir").get<std::string>();
    const std::string record_path = (fs::path(dir) / "request.json").string();
    int code = 1;
    const int out = ::open((fs::path(dir) / "stdout.json").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err = ::open((fs::path(dir) / "log.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out >= 0 && err >= 0) {
      ::dup2(out, STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      // What `nemokd run` records as its command line, so run.json is the process executor's.
      std::vector<std::string> args = {exe, "run", record_path, "--out", dir, "--resume", "--quiet", "--json"};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      set_command_line(int(argv.size()), argv.data());
      setup_logging(Verbosity::quiet);
      try {
        const auto record = RunRecord::from_json(read_json_file(record_path));
        const auto& kind = run_kind(record.command, record_path);
        const auto result = kind.run(record.config, -1, train::RunContext{dir, true, false, nullptr, false});
        auto j = result.to_json();
        j["out_dir"] = dir;
        std::cout << j.dump(2) << std::endl;
        code = result.status == "completed" ? 0 : 3;
      } catch (const Error& e) {
        fmt::print(stderr, "nemokd: error: {}\n", e.what());
      } catch (const c10::Error& e) {
        fmt::print(stderr, "nemokd: torch error: {}\n", e.msg());
      } catch (const std::exception& e) {
        fmt::print(stderr, "nemokd: error: {}\n", e.what());
      }
      std::cout.flush();
      std::fflush(nullptr);
      ::dup2(own_out, STDOUT_FILENO);
      ::dup2(own_err, STDERR_FILENO);
    }
    if (out >= 0) ::close(out);
    if (err >= 0) ::close(err);
    if (!send_line(fd, nlohmann::json{{"exit_code", code}, {"seconds", seconds_since(t0)}}.dump())) return 0;
  }
}

}  // namespace nemokd::campaign
