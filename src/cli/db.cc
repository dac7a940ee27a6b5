// `gpucloud db upgrade --database URL` applies pending schema migrations; `gpucloud db version
// --database URL` shows the schema version without changing anything; `db backup` / `db restore`
// copy a SQLite database with its online backup API (MariaDB: mariabackup). Exit status: 0 fine,
// 1 the database cannot be used (unreachable, denied, newer schema, another application's).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "store/backup.h"
#include "store/store.h"

namespace gpucloud::cli {
namespace {

int db_fail(const Error& e) {
  std::fprintf(stderr, "gpucloud db: %s\n", e.message.c_str());
  return 1;
}

int run_version(const std::string& url) {
  auto parsed = DatabaseUrl::parse(url);
  if (!parsed) return db_fail(parsed.error());
  if (parsed->is_sqlite() && !parsed->database().empty() &&
      access(parsed->database().c_str(), F_OK) != 0) {  // opening would create it
    return db_fail(Error::not_found("no database file at " + parsed->database()));
  }
  store::OpenOptions o;
  o.migrate = false;
  o.allow_old_schema = true;
  o.pool_size = 1;
  auto s = store::open_store(url, o);
  if (!s) return db_fail(s.error());
  auto info = (*s)->schema_info();
  const int latest = store::Store::latest_schema_version();
  const int current = info ? info->current : 0;  // no schema_version table: an empty database
  std::printf("%s: schema version %d (this gpucloud knows %d)%s\n", (*s)->redacted_url().c_str(),
              current, latest, current == latest ? ", up to date" : "; run `gpucloud db upgrade`");
  return 0;
}

int run_upgrade(const std::string& url) {
  store::OpenOptions o;
  o.migrate = false;
  o.allow_old_schema = true;
  o.pool_size = 1;
  auto s = store::open_store(url, o);
  if (!s) return db_fail(s.error());
  auto before = (*s)->schema_info();
  const int from = before ? before->current : 0;
  Status m = (*s)->migrate();
  if (!m) return db_fail(m.error().with_context((*s)->redacted_url()));
  auto after = (*s)->schema_info();
  if (!after) return db_fail(after.error());
  if (after->current == from) {
    std::printf("%s: schema version %d, already up to date\n", (*s)->redacted_url().c_str(), from);
  } else {
    std::printf("%s: schema upgraded from version %d to %d\n", (*s)->redacted_url().c_str(), from,
                after->current);
  }
  return 0;
}

int run_backup(const std::string& url, const std::string& file) {
  auto v = store::backup_sqlite(url, file);
  if (!v) return db_fail(v.error());
  std::printf("backed up schema version %d to %s (mode 0600)\n", *v, file.c_str());
  return 0;
}

int run_restore(const std::string& file, const std::string& url) {
  auto v = store::restore_sqlite(file, url);
  if (!v) return db_fail(v.error());
  std::printf("restored %s (schema version %d)%s\n", file.c_str(), *v,
              *v < store::Store::latest_schema_version() ? "; run `gpucloud db upgrade`" : "");
  return 0;
}

}  // namespace

void register_db(CLI::App& app) {
  CLI::App* db = app.add_subcommand("db", "database: schema version, upgrade, backup, restore");
  db->require_subcommand(1);
  auto url = std::make_shared<std::string>();
  CLI::App* up = db->add_subcommand("upgrade", "apply pending schema migrations");
  up->add_option("--database", *url, "sqlite:////path/to/db or mysql://user:pw@host/db")
      ->required();
  up->callback([url] { set_exit_code(run_upgrade(*url)); });
  CLI::App* ver = db->add_subcommand("version", "show the schema version; changes nothing");
  ver->add_option("--database", *url, "sqlite:////path/to/db or mysql://user:pw@host/db")
      ->required();
  ver->callback([url] { set_exit_code(run_version(*url)); });
  auto file = std::make_shared<std::string>();
  CLI::App* backup = db->add_subcommand(
      "backup", "SQLite: a consistent copy of a running database (online backup API)");
  backup->add_option("--database", *url, "sqlite:////path/to/db")->required();
  backup->add_option("--to", *file, "the backup file (written 0600, replaced atomically)")
      ->required();
  backup->callback([url, file] { set_exit_code(run_backup(*url, *file)); });
  CLI::App* restore = db->add_subcommand(
      "restore", "SQLite: replace a database with a backup's content (stop its servers first)");
  restore->add_option("--from", *file, "the backup file")->required();
  restore->add_option("--database", *url, "sqlite:////path/to/db")->required();
  restore->callback([url, file] { set_exit_code(run_restore(*file, *url)); });
}

}  // namespace gpucloud::cli
