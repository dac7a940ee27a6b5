// Private to agent/: a guest's serial console log, as `openstack console log show` reads it. The
// domain's serial port logs to <instance dir>/console.log (virtlogd writes it; libvirt truncates
// it at each start, append='off', as nova's does).
#pragma once

#include <string>

#include "core/core.h"

namespace gpucloud::agent {

// The log file a domain XML's serial port (or file console) writes; "" when it has none.
std::string serial_log_path(const std::string& domain_xml);

// The last `max_bytes` of a file; "" when it does not exist (yet); an error naming the file when
// it cannot be read.
Result<std::string> read_tail(const std::string& path, size_t max_bytes);

}  // namespace gpucloud::agent
