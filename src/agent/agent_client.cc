#include "agent/agent_client.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/md5.h"

namespace gpucloud::agent {

using nlohmann::json;

Result<std::pair<std::string, std::string>> split_url(const std::string& url) {
  static const std::regex kUrl(R"(^(https?://[^/]+)(/.*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    return Error::invalid("'" + url + "' is not an http(s) URL");
  }
  std::string path = m[2].matched ? m[2].str() : "";
  while (!path.empty() && path.back() == '/') path.pop_back();
  return std::make_pair(m[1].str(), path);
}

Result<std::unique_ptr<AgentClient>> AgentClient::create(const std::string& server_url,
                                                         const AgentCredentials& creds,
                                                         std::chrono::seconds read_timeout) {
  auto server = split_url(server_url);
  if (!server.ok()) return server.error().with_context("server URL");
  auto auth = split_url(creds.auth_url);
  if (!auth.ok()) return auth.error().with_context("OS_AUTH_URL");
  std::unique_ptr<AgentClient> c(new AgentClient());
  c->creds_ = creds;
  c->auth_path_ = auth->second;
  // The identity v3 root, as the openstack clients accept it with or without the version.
  if (c->auth_path_.size() < 3 || c->auth_path_.substr(c->auth_path_.size() - 3) != "/v3") {
    c->auth_path_ += "/v3";
  }
  c->server_ = std::make_unique<httplib::Client>(server->first);
  c->identity_ = std::make_unique<httplib::Client>(auth->first);
  for (auto* h : {c->server_.get(), c->identity_.get()}) {
    h->set_connection_timeout(5);
    h->set_read_timeout(read_timeout.count());
    h->set_write_timeout(30);
  }
  return c;
}

Status AgentClient::authenticate() {
  json body = {{"auth",
                {{"identity",
                  {{"methods", {"password"}},
                   {"password",
                    {{"user",
                      {{"name", creds_.username},
                       {"domain", {{"name", creds_.user_domain_name}}},
                       {"password", creds_.password}}}}}}},
                 {"scope",
                  {{"project",
                    {{"name", creds_.project_name},
                     {"domain", {{"name", creds_.project_domain_name}}}}}}}}}};
  auto r = identity_->Post((auth_path_ + "/auth/tokens").c_str(), body.dump(), "application/json");
  if (!r) {
    return Error::unavailable("cannot reach the identity service at " + creds_.auth_url + ": " +
                              httplib::to_string(r.error()));
  }
  if (r->status != 201) {
    json err = json::parse(r->body, nullptr, false);
    std::string why = err.is_object() && err.contains("error") && err["error"].is_object()
                          ? err["error"].value("message", "")
                          : "";
    return Error{r->status == 401 ? ErrorCode::kUnauthorized : ErrorCode::kUnavailable,
                 "authentication as user '" + creds_.username + "' in project '" +
                     creds_.project_name + "' failed (HTTP " + std::to_string(r->status) +
                     (why.empty() ? "" : ": " + why) + ")"};
  }
  std::lock_guard lock(mu_);
  token_ = r->get_header_value("X-Subject-Token");
  // Renew a minute before keystone's expiry; when it cannot be read, after 50 minutes.
  expires_at_ = std::chrono::system_clock::now() + std::chrono::minutes(50);
  json j = json::parse(r->body, nullptr, false);
  if (j.is_object() && j.contains("token") && j["token"].contains("expires_at")) {
    std::tm tm{};
    const std::string text = j["token"]["expires_at"].get<std::string>();
    if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) {
      expires_at_ = std::chrono::system_clock::from_time_t(timegm(&tm)) - std::chrono::minutes(1);
    }
  }
  return {};
}

Result<HttpReply> AgentClient::send(const std::string& method, const std::string& path,
                                    const std::string& body, const std::string& token) {
  httplib::Headers headers = {{"X-Auth-Token", token}};
  httplib::Result r{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    r = server_->Get(path.c_str(), headers);
  } else if (method == "PUT") {
    r = server_->Put(path.c_str(), headers, body, "application/json");
  } else {
    r = server_->Post(path.c_str(), headers, body, "application/json");
  }
  if (!r) {
    return Error::unavailable(method + " " + path + ": " + httplib::to_string(r.error()));
  }
  return HttpReply{r->status, r->body};
}

Result<std::string> AgentClient::valid_token() {
  {
    std::lock_guard lock(mu_);
    if (!token_.empty() && std::chrono::system_clock::now() < expires_at_) return token_;
  }
  if (auto s = authenticate(); !s.ok()) return s.error();
  std::lock_guard lock(mu_);
  return token_;
}

Result<std::string> AgentClient::download(const std::string& path, const std::string& to) {
  auto token = valid_token();
  if (!token.ok()) return token.error();
  std::FILE* out = std::fopen(to.c_str(), "wb");
  if (!out) return Error::internal("cannot write " + to + ": " + std::strerror(errno));
  bool written = true;
  Md5 md5;
  std::string error_body;
  int status = 0;
  auto r = server_->Get(
      path.c_str(), httplib::Headers{{"X-Auth-Token", *token}},
      [&](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status != 200) {  // keep the start of the error for the message
          if (error_body.size() < 512) error_body.append(data, std::min<size_t>(n, 512));
          return true;
        }
        md5.update(data, n);
        written = written && std::fwrite(data, 1, n, out) == n;
        return written;
      });
  written = std::fclose(out) == 0 && written;
  if (!r) return Error::unavailable("GET " + path + ": " + httplib::to_string(r.error()));
  if (status != 200) {
    return Error::unavailable("GET " + path + ": HTTP " + std::to_string(status) + " " +
                              error_body);
  }
  if (!written) return Error::internal("writing " + to + " failed");
  return md5.hex_digest();
}

Result<HttpReply> AgentClient::send_file(const std::string& path, const std::string& from,
                                         const std::string& token) {
  std::FILE* in = std::fopen(from.c_str(), "rb");
  if (!in) return Error::internal("cannot read " + from + ": " + std::strerror(errno));
  std::error_code ec;
  const auto size = std::filesystem::file_size(from, ec);
  if (ec) {
    std::fclose(in);
    return Error::internal("cannot read " + from + ": " + ec.message());
  }
  bool read_ok = true;
  auto r = server_->Put(
      path.c_str(), httplib::Headers{{"X-Auth-Token", token}}, static_cast<size_t>(size),
      [&](size_t offset, size_t length, httplib::DataSink& sink) {
        char buf[64 * 1024];
        if (std::fseek(in, static_cast<long>(offset), SEEK_SET) != 0) return read_ok = false;
        const size_t n = std::fread(buf, 1, std::min(length, sizeof buf), in);
        if (n == 0) return read_ok = false;
        return sink.write(buf, n);
      },
      "application/octet-stream");
  std::fclose(in);
  if (!read_ok) return Error::internal("reading " + from + " failed");
  if (!r) return Error::unavailable("PUT " + path + ": " + httplib::to_string(r.error()));
  return HttpReply{r->status, r->body};
}

Result<HttpReply> AgentClient::upload(const std::string& path, const std::string& from) {
  auto token = valid_token();
  if (!token.ok()) return token.error();
  auto r = send_file(path, from, *token);
  if (!r.ok() || r->status != 401) return r;
  if (auto s = authenticate(); !s.ok()) return s.error();
  auto fresh = valid_token();
  if (!fresh.ok()) return fresh.error();
  return send_file(path, from, *fresh);
}

Result<HttpReply> AgentClient::call(const std::string& method, const std::string& path,
                                    const std::string& body) {
  auto token = valid_token();
  if (!token.ok()) return token.error();
  auto r = send(method, path, body, *token);
  if (!r.ok() || r->status != 401) return r;
  // Expired or revoked early (e.g. the server's database was replaced): once more, anew.
  spdlog::info("the server refused the agent's token; authenticating again");
  if (auto s = authenticate(); !s.ok()) return s.error();
  std::string fresh;
  {
    std::lock_guard lock(mu_);
    fresh = token_;
  }
  return send(method, path, body, fresh);
}

void AgentClient::stop() { server_->stop(); }

}  // namespace gpucloud::agent
