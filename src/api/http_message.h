// Internal to api/: gpucloud's own HTTP request and response, as the route handlers see them. The
// server (http_server.cc, the only file that knows Boost.Beast) parses into an HttpRequest and
// writes an HttpResponse; handlers never see the HTTP library.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpucloud::api {

// Header names compare case-insensitively (RFC 9110 5.1).
bool iequals(std::string_view a, std::string_view b);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A request body the server spooled to a file (uploads), never whole in memory. The file is
// removed when the last owner lets go of it, unless a handler moved it into place.
class SpooledBody {
 public:
  SpooledBody(std::string path, uint64_t size) : path_(std::move(path)), size_(size) {}
  ~SpooledBody();
  SpooledBody(const SpooledBody&) = delete;
  SpooledBody& operator=(const SpooledBody&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Calls `sink` with the body's bytes in order, chunk by chunk; false when the file cannot be
  // read or when `sink` returned false.
  template <class Sink>
  bool read(Sink&& sink) const {
    return read_chunks([&](const char* d, size_t n) { return sink(d, n); });
  }
  // Moves the file to `dest` (same file system: a rename; else a copy); the body is then empty.
  bool move_to(const std::string& dest);

 private:
  bool read_chunks(const std::function<bool(const char*, size_t)>& sink) const;
  std::string path_;
  uint64_t size_ = 0;
};

struct HttpRequest {
  std::string method;                              // "GET", ...
  std::string target;                              // as sent: path and query
  std::string path;                                // percent-decoded path, without the query
  std::multimap<std::string, std::string> params;  // decoded query parameters
  HeaderList headers;
  std::string body;                    // JSON and other small bodies
  std::shared_ptr<SpooledBody> spool;  // upload routes: the body on disk
  std::string remote_address;          // the peer's IP address
  std::string request_id;              // "req-<uuid>", also sent as x-openstack-request-id
  std::shared_ptr<void> app_state;     // the app's own (e.g. an upload begun before its body)
  bool websocket_upgrade = false;      // a WebSocket opening handshake (RFC 6455 4.1)

  // The first value of a header, or "".
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  bool has_param(const std::string& name) const { return params.count(name) > 0; }
  std::string param(const std::string& name) const;  // first value or ""
};

// A response body streamed from an open file (image downloads).
struct FileBody {
  int fd = -1;  // owned: closed by the server after sending
  uint64_t size = 0;
  ~FileBody();
};

// Where a WebSocket request is relayed to (consoles): the server accepts the handshake only
// after it connected to host:port, then copies WebSocket binary messages to the TCP connection
// and the connection's bytes back as binary messages, until either side closes.
struct TunnelTarget {
  std::string host;  // an IP address or a name to resolve
  int port = 0;
  std::string subprotocol;  // echoed in Sec-WebSocket-Protocol when the client offered it
};

struct HttpResponse {
  int status = 200;
  HeaderList headers;
  std::string body;
  std::string content_type;        // set with the body; "" for none
  std::shared_ptr<FileBody> file;  // set instead of `body` for a streamed file
  std::string user_id;             // for the access log only (never sent)
  bool close = false;              // close the connection after this response
  // Answers a WebSocket upgrade by relaying it (status and body are used only when the target
  // cannot be reached: then the server answers 502 itself).
  std::shared_ptr<TunnelTarget> tunnel;

  void set_header(std::string name, std::string value);
  void set_content(std::string text, std::string type) {
    body = std::move(text);
    content_type = std::move(type);
  }
};

// Splits and percent-decodes a query string ("a=1&b=x%20y") into `out`.
void parse_query(std::string_view query, std::multimap<std::string, std::string>& out);
// Decodes %XX escapes (and '+' as space when `plus_is_space`); nullopt-free: bad escapes stay.
std::string percent_decode(std::string_view in, bool plus_is_space);

}  // namespace gpucloud::api
