// Reading a guest's console log (console_log.h).
#include "agent/console_log.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>

namespace gpucloud::agent {

std::string serial_log_path(const std::string& xml) {
  // <serial type='pty'><log file='...'/>, or <console type='file'><source path='...'/>.
  static const std::regex kSerialLog(
      R"(<serial\b[^>]*>[\s\S]*?<log\b[^>]*\bfile=['"]([^'"]+)['"][\s\S]*?</serial>)");
  static const std::regex kFileConsole(
      R"(<console\b[^>]*type=['"]file['"][^>]*>[\s\S]*?<source\b[^>]*\bpath=['"]([^'"]+)['"])");
  std::smatch m;
  if (std::regex_search(xml, m, kSerialLog)) return m[1].str();
  if (std::regex_search(xml, m, kFileConsole)) return m[1].str();
  return "";
}

Result<std::string> read_tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::string();
    return Error::unavailable("reading " + path + ": " + std::strerror(errno));
  }
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(in.tellg());
  const size_t start = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string out(size - start, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

}  // namespace gpucloud::agent
