// SQLite backups through SQLite's own online backup API (sqlite3_backup_*), the one way to copy
// a live database consistently: copying the file would miss the WAL, or catch a half-written
// page. The copy works page by page in steps, so a busy server is never blocked for long; when a
// server writes in between, SQLite restarts the copy from the start.
#include "store/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct Db {
  sqlite3* handle = nullptr;
  ~Db() {
    if (handle) sqlite3_close_v2(handle);
  }
};

Error sqlite_error(sqlite3* db, const std::string& what) {
  return Error::unavailable(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

Status open_db(Db& db, const std::string& path, int flags, const std::string& what) {
  if (sqlite3_open_v2(path.c_str(), &db.handle, flags, nullptr) != SQLITE_OK) {
    return sqlite_error(db.handle, what);
  }
  sqlite3_busy_timeout(db.handle, 10000);
  return {};
}

// The one-row, one-column answer of `sql`, as text ("" when there is no row).
Result<std::string> scalar(sqlite3* db, const char* sql, const std::string& what) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) return sqlite_error(db, what);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::string();
  if (rc != SQLITE_ROW) return sqlite_error(db, what);
  const unsigned char* text = sqlite3_column_text(st, 0);
  return std::string(text ? reinterpret_cast<const char*>(text) : "");
}

// The gpucloud schema version of an open database; errors for another application's file, a
// damaged one, or a schema newer than this binary.
Result<int> checked_version(sqlite3* db, const std::string& name) {
  auto ok = scalar(db, "PRAGMA integrity_check", name + ": integrity check");
  if (!ok) return ok.error();
  if (*ok != "ok") return Error::invalid(name + " is damaged (integrity_check: " + *ok + ")");
  auto has = scalar(db,
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                    "name = 'schema_version'",
                    name);
  if (!has) return has.error();
  if (has->empty()) return Error::invalid(name + " is not a gpucloud database (no schema_version)");
  auto v = scalar(db, "SELECT MAX(version) FROM schema_version", name);
  if (!v) return v.error();
  const int version = v->empty() ? 0 : std::stoi(*v);
  if (version > Store::latest_schema_version()) {
    return Error::invalid(name + " has schema version " + std::to_string(version) +
                          ", newer than this gpucloud knows (" +
                          std::to_string(Store::latest_schema_version()) + ")");
  }
  return version;
}

// Copies every page of `from` into `to` in steps of 256 pages, yielding between steps.
Status copy_pages(sqlite3* to, sqlite3* from, const std::string& what) {
  sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
  if (!b) return sqlite_error(to, what);
  int rc = SQLITE_OK;
  do {
    rc = sqlite3_backup_step(b, 256);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(20);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) return sqlite_error(to, what);
  return {};
}

Result<std::string> sqlite_path(std::string_view url) {
  auto target = DatabaseTarget::parse(url);
  if (!target) return target.error();
  if (target->backend != Backend::kSqlite) {
    return Error::invalid(target->redacted() +
                          " is MariaDB: back it up with mariabackup (docs/packages.md)");
  }
  if (target->path.empty()) return Error::invalid("an in-memory database has nothing to back up");
  return target->path;
}

}  // namespace

Result<int> backup_sqlite(std::string_view url, const std::string& dest_file) {
  auto path = sqlite_path(url);
  if (!path) return path.error();
  if (::access(path->c_str(), R_OK) != 0) return Error::not_found("no database file at " + *path);
  Db src;
  // Read-write, though it writes nothing: a read-only connection to a WAL database fails where
  // the -shm file is not there yet.
  if (auto s = open_db(src, *path, SQLITE_OPEN_READWRITE, "opening " + *path); !s) {
    return s.error();
  }
  auto version = checked_version(src.handle, *path);
  if (!version) return version.error();

  const std::string tmp = dest_file + ".partial";
  ::unlink(tmp.c_str());
  {  // created 0600 before SQLite writes anything into it
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Error::unavailable("cannot create " + tmp + ": " + std::strerror(errno));
    ::close(fd);
  }
  Status s = [&]() -> Status {
    Db dst;
    if (auto o = open_db(dst, tmp, SQLITE_OPEN_READWRITE, "opening " + tmp); !o) return o;
    if (auto c = copy_pages(dst.handle, src.handle, "backing up " + *path); !c) return c;
    // The source is in WAL mode, and the copy would be too: make it one file that needs no -wal.
    auto mode = scalar(dst.handle, "PRAGMA journal_mode = DELETE", tmp);
    if (!mode) return mode.error();
    auto v = checked_version(dst.handle, tmp);
    if (!v) return v.error();
    return {};
  }();
  if (s.ok() && std::rename(tmp.c_str(), dest_file.c_str()) != 0) {
    s = Error::unavailable("cannot rename " + tmp + " to " + dest_file + ": " +
                           std::strerror(errno));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s.error();
  }
  return *version;
}

Result<int> restore_sqlite(const std::string& backup_file, std::string_view url) {
  auto path = sqlite_path(url);
  if (!path) return path.error();
  if (::access(backup_file.c_str(), R_OK) != 0) {
    return Error::not_found("no backup file at " + backup_file);
  }
  Db src;
  if (auto s = open_db(src, backup_file, SQLITE_OPEN_READONLY, "opening " + backup_file); !s) {
    return s.error();
  }
  auto version = checked_version(src.handle, backup_file);
  if (!version) return version.error();
  if (::access(path->c_str(), F_OK) != 0) {  // a new database file is private from the start
    const int fd = ::open(path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Error::unavailable("cannot create " + *path + ": " + std::strerror(errno));
    ::close(fd);
  }
  Db dst;
  if (auto s = open_db(dst, *path, SQLITE_OPEN_READWRITE, "opening " + *path); !s) {
    return s.error();
  }
  if (auto c = copy_pages(dst.handle, src.handle, "restoring into " + *path); !c) {
    return c.error();
  }
  // The server runs its databases in WAL mode; the restored pages carry the backup's mode.
  if (auto m = scalar(dst.handle, "PRAGMA journal_mode = WAL", *path); !m) return m.error();
  auto v = checked_version(dst.handle, *path);
  if (!v) return v.error();
  return *v;
}

}  // namespace gpucloud::store
