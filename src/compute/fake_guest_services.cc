// Stand-in guest services of the fake driver (fake_guest_services.h): non-blocking listeners on
// the guests' loopback addresses, served by one poll thread. A connection gets its answer at
// once (an SSH banner) or after its request line arrived (HTTP), then is closed; a client that
// sends nothing for a second is dropped, so one slow client cannot hold the thread.
#include "compute/fake_guest_services.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace gpucloud::compute {
namespace {

using Clock = std::chrono::steady_clock;

enum class Kind { kSsh, kHttp, kSpice };

struct Listener {
  int fd = -1;
  Kind kind = Kind::kSsh;
  std::string uuid;
  std::string name;
  bool up = true;
};

struct Conn {
  int fd = -1;
  Kind kind = Kind::kHttp;
  std::string name;
  bool up = true;
  std::string got;
  Clock::time_point deadline;
};

int listen_on(const std::string& ip, std::string& error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    error = "'" + ip + "' is not an IPv4 address";
    return -1;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    error = "listening on " + ip + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

int port_of(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

void send_all(int fd, const std::string& text) {
  // Small answers on a fresh socket: the kernel's buffer takes them whole.
  (void)!::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

std::string http_answer(const Conn& c) {
  if (!c.up) {
    const std::string body = "the service of " + c.name + " is not running\n";
    return fmt::format(
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.size(), body);
  }
  const std::string body = "gpucloud fake guest " + c.name + "\n";
  return fmt::format(
      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      body.size(), body);
}

// A SPICE link reply (spice-protocol's SpiceLinkHeader, then a SpiceLinkReply of 178 bytes)
// refusing the channel: a simulated guest has no display, and a client that asked for one
// learns that from the protocol itself.
std::string spice_answer() {
  auto u32 = [](std::string& out, uint32_t v) {
    for (int k = 0; k < 4; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  };
  std::string out = "REDQ";
  u32(out, 2);    // major version
  u32(out, 2);    // minor version
  u32(out, 178);  // size of the reply that follows
  u32(out, kSpiceChannelNotAvailable);
  out.append(178 - 4, '\0');  // no public key, no capabilities
  return out;
}

}  // namespace

struct FakeGuestServices::Impl {
  std::mutex mu;
  std::vector<Listener> listeners;
  // Listeners of stopped guests, closed by the thread between two polls (closing a descriptor
  // another thread polls could hand its number to a new socket while the poll still waits).
  std::vector<int> retired;
  std::vector<Conn> conns;  // only the thread touches these
  int wake = -1;            // eventfd: the listener set changed, or stop
  bool stopping = false;
  std::thread thread;

  void notify() {
    uint64_t one = 1;
    (void)!::write(wake, &one, sizeof one);
  }

  void run() {
    while (true) {
      std::vector<pollfd> fds;
      std::vector<Listener> ls;
      {
        std::lock_guard lock(mu);
        for (int fd : retired) ::close(fd);
        retired.clear();
        if (stopping) break;
        ls = listeners;
      }
      fds.push_back({wake, POLLIN, 0});
      for (const auto& l : ls) fds.push_back({l.fd, POLLIN, 0});
      for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
      int timeout = conns.empty() ? -1 : 200;
      if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
      if (fds[0].revents & POLLIN) {
        uint64_t n;
        (void)!::read(wake, &n, sizeof n);
      }
      // A guest stopped during the poll: its listeners are retired, and whatever connected to
      // them meanwhile is reset when they are closed, never answered.
      std::vector<int> live;
      {
        std::lock_guard lock(mu);
        for (const auto& l : listeners) live.push_back(l.fd);
      }
      // Connections accepted below were not in this poll: fds has entries for the first
      // `polled` only.
      const size_t polled = conns.size();
      for (size_t k = 0; k < ls.size(); ++k) {
        if (!(fds[1 + k].revents & POLLIN)) continue;
        if (std::find(live.begin(), live.end(), ls[k].fd) == live.end()) continue;
        int fd = ::accept4(ls[k].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) continue;
        if (ls[k].kind == Kind::kSsh) {
          // A guest whose sshd has not started: the port answers, no banner comes.
          if (ls[k].up) send_all(fd, "SSH-2.0-gpucloud_fake_guest\r\n");
          ::close(fd);
          continue;
        }
        conns.push_back(
            {fd, ls[k].kind, ls[k].name, ls[k].up, "", Clock::now() + std::chrono::seconds(1)});
      }
      const size_t first_conn = 1 + ls.size();
      std::vector<Conn> keep;
      for (size_t k = 0; k < conns.size(); ++k) {
        Conn& c = conns[k];
        bool done = Clock::now() > c.deadline;
        if (!done && k < polled && (fds[first_conn + k].revents & (POLLIN | POLLHUP | POLLERR))) {
          char buf[1024];
          ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
          if (n <= 0) {
            done = true;
          } else {
            c.got.append(buf, static_cast<size_t>(n));
            if (c.kind == Kind::kSpice) {
              // The client's SpiceLinkHeader (16 bytes) is enough to answer.
              if (c.got.size() >= 16) {
                send_all(c.fd, spice_answer());
                done = true;
              }
            } else if (c.got.find("\r\n\r\n") != std::string::npos || c.got.size() > 8192) {
              send_all(c.fd, http_answer(c));
              done = true;
            }
          }
        }
        if (done) {
          ::close(c.fd);
        } else {
          keep.push_back(std::move(c));
        }
      }
      conns = std::move(keep);
    }
    for (auto& c : conns) ::close(c.fd);
    conns.clear();
  }

  void retire_guest_locked(const std::string& uuid) {
    std::erase_if(listeners, [&](const Listener& l) {
      if (l.uuid != uuid) return false;
      retired.push_back(l.fd);
      return true;
    });
  }
};

FakeGuestServices::FakeGuestServices() : impl_(std::make_unique<Impl>()) {
  impl_->wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

FakeGuestServices::~FakeGuestServices() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  if (impl_->thread.joinable()) {
    impl_->notify();
    impl_->thread.join();
  }
  for (auto& l : impl_->listeners) ::close(l.fd);
  for (int fd : impl_->retired) ::close(fd);
  if (impl_->wake >= 0) ::close(impl_->wake);
}

Result<std::map<int, int>> FakeGuestServices::start(const Guest& g) {
  std::string error;
  std::vector<Listener> made;
  std::map<int, int> ports;
  auto add = [&](Kind kind, int guest_port) {
    int fd = listen_on(g.ip, error);
    if (fd < 0) return false;
    made.push_back({fd, kind, g.uuid, g.name, g.up});
    ports[guest_port] = port_of(fd);
    return true;
  };
  bool ok = add(Kind::kSsh, 22);
  if (ok && g.http_guest_port > 0 && g.http_guest_port != 22)
    ok = add(Kind::kHttp, g.http_guest_port);
  if (ok && g.console) ok = add(Kind::kSpice, kConsolePortKey);
  if (!ok) {
    for (auto& l : made) ::close(l.fd);
    return Error::unavailable("stand-in services of " + g.name + ": " + error);
  }
  std::lock_guard lock(impl_->mu);
  impl_->retire_guest_locked(g.uuid);
  for (auto& l : made) impl_->listeners.push_back(l);
  if (!impl_->thread.joinable()) impl_->thread = std::thread([this] { impl_->run(); });
  impl_->notify();
  return ports;
}

void FakeGuestServices::stop(const std::string& uuid) {
  std::lock_guard lock(impl_->mu);
  impl_->retire_guest_locked(uuid);
  if (!impl_->thread.joinable()) {
    for (int fd : impl_->retired) ::close(fd);
    impl_->retired.clear();
  }
  impl_->notify();
}

int url_port(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return 0;
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return 0;
  const size_t host_at = scheme_end + 3;
  const size_t path_at = std::min(url.find('/', host_at), url.size());
  const std::string authority = url.substr(host_at, path_at - host_at);
  const size_t colon = authority.rfind(':');
  if (colon == std::string::npos || authority.find(']', colon) != std::string::npos) {
    return scheme == "https" ? 443 : 80;
  }
  const int port = std::atoi(authority.c_str() + colon + 1);
  return port > 0 && port <= 65535 ? port : 0;
}

}  // namespace gpucloud::compute
