// The command probe: the model written as a file, a user command run on it, the latency it prints parsed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "hw/latency/probe.h"
#include "hw/latency/stats.h"

extern char** environ;

namespace nemokd::hw::latency {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxOutput = size_t(1) << 20;

// The last `chars` characters of a command's output on one line (errors are printed on one line).
std::string tail_one_line(const std::string& output, size_t chars = 600) {
  std::string t = output.size() > chars ? "..." + output.substr(output.size() - chars) : output;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  std::string out;
  for (char c : t) {
    if (c == '\n') out += " | ";
    else if (c == '\r' || c == '\t') out += ' ';
    else if (static_cast<unsigned char>(c) < 0x20) continue;
    else out += c;
  }
  return out.empty() ? "(no output)" : out;
}

std::string replace_all(std::string s, const std::string& what, const std::string& with) {
  for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
    s.replace(pos, what.size(), with);
  return s;
}

// Characters no shell interprets: a path made of these means the same thing quoted or not, inside `sh -c '...'`
// too. Anything else (space, ; $ ` ' " \ | & < > ( ) * ? [ ] ~ # newline ...) does not reach a command.
bool is_plain_path(const std::string& path) {
  return !path.empty() && path.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                                 "._/+-") == std::string::npos;
}

// A plain-path alias of `file` (a symbolic link in a fresh temporary folder) when its own path is not plain: the
// folder of --out or TMPDIR may hold spaces or `a;touch PWNED;b`, and a user who writes `sh -c 'bench {model}'`
// hands {model} to a shell after all.
std::string plain_alias(const std::string& file, std::string& alias_dir) {
  if (is_plain_path(file)) return file;
  std::error_code ec;
  std::string root = fs::temp_directory_path(ec).string();
  if (ec || !is_plain_path(root)) root = "/tmp";
  std::string templ = root + "/nemokd-model-XXXXXX";
  if (!mkdtemp(templ.data()))
    throw DataError(fmt::format("cannot create a temporary folder in {} ({})", root, std::strerror(errno)));
  alias_dir = templ;
  const std::string ext = fs::path(file).extension().string();
  const std::string link = templ + "/model" + (is_plain_path(ext) ? ext : "");
  fs::create_symlink(fs::absolute(file), link, ec);
  if (ec) throw DataError(fmt::format("cannot link {} as {} ({})", file, link, ec.message()));
  return link;
}

struct TempFolder {
  std::string path;
  bool remove = false;
  ~TempFolder() {
    if (remove) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

class CommandProbe : public LatencyProbe {
 public:
  CommandProbe(ProbeSpec spec, Materializer materialize, std::string workdir)
      : spec_(std::move(spec)), materialize_(std::move(materialize)), workdir_(std::move(workdir)) {
    const std::string pattern = spec_.regex.empty() ? std::string(kDefaultLatencyRegex) : spec_.regex;
    try {
      regex_ = std::regex(pattern, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& e) {
      throw ConfigError(fmt::format("probe {}: regex '{}' is invalid ({})", describe(), pattern, e.what()));
    }
    if (regex_.mark_count() < 1)
      throw ConfigError(fmt::format("probe {}: regex '{}' needs a capture group for the number", describe(), pattern));
  }
  std::string describe() const override { return spec_.text(); }
  bool is_proxy() const override { return false; }

  LatencyResult measure(models::ClassifierImpl& model, models::InputShape input) override {
    TempFolder dir;
    if (workdir_.empty()) {
      std::string templ = (fs::temp_directory_path() / "nemokd-latency-XXXXXX").string();
      if (!mkdtemp(templ.data()))
        throw DataError(fmt::format("probe {}: cannot create a temporary folder ({})", describe(), std::strerror(errno)));
      dir.path = templ;
      dir.remove = true;
    } else {
      fs::create_directories(workdir_);
      dir.path = workdir_;
    }
    const std::string file = materialize_(model, input, dir.path);
    std::error_code ec;
    const auto bytes = fs::file_size(file, ec);
    if (ec) throw DataError(fmt::format("probe {}: the model file '{}' was not written", describe(), file));
    TempFolder alias;
    const std::string model_path = plain_alias(file, alias.path);
    alias.remove = !alias.path.empty();
    // Split once, then substitute inside each argument: {model} is part of one argument whatever it contains.
    std::vector<std::string> argv = split_command_line(spec_.command);
    for (auto& arg : argv) arg = replace_all(replace_all(arg, "{model}", model_path), "{batch}", std::to_string(spec_.batch));
    const std::string command = fmt::format("{}", fmt::join(argv, " "));

    std::string matched;
    for (int i = 0; i < spec_.warmup; ++i) execute(argv, command, matched);
    std::vector<double> values;
    double seconds = 0;
    for (int i = 0; i < spec_.runs; ++i) {
      const auto t0 = Clock::now();
      values.push_back(execute(argv, command, matched));
      seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    }
    const auto st = sample_stats(values);
    LatencyResult r = timing_result(describe(), st, spec_.batch);
    r.details = {{"command", command},
                 {"model_file", fs::path(file).filename().string()},
                 {"model_bytes", bytes},
                 {"matched", matched},
                 {"executions", spec_.warmup + spec_.runs},
                 {"command_seconds", seconds}};
    return r;
  }

 private:
  // Runs the command once; returns the latency it printed, in ms.
  double execute(const std::vector<std::string>& argv, const std::string& command, std::string& matched) const {
    const auto out = run_command(argv, spec_.timeout_seconds);
    if (out.timed_out)
      throw ConfigError(fmt::format("probe command timed out after {} s: {}; output tail: {}", spec_.timeout_seconds,
                                    command, tail_one_line(out.output)));
    if (out.exit_code != 0)
      throw ConfigError(fmt::format("probe command {}: {}; output tail: {}",
                                    out.signal ? fmt::format("killed by signal {}", out.signal)
                                               : fmt::format("exited with status {}", out.exit_code),
                                    command, tail_one_line(out.output)));
    // Line by line (a latency never spans lines; keeps std::regex away from megabytes of text).
    bool any = false;
    std::istringstream lines(out.output);
    std::string line;
    while (std::getline(lines, line)) {
      for (std::sregex_iterator it(line.begin(), line.end(), regex_), end; it != end; ++it) {
        if (any && spec_.match == "first") break;
        any = true;
        matched_number_ = (*it)[1].str();
        matched_unit_ = it->size() > 2 && (*it)[2].matched ? (*it)[2].str() : "";
        matched = (*it)[0].str();
      }
      if (any && spec_.match == "first") break;
    }
    const std::string pattern = spec_.regex.empty() ? std::string(kDefaultLatencyRegex) : spec_.regex;
    if (!any)
      throw DataError(fmt::format("probe command printed no latency matching /{}/: {}; output tail: {}", pattern,
                                  command, tail_one_line(out.output)));
    char* end = nullptr;
    const double v = std::strtod(matched_number_.c_str(), &end);
    if (matched_number_.empty() || end != matched_number_.c_str() + matched_number_.size() || !std::isfinite(v) ||
        v <= 0)
      throw DataError(fmt::format("probe command: '{}' (from '{}') is not a positive latency; command: {}",
                                  matched_number_, matched, command));
    const std::string unit = !spec_.unit.empty() ? spec_.unit : matched_unit_.empty() ? "ms" : matched_unit_;
    const double scale = unit_to_ms(unit);
    if (scale <= 0)
      throw DataError(fmt::format("probe command: unit '{}' in '{}' is not ms, us, ns or s (set unit=)", unit,
                                  matched));
    return v * scale;
  }

  ProbeSpec spec_;
  Materializer materialize_;
  std::string workdir_;
  std::regex regex_;
  mutable std::string matched_number_, matched_unit_;
};

}  // namespace

std::vector<std::string> split_command_line(const std::string& command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  auto refuse = [&](const std::string& what) {
    throw ConfigError(fmt::format("command '{}': {} — the command runs without a shell; for pipes, ';' or '&&' "
                                  "write sh -c '...' (inside it {{model}} is a plain path)",
                                  command, what));
  };
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const auto end = command.find('\'', i + 1);
      if (end == std::string::npos) refuse("unterminated ' quote");
      word += command.substr(i + 1, end - i - 1);
      in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      for (++i;; ++i) {
        if (i >= command.size()) refuse("unterminated \" quote");
        if (command[i] == '"') break;
        // Inside double quotes a backslash escapes only these (as in sh).
        if (command[i] == '\\' && i + 1 < command.size() && std::string("\"\\$`").find(command[i + 1]) != std::string::npos)
          ++i;
        word += command[i];
      }
    } else if (c == '\\') {
      if (i + 1 >= command.size()) refuse("a trailing backslash");
      word += command[++i];
      in_word = true;
    } else if (std::string(";|&<>`").find(c) != std::string::npos || (c == '$' && i + 1 < command.size() &&
                                                                     (command[i + 1] == '(' || command[i + 1] == '{'))) {
      refuse(fmt::format("unquoted '{}'", c == '$' ? command.substr(i, 2) : std::string(1, c)));
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) throw ConfigError("command: empty");
  return words;
}

std::string materialize_libtorch_archive(const models::ClassifierImpl& model, models::InputShape /*input*/,
                                         const std::string& dir) {
  const auto path = (fs::path(dir) / "model.pt").string();
  torch::serialize::OutputArchive archive;
  model.save(archive);
  archive.save_to(path);
  return path;
}

CommandOutput run_command(const std::vector<std::string>& args, double timeout_seconds) {
  if (args.empty()) throw ConfigError("command: empty");
  // The deadline is a steady_clock time point: an infinite or huge timeout would overflow it into the past.
  if (!(timeout_seconds > 0 && timeout_seconds <= kMaxTimeoutSeconds))
    throw ConfigError(fmt::format("command timeout: {} s is not in (0, {}]", timeout_seconds, kMaxTimeoutSeconds));
  CommandOutput result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw DataError(fmt::format("cannot create a pipe ({})", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // own process group: a timeout kills all of it
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const auto t0 = Clock::now();
  const int rc = posix_spawnp(&pid, owned[0].c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw ConfigError(fmt::format("probe command '{}': cannot start it ({}{})", args[0], std::strerror(rc),
                                  rc == ENOENT ? ": not found on PATH" : ""));
  }
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
  bool exited = false;
  int status = 0;
  Clock::time_point exited_at;
  char buf[65536];
  for (;;) {
    const auto now = Clock::now();
    if (!exited && now >= deadline) {
      kill(-pid, SIGKILL);
      result.timed_out = true;
      break;
    }
    // After the shell exits, give stragglers that still hold the pipe 200 ms to finish writing.
    if (exited && now - exited_at > std::chrono::milliseconds(200)) {
      kill(-pid, SIGKILL);  // the group still exists (its members hold the pipe), so its id is not reused
      break;
    }
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fds[0], POLLIN, 0};
    const int n = poll(&p, 1, int(std::clamp<long long>(wait_ms, 1, 50)));
    if (n > 0) {
      const ssize_t got = read(fds[0], buf, sizeof buf);
      if (got > 0) {
        result.output.append(buf, size_t(got));
        if (result.output.size() > kMaxOutput) result.output.erase(0, result.output.size() - kMaxOutput);
      } else if (got == 0) {
        break;  // EOF: every writer is gone
      } else if (errno != EINTR && errno != EAGAIN) {
        break;
      }
    }
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      exited_at = Clock::now();
    }
  }
  close(fds[0]);
  if (!exited) {
    if (!result.timed_out) {
      // EOF before the shell was reaped: wait for it (bounded by the deadline).
      while (waitpid(pid, &status, WNOHANG) == 0) {
        if (Clock::now() >= deadline) {
          kill(-pid, SIGKILL);
          result.timed_out = true;
          break;
        }
        usleep(1000);
      }
    }
    if (result.timed_out) waitpid(pid, &status, 0);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (result.timed_out) {
    result.exit_code = -1;
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  }
  return result;
}

std::unique_ptr<LatencyProbe> make_command_probe(const ProbeSpec& spec, Materializer materialize,
                                                 const std::string& workdir) {
  return std::make_unique<CommandProbe>(spec, std::move(materialize), workdir);
}

}  // namespace nemokd::hw::latency
