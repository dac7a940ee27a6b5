// Helpers shared by every service's handlers, and the one place where an Error becomes an
// OpenStack-shaped HTTP error.
#include <sodium.h>

#include <algorithm>
#include <ctime>

#include "api/router_impl.h"

namespace gpucloud::api {

bool Caller::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

Result<json> Call::json_body() const {
  if (req.body.empty()) return bad_request("The request body is empty; a JSON object is required.");
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad_request("Malformed request body: the body is not valid JSON.");
  if (!j.is_object()) return bad_request("Malformed request body: a JSON object is required.");
  return j;
}

std::optional<std::string> Call::query(const std::string& name) const {
  if (!req.has_param(name)) return std::nullopt;
  return req.param(name);
}

Error bad_request(const std::string& message) { return Error::invalid(message); }
Error forbidden(const std::string& message) { return {ErrorCode::kForbidden, message}; }
Error unauthorized(const std::string& message) { return {ErrorCode::kUnauthorized, message}; }

int http_status(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kNotImplemented:
      return 501;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

namespace {

// nova's fault names per status (nova/api/openstack/wsgi.py's Fault._fault_names).
const char* nova_fault_name(int status) {
  switch (status) {
    case 400:
      return "badRequest";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "itemNotFound";
    case 405:
      return "badMethod";
    case 409:
      return "conflictingRequest";
    case 413:
      return "overLimit";
    case 415:
      return "badMediaType";
    case 429:
      return "overLimit";
    case 501:
      return "notImplemented";
    case 503:
      return "serviceUnavailable";
    default:
      return "computeFault";
  }
}

const char* title(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Long";
    case 417:
      return "Expectation Failed";
    case 501:
      return "Not Implemented";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

}  // namespace

void write_error(Service service, const Error& e, HttpResponse& res,
                 const std::string& request_id) {
  const int status = http_status(e);
  // An internal or unavailable error's text may hold details a client should not see (SQL,
  // paths, the database's user, host, port and schema): it goes to the log by the caller, and
  // the client gets a generic message with the request id.
  std::string message = e.message;
  if (status >= 500) {
    message = status == 503 ? "The service is temporarily unavailable; try again later."
                            : "An unexpected error prevented the server from fulfilling your "
                              "request.";
    if (!request_id.empty()) message += " (Request-ID: " + request_id + ")";
  }
  write_error_status(service, status, message, res);
}

Service service_of_path(std::string_view path) {
  if (path.rfind("/compute", 0) == 0) return Service::kCompute;
  if (path.rfind("/image", 0) == 0) return Service::kImage;
  if (path.rfind("/identity", 0) == 0) return Service::kIdentity;
  return Service::kPlain;
}

void write_error_status(Service service, int status, const std::string& message,
                        HttpResponse& res) {
  json body;
  switch (service) {
    case Service::kCompute:
      body[nova_fault_name(status)] = {{"code", status}, {"message", message}};
      break;
    case Service::kIdentity:
      body["error"] = {{"code", status}, {"title", title(status)}, {"message", message}};
      break;
    case Service::kImage:
      // glanceclient prints the "message" of every object in the body (a flat body makes it
      // crash), openstacksdk takes the one nested object's "message".
      body["error"] = {{"code", status}, {"title", title(status)}, {"message", message}};
      break;
    case Service::kPlain:
      body["error"] = {{"code", status}, {"message", message}};
      break;
  }
  res.status = status;
  if (status == 401) {
    res.set_header("WWW-Authenticate", "Keystone uri=\"/identity/v3\"");
  }
  res.set_content(body.dump(), "application/json");
}

std::string iso8601(store::TimePoint t) {
  using namespace std::chrono;
  const auto secs = time_point_cast<seconds>(t);
  const auto micros = duration_cast<microseconds>(t - secs).count();
  const std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(micros));
  return out;
}

std::string new_uuid() {
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string new_hex_id() {
  std::string u = new_uuid();
  u.erase(std::remove(u.begin(), u.end(), '-'), u.end());
  return u;
}

}  // namespace gpucloud::api
