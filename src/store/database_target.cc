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
  return t;
}

}  // namespace gpucloud::store
