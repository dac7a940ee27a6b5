// The store's view of a database URL: core's DatabaseUrl (the one parser of SQLAlchemy-style
// URLs), plus what only the store cares about: which backend opens it, and URLs it cannot open.
// Errors show the URL only through redacted(): the password never appears.
#include "store/store_impl.h"

namespace gpucloud::store {

Result<DatabaseTarget> DatabaseTarget::parse(std::string_view text) {
  auto url = DatabaseUrl::parse(text);
  if (!url) return url.error();
  DatabaseTarget t;
  t.url = std::move(*url);
  const std::string where = "database URL " + t.url.redacted();
  if (t.url.is_sqlite()) {
    t.backend = Backend::kSqlite;
    // sqlite:///rel -> "rel"; sqlite:////abs -> "/abs"; sqlite:// -> in memory (tests).
    if (!t.url.host().empty() || t.url.port() || !t.url.user().empty() || t.url.has_password()) {
      return Error::invalid(where +
                            ": SQLite URLs name a file, not a host; expected "
                            "sqlite:///relative/path or sqlite:////absolute/path");
    }
    // SQLAlchemy would open `sqlite:///` in memory; a server that loses its data on exit is
    // never what was meant.
    if (t.url.database().empty() && std::string_view(t.url.text()).ends_with(":///")) {
      return Error::invalid(where + " names no file (sqlite:///PATH)");
    }
    t.path = t.url.database();
    return t;
  }
  if (!t.url.is_mysql()) {
    return Error::invalid(where + ": the store supports sqlite:/// and mysql:// (MariaDB), not " +
                          t.url.dialect());
  }
  t.backend = Backend::kMysql;
  t.database = t.url.database();
  // DatabaseUrl checked the list; split it ("db1:3306,[::1]:3307,db3").
  std::string_view list = t.url.host();
  if (list.find(',') == std::string_view::npos) {
    t.hosts.push_back({t.url.host(), t.url.port()});
    return t;
  }
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    DatabaseTarget::Host h;
    size_t colon = item.rfind(':');
    if (item.front() == '[') {
      const size_t close = item.find(']');
      h.name = std::string(item.substr(1, close - 1));
      colon = close + 1 < item.size() ? close + 1 : std::string_view::npos;
    } else {
      h.name = std::string(item.substr(0, colon));
    }
    if (colon != std::string_view::npos) {
      h.port = static_cast<uint16_t>(std::stoul(std::string(item.substr(colon + 1))));
    }
    t.hosts.push_back(std::move(h));
  }
  return t;
}

}  // namespace gpucloud::store
