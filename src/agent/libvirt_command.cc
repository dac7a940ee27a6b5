// run_command: fork + execvpe with stdout/stderr on one pipe. A separate exec-status pipe (closed
// on exec) tells "could not run" from "ran and failed".
#include "agent/libvirt_command.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string_view>

namespace gpucloud::agent {

Result<CommandOutput> run_command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  const std::vector<std::string>& env) {
  if (argv.empty()) return Error::internal("run_command: empty argv");
  int out[2];
  int status_pipe[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Error::internal("pipe: " + std::string(strerror(errno)));
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return Error::internal("pipe: " + std::string(strerror(errno)));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child's environment, built before fork: a child of a multithreaded process may only
  // call async-signal-safe functions, and putenv() may allocate.
  // `env` replaces variables of the same name (a shell keeps the last of two, getenv the first).
  std::vector<std::string> env_text(env.begin(), env.end());
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('=') + 1);  // "NAME="
    bool replaced = false;
    for (const auto& mine : env) replaced = replaced || mine.rfind(name, 0) == 0;
    if (!replaced) env_text.emplace_back(entry);
  }
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return Error::internal("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    if (timeout.count() > 0) setpgid(0, 0);  // so that a timeout kills what it started too
    dup2(out[1], 1);
    dup2(out[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execvpe(args[0], args.data(), envp.data());
    int err = errno;
    ssize_t ignored = write(status_pipe[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }
  close(out[1]);
  close(status_pipe[1]);
  if (timeout.count() > 0) setpgid(pid, pid);  // both sides: whichever runs first
  CommandOutput result;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (timeout.count() > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{out[0], POLLIN, 0};
      int ready = left.count() > 0 ? poll(&p, 1, static_cast<int>(left.count())) : 0;
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        result.timed_out = true;
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        break;
      }
    }
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (result.output.size() < 65536) result.output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int exec_errno = 0;
  ssize_t got = read(status_pipe[0], &exec_errno, sizeof exec_errno);
  close(status_pipe[0]);
  int wstatus = 0;
  if (timeout.count() > 0 && !result.timed_out) {
    // Output closed, but the process may still run (it closed its stdout): wait within the time.
    while (waitpid(pid, &wstatus, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        result.timed_out = true;
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        break;
      }
      usleep(10000);
    }
  }
  if (timeout.count() == 0 || result.timed_out) {
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
  }
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    return Error::unavailable("cannot run " + argv[0] + ": " + strerror(exec_errno));
  }
  result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return result;
}

Status run_checked(const std::vector<std::string>& argv) {
  auto r = run_command(argv);
  if (!r.ok()) return r.error();
  if (r->exit_code != 0) {
    return Error::internal(argv[0] + " exited with status " + std::to_string(r->exit_code) + ": " +
                           r->output);
  }
  return {};
}

}  // namespace gpucloud::agent
