// Raw HTTP/1.1 over a TCP socket, for tests that send what a well-behaved client library never
// would (repeated Content-Length, endless chunked bodies, slow heads) or that hold many
// connections open at once.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string>

namespace gpucloud::api::testing {

// A connected socket to 127.0.0.1:port (from `source`, e.g. "127.0.0.2"), or -1.
inline int connect_to(int port, const char* source = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (source) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &local.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// Reads one response (Content-Length framed, or up to the close); nullopt on timeout or a
// connection that ends before a status line.
inline std::optional<RawResponse> read_response(int fd, std::chrono::seconds timeout) {
  std::string in;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  RawResponse r;
  size_t head_end = std::string::npos;
  std::optional<size_t> length;
  for (;;) {
    if (head_end == std::string::npos) {
      head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = in.substr(0, head_end);
        if (std::sscanf(head.c_str(), "HTTP/1.%*d %d", &r.status) != 1) return std::nullopt;
        size_t pos = head.find("\r\n");
        while (pos != std::string::npos && pos < head.size()) {
          const size_t next = head.find("\r\n", pos + 2);
          const std::string line =
              head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
          const size_t colon = line.find(':');
          if (colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            for (auto& c : name) c = static_cast<char>(std::tolower(c));
            std::string value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.erase(0, 1);
            r.headers[name] = value;
          }
          pos = next;
        }
        if (r.headers.count("content-length")) length = std::stoul(r.headers["content-length"]);
      }
    }
    if (head_end != std::string::npos && length && in.size() >= head_end + 4 + *length) {
      r.body = in.substr(head_end + 4, *length);
      return r;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char buf[16 * 1024];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (head_end == std::string::npos) return std::nullopt;
      r.body = in.substr(head_end + 4);
      return r;
    }
    in.append(buf, static_cast<size_t>(n));
  }
}

// True while the peer has not closed the connection (nothing to read and no EOF).
inline bool still_open(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace gpucloud::api::testing
