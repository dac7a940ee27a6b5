// The two probes: an ssh banner (TCP connect + `SSH-2.0-`) and an HTTP(S) GET of service_url,
// and how a guest's endpoint (address, forwarded ports) turns into their targets.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "probe/probe.h"

namespace gpucloud::probe {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

// A non-blocking TCP connect to ip:port by `deadline`; the error is the system's ("Connection
// refused", "No route to host") or "connect timed out", without a prefix.
static Status tcp_connect(Fd& s, const std::string& ip, int port, Clock::time_point deadline) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (ip.empty() || ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    return Error::invalid("no IPv4 address");
  }
  s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return Error::unavailable(std::string("socket: ") + std::strerror(errno));
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return Error::unavailable(std::strerror(errno));
    pollfd p{s.fd, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
      return Error::unavailable("connect timed out");
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Error::unavailable(std::strerror(err));
  }
  return {};
}

Status probe_ssh(const std::string& ip, int port, std::chrono::milliseconds timeout) {
  const std::string where = fmt::format("ssh {}:{}", ip, port);
  const auto deadline = Clock::now() + timeout;
  Fd s;
  if (auto c = tcp_connect(s, ip, port, deadline); !c.ok()) {
    return Error{c.error().code, where + ": " + c.error().message};
  }
  // RFC 4253: the server may send other lines before the version line; read up to 1 KiB.
  std::string got;
  while (got.size() < 1024) {
    pollfd p{s.fd, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
      return Error::unavailable(where + ": no banner within the timeout");
    }
    char buf[256];
    ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n <= 0) return Error::unavailable(where + ": closed without an SSH-2.0 banner");
    got.append(buf, static_cast<size_t>(n));
    for (size_t line = 0; line < got.size();) {
      size_t end = got.find('\n', line);
      if (end == std::string::npos) {
        if (got.compare(line, 8, "SSH-2.0-") == 0 && got.size() - line >= 8) return Status{};
        break;
      }
      if (got.compare(line, 8, "SSH-2.0-") == 0) return Status{};
      line = end + 1;
    }
  }
  return Error::unavailable(where + ": no SSH-2.0 banner");
}

Status probe_http(const std::string& url, bool verify_tls, std::chrono::milliseconds timeout) {
  // scheme://host[:port][/path]
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return Error::invalid(url + ": not an http(s) URL");
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return Error::invalid(url + ": not an http(s) URL");
  }
  const size_t path_at = url.find('/', scheme_end + 3);
  const std::string origin = url.substr(0, path_at);
  const std::string path = path_at == std::string::npos ? "/" : url.substr(path_at);
  httplib::Client client(origin);
  if (!client.is_valid()) return Error::invalid(url + ": not a usable URL");
  client.enable_server_certificate_verification(verify_tls);
  client.set_follow_location(false);  // a redirect already shows the service answers
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  client.set_connection_timeout(secs.count(), usecs.count());
  client.set_read_timeout(secs.count(), usecs.count());
  client.set_write_timeout(secs.count(), usecs.count());
  auto res = client.Get(path);
  if (res.error() == httplib::Error::Connection) {
    // httplib says only "Connection": a connect of our own tells refused from unreachable.
    const size_t host_at = scheme_end + 3;
    const std::string authority = origin.substr(host_at);
    const size_t colon = authority.rfind(':');
    const std::string host = authority.substr(0, colon);
    const int port = colon == std::string::npos ? (scheme == "https" ? 443 : 80)
                                                : std::atoi(authority.c_str() + colon + 1);
    Fd s;
    Status c = tcp_connect(s, host, port, Clock::now() + timeout);
    return Error::unavailable("GET " + url + ": cannot connect" +
                              (c.ok() ? std::string() : ": " + c.error().message));
  }
  if (!res) return Error::unavailable("GET " + url + ": " + httplib::to_string(res.error()));
  if (res->status >= 200 && res->status < 400) return Status{};
  return Error::unavailable(fmt::format("GET {}: HTTP {}", url, res->status));
}

std::string expand_service_url(const std::string& pattern, const std::string& ip) {
  std::string out;
  for (size_t k = 0; k < pattern.size(); ++k) {
    if (pattern.compare(k, 2, "{}") == 0) {
      out += ip;
      ++k;
    } else {
      out += pattern[k];
    }
  }
  return out;
}

int Endpoint::port_for(int guest_port) const {
  auto it = ports.find(guest_port);
  return it == ports.end() ? guest_port : it->second;
}

Result<std::string> service_url_for(const std::string& pattern, const Endpoint& endpoint) {
  const std::string url = expand_service_url(pattern, endpoint.ip);
  const size_t scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return Error::invalid(url + ": not an http(s) URL");
  if (endpoint.ports.empty()) return url;
  const size_t host_at = scheme_end + 3;
  const size_t path_at = std::min(url.find('/', host_at), url.size());
  const std::string authority = url.substr(host_at, path_at - host_at);
  // host[:port]; an IPv6 literal ([::1]:80) keeps its brackets.
  const size_t colon = authority.rfind(':');
  const bool has_port =
      colon != std::string::npos && authority.find(']', colon) == std::string::npos;
  int port = scheme == "https" ? 443 : 80;
  std::string host = authority;
  if (has_port) {
    host = authority.substr(0, colon);
    const std::string digits = authority.substr(colon + 1);
    char* end = nullptr;
    long v = std::strtol(digits.c_str(), &end, 10);
    if (digits.empty() || *end != '\0' || v <= 0 || v > 65535) {
      return Error::invalid(url + ": bad port '" + digits + "'");
    }
    port = static_cast<int>(v);
  }
  const int to = endpoint.port_for(port);
  if (to == port) return url;
  return url.substr(0, host_at) + host + ":" + std::to_string(to) + url.substr(path_at);
}

Status probe_guest(const Endpoint& endpoint, const Spec& spec) {
  if (endpoint.ip.empty()) return Error::unavailable("no address known yet");
  if (spec.service_url.empty()) {
    return probe_ssh(endpoint.ip, endpoint.port_for(spec.ssh_port), spec.timeout);
  }
  auto url = service_url_for(spec.service_url, endpoint);
  if (!url.ok()) return url.error();
  return probe_http(*url, spec.verify_tls, spec.timeout);
}

}  // namespace gpucloud::probe
