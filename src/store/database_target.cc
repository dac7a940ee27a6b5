// Database URLs as nova.conf and cloudcontroller.ini write them (`mysql://user:pw@host/db`,
// `mysql+pymysql://...`, `sqlite:////abs/path`). The password never leaves this struct except
// to the driver; everything printed goes through redacted().
#include <cctype>
#include <charconv>
#include <string>

#include "store/store.h"

namespace gpucloud::store {
namespace {

// %XX decoding, as SQLAlchemy URLs allow it for '@', ':' and '/' inside passwords.
Result<std::string> percent_decode(std::string_view s, std::string_view what) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int v = 0;
    if (i + 2 >= s.size() ||
        std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr != s.data() + i + 3) {
      return Error::invalid(std::string(what) + ": bad %-escape");
    }
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

}  // namespace

Result<DatabaseTarget> DatabaseTarget::parse(std::string_view url) {
  DatabaseTarget t;
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos) {
    // Not echoed: a URL without a scheme may still hold a password.
    return Error::invalid(
        "database URL has no scheme; expected sqlite:///PATH or mysql://USER:PW@HOST/DB");
  }
  std::string scheme(url.substr(0, colon));
  std::string_view rest = url.substr(colon + 3);
  const size_t plus = scheme.find('+');  // mysql+pymysql: the driver part does not matter here
  const std::string base = scheme.substr(0, plus);

  if (base == "sqlite") {
    t.backend = Backend::kSqlite;
    // sqlite:///rel -> "rel"; sqlite:////abs -> "/abs"; sqlite:// -> in memory.
    if (!rest.empty()) {
      if (rest[0] != '/') {
        return Error::invalid("database URL 'sqlite://" + std::string(rest) +
                              "': expected sqlite:///relative/path or sqlite:////absolute/path");
      }
      rest.remove_prefix(1);
      if (rest.empty()) return Error::invalid("database URL 'sqlite:///' names no file");
    }
    t.path = std::string(rest);
    return t;
  }
  if (base != "mysql" && base != "mariadb") {
    return Error::invalid("database URL scheme '" + scheme +
                          "' is not supported; use sqlite:/// or mysql://");
  }
  t.backend = Backend::kMysql;
  const size_t q = rest.find('?');
  std::string_view query = q == std::string_view::npos ? "" : rest.substr(q + 1);
  rest = rest.substr(0, q);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) t.database = std::string(rest.substr(slash + 1));
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t c = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, c), "database URL user");
    if (!user) return user.error();
    t.user = *user;
    if (c != std::string_view::npos) {
      auto pw = percent_decode(userinfo.substr(c + 1), "database URL password");
      if (!pw) return pw.error();
      t.password = *pw;
    }
  }
  const size_t pc = authority.rfind(':');
  std::string_view host = authority.substr(0, pc);
  if (pc != std::string_view::npos) {
    std::string_view port = authority.substr(pc + 1);
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p <= 0 || p > 65535) {
      t.password.clear();
      return Error::invalid("database URL port '" + std::string(port) + "' is not a port number");
    }
    t.port = p;
  }
  if (!host.empty()) t.host = std::string(host);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    const size_t eq = kv.find('=');
    t.query[std::string(kv.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
  }
  return t;
}

std::string DatabaseTarget::redacted() const {
  if (backend == Backend::kSqlite) return path.empty() ? "sqlite://" : "sqlite:///" + path;
  std::string s = "mysql://";
  if (!user.empty()) s += user + (password.empty() ? "" : ":***") + "@";
  s += host + ":" + std::to_string(port) + "/" + database;
  return s;
}

}  // namespace gpucloud::store
