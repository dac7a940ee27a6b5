// A domain's graphics and the choice of a fixed console port (domain_graphics.h).
#include "agent/domain_graphics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

namespace gpucloud::agent {
namespace {

std::string attribute(const std::string& tag, const std::string& name) {
  const std::regex re("\\b" + name + "=['\"]([^'\"]*)['\"]");
  std::smatch m;
  return std::regex_search(tag, m, re) ? m[1].str() : std::string();
}

int number_or(const std::string& text, int fallback) {
  if (text.empty() || text.size() > 6) return fallback;
  for (char c : text) {
    if ((c < '0' || c > '9') && c != '-') return fallback;
  }
  return std::stoi(text);
}

}  // namespace

std::optional<DomainGraphics> domain_graphics(const std::string& xml) {
  static const std::regex kGraphics(R"(<graphics\b([^>]*?)(/>|>([\s\S]*?)</graphics>))");
  static const std::regex kListen(R"(<listen\b[^>]*/?>)");
  std::smatch m;
  if (!std::regex_search(xml, m, kGraphics)) return std::nullopt;
  const std::string head = m[1].str();
  const std::string body = m[3].str();
  DomainGraphics g;
  g.type = attribute(head, "type");
  g.port = number_or(attribute(head, "port"), -1);
  g.autoport = attribute(head, "autoport") != "no";
  g.listen = attribute(head, "listen");
  std::smatch l;
  if (std::regex_search(body, l, kListen)) {
    const std::string address = attribute(l[0].str(), "address");
    if (!address.empty()) g.listen = address;
  }
  return g;
}

void add_graphics_ports(const std::string& xml, std::set<int>& used) {
  static const std::regex kGraphics(R"(<graphics\b[^>]*>)");
  for (std::sregex_iterator it(xml.begin(), xml.end(), kGraphics), end; it != end; ++it) {
    const std::string tag = (*it)[0].str();
    for (const char* name : {"port", "tlsPort"}) {
      const int port = number_or(attribute(tag, name), -1);
      if (port > 0) used.insert(port);
    }
  }
}

std::optional<int> pick_graphics_port(const std::set<int>& used,
                                      const std::function<bool(int)>& bindable, int first,
                                      int last) {
  for (int port = first; port <= last; ++port) {
    if (used.count(port) == 0 && bindable(port)) return port;
  }
  return std::nullopt;
}

bool tcp_port_bindable(const std::string& address, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  // 0.0.0.0 and names other than IPv4 addresses: check the wildcard address.
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) a.sin_addr.s_addr = INADDR_ANY;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace gpucloud::agent
