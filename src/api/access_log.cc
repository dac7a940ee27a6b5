// The access log's line (access_log.h).
#include "api/access_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace gpucloud::api {
namespace {

bool secret_name(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::array<std::string_view, 7> kWords = {
      "token", "password", "secret", "key", "signature", "credential", "auth"};
  return std::any_of(kWords.begin(), kWords.end(),
                     [&](std::string_view w) { return lower.find(w) != std::string::npos; });
}

// Control characters and quotes would let a client forge log lines or fields.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

std::string loggable_target(std::string_view target) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  size_t pos = 0;
  bool first = true;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    std::string_view part = query.substr(pos, end - pos);
    if (!first) out += '&';
    first = false;
    const size_t eq = part.find('=');
    if (eq != std::string_view::npos && secret_name(part.substr(0, eq))) {
      out += part.substr(0, eq);
      out += "=***";
    } else {
      out += part;
    }
    pos = end + 1;
  }
  return out;
}

std::string access_line(const AccessEntry& e) {
  return fmt::format("access {} user={} \"{} {}\" {} in={} out={} {:.1f}ms {}",
                     printable(e.address), e.user_id.empty() ? "-" : printable(e.user_id),
                     printable(e.method), printable(loggable_target(e.target)), e.status,
                     e.bytes_in, e.bytes_out, e.seconds * 1000.0, e.request_id);
}

}  // namespace gpucloud::api
