// Private to src/store: the connection pool, the transaction runner with its retry policy, and
// small helpers for binding nullable values and times. Nothing outside src/store (and the store's
// own tests) includes this file.
#pragma once

#include <soci/soci.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "store/store.h"

namespace gpucloud::store {

// Where a store's connections go: core's DatabaseUrl, and what the store needs from it.
struct DatabaseTarget {
  // DatabaseUrl::parse, then refuses what the store cannot open (dialects other than sqlite and
  // mysql/mariadb, `sqlite://HOST`, `sqlite:///` without a file). Errors never show the password.
  static Result<DatabaseTarget> parse(std::string_view url);
  std::string redacted() const { return url.redacted(); }

  DatabaseUrl url;  // the password is url.password(): for the driver only
  Backend backend = Backend::kSqlite;
  // MariaDB: the URL's host, or its list of hosts (`db1:3306,db2,db3`: a Galera cluster's
  // nodes), in the order given.
  struct Host {
    std::string name;
    std::optional<uint16_t> port;
  };
  std::vector<Host> hosts;
  std::string path;      // SQLite: the file; "" = in memory (sqlite://, tests only)
  std::string database;  // MariaDB: the database (read_pci_devices defaults it to "nova")
};

// How SQL differs between the backends; everything else is shared.
struct Dialect {
  Dialect() = default;
  Dialect(Backend b, const char* write, const char* read, std::string lock = "",
          std::string skip = "", std::string hint = "")
      : backend(b),
        begin_write(write),
        begin_read(read),
        for_update(std::move(lock)),
        skip_locked(std::move(skip)),
        pci_by_address(std::move(hint)) {}

  Backend backend = Backend::kSqlite;
  const char* begin_write = "";  // SQLite takes the write lock up front: it never has to upgrade
  const char* begin_read = "";
  // Locking reads, appended to a SELECT. Empty on SQLite: its write transactions hold the one
  // write lock from BEGIN IMMEDIATE on, so a plain SELECT sees rows nobody else can change.
  std::string for_update;
  std::string skip_locked;  // FOR UPDATE, passing over rows another transaction has locked
  // Index hint after `FROM pci_devices`: read one host's devices in address order, so that
  // `ORDER BY address LIMIT n FOR UPDATE` stops after n rows instead of sorting (and locking)
  // every free device of the host.
  std::string pci_by_address;
  // MariaDB: send a StatementBatch as one multi-statement query. Off on Galera, where a
  // transaction brute-force aborted or replayed in the middle of a multi-statement query was
  // seen to apply some of its statements twice or not at all (a host's vCPU count off by one,
  // a device's claim logged twice): there each statement goes on its own.
  bool multi_statement = true;
  // The backend StatementBatch::run() should batch for.
  Backend batch_backend() const { return multi_statement ? backend : Backend::kSqlite; }
};
Dialect sqlite_dialect();
Dialect mysql_dialect();

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

  // Several hosts (a Galera cluster's nodes): connect() starts with the one that answered last
  // and moves on when a node cannot be reached or is not ready (wsrep_ready OFF).
  std::atomic<size_t> preferred_host{0};
  std::atomic<bool> galera{false};  // the last connection's node had wsrep_on

  // How often transactions ran again, and why, since the store was opened (the Galera test
  // and benchmarks read them). On Galera, another node's conflicting write set shows up as
  // error 1213 at COMMIT (certification failure) rather than as a lock wait.
  struct Counters {
    std::atomic<long long> transactions{0};            // started, retries included
    std::atomic<long long> deadlocks{0};               // 1213 before COMMIT (InnoDB, BF abort)
    std::atomic<long long> certification_failures{0};  // 1213 at COMMIT
    std::atomic<long long> lock_wait_timeouts{0};      // 1205
    std::atomic<long long> busy{0};                    // SQLite BUSY/LOCKED
    std::atomic<long long> reconnects{0};      // connection lost or no node ready, before COMMIT
    std::atomic<long long> commit_unknown{0};  // connection lost during COMMIT
  } counters;

  // Test hook: runs inside claim() once everything is written, before the transaction commits
  // (crash tests kill the process here).
  std::function<void()> mid_claim_hook;

  // Compute host name -> id, read once per host so that a claim need not look it up. Only a
  // hint: the claim's UPDATE of the host row matches id and name together, and a mismatch makes
  // the claim look the id up again. The mutex guards the map, never a claim.
  std::mutex host_ids_mutex;
  std::map<std::string, long long> host_ids;

  // Bumped by this process's committed writes that change what the scheduler sees of a host,
  // other than claims and releases (Store::topology_version()).
  std::atomic<uint64_t> topology{0};
  template <typename R>
  R changed(R r) {
    if (r.ok()) ++topology;
    return r;
  }

  Result<std::unique_ptr<soci::session>> connect();
  Result<std::unique_ptr<soci::session>> connect_mysql(const DatabaseTarget::Host& host);

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

  // Runs `body` in one transaction, retrying the whole body after a deadlock, a Galera
  // certification failure, a lock timeout, SQLITE_BUSY, or a connection lost before COMMIT (on
  // a new connection: another node when this one is down). `body` returns normally to commit,
  // or throws Abort to roll back with an error. `attempts`, when given, receives how many
  // transactions were started. A connection lost during COMMIT is not retried: the result is
  // kUnavailable and `commit_unknown`, when given, is set.
  Status transact(bool write, const std::function<void(soci::session&)>& body,
                  const std::string& what, int* attempts = nullptr, bool* commit_unknown = nullptr);

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

// Role names as the tokens and OAuth1 tables keep them: comma-separated.
std::string join_role_names(const std::vector<std::string>& names);
std::vector<std::string> split_role_names(const std::string& text);

// Runs `query`, its placeholders bound to `params` in order, and collects the rows: `Row` binds
// its columns (bind(statement&)) and makes the record (get()).
template <typename Row, typename T>
std::vector<T> select_rows(soci::session& sql, const std::string& query,
                           const std::vector<std::string>& params) {
  Row row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(query);
  row.bind(st);
  for (const auto& p : params) st.exchange(soci::use(p));
  st.define_and_bind();
  st.execute();
  std::vector<T> out;
  while (st.fetch()) out.push_back(row.get());
  return out;
}

// Throws Abort(not_found) unless the statement changed at least one row.
void require_row(soci::statement& st, const std::string& what);

// The bound values of one statement whose text depends on the input (IN lists, multi-row
// VALUES): text()/number() keep a value and return the placeholder to splice into the SQL. Each
// value gets its own placeholder name (SOCI's MySQL backend binds a repeated name only once), and
// lives in a deque, whose elements never move, because SOCI binds by reference until execute().
class Binder {
 public:
  // Statements sent together need distinct names: give each one's Binder its own prefix.
  explicit Binder(std::string prefix = "") : prefix_(std::move(prefix)) {}
  std::string text(std::string v);
  std::string number(long long v);
  void bind(soci::statement& st);  // call between prepare() and define_and_bind()

 private:
  std::string prefix_;
  std::deque<std::string> texts_;
  std::deque<long long> numbers_;
};
// Runs a statement whose values are all in `b`; returns how many rows it matched.
long long execute_bound(soci::session& sql, const std::string& text, Binder& b);

// Statements that run in one go: on MariaDB in one round trip (a multi-statement query), on
// SQLite one after the other (there is no network to save). run() returns each statement's
// matched-row count; the first statement that fails throws, and the ones after it do not run.
// The caller checks the counts before it commits: nothing here is committed.
class StatementBatch {
 public:
  // The Binder for the next statement's values (its own placeholder names), then the statement.
  Binder values() const { return Binder("b" + std::to_string(steps_.size()) + "_"); }
  void add(std::string text, Binder values);
  std::vector<long long> run(soci::session& sql, Backend backend);
  size_t size() const { return steps_.size(); }

 private:
  struct Step {
    std::string text;
    Binder values;
  };
  std::deque<Step> steps_;  // a deque: bound values must not move once bound
};
// Lets a MariaDB connection send several statements in one query (StatementBatch); the values
// in them are still escaped by SOCI, never pasted in.
void allow_statement_batches(soci::session& sql);

}  // namespace gpucloud::store

namespace gpucloud::store {

// pci.cc: the one SELECT shape for pci_devices (nova's columns), and the transition log.
std::vector<PciDeviceRecord> query_pci_devices(soci::session& sql, const PciDeviceFilter& f);
// `SELECT <nova's columns> FROM pci_devices` + `tail` (WHERE, ORDER BY, locking clause), with the
// tail's values in `b`.
std::vector<PciDeviceRecord> select_pci_devices(soci::session& sql, const std::string& tail,
                                                Binder& b);
void log_pci_event(soci::session& sql, const PciDeviceRecord& d,
                   std::optional<PciDeviceStatus> from, PciDeviceStatus to, const std::string& ts);
// Locks one row (`key` = `value`) for the rest of the write transaction before it is read:
// MariaDB's `FOR UPDATE`; nothing on SQLite, whose write transactions hold the one write lock.
// Under READ COMMITTED a plain read can be overtaken by another replica's commit before this
// transaction's own write (docs/concurrency.md, "Reading before writing").
template <typename Key>
void lock_row(soci::session& sql, const Dialect& dialect, const std::string& table,
              const std::string& key, const Key& value) {
  if (dialect.for_update.empty()) return;
  Key found{};
  sql << "SELECT " + key + " FROM " + table + " WHERE " + key + " = :k" + dialect.for_update,
      soci::use(value), soci::into(found);
}

// instances.cc: one instance row (Abort with kNotFound when missing), and writing every column
// of one (then its metadata).
Instance one_instance(soci::session& sql, const std::string& uuid);
// The same row, locked for the rest of the write transaction: a read-modify-write or a decision
// taken on the instance's state must see the state its writes replace. (Under READ COMMITTED a
// plain read can be overtaken by another replica's commit before this transaction's UPDATE.)
Instance locked_instance(soci::session& sql, const Dialect& dialect, const std::string& uuid);
void write_instance(soci::session& sql, const Instance& i, bool insert);
// catalogue.cc: writes an image (insert: every column; update: the metadata columns, never the
// status or data, which are Store::update_image_data's) and replaces its properties and tags;
// removes one with its properties and tags (kNotFound when missing).
void write_image(soci::session& sql, const Image& i, bool insert);
void erase_image(soci::session& sql, const std::string& id);
// quotas.cc: checks the instances, cores and ram quotas of `i`'s project for one more server
// (throws Abort with kForbidden and nova's message when one is exceeded); locks the project's row.
void check_instance_quota(soci::session& sql, const Dialect& dialect, const Instance& i,
                          const InstanceQuotaRequest& q);
// instances.cc: replaces an instance's metadata (nova's instance_metadata rows).
void write_instance_metadata(soci::session& sql, const std::string& uuid,
                             const std::map<std::string, std::string>& metadata);
// quotas.cc: a project's limits (its rows over the 'default' class over nova's defaults).
QuotaLimits project_quota_limits(soci::session& sql, const std::string& project_id);
// Server groups (server_groups.cc), inside the caller's transaction. join: the instance becomes
// a member (Abort kNotFound: no such group; kForbidden: the group is full). check_claim: the
// group's policy holds if `instance_uuid` takes `host` (Abort kConflict otherwise), with the
// group's row written so that concurrent claims for the group serialise.
void join_server_group(soci::session& sql, const Dialect& dialect, const Instance& instance,
                       const std::string& group_uuid);
void check_server_group_claim(soci::session& sql, const std::string& group_uuid,
                              const std::string& instance_uuid, const std::string& host);
// lifecycle.cc: sets (or, with nullopt, removes) one system metadata key of an instance.
void write_system_metadata(soci::session& sql, const std::string& uuid, const std::string& key,
                           const std::optional<std::string>& value);
// security_groups.cc: the instance joins the groups, each locked first (Abort kNotFound when one
// is gone), inside the caller's transaction.
void join_security_groups(soci::session& sql, const Dialect& dialect, const std::string& instance,
                          const std::vector<std::string>& group_ids);
// identity_groups.cc: Abort with kNotFound unless the group (read with `lock` appended) or the
// user exists.
void require_group(soci::session& sql, const std::string& id, const std::string& lock);
void require_user(soci::session& sql, const std::string& id);
// identity_domains.cc: Abort with kNotFound unless a role is held as `held_as` (roles.name, what
// assignments hold), its row locked: a role deleted meanwhile by another replica cannot leave an
// assignment behind that a later role of the same name would silently grant.
void require_role_held_as(soci::session& sql, const Dialect& dialect, const std::string& held_as);
// project_group_roles.cc: the user's roles on the project, its own and its groups' and every
// role they imply, without the domain-specific ones, each once and sorted (one indexed query: it
// runs for every request's token).
std::vector<std::string> read_user_project_roles(soci::session& sql, const std::string& user_id,
                                                 const std::string& project_id);
// claims.cc: returns an instance's resources and devices (inside the caller's transaction);
// `used` devices go to cleaning (Store::release_claims).
void release_in_transaction(soci::session& sql, const Dialect& dialect,
                            const std::string& instance_uuid, bool used);

}  // namespace gpucloud::store

namespace gpucloud::store {

// bench/store_claims: `n` transactions that each update one row (the host's updated_at), the
// peer figure that claims per second are compared with. Returns the seconds taken.
Result<double> time_one_row_commits(Store& store, const std::string& host, int n);
// MariaDB's count of statements received from all clients ("Questions"); one more for itself.
Result<long long> server_statement_count(Store& store);
// bench/api_boot: `hosts` compute hosts named `prefix`00000.., the first `gpu_hosts` of them with
// `gpus` K2 GPUs (10de:11bf) at 0000:01:00.0.., in one transaction (as many agents' registrations
// would leave them, without their round trips); and `n` ACTIVE instance rows without claims.
Status insert_bench_fleet(Store& store, const std::string& prefix, int hosts, int gpu_hosts,
                          int gpus);
Status insert_bench_instances(Store& store, int n);
// bench/agent_view: one ACTIVE, managed guest on each of `hosts` hosts ("bench-<k>", address
// 10.x.y.z), the first `remote_members` in group "db" (whose rule lets in its own members: a
// remote group), the others in "web" (one tcp/22 rule).
Status insert_bench_guests(Store& store, int hosts, int remote_members);
// Creates database `name` on the MariaDB server of `server_url` (dropping one of that name).
Status recreate_mysql_database(const std::string& server_url, const std::string& name);

}  // namespace gpucloud::store
