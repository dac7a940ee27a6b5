// gpucloud's own request and response types (http_message.h): header lookup, query decoding and
// the files that carry large bodies.
#include "api/http_message.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>

namespace gpucloud::api {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return "";
}

bool HttpRequest::has_header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return true;
  }
  return false;
}

std::string HttpRequest::param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

void HttpResponse::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (iequals(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

SpooledBody::~SpooledBody() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

bool SpooledBody::read_chunks(const std::function<bool(const char*, size_t)>& sink) const {
  FILE* f = std::fopen(path_.c_str(), "rb");
  if (!f) return false;
  char buf[64 * 1024];
  bool ok = true;
  for (;;) {
    const size_t n = std::fread(buf, 1, sizeof buf, f);
    if (n > 0 && !sink(buf, n)) {
      ok = false;
      break;
    }
    if (n < sizeof buf) {
      ok = !std::ferror(f);
      break;
    }
  }
  std::fclose(f);
  return ok;
}

bool SpooledBody::move_to(const std::string& dest) {
  std::error_code ec;
  std::filesystem::rename(path_, dest, ec);
  if (ec) {
    // Another file system: copy, then remove the spool file.
    std::filesystem::copy_file(path_, dest, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return false;
    std::filesystem::remove(path_, ec);
  }
  path_.clear();
  size_ = 0;
  return true;
}

FileBody::~FileBody() {
  if (fd >= 0) ::close(fd);
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

void parse_query(std::string_view query, std::multimap<std::string, std::string>& out) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view part = query.substr(pos, end - pos);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      const std::string_view key = part.substr(0, eq);
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
      out.emplace(percent_decode(key, true), percent_decode(value, true));
    }
    pos = end + 1;
  }
}

}  // namespace gpucloud::api
