// The HTTP server on Boost.Beast and Asio, with one C++20 coroutine per connection on its own
// strand. This is the only file that includes Beast or Asio (they are heavy to compile): the rest
// of api/ sees HttpRequest / HttpResponse (http_message.h).
//
// What each connection may cost is bounded: the read buffer (head limit plus a little), the
// head's deadline, an idle timeout between requests, the body limit of the route (JSON in memory,
// uploads to a spool file), and a write that must make progress. Request handling never runs on
// an I/O thread: the app answers through Respond, from its worker pool or later (long polls).
#include "api/http_server.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "api/access_log.h"

namespace gpucloud::api {

std::string new_uuid();  // common.cc

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

auto with(error_code& ec) { return asio::redirect_error(use_awaitable, ec); }

// Responses from other threads reach a connection only while the I/O threads run: stop() closes
// the gate before the io_context goes away.
struct Gate {
  std::mutex mu;
  bool open = true;
};

// One value handed from any thread to a waiting coroutine: the coroutine sleeps on a timer that
// never expires by itself, and the producer cancels it after storing the value.
template <class T>
struct Slot {
  explicit Slot(const asio::any_io_executor& ex)
      : timer(ex, asio::steady_timer::time_point::max()) {}
  std::optional<T> value;
  asio::steady_timer timer;
};

struct IdleState;

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions o, HttpApp& a) : options(std::move(o)), app(a) {}

  HttpServerOptions options;
  HttpApp& app;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::shared_ptr<spdlog::logger> access;

  std::mutex mu;
  std::condition_variable drained;
  std::map<std::string, size_t> per_address;
  size_t total = 0;
  size_t in_flight = 0;  // requests whose head was read and whose response is not yet written
  size_t relays = 0;     // WebSocket relays open (a graceful stop closes them and waits for them)
  uint64_t next_id = 0;
  // Closes a connection that waits for its next request (graceful stop), on its strand.
  std::map<uint64_t, std::function<void()>> idle_closers;
  std::atomic<bool> draining{false};
  bool stopped = false;
  int port = 0;

  // Declared after what connection frames touch when the io_context destroys them.
  std::optional<asio::ssl::context> tls;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;

  awaitable<void> accept_loop();
  awaitable<void> session(tcp::socket* accepted);  // takes ownership
  template <class Stream>
  awaitable<void> serve(Stream& stream, uint64_t id);
  template <class Stream>
  awaitable<bool> exchange(Stream& stream, beast::flat_buffer& buffer, IdleState& state);
  template <class Stream>
  awaitable<void> tunnel(Stream& stream, const http::request<http::empty_body>& head,
                         const HttpRequest& req, const HttpResponse& res, IdleState& state,
                         size_t bytes_in, std::chrono::steady_clock::time_point started);
  template <class Stream>
  awaitable<void> refuse(Stream& stream, HttpRequest& req, int status, const std::string& message,
                         size_t bytes_in, std::chrono::steady_clock::time_point started);
  template <class Stream>
  awaitable<error_code> read_body(Stream& stream, beast::flat_buffer& buffer, auto& parser,
                                  uint64_t limit, size_t& bytes_in);
  template <class T>
  awaitable<T> wait_for(const std::function<void(std::function<void(T)>)>& start);
  template <class Stream>
  awaitable<void> write(Stream& stream, const HttpRequest& req, HttpResponse& res, bool head_only,
                        bool keep_alive, size_t& bytes_out);
  void log_access(const HttpRequest& req, const HttpResponse& res, size_t bytes_in,
                  size_t bytes_out, std::chrono::steady_clock::time_point started);
};

namespace {

// Connection accounting: a slot per connection, released when the connection ends.
class ConnectionSlot {
 public:
  ConnectionSlot(HttpServer::Impl& m, std::string address) : m_(m), address_(std::move(address)) {
    std::lock_guard lock(m_.mu);
    size_t& mine = m_.per_address[address_];
    admitted_ =
        m_.total < m_.options.max_connections && mine < m_.options.max_connections_per_address;
    ++mine;
    ++m_.total;
    id_ = ++m_.next_id;
  }
  ~ConnectionSlot() {
    std::lock_guard lock(m_.mu);
    auto it = m_.per_address.find(address_);
    if (--it->second == 0) m_.per_address.erase(it);
    --m_.total;
    m_.idle_closers.erase(id_);
  }
  bool admitted() const { return admitted_; }
  uint64_t id() const { return id_; }

 private:
  HttpServer::Impl& m_;
  std::string address_;
  bool admitted_ = false;
  uint64_t id_ = 0;
};

class InFlight {
 public:
  explicit InFlight(HttpServer::Impl& m) : m_(m) {
    std::lock_guard lock(m_.mu);
    ++m_.in_flight;
  }
  ~InFlight() {
    std::lock_guard lock(m_.mu);
    if (--m_.in_flight == 0) m_.drained.notify_all();
  }

 private:
  HttpServer::Impl& m_;
};

// A relay while it runs: stop() closes it (as an idle connection) and waits until it let go of
// its target's connection.
class OpenRelay {
 public:
  explicit OpenRelay(HttpServer::Impl& m) : m_(m) {
    std::lock_guard lock(m_.mu);
    ++m_.relays;
  }
  ~OpenRelay() {
    std::lock_guard lock(m_.mu);
    if (--m_.relays == 0) m_.drained.notify_all();
  }

 private:
  HttpServer::Impl& m_;
};

template <class Stream>
beast::tcp_stream& tcp_of(Stream& s) {
  return beast::get_lowest_layer(s);
}

bool is_compute(const std::string& path) { return path.rfind("/compute", 0) == 0; }

struct IdleState {
  bool idle = false;
  beast::tcp_stream* tcp = nullptr;
};
struct ForgetIdle {
  std::shared_ptr<IdleState> s;
  ~ForgetIdle() { s->tcp = nullptr; }
};

template <class Stream>
std::string remote_of(Stream& stream) {
  error_code ec;
  const auto endpoint = tcp_of(stream).socket().remote_endpoint(ec);
  return ec ? std::string("-") : endpoint.address().to_string();
}

// The head was cut off by the header limit: a request line that never ended means the target was
// too long (414); otherwise the headers were (431).
int head_overflow_status(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  std::string_view text(static_cast<const char*>(data.data()), data.size());
  return text.find("\r\n") == std::string_view::npos ? 414 : 431;
}

std::string header_parse_message(const error_code& ec) {
  if (ec == http::error::bad_content_length) {
    return "Invalid request: Content-Length is malformed, repeated with another value, or sent "
           "with Transfer-Encoding.";
  }
  if (ec == http::error::bad_transfer_encoding) {
    return "Invalid request: Transfer-Encoding is repeated or sent with Content-Length.";
  }
  return "Invalid request: " + ec.message() + ".";
}

}  // namespace

template <class T>
awaitable<T> HttpServer::Impl::wait_for(const std::function<void(std::function<void(T)>)>& start) {
  auto slot = std::make_shared<Slot<T>>(co_await asio::this_coro::executor);
  start([slot, gate = gate](T v) {
    std::lock_guard lock(gate->mu);
    if (!gate->open) return;
    asio::post(slot->timer.get_executor(), [slot, v = std::move(v)]() mutable {
      slot->value = std::move(v);
      slot->timer.cancel();
    });
  });
  while (!slot->value) {
    error_code ec;
    co_await slot->timer.async_wait(with(ec));
  }
  co_return std::move(*slot->value);
}

void HttpServer::Impl::log_access(const HttpRequest& req, const HttpResponse& res, size_t bytes_in,
                                  size_t bytes_out, std::chrono::steady_clock::time_point started) {
  AccessEntry e;
  e.address = req.remote_address;
  e.user_id = res.user_id;
  e.method = req.method;
  e.target = req.target;
  e.status = res.status;
  e.bytes_in = bytes_in;
  e.bytes_out = bytes_out;
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  e.request_id = req.request_id;
  access->info(access_line(e));
}

template <class Stream>
awaitable<void> HttpServer::Impl::write(Stream& stream, const HttpRequest& req, HttpResponse& res,
                                        bool head_only, bool keep_alive, size_t& bytes_out) {
  const bool bodiless = res.status == 204 || res.status == 304 || res.status < 200;
  auto fill = [&](auto& msg) {
    msg.version(11);
    msg.result(static_cast<unsigned>(res.status));
    for (const auto& [k, v] : res.headers) msg.insert(k, v);
    msg.set("x-openstack-request-id", req.request_id);
    if (is_compute(req.path)) msg.set("x-compute-request-id", req.request_id);
    if (!res.content_type.empty() && !bodiless)
      msg.set(http::field::content_type, res.content_type);
    msg.keep_alive(keep_alive);
  };
  error_code ec;
  // Each piece must go out within write_timeout; a large body may take as long as it progresses.
  auto send = [&](auto& msg) -> awaitable<void> {
    http::serializer<false, typename std::decay_t<decltype(msg)>::body_type> sr{msg};
    while (!sr.is_done()) {
      tcp_of(stream).expires_after(options.write_timeout);
      bytes_out += co_await http::async_write_some(stream, sr, with(ec));
      if (ec) co_return;
    }
  };
  if (res.file && !bodiless && !head_only) {
    beast::file f;
    f.native_handle(res.file->fd);
    res.file->fd = -1;  // owned by f now
    http::response<http::file_body> out;
    fill(out);
    out.body().reset(std::move(f), ec);
    if (ec) {
      spdlog::error("cannot stream a file: {}", ec.message());
      co_return;
    }
    out.prepare_payload();
    co_await send(out);
    co_return;
  }
  if (head_only || bodiless) {
    http::response<http::empty_body> out;
    fill(out);
    if (!bodiless) out.content_length(res.file ? res.file->size : res.body.size());
    co_await send(out);
    co_return;
  }
  http::response<http::string_body> out;
  fill(out);
  out.body() = std::move(res.body);
  out.prepare_payload();
  co_await send(out);
}

// The target of a request line in `buffer` that failed to parse, so that the error still takes
// the shape of its service and carries x-compute-request-id on compute routes.
static std::string target_of_request_line(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  std::string_view text(static_cast<const char*>(data.data()), data.size());
  text = text.substr(0, std::min(text.find("\r\n"), size_t{8192}));
  const size_t a = text.find(' ');
  if (a == std::string_view::npos) return "";
  const size_t b = text.find(' ', a + 1);
  return std::string(text.substr(a + 1, b == std::string_view::npos ? b : b - a - 1));
}

// The method of a request line in `buffer` that failed to parse, for the access log ("-" when
// there is none: the line is not a request line).
static std::string method_of_request_line(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  std::string_view text(static_cast<const char*>(data.data()), data.size());
  const size_t space = text.substr(0, 32).find(' ');
  if (space == 0 || space == std::string_view::npos) return "-";
  return std::string(text.substr(0, space));
}

template <class Stream>
awaitable<void> HttpServer::Impl::refuse(Stream& stream, HttpRequest& req, int status,
                                         const std::string& message, size_t bytes_in,
                                         std::chrono::steady_clock::time_point started) {
  if (req.path.empty()) {
    const auto q = req.target.find('?');
    req.path = percent_decode(std::string_view(req.target).substr(0, q), false);
  }
  HttpResponse res = app.error(req.path, status, message);
  if (status == 503) res.set_header("Retry-After", "5");
  size_t bytes_out = 0;
  co_await write(stream, req, res, false, false, bytes_out);
  log_access(req, res, bytes_in, bytes_out, started);
}

template <class Stream>
awaitable<error_code> HttpServer::Impl::read_body(Stream& stream, beast::flat_buffer& buffer,
                                                  auto& parser, uint64_t limit, size_t& bytes_in) {
  parser.body_limit(limit);
  error_code ec;
  while (!parser.is_done()) {
    tcp_of(stream).expires_after(options.body_timeout);
    bytes_in += co_await http::async_read_some(stream, buffer, parser, with(ec));
    if (ec) break;
  }
  co_return ec;
}

// One request and its response. Returns whether the connection may carry another.
template <class Stream>
awaitable<bool> HttpServer::Impl::exchange(Stream& stream, beast::flat_buffer& buffer,
                                           IdleState& state) {
  const auto started = std::chrono::steady_clock::now();
  HttpRequest req;
  req.remote_address = remote_of(stream);
  req.request_id = "req-" + new_uuid();
  size_t bytes_in = 0, bytes_out = 0;
  error_code ec;
  // Messages are built here, never as temporaries inside a co_await expression: GCC 12 destroys
  // such temporaries twice (GCC bug 99576), which corrupted the heap.
  std::string why;

  http::request_parser<http::empty_body> head;
  head.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  // Not boost::none: Boost 1.74 compares a Content-Length with an empty limit as "larger".
  head.body_limit(std::numeric_limits<std::uint64_t>::max());
  bytes_in += co_await http::async_read_header(stream, buffer, head, with(ec));
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
    co_return false;
  }
  if (ec) {
    // The request line may have parsed before the error (Beast consumed it from the buffer).
    req.target = std::string(head.get().target());
    req.method = std::string(head.get().method_string());
    if (req.target.empty()) req.target = target_of_request_line(buffer);
    if (req.method.empty()) req.method = method_of_request_line(buffer);
    if (ec == beast::error::timeout) {
      why = "The request head did not arrive in time.";
      co_await refuse(stream, req, 408, why, bytes_in + buffer.size(), started);
    } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      const int status = head.get().target().empty() ? head_overflow_status(buffer) : 431;
      why = status == 414 ? "The request URI is too long." : "The request headers are too large.";
      co_await refuse(stream, req, status, why, bytes_in + buffer.size(), started);
    } else {
      why = header_parse_message(ec);
      co_await refuse(stream, req, 400, why, bytes_in + buffer.size(), started);
    }
    co_return false;
  }
  std::optional<InFlight> in_flight(std::in_place, *this);
  auto& h = head.get();
  // Kept for the WebSocket handshake, which the server answers only once the app relays it.
  std::optional<http::request<http::empty_body>> upgrade;
  if (websocket::is_upgrade(h)) {
    upgrade.emplace(h);
    req.websocket_upgrade = true;
  }
  req.method = std::string(h.method_string());
  req.target = std::string(h.target());
  const auto q = req.target.find('?');
  req.path = percent_decode(std::string_view(req.target).substr(0, q), false);
  if (q != std::string::npos) parse_query(std::string_view(req.target).substr(q + 1), req.params);
  size_t content_lengths = 0, encodings = 0;
  for (const auto& f : h) {
    req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    if (f.name() == http::field::content_length) ++content_lengths;
    if (f.name() == http::field::transfer_encoding) ++encodings;
  }
  if (req.target.size() > options.max_target_bytes) {
    why = "The request URI is too long.";
    co_await refuse(stream, req, 414, why, bytes_in, started);
    co_return false;
  }
  // Beast accepts a repeated Content-Length with the same value (RFC 9112 allows it); a proxy
  // in front may not agree on which one counts, so any repetition is refused (smuggling).
  if (content_lengths > 1 || (content_lengths > 0 && encodings > 0)) {
    why = "Invalid request: Content-Length is repeated or sent with Transfer-Encoding.";
    co_await refuse(stream, req, 400, why, bytes_in, started);
    co_return false;
  }
  if (encodings > 0 && !head.chunked()) {
    why = "Invalid request: the only Transfer-Encoding accepted is chunked.";
    co_await refuse(stream, req, 400, why, bytes_in, started);
    co_return false;
  }
  const bool keep_alive = h.keep_alive() && !draining;
  const BodyPlan plan = app.plan(req);
  if (const auto length = head.content_length(); length && *length > plan.limit) {
    why = fmt::format("Request body is larger than the limit of {} bytes.", plan.limit);
    co_await refuse(stream, req, 413, why, bytes_in + buffer.size(), started);
    co_return false;
  }
  if (plan.check_first) {
    // Named, not temporaries: GCC 12 destroys a temporary passed to a coroutine's by-value
    // parameter twice, so no coroutine here takes a class by value.
    const std::function<void(std::function<void(std::optional<HttpResponse>)>)> check =
        [this, &req](std::function<void(std::optional<HttpResponse>)> done) {
          app.check_head(req, std::move(done));
        };
    std::optional<HttpResponse> refusal = co_await wait_for<std::optional<HttpResponse>>(check);
    if (refusal) {
      co_await write(stream, req, *refusal, false, false, bytes_out);
      log_access(req, *refusal, bytes_in + buffer.size(), bytes_out, started);
      co_return false;
    }
  }
  if (iequals(req.header("Expect"), "100-continue") && !head.is_done()) {
    http::response<http::empty_body> cont{http::status::continue_, 11};
    tcp_of(stream).expires_after(options.write_timeout);
    co_await http::async_write(stream, cont, with(ec));
    if (ec) co_return false;
  }

  // The body: every framing counts against the limit as it arrives; no progress for
  // body_timeout ends the request.
  if (plan.spool) {
    std::error_code fec;
    std::filesystem::create_directories(options.spool_dir, fec);
    const std::string path = options.spool_dir + "/upload-" + new_uuid();
    http::request_parser<http::file_body> parser{std::move(head)};
    parser.get().body().open(path.c_str(), beast::file_mode::write_new, ec);
    if (ec) {
      spdlog::error("cannot create the upload spool file {}: {}", path, ec.message());
      why = "The server cannot store the upload now.";
      co_await refuse(stream, req, 503, why, bytes_in, started);
      co_return false;
    }
    ec = co_await read_body(stream, buffer, parser, plan.limit, bytes_in);
    parser.get().body().close();
    if (ec) {
      std::filesystem::remove(path, fec);
    } else {
      req.spool = std::make_shared<SpooledBody>(path, std::filesystem::file_size(path, fec));
    }
  } else {
    http::request_parser<http::string_body> parser{std::move(head)};
    ec = co_await read_body(stream, buffer, parser, plan.limit, bytes_in);
    if (!ec) req.body = std::move(parser.get().body());
  }
  if (ec == http::error::body_limit) {
    why = fmt::format("Request body is larger than the limit of {} bytes.", plan.limit);
    co_await refuse(stream, req, 413, why, bytes_in + buffer.size(), started);
    co_return false;
  }
  if (ec == beast::error::timeout) {
    why = "The request body did not arrive in time.";
    co_await refuse(stream, req, 408, why, bytes_in + buffer.size(), started);
    co_return false;
  }
  if (ec == http::error::partial_message || ec == http::error::end_of_stream ||
      ec == asio::error::eof || ec == asio::error::connection_reset) {
    co_return false;
  }
  if (ec) {
    why = "Invalid request body: " + ec.message() + ".";
    co_await refuse(stream, req, 400, why, bytes_in, started);
    co_return false;
  }

  const bool head_only = req.method == "HEAD";
  auto shared = std::make_shared<HttpRequest>(std::move(req));
  const std::function<void(std::function<void(HttpResponse)>)> handle =
      [this, shared](std::function<void(HttpResponse)> done) { app.handle(shared, done); };
  HttpResponse res = co_await wait_for<HttpResponse>(handle);
  if (upgrade && res.tunnel) {
    // A relay can last hours: it is not a request in flight, and a graceful stop closes it as
    // it closes idle connections.
    in_flight.reset();
    co_await tunnel(stream, *upgrade, *shared, res, state, bytes_in, started);
    co_return false;
  }
  const bool again = keep_alive && !res.close && !draining;
  co_await write(stream, *shared, res, head_only, again, bytes_out);
  log_access(*shared, res, bytes_in, bytes_out, started);
  co_return again;
}

namespace {

// Whether a Sec-WebSocket-Protocol list ("binary, base64") offers `name`.
bool offers(std::string_view list, std::string_view name) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(pos, end - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == name) return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace

// Relays a WebSocket to res.tunnel: connect first (a target that cannot be reached gets a 502
// and no handshake), then accept, then copy both ways on this connection's strand until either
// side closes. The WebSocket's own timeout (pings every minute, closed after two minutes without
// an answer) replaces the connection's idle timeout: a console may sit unused for hours.
template <class Stream>
awaitable<void> HttpServer::Impl::tunnel(Stream& stream,
                                         const http::request<http::empty_body>& head,
                                         const HttpRequest& req, const HttpResponse& res,
                                         IdleState& state, size_t bytes_in,
                                         std::chrono::steady_clock::time_point started) {
  const TunnelTarget target = *res.tunnel;
  auto ex = co_await asio::this_coro::executor;
  error_code ec;
  size_t bytes_out = 0;
  beast::tcp_stream backend(ex);
  tcp::resolver resolver(ex);
  const std::string port = std::to_string(target.port);
  auto found = co_await resolver.async_resolve(target.host, port, with(ec));
  if (!ec) {
    backend.expires_after(std::chrono::seconds(5));
    co_await backend.async_connect(found, with(ec));
  }
  if (ec) {
    spdlog::warn("relay of {} to {}:{} failed: {}", req.path, target.host, target.port,
                 ec.message());
    HttpResponse refusal = app.error(req.path, 502, "The console cannot be reached now.");
    refusal.user_id = res.user_id;
    co_await write(stream, req, refusal, false, false, bytes_out);
    log_access(req, refusal, bytes_in, bytes_out, started);
    co_return;
  }
  backend.expires_never();
  tcp_of(stream).expires_never();

  websocket::stream<Stream&> ws(stream);
  websocket::stream_base::timeout limits{};
  limits.handshake_timeout = options.header_timeout;
  limits.idle_timeout = std::chrono::seconds(120);
  limits.keep_alive_pings = true;
  ws.set_option(limits);
  const auto offered = head[http::field::sec_websocket_protocol];
  const std::string proto =
      !target.subprotocol.empty() &&
              offers(std::string_view(offered.data(), offered.size()), target.subprotocol)
          ? target.subprotocol
          : std::string();
  ws.set_option(
      websocket::stream_base::decorator([proto, id = req.request_id](websocket::response_type& r) {
        r.set(http::field::server, "gpucloud");
        r.set("x-openstack-request-id", id);
        if (!proto.empty()) r.set(http::field::sec_websocket_protocol, proto);
      }));
  co_await ws.async_accept(head, with(ec));
  HttpResponse switched;
  switched.status = ec ? 400 : 101;
  switched.user_id = res.user_id;
  log_access(req, switched, bytes_in, 0, started);
  if (ec) co_return;
  ws.binary(true);
  ws.read_message_max(1 << 20);
  state.idle = true;
  OpenRelay open_relay(*this);

  // Target to client, on its own coroutine (one read and one write may be pending on a
  // WebSocket at once); it closes the WebSocket when the target closes.
  bool down_done = false, up_done = false;
  asio::steady_timer done(ex, asio::steady_timer::time_point::max());
  auto down = [&]() -> awaitable<void> {
    std::vector<char> chunk(16 * 1024);
    error_code e;
    for (;;) {
      const size_t n = co_await backend.async_read_some(asio::buffer(chunk), with(e));
      if (e) break;
      co_await ws.async_write(asio::buffer(chunk.data(), n), with(e));
      if (e) break;
    }
    if (!up_done && ws.is_open()) co_await ws.async_close(websocket::close_code::normal, with(e));
    down_done = true;
    done.cancel();
  };
  asio::co_spawn(ex, down, asio::detached);
  // Client to target, here.
  beast::flat_buffer message;
  for (;;) {
    message.clear();
    co_await ws.async_read(message, with(ec));
    if (ec) break;
    co_await asio::async_write(backend, message.data(), with(ec));
    if (ec) break;
  }
  up_done = true;
  backend.socket().shutdown(tcp::socket::shutdown_both, ec);
  backend.socket().close(ec);
  while (!down_done) co_await done.async_wait(with(ec));
}

template <class Stream>
awaitable<void> HttpServer::Impl::serve(Stream& stream, uint64_t id) {
  // Holds a whole head (it is parsed in place) and reads bodies in pieces.
  beast::flat_buffer buffer(options.max_header_bytes + 16 * 1024);
  // Read and written on this connection's strand only: a graceful stop closes the connection if
  // it waits for a next request, and never touches it after this coroutine ended.
  auto state = std::make_shared<IdleState>();
  state->tcp = &tcp_of(stream);
  ForgetIdle forget{state};
  {
    std::lock_guard lock(mu);
    idle_closers[id] = [state, ex = tcp_of(stream).get_executor()] {
      asio::post(ex, [state] {
        if (state->tcp && state->idle) state->tcp->socket().close();
      });
    };
  }
  for (bool first = true;; first = false) {
    // Wait for the next request: the idle timeout until its first byte (the head deadline for a
    // new connection), then the head deadline for the whole head.
    if (buffer.size() == 0) {
      if (draining) co_return;
      state->idle = !first;
      tcp_of(stream).expires_after(first ? options.header_timeout : options.idle_timeout);
      error_code ec;
      const size_t n = co_await stream.async_read_some(buffer.prepare(4096), with(ec));
      state->idle = false;
      if (ec) co_return;  // closed, timed out or reset: nobody to answer
      buffer.commit(n);
    }
    if (!first) tcp_of(stream).expires_after(options.header_timeout);
    const bool again = co_await exchange(stream, buffer, *state);
    if (!again) co_return;
  }
}

awaitable<void> HttpServer::Impl::session(tcp::socket* accepted) {
  std::unique_ptr<tcp::socket> owned(accepted);
  tcp::socket& socket = *owned;
  error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) co_return;
  const std::string address = endpoint.address().to_string();
  ConnectionSlot slot(*this, address);
  beast::tcp_stream tcp(std::move(socket));
  auto over_capacity = [&](auto& stream) -> awaitable<void> {
    // Full: a short answer and the connection ends (read nothing).
    HttpRequest req;
    req.remote_address = address;
    req.request_id = "req-" + new_uuid();
    req.target = "/";
    req.method = "-";
    HttpResponse res = app.error("/", 503, "Too many connections; try again later.");
    res.set_header("Retry-After", "5");
    size_t out = 0;
    co_await write(stream, req, res, false, false, out);
    log_access(req, res, 0, out, std::chrono::steady_clock::now());
  };
  if (tls) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *tls);
    beast::get_lowest_layer(stream).expires_after(options.header_timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server, with(ec));
    if (ec) co_return;
    if (!slot.admitted()) {
      co_await over_capacity(stream);
    } else {
      co_await serve(stream, slot.id());
    }
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(with(ec));
    co_return;
  }
  if (!slot.admitted()) {
    co_await over_capacity(tcp);
  } else {
    co_await serve(tcp, slot.id());
  }
  // Half-close and let the peer read what was sent: a reset would destroy a response the client
  // has not read yet (e.g. a 413 while it is still sending).
  tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
  char discard[16 * 1024];
  size_t drained = 0;
  tcp.expires_after(std::chrono::seconds(1));
  while (drained < 64 * 1024) {
    const size_t n = co_await tcp.async_read_some(asio::buffer(discard), with(ec));
    if (ec) break;
    drained += n;
  }
  tcp.socket().close(ec);
}

awaitable<void> HttpServer::Impl::accept_loop() {
  for (;;) {
    tcp::socket socket(asio::make_strand(ioc));
    error_code ec;
    co_await acceptor.async_accept(socket, with(ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors (or similar): wait a little instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(ioc, std::chrono::milliseconds(100));
      co_await pause.async_wait(with(ec));
      continue;
    }
    auto ex = socket.get_executor();
    asio::co_spawn(ex, session(new tcp::socket(std::move(socket))), asio::detached);
  }
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::create(HttpServerOptions options, HttpApp& app) {
  auto m = std::make_unique<Impl>(std::move(options), app);
  const auto& o = m->options;
  if (!o.tls_cert_file.empty() && !o.tls_key_file.empty()) {
    m->tls.emplace(asio::ssl::context::tls_server);
    auto& ctx = *m->tls;
    SSL_CTX* native = ctx.native_handle();
    // TLS 1.2 with ECDHE key exchange and AEAD ciphers only, and TLS 1.3 (whose suites all are).
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(
        native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_cipher_list(native,
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    error_code ec;
    ctx.use_certificate_chain_file(o.tls_cert_file, ec);
    if (!ec) ctx.use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
    if (ec || SSL_CTX_check_private_key(native) != 1) {
      return Error::invalid("cannot use TLS certificate '" + o.tls_cert_file + "' / key '" +
                            o.tls_key_file + "': unreadable or not a matching pair");
    }
  }
  if (!o.access_log_file.empty()) {
    try {
      auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(o.access_log_file);
      m->access = std::make_shared<spdlog::logger>("access", sink);
      m->access->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %v", spdlog::pattern_time_type::utc);
      m->access->flush_on(spdlog::level::info);
    } catch (const std::exception& e) {
      return Error::invalid("cannot open the access log " + o.access_log_file + ": " + e.what());
    }
  } else {
    m->access = spdlog::default_logger();
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(m)));
}

Status HttpServer::listen() {
  Impl& m = *impl_;
  // Every connection is a descriptor: use what the hard limit allows.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  error_code ec;
  const auto address = asio::ip::make_address(m.options.listen_host, ec);
  if (ec) return Error::invalid("cannot listen on '" + m.options.listen_host + "': not an address");
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(m.options.port));
  m.acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT; on Linux
  // it never lets two sockets listen on one port. SO_REUSEPORT, which would, is never set.
  if (!ec) m.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) m.acceptor.bind(endpoint, ec);
  if (ec == asio::error::address_in_use) {
    return Error::unavailable(fmt::format(
        "cannot listen on {}:{}: the port is in use by another process (another gpucloud?)",
        m.options.listen_host, m.options.port));
  }
  if (!ec) m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error::unavailable(fmt::format("cannot listen on {}:{}: {}", m.options.listen_host,
                                          m.options.port, ec.message()));
  }
  m.port = m.acceptor.local_endpoint().port();
  return {};
}

void HttpServer::serve() {
  Impl& m = *impl_;
  asio::co_spawn(m.ioc, m.accept_loop(), asio::detached);
  const int n = std::max(1, m.options.io_threads);
  for (int i = 0; i < n; ++i) {
    m.threads.emplace_back([&m] {
      for (;;) {
        try {
          m.ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("HTTP I/O thread: unexpected exception: {}", e.what());
        }
      }
    });
  }
}

void HttpServer::stop() {
  if (!impl_) return;
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    if (m.stopped) return;
    m.stopped = true;
  }
  if (m.threads.empty()) return;
  m.draining = true;
  asio::post(m.ioc, [&m] {
    error_code ec;
    m.acceptor.close(ec);
  });
  m.app.draining();
  {
    std::unique_lock lock(m.mu);
    for (auto& [id, close] : m.idle_closers) close();
    m.drained.wait_for(lock, m.options.drain_timeout,
                       [&m] { return m.in_flight == 0 && m.relays == 0; });
    if (m.in_flight > 0 || m.relays > 0) {
      spdlog::warn("HTTP server stopping with {} request(s) in flight and {} relay(s) open",
                   m.in_flight, m.relays);
    }
  }
  {
    std::lock_guard lock(m.gate->mu);
    m.gate->open = false;
  }
  m.ioc.stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
}

int HttpServer::port() const { return impl_->port; }

size_t HttpServer::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->total;
}

namespace {
class AsioTimer : public TimerHandle {
 public:
  AsioTimer(asio::io_context& ioc, std::chrono::milliseconds delay) : timer(ioc, delay) {}
  void cancel() override {
    asio::post(timer.get_executor(), [this, self = self_.lock()] {
      if (self) timer.cancel();
    });
  }
  asio::steady_timer timer;
  std::weak_ptr<AsioTimer> self_;
};
}  // namespace

std::shared_ptr<TimerHandle> HttpServer::schedule(std::chrono::milliseconds delay,
                                                  std::function<void()> fn) {
  auto t = std::make_shared<AsioTimer>(impl_->ioc, delay);
  t->self_ = t;
  t->timer.async_wait([t, fn = std::move(fn)](const error_code& ec) {
    if (!ec) fn();
  });
  return t;
}

}  // namespace gpucloud::api
