// run_command: fork + execvp with stdout/stderr on one pipe. A separate exec-status pipe (closed
// on exec) tells "could not run" from "ran and failed".
#include "agent/libvirt_command.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gpucloud::agent {

Result<CommandOutput> run_command(const std::vector<std::string>& argv) {
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
  pid_t pid = fork();
  if (pid < 0) return Error::internal("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execvp(args[0], args.data());
    int err = errno;
    ssize_t ignored = write(status_pipe[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }
  close(out[1]);
  close(status_pipe[1]);
  CommandOutput result;
  char buf[4096];
  for (;;) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int exec_errno = 0;
  ssize_t got = read(status_pipe[0], &exec_errno, sizeof exec_errno);
  close(status_pipe[0]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
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
