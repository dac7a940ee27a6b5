// Opening a store: parse the URL, connect, recognise the schema (ours, older, newer, or another
// application's) and migrate when asked to.
#include <algorithm>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

Result<std::vector<std::string>> list_tables(Store::Impl& impl) {
  const bool my = impl.target.backend == Backend::kMysql;
  return impl.read<std::vector<std::string>>(
      [&](soci::session& sql) {
        std::vector<std::string> names;
        soci::rowset<std::string> rs =
            my ? (sql.prepare << "SELECT table_name FROM information_schema.tables "
                                 "WHERE table_schema = DATABASE()")
               : (sql.prepare << "SELECT name FROM sqlite_master WHERE type = 'table' "
                                 "AND name NOT LIKE 'sqlite_%'");
        for (const auto& n : rs) names.push_back(n);
        std::sort(names.begin(), names.end());
        return names;
      },
      "listing tables");
}

}  // namespace

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Backend Store::backend() const { return impl_->target.backend; }
std::string Store::redacted_url() const { return impl_->target.redacted(); }

Result<SchemaInfo> Store::schema_info() {
  auto v = impl_->current_version();
  if (!v) return v.error();
  return SchemaInfo{*v, latest_schema_version()};
}

Result<std::unique_ptr<Store>> open_store(std::string_view url, const OpenOptions& options) {
  auto target = DatabaseTarget::parse(url);
  if (!target) return target.error();
  auto impl = std::make_unique<Store::Impl>();
  impl->target = std::move(*target);
  impl->options = options;
  const std::string where = impl->target.redacted();
  if (impl->target.backend == Backend::kSqlite) {
    impl->dialect = sqlite_dialect();
    if (impl->target.path.empty()) impl->options.pool_size = 1;  // one in-memory database
  } else {
    impl->dialect = mysql_dialect();
    if (impl->target.database.empty()) {
      return Error::invalid("database URL " + where + " names no database (mysql://.../DBNAME)");
    }
  }
  impl->options.pool_size = std::max(1, impl->options.pool_size);

  {
    auto lease = impl->borrow();  // the first connection says whether the server is reachable
    if (!lease) return lease.error();
  }
  if (impl->galera.load()) impl->dialect.multi_statement = false;
  auto tables = list_tables(*impl);
  if (!tables) return tables.error().with_context(where);
  const bool ours = std::find(tables->begin(), tables->end(), "schema_version") != tables->end();
  if (!ours && !tables->empty()) {
    std::string some;
    for (size_t i = 0; i < tables->size() && i < 5; ++i) some += (i ? ", " : "") + (*tables)[i];
    return Error::invalid(where + " holds " + std::to_string(tables->size()) +
                          " tables of another application (" + some +
                          (tables->size() > 5 ? ", ..." : "") +
                          ") and no schema_version table; gpucloud will not touch it");
  }
  int current = 0;
  if (ours) {
    auto v = impl->current_version();
    if (!v) return v.error().with_context(where);
    current = *v;
  }
  const int latest = Store::latest_schema_version();
  if (current > latest) {
    return Error::invalid(where + ": database schema version " + std::to_string(current) +
                          " is newer than this gpucloud knows (" + std::to_string(latest) +
                          "); upgrade gpucloud before using this database");
  }
  if (current < latest) {
    if (options.migrate) {
      Status s = impl->apply_migrations(migrations());
      if (!s) return s.error().with_context(where);
    } else if (!options.allow_old_schema) {
      return Error::invalid(where + ": database schema version " + std::to_string(current) +
                            " is older than " + std::to_string(latest) +
                            "; run `gpucloud db upgrade`");
    }
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

}  // namespace gpucloud::store
