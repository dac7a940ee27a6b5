// Private to src/store: the connection pool, the transaction runner with its retry policy, and
// small helpers for binding nullable values and times. Nothing outside src/store (and the store's
// own tests) includes this file.
#pragma once

#include <soci/soci.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace gpucloud::store {

// How SQL differs between the backends; everything else is shared.
struct Dialect {
  Backend backend;
  const char* begin_write;  // SQLite takes the write lock up front so that it never has to upgrade
  const char* begin_read;
};

// One migration: statements for each backend, applied in order. On MariaDB each statement must
// be idempotent (IF NOT EXISTS), because DDL commits on its own and a failed migration is finished
// by the next run; `undo_mysql` restores the previous schema when a statement fails.
struct Migration {
  int version;
  std::string description;
  std::vector<std::string> sqlite;
  std::vector<std::string> mysql;
  std::vector<std::string> undo_mysql;
};
const std::vector<Migration>& migrations();

// Thrown inside a transaction body to roll back and return this error.
struct Abort {
  Error error;
};

struct Store::Impl {
  DatabaseTarget target;
  Dialect dialect{};
  OpenOptions options;

  std::mutex pool_mutex;  // guards the pool only; claims never rely on it
  std::condition_variable pool_cv;
  std::vector<std::unique_ptr<soci::session>> idle;
  int open_sessions = 0;

  bool read_only = false;  // read_pci_devices(): no pragmas, no file-mode check

  // Test hook: runs after each device UPDATE inside claim() (crash tests kill the process here).
  std::function<void()> after_device_update_hook;

  Result<std::unique_ptr<soci::session>> connect();

  class Lease {
   public:
    Lease(Impl* impl, std::unique_ptr<soci::session> s) : impl_(impl), s_(std::move(s)) {}
    Lease(Lease&&) = default;
    ~Lease();
    soci::session& operator*() { return *s_; }
    void discard() { s_.reset(); }  // a broken connection is not returned to the pool

   private:
    Impl* impl_;
    std::unique_ptr<soci::session> s_;
  };
  Result<Lease> borrow();

  // Runs `body` in one transaction, retrying the whole body after a deadlock, lock timeout or
  // SQLITE_BUSY. `body` returns normally to commit, or throws Abort to roll back with an error.
  // `attempts`, when given, receives how many transactions were started.
  Status transact(bool write, const std::function<void(soci::session&)>& body,
                  const std::string& what, int* attempts = nullptr);

  template <typename T>
  Result<T> read(const std::function<T(soci::session&)>& body, const std::string& what,
                 bool write = false) {
    std::optional<T> out;
    Status s = transact(
        write, [&](soci::session& sql) { out = body(sql); }, what);
    if (!s) return s.error();
    return std::move(*out);
  }
  Status write(const std::function<void(soci::session&)>& body, const std::string& what) {
    return transact(true, body, what);
  }
  template <typename T>
  Result<T> write_result(const std::function<T(soci::session&)>& body, const std::string& what) {
    return read<T>(body, what, true);
  }

  Status apply_migrations(const std::vector<Migration>& list);
  Result<int> current_version();
};

// For the store's own tests: reach the hooks behind the public Store.
struct StoreTestAccess {
  static Store::Impl& impl(Store& s) { return *s.impl_; }
};

// ---- value helpers ----

std::string format_time(TimePoint t);  // "2026-11-25 14:31:36.123456" (UTC)
TimePoint parse_time(const std::string& text);
TimePoint now();
std::string generate_uuid();  // random version-4 UUID, lower case with dashes

// A value bound with an indicator, so that nullopt writes NULL.
struct NullableString {
  std::string value;
  soci::indicator ind = soci::i_null;
};
NullableString nullable(const std::optional<std::string>& v);
NullableString nullable_time(const std::optional<TimePoint>& t);

// Reads a nullable text column.
inline std::optional<std::string> opt(const std::string& v, soci::indicator ind) {
  if (ind == soci::i_null) return std::nullopt;
  return v;
}

// Error for a driver exception: duplicates -> kConflict, lost connection -> kUnavailable.
Error classify(const std::exception& e, const std::string& what);
bool is_retryable(const std::exception& e);
bool is_duplicate(const std::exception& e);

// Throws Abort(not_found) unless the statement changed at least one row.
void require_row(soci::statement& st, const std::string& what);

}  // namespace gpucloud::store

namespace gpucloud::store {

// pci.cc: the one SELECT shape for pci_devices (nova's columns), and the transition log.
std::vector<PciDeviceRecord> query_pci_devices(soci::session& sql, const PciDeviceFilter& f);
void log_pci_event(soci::session& sql, const PciDeviceRecord& d,
                   std::optional<PciDeviceStatus> from, PciDeviceStatus to, const std::string& ts);
// claims.cc: returns an instance's resources and devices (inside the caller's transaction).
void release_in_transaction(soci::session& sql, const std::string& instance_uuid);

}  // namespace gpucloud::store

namespace gpucloud::store {

// bench/store_claims: `n` transactions that each update one row (the host's updated_at), the
// peer figure that claims per second are compared with. Returns the seconds taken.
Result<double> time_one_row_commits(Store& store, const std::string& host, int n);

}  // namespace gpucloud::store
