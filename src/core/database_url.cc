#include "core/database_url.h"

#include <array>
#include <cctype>
#include <string>
#include <vector>

namespace gpucloud {
namespace {

// Dialects some part of gpucloud can talk to or that nova deployments use; anything else is most
// likely a typo, and saying so at config-check time beats a failure at the first query.
constexpr std::array<std::string_view, 4> kDialects = {"mysql", "mariadb", "postgresql", "sqlite"};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Like Python's urllib.parse.unquote (which SQLAlchemy uses): a malformed escape stays as it is.
std::string percent_decode(std::string_view s, bool plus_is_space = false) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// "" when `port` is a number from 1 to 65535, else what is wrong with it.
std::string check_port(std::string_view port) {
  unsigned long value = 0;
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port) {
    digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (digits) value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (!digits || value == 0 || value > 65535) {
    return "port '" + std::string(port) + "' is not a number from 1 to 65535";
  }
  return "";
}

std::vector<std::string_view> split_hosts(std::string_view list) {
  std::vector<std::string_view> items;
  for (;;) {
    const size_t comma = list.find(',');
    items.push_back(list.substr(0, comma));
    if (comma == std::string_view::npos) return items;
    list.remove_prefix(comma + 1);
  }
}

// One "host", "host:port", "[v6]" or "[v6]:port" of a host list: "" when well formed.
std::string check_host_port(std::string_view item) {
  size_t colon = item.rfind(':');
  if (item.front() == '[') {
    const size_t close = item.find(']');
    if (close == std::string_view::npos) return "'[' in a host has no matching ']'";
    colon = close + 1 < item.size() && item[close + 1] == ':' ? close + 1 : std::string_view::npos;
    if (colon == std::string_view::npos && close + 1 != item.size()) return "bad host list";
  }
  if (colon == std::string_view::npos) return "";
  return check_port(item.substr(colon + 1));
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+';
}

}  // namespace

// Follows SQLAlchemy's URL pattern:
//   name://[user[:password]@][host | [ipv6]][:port][/database][?query]
// where user stops at ':' or '/', and password runs to the first '@'. Hence `sqlite:///x.db`
// has the database "x.db" (relative to the working directory) and `sqlite:////x.db` has "/x.db".
Result<DatabaseUrl> DatabaseUrl::parse(std::string_view text) {
  DatabaseUrl url;
  url.text_ = std::string(text);
  size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return Error::invalid(
        "database URL: expected dialect[+driver]://..., e.g. mysql://user:***@host/nova");
  }
  std::string_view name = text.substr(0, sep);
  for (char c : name) {
    if (!is_name_char(c)) {
      return Error::invalid("database URL: dialect '" + std::string(name) +
                            "' may hold only letters, digits, '_' and '+'");
    }
  }
  size_t plus = name.find('+');
  url.dialect_ = std::string(name.substr(0, plus));
  if (plus != std::string_view::npos) url.driver_ = std::string(name.substr(plus + 1));
  bool known = false;
  for (auto d : kDialects) known = known || d == url.dialect_;
  if (!known) {
    return Error::invalid("database URL: unknown dialect '" + url.dialect_ +
                          "' (expected mysql, mariadb, postgresql or sqlite)");
  }
  if (plus != std::string_view::npos && url.driver_.empty()) {
    return Error::invalid("database URL: empty driver after '" + url.dialect_ + "+'");
  }

  std::string_view rest = text.substr(sep + 3);
  // Credentials: user is [^:/]*, password [^@]*, then '@'.
  size_t user_end = rest.find_first_of(":/@?");
  if (user_end != std::string_view::npos && rest[user_end] == '@') {
    url.user_ = percent_decode(rest.substr(0, user_end));
    rest.remove_prefix(user_end + 1);
  } else if (user_end != std::string_view::npos && rest[user_end] == ':') {
    size_t at = rest.find('@', user_end + 1);
    if (at != std::string_view::npos) {
      url.user_ = percent_decode(rest.substr(0, user_end));
      url.password_ = percent_decode(rest.substr(user_end + 1, at - user_end - 1));
      url.has_password_ = true;
      rest.remove_prefix(at + 1);
    }
  }

  // Host: "[ipv6]" or [^/:?]*, then optional ":port". Or a list of them separated by ',' (a
  // Galera cluster's nodes, tried in order by the store; SQLAlchemy itself takes one host):
  // then host() is the list as written, e.g. "db1:3306,db2,[::1]:3308", and port() is empty.
  const size_t list_end = rest.find_first_of("/?");
  const std::string_view list = rest.substr(0, list_end);
  if (list.find(',') != std::string_view::npos) {
    for (std::string_view item : split_hosts(list)) {
      if (item.empty()) return Error::invalid("database URL: an empty host in the list of hosts");
      if (auto e = check_host_port(item); !e.empty()) return Error::invalid("database URL: " + e);
    }
    url.host_ = std::string(list);
    rest.remove_prefix(list.size());
  } else if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return Error::invalid("database URL: '[' in the host has no matching ']'");
    }
    url.host_ = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
  } else {
    size_t host_end = rest.find_first_of(":/?");
    url.host_ = std::string(rest.substr(0, host_end));
    rest.remove_prefix(host_end == std::string_view::npos ? rest.size() : host_end);
  }
  if (!rest.empty() && rest.front() == ':') {
    size_t port_end = rest.find_first_of("/?");
    std::string_view port =
        rest.substr(1, port_end == std::string_view::npos ? port_end : port_end - 1);
    if (auto e = check_port(port); !e.empty()) return Error::invalid("database URL: " + e);
    url.port_ = static_cast<uint16_t>(std::stoul(std::string(port)));
    rest.remove_prefix(port_end == std::string_view::npos ? rest.size() : port_end);
  }
  if (!rest.empty() && rest.front() == '/') {
    size_t q = rest.find('?');
    url.database_ = std::string(rest.substr(1, q == std::string_view::npos ? q : q - 1));
    rest.remove_prefix(q == std::string_view::npos ? rest.size() : q);
  }
  if (!rest.empty() && rest.front() == '?') {
    rest.remove_prefix(1);
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view pair = rest.substr(0, amp);
      rest.remove_prefix(amp == std::string_view::npos ? rest.size() : amp + 1);
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos) {
        return Error::invalid("database URL: query parameter '" + std::string(pair) +
                              "' has no '=value'");
      }
      url.query_.emplace_back(percent_decode(pair.substr(0, eq), true),
                              percent_decode(pair.substr(eq + 1), true));
    }
  }
  if (!url.is_sqlite() && url.host_.empty()) {
    return Error::invalid("database URL: no host given for " + url.dialect_);
  }
  return url;
}

std::string DatabaseUrl::redacted() const {
  std::string out = dialect_;
  if (!driver_.empty()) out += "+" + driver_;
  out += "://";
  if (!user_.empty() || has_password_) {
    out += percent_encode(user_);
    if (has_password_) out += ":***";
    out += "@";
  }
  if (host_.find(',') != std::string::npos) {
    out += host_;  // a list of hosts, as written
  } else {
    out += host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  }
  if (port_) out += ":" + std::to_string(*port_);
  if (!database_.empty() || is_sqlite()) out += "/" + database_;
  for (size_t i = 0; i < query_.size(); ++i) {
    out += (i == 0 ? "?" : "&") + percent_encode(query_[i].first) + "=" +
           percent_encode(query_[i].second);
  }
  return out;
}

}  // namespace gpucloud
