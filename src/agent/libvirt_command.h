// Running a host tool (qemu-img, genisoimage) as a child process from an argv vector: no shell,
// so nothing in a path or name is ever interpreted.
#pragma once

#include <string>
#include <vector>

#include "core/core.h"

namespace gpucloud::agent {

struct CommandOutput {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// kUnavailable when argv[0] cannot be executed; otherwise the exit status and output.
Result<CommandOutput> run_command(const std::vector<std::string>& argv);
// run_command, with a non-zero exit turned into kInternal naming the tool and its output.
Status run_checked(const std::vector<std::string>& argv);

}  // namespace gpucloud::agent
