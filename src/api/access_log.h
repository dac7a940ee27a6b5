// Internal to api/: the access log's line, one per request: address, user id, method, path (query
// values that could be secrets masked), status, bytes in and out, duration and request id. Tokens,
// passwords and bodies are never part of it: only the fields below exist.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gpucloud::api {

struct AccessEntry {
  std::string address;
  std::string user_id;  // "" before authentication
  std::string method;
  std::string target;  // as sent; masked by access_line
  int status = 0;
  size_t bytes_in = 0;   // read from the client for this request (head and body)
  size_t bytes_out = 0;  // written to the client
  double seconds = 0;
  std::string request_id;
};

// `target` with the values of query parameters whose names suggest a secret (token, password,
// secret, key, signature, credential, auth) replaced by "***".
std::string loggable_target(std::string_view target);

// "access 127.0.0.1 user=- "GET /compute/v2.1/flavors" 200 in=95 out=1234 1.2ms req-..."
std::string access_line(const AccessEntry& e);

}  // namespace gpucloud::api
