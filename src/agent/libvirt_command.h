// Running a host tool (qemu-img, genisoimage) as a child process from an argv vector: no shell,
// so nothing in a path or name is ever interpreted.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/core.h"

namespace gpucloud::agent {

struct CommandOutput {
  int exit_code = -1;
  std::string output;      // stdout and stderr together (the first 64 KiB)
  bool timed_out = false;  // killed (with its process group) when `timeout` ran out
};

// kUnavailable when argv[0] cannot be executed; otherwise the exit status and output. With a
// timeout the child runs in a process group of its own, which is killed when time runs out.
// `env` entries ("NAME=value") are added to the child's environment.
Result<CommandOutput> run_command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout = {},
                                  const std::vector<std::string>& env = {});
// run_command, with a non-zero exit turned into kInternal naming the tool and its output.
Status run_checked(const std::vector<std::string>& argv);

}  // namespace gpucloud::agent
