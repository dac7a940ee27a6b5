// Internal to api/: the event-driven HTTP/1.1 server (Boost.Beast on Asio, in http_server.cc and
// nowhere else). A few I/O threads carry every connection; nothing blocks on them. The server
// enforces what protects it from its clients — a deadline for the request head, an idle timeout,
// connection caps per address and in total, header and body limits for every framing, strict
// Content-Length / Transfer-Encoding rules — and hands whole requests to an HttpApp, which answers
// asynchronously (from a worker pool, or later for a long poll). Every response carries a request
// id and gets one access-log line.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/http_message.h"
#include "core/core.h"

namespace gpucloud::api {

struct HttpServerOptions {
  std::string listen_host = "127.0.0.1";
  int port = 0;               // 0: any free port
  std::string tls_cert_file;  // TLS when both are set
  std::string tls_key_file;
  int io_threads = 2;
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // whole request head
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};  // keep-alive between requests
  std::chrono::milliseconds body_timeout{std::chrono::minutes(5)};   // no body progress this long
  std::chrono::milliseconds write_timeout{std::chrono::minutes(5)};  // no write progress this long
  size_t max_connections = 10000;
  size_t max_connections_per_address = 1024;
  size_t max_header_bytes = 64 * 1024;  // request line and headers together: else 431
  size_t max_target_bytes = 8 * 1024;   // request line's target: else 414
  std::string spool_dir;                // where upload bodies are written while they arrive
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(10)};  // graceful stop
  std::string access_log_file;  // "": the access log goes to spdlog's default logger
};

// What to do with a request's body, decided from its head on an I/O thread (must not block).
struct BodyPlan {
  uint64_t limit = 1 << 20;  // larger bodies (declared or arriving, any framing) get 413
  bool spool = false;        // write the body to a file under spool_dir instead of memory
  // Ask the app (check_head) before reading the body, e.g. to authenticate an upload before
  // accepting gigabytes from anyone.
  bool check_first = false;
};

using Respond = std::function<void(HttpResponse)>;  // callable once, from any thread

class HttpApp {
 public:
  virtual ~HttpApp() = default;
  virtual BodyPlan plan(const HttpRequest& head) = 0;
  // Only when plan() asked: answers `proceed(nullopt)` to go on reading the body, or a refusal.
  // May keep state in head.app_state until `proceed` (not after).
  virtual void check_head(HttpRequest& head,
                          std::function<void(std::optional<HttpResponse>)> proceed) = 0;
  // The whole request; `respond` exactly once, from any thread, now or later.
  virtual void handle(std::shared_ptr<HttpRequest> request, Respond respond) = 0;
  // An error the server itself answers (400, 408, 413, 414, 431, 503), in the shape of the
  // service the path belongs to.
  virtual HttpResponse error(const std::string& path, int status, const std::string& message) = 0;
  // A graceful stop began: answer parked requests (long polls) now.
  virtual void draining() = 0;
};

// Cancels a scheduled callback; destroying it does not cancel.
class TimerHandle {
 public:
  virtual ~TimerHandle() = default;
  virtual void cancel() = 0;
};

class HttpServer {
 public:
  // Checks the options (a TLS key pair that loads, TLS 1.2 ECDHE+AEAD and TLS 1.3 only).
  static Result<std::unique_ptr<HttpServer>> create(HttpServerOptions options, HttpApp& app);
  ~HttpServer();

  // Binds and listens (never with SO_REUSEPORT: a port in use is an error that says so).
  // Connections wait in the backlog until serve().
  Status listen();
  // Accepts and serves on the I/O threads.
  void serve();
  // Graceful: stops accepting, lets requests in flight finish (up to drain_timeout), closes idle
  // connections, then stops the I/O threads. Idempotent.
  void stop();
  int port() const;
  // Runs `fn` on an I/O thread after `delay` unless cancelled first.
  std::shared_ptr<TimerHandle> schedule(std::chrono::milliseconds delay, std::function<void()> fn);
  // Open connections now (for tests and metrics).
  size_t connections() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpucloud::api
