// Private to agent/: the agent's HTTP client for the server — Keystone password authentication
// (token kept in memory only, renewed before it expires and after a 401) and JSON calls.
#pragma once

#include <httplib.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "agent/agent_loop.h"

namespace gpucloud::agent {

struct HttpReply {
  int status = 0;
  std::string body;
};

// "http://h:5000/identity/v3" -> {"http://h:5000", "/identity/v3"}; errors name the URL.
Result<std::pair<std::string, std::string>> split_url(const std::string& url);

class AgentClient {
 public:
  // `read_timeout`: longer than the longest long poll.
  static Result<std::unique_ptr<AgentClient>> create(const std::string& server_url,
                                                     const AgentCredentials& credentials,
                                                     std::chrono::seconds read_timeout);
  // method "GET", "PUT", "POST"; the body is JSON text. A 401 re-authenticates once and retries.
  // Transport failures are kUnavailable; HTTP errors come back as replies.
  Result<HttpReply> call(const std::string& method, const std::string& path,
                         const std::string& body = "");
  // GET `path` streamed into the file `to` (never whole in memory); returns the data's MD5 (hex).
  // kUnavailable on transport failures and on any status but 200, naming it.
  Result<std::string> download(const std::string& path, const std::string& to);
  // PUT the file `from` to `path` as application/octet-stream, streamed from disk; the reply's
  // status and body come back (a 401 re-authenticates once and sends again).
  Result<HttpReply> upload(const std::string& path, const std::string& from);
  Status authenticate();
  void stop();  // aborts a call in flight (shutdown)

 private:
  AgentClient() = default;
  // The kept token while it is valid, else a new one.
  Result<std::string> valid_token();
  Result<HttpReply> send_file(const std::string& path, const std::string& from,
                              const std::string& token);
  Result<HttpReply> send(const std::string& method, const std::string& path,
                         const std::string& body, const std::string& token);

  AgentCredentials creds_;
  std::string auth_path_;
  std::unique_ptr<httplib::Client> server_;
  std::unique_ptr<httplib::Client> identity_;
  std::mutex mu_;
  std::string token_;
  std::chrono::system_clock::time_point expires_at_{};
};

}  // namespace gpucloud::agent
