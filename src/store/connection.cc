// Connections, the pool and the transaction runner. The retry loop is what makes claims safe
// without any in-process lock: a transaction that loses a race on a row lock (InnoDB deadlock or
// lock wait timeout, SQLITE_BUSY) is rolled back by the database and simply run again.
#include <fcntl.h>
#include <soci/mysql/soci-mysql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <random>
#include <thread>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

// MySQL/MariaDB server and client error numbers.
constexpr unsigned kErDupEntry = 1062;
constexpr unsigned kErLockWaitTimeout = 1205;
constexpr unsigned kErLockDeadlock = 1213;
constexpr unsigned kErRowIsReferenced = 1451;
constexpr unsigned kErNoReferencedRow = 1452;
constexpr unsigned kErRowIsReferenced2 = 1217;
constexpr unsigned kErNoReferencedRow2 = 1216;
constexpr unsigned kCrServerGone = 2006;
constexpr unsigned kCrServerLost = 2013;
constexpr unsigned kErServerShutdown = 1053;  // the node is shutting down (a rolling restart)
constexpr unsigned kErConnectionKilled = 1927;
// Galera: the node is not part of the primary component (or still joining): "WSREP has not yet
// prepared node for application use". Another node may well be ready.
constexpr unsigned kErUnknownComError = 1047;
// SQLite primary result codes.
constexpr int kSqliteBusy = 5;
constexpr int kSqliteLocked = 6;
constexpr int kSqliteReadonly = 8;
constexpr int kSqliteConstraint = 19;

std::string quote_param(const std::string& v) {
  // SOCI's connect-string parser splits on spaces; quote values that contain any.
  if (v.find_first_of(" '\"") == std::string::npos && !v.empty()) return v;
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// The connection is no use any more (lost, or its node left the cluster): drop it and run the
// transaction again on a new one.
bool is_connection_failure(unsigned err) {
  return err == kCrServerGone || err == kCrServerLost || err == kErServerShutdown ||
         err == kErConnectionKilled || err == kErUnknownComError;
}

void rollback_quietly(soci::session& sql) {
  try {
    sql << "ROLLBACK";
  } catch (const std::exception&) {
    // The transaction is gone already (deadlock victim, lost connection); nothing to undo.
  }
}

// MariaDB built with wsrep (Debian's is) has @@wsrep_on everywhere; it is 1 on a Galera node.
// A server without the variable (MySQL) is no Galera node.
bool is_galera_node(soci::session& sql) {
  try {
    int on = 0;
    soci::indicator ind = soci::i_null;
    sql << "SELECT @@wsrep_on", soci::into(on, ind);
    return ind != soci::i_null && on == 1;
  } catch (const soci::mysql_soci_error&) {
    return false;
  }
}

}  // namespace

Result<std::unique_ptr<soci::session>> Store::Impl::connect() {
  try {
    if (target.backend == Backend::kSqlite) {
      const std::string db = target.path.empty() ? ":memory:" : target.path;
      struct stat st {};
      // Refuse a read-only file up front: root would otherwise write it regardless of its mode,
      // and a non-root process would fail only at the first write, half-way into a migration.
      if (!read_only && !target.path.empty() && ::stat(db.c_str(), &st) == 0 &&
          (st.st_mode & 0222) == 0) {
        return Error::unavailable("database file " + db + " is read-only (no write permission)");
      }
      // A new database file is the owner's alone (0600): it holds password and token hashes.
      // SQLite gives its -wal and -shm files the database file's mode.
      if (!read_only && !target.path.empty()) {
        const int fd = ::open(db.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
      }
      auto s = std::make_unique<soci::session>(
          *soci::factory_sqlite3(),
          "db=" + quote_param(db) + " timeout=" + std::to_string(options.busy_timeout_ms / 1000));
      std::string mode;
      *s << "PRAGMA busy_timeout = " + std::to_string(options.busy_timeout_ms);
      if (read_only) return s;
      *s << "PRAGMA journal_mode = WAL", soci::into(mode);
      *s << "PRAGMA foreign_keys = ON";
      // FULL: a claim reported as done survives a power loss, not just a process crash.
      *s << "PRAGMA synchronous = FULL";
      return s;
    }
  } catch (const std::exception& e) {
    return classify(e, "cannot connect to " + target.redacted());
  }
  // MariaDB: the hosts in turn, from the one that answered last.
  const auto& hosts = target.hosts;
  const size_t n = std::max<size_t>(1, hosts.size());
  const size_t start = preferred_host.load() % n;
  Error last = Error::unavailable("cannot connect to " + target.redacted());
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    auto s = connect_mysql(hosts.empty() ? DatabaseTarget::Host{} : hosts[i]);
    if (s) {
      preferred_host.store(i);
      return s;
    }
    last = s.error();
  }
  return last;
}

Result<std::unique_ptr<soci::session>> Store::Impl::connect_mysql(
    const DatabaseTarget::Host& host) {
  const std::string where = host.name + ":" + std::to_string(host.port.value_or(3306));
  try {
    const DatabaseUrl& u = target.url;
    std::string cs = "host=" + quote_param(host.name) +
                     " port=" + std::to_string(host.port.value_or(3306)) + " connect_timeout=5";
    if (!u.user().empty()) cs += " user=" + quote_param(u.user());
    if (!u.password().empty()) cs += " password=" + quote_param(u.password());
    if (!target.database.empty()) cs += " db=" + quote_param(target.database);
    auto s = std::make_unique<soci::session>(*soci::factory_mysql(), cs);
    *s << "SET NAMES utf8mb4";
    *s << "SET time_zone = '+00:00'";
    *s << "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'";
    // Each statement sees the latest committed rows: a claim's candidate SELECT must not read an
    // old snapshot (REPEATABLE READ would), or it would pick devices another replica just took.
    *s << "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
    allow_statement_batches(*s);  // claims send their writes in one round trip
    *s << "SET SESSION innodb_lock_wait_timeout = " +
              std::to_string(std::max(1, options.busy_timeout_ms / 1000));
    if (!read_only && is_galera_node(*s)) {
      std::string name, ready;
      *s << "SHOW STATUS LIKE 'wsrep_ready'", soci::into(name), soci::into(ready);
      if (ready != "ON") {
        return Error::unavailable("database node " + where + " is not ready (wsrep_ready " + ready +
                                  ")");
      }
      // Causal reads: a read waits until this node has applied every write committed anywhere
      // in the cluster before it started, so a replica reads what another replica just wrote
      // (a server created on one replica is there when the client asks another). Without it
      // a claim would still be safe (a stale read loses at certification), only retried more.
      *s << "SET SESSION wsrep_sync_wait = 1";
      galera.store(true);
    }
    return s;
  } catch (const std::exception& e) {
    return classify(e, "cannot connect to " + target.redacted() + " (node " + where + ")");
  }
}

Store::Impl::Lease::~Lease() {
  if (!s_) return;
  std::lock_guard<std::mutex> lock(impl_->pool_mutex);
  impl_->idle.push_back(std::move(s_));
  impl_->pool_cv.notify_one();
}

Result<Store::Impl::Lease> Store::Impl::borrow() {
  std::unique_lock<std::mutex> lock(pool_mutex);
  pool_cv.wait(lock, [&] { return !idle.empty() || open_sessions < options.pool_size; });
  if (!idle.empty()) {
    auto s = std::move(idle.back());
    idle.pop_back();
    return Lease(this, std::move(s));
  }
  ++open_sessions;
  lock.unlock();
  auto s = connect();
  if (!s) {
    std::lock_guard<std::mutex> relock(pool_mutex);
    --open_sessions;
    pool_cv.notify_one();
    return s.error();
  }
  return Lease(this, std::move(*s));
}

Status Store::Impl::transact(bool write, const std::function<void(soci::session&)>& body,
                             const std::string& what, int* attempts, bool* commit_unknown) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.busy_timeout_ms);
  thread_local std::mt19937 rng(std::random_device{}());
  if (commit_unknown) *commit_unknown = false;
  for (int attempt = 1;; ++attempt) {
    if (attempts) *attempts = attempt;
    auto lease = borrow();
    if (!lease) {
      // With several nodes, none reachable is usually a moment of a failover (a view change, a
      // node restarting): wait for one within the budget. One node down is simply down.
      if (target.hosts.size() > 1 && std::chrono::steady_clock::now() < deadline) {
        counters.reconnects.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      return lease.error();
    }
    soci::session& sql = **lease;
    counters.transactions.fetch_add(1, std::memory_order_relaxed);
    bool in_tx = false, committing = false;
    try {
      sql << (write ? dialect.begin_write : dialect.begin_read);
      in_tx = true;
      body(sql);
      committing = true;
      sql << "COMMIT";
      return Status::Ok();
    } catch (const Abort& a) {
      rollback_quietly(sql);
      return a.error;
    } catch (const std::exception& e) {
      bool reconnect = false;
      if (auto* me = dynamic_cast<const soci::mysql_soci_error*>(&e)) {
        if (is_connection_failure(me->err_num_)) {
          {
            std::lock_guard<std::mutex> lock(pool_mutex);
            lease->discard();
            --open_sessions;
            pool_cv.notify_one();
          }
          // This node is gone or left the cluster: the next connection tries the next one.
          preferred_host.fetch_add(1);
          if (committing) {
            counters.commit_unknown.fetch_add(1, std::memory_order_relaxed);
            if (commit_unknown) *commit_unknown = true;
            return Error::unavailable(what +
                                      ": the database connection was lost during COMMIT; "
                                      "the change may or may not have been made");
          }
          counters.reconnects.fetch_add(1, std::memory_order_relaxed);
          reconnect = true;
        } else {
          if (in_tx) rollback_quietly(sql);
          if (me->err_num_ == kErLockDeadlock) {
            (committing ? counters.certification_failures : counters.deadlocks)
                .fetch_add(1, std::memory_order_relaxed);
          } else if (me->err_num_ == kErLockWaitTimeout) {
            counters.lock_wait_timeouts.fetch_add(1, std::memory_order_relaxed);
          }
        }
      } else {
        if (in_tx) rollback_quietly(sql);
        if (is_retryable(e)) counters.busy.fetch_add(1, std::memory_order_relaxed);
      }
      if ((reconnect || is_retryable(e)) && std::chrono::steady_clock::now() < deadline) {
        // Jittered backoff so that two losers of the same race do not collide again in lockstep.
        const int cap = std::min(50, 1 << std::min(attempt, 6));
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::uniform_int_distribution<int>(100, cap * 1000)(rng)));
        continue;
      }
      return classify(e, what);
    }
  }
}

bool is_retryable(const std::exception& e) {
  if (auto* me = dynamic_cast<const soci::mysql_soci_error*>(&e)) {
    return me->err_num_ == kErLockDeadlock || me->err_num_ == kErLockWaitTimeout;
  }
  if (auto* se = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    return se->result() == kSqliteBusy || se->result() == kSqliteLocked;
  }
  return false;
}

bool is_duplicate(const std::exception& e) {
  if (auto* me = dynamic_cast<const soci::mysql_soci_error*>(&e)) {
    return me->err_num_ == kErDupEntry;
  }
  if (auto* se = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    return se->result() == kSqliteConstraint &&
           std::string(se->what()).find("UNIQUE") != std::string::npos;
  }
  return false;
}

Error classify(const std::exception& e, const std::string& what) {
  std::string msg = e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (auto* me = dynamic_cast<const soci::mysql_soci_error*>(&e)) {
    switch (me->err_num_) {
      case kErDupEntry:
      case kErRowIsReferenced:
      case kErNoReferencedRow:
      case kErRowIsReferenced2:
      case kErNoReferencedRow2:
        return Error::conflict(what + ": " + msg);
      case kErLockDeadlock:
      case kErLockWaitTimeout:
        return Error::unavailable(what + ": database busy, gave up after retries: " + msg);
      default:
        if (me->err_num_ >= 2000 && me->err_num_ < 3000) {  // client: cannot reach the server
          return Error::unavailable(what + ": " + msg);
        }
        if (me->err_num_ == 1044 || me->err_num_ == 1045 || me->err_num_ == 1049) {
          return Error::unavailable(what + ": " + msg);  // denied, unknown database
        }
        return Error::internal(what + ": " + msg);
    }
  }
  if (auto* se = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    switch (se->result()) {
      case kSqliteConstraint:
        return Error::conflict(what + ": " + msg);
      case kSqliteBusy:
      case kSqliteLocked:
        return Error::unavailable(what + ": database busy, gave up after retries: " + msg);
      case kSqliteReadonly:
        return Error::unavailable(what + ": database is read-only: " + msg);
      default:
        return Error::unavailable(what + ": " + msg);
    }
  }
  return Error::internal(what + ": " + msg);
}

void require_row(soci::statement& st, const std::string& what) {
  if (st.get_affected_rows() < 1) throw Abort{Error::not_found(what)};
}

Dialect sqlite_dialect() { return {Backend::kSqlite, "BEGIN IMMEDIATE", "BEGIN", "", "", ""}; }

Dialect mysql_dialect() {
  return {Backend::kMysql,
          "START TRANSACTION",
          "START TRANSACTION",
          " FOR UPDATE",
          " FOR UPDATE SKIP LOCKED",  // MariaDB >= 10.6
          " FORCE INDEX (uniq_pci_devices0compute_node_id0address0deleted)"};
}

std::string Binder::text(std::string v) {
  texts_.push_back(std::move(v));
  return ":" + prefix_ + "s" + std::to_string(texts_.size() - 1);
}

std::string Binder::number(long long v) {
  numbers_.push_back(v);
  return ":" + prefix_ + "n" + std::to_string(numbers_.size() - 1);
}

void Binder::bind(soci::statement& st) {
  for (size_t i = 0; i < texts_.size(); ++i) {
    st.exchange(soci::use(texts_[i], prefix_ + "s" + std::to_string(i)));
  }
  for (size_t i = 0; i < numbers_.size(); ++i) {
    st.exchange(soci::use(numbers_[i], prefix_ + "n" + std::to_string(i)));
  }
}

long long execute_bound(soci::session& sql, const std::string& text, Binder& b) {
  soci::statement st(sql);
  st.alloc();
  st.prepare(text);
  b.bind(st);
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

void StatementBatch::add(std::string text, Binder values) {
  steps_.push_back({std::move(text), std::move(values)});
}

std::vector<long long> StatementBatch::run(soci::session& sql, Backend backend) {
  std::vector<long long> counts;
  if (steps_.empty()) return counts;
  if (backend != Backend::kMysql) {
    for (Step& s : steps_) counts.push_back(execute_bound(sql, s.text, s.values));
    return counts;
  }
  std::string text;
  for (const Step& s : steps_) text += (text.empty() ? "" : "; ") + s.text;
  soci::statement st(sql);
  st.alloc();
  st.prepare(text);
  for (Step& s : steps_) s.values.bind(st);
  st.define_and_bind();
  st.execute(true);  // throws if the first statement fails
  // The first count must be read now: SOCI asks the connection, which moves on below.
  counts.push_back(st.get_affected_rows());
  MYSQL* conn = static_cast<soci::mysql_session_backend*>(sql.get_backend())->conn_;
  for (;;) {
    const int more = mysql_next_result(conn);
    if (more < 0) break;  // no further results
    if (more > 0) throw soci::mysql_soci_error(mysql_error(conn), mysql_errno(conn));
    if (MYSQL_RES* rows = mysql_store_result(conn)) mysql_free_result(rows);
    counts.push_back(static_cast<long long>(mysql_affected_rows(conn)));
  }
  if (counts.size() != steps_.size()) {
    throw soci::soci_error("statement batch: " + std::to_string(steps_.size()) +
                           " statements sent, " + std::to_string(counts.size()) + " answered");
  }
  return counts;
}

void allow_statement_batches(soci::session& sql) {
  MYSQL* conn = static_cast<soci::mysql_session_backend*>(sql.get_backend())->conn_;
  if (mysql_set_server_option(conn, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0) {
    throw soci::mysql_soci_error(mysql_error(conn), mysql_errno(conn));
  }
}

std::string format_time(TimePoint t) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  long frac = static_cast<long>(us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06ld", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

TimePoint parse_time(const std::string& text) {
  std::tm tm{};
  long frac = 0;
  int n = std::sscanf(text.c_str(), "%d-%d-%d%*c%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
  if (n < 3) return TimePoint{};
  const size_t dot = text.find('.');
  if (dot != std::string::npos) {
    std::string digits = text.substr(dot + 1, 6);
    while (digits.size() < 6) digits += '0';
    frac = std::strtol(digits.c_str(), nullptr, 10);
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return TimePoint{std::chrono::seconds(timegm(&tm)) + std::chrono::microseconds(frac)};
}

TimePoint now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::string generate_uuid() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t hi = rng(), lo = rng();
  hi = (hi & ~0xf000ULL) | 0x4000ULL;        // version 4
  lo = (lo & ~(3ULL << 62)) | (2ULL << 62);  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

NullableString nullable(const std::optional<std::string>& v) {
  if (!v) return {};
  return {*v, soci::i_ok};
}

NullableString nullable_time(const std::optional<TimePoint>& t) {
  if (!t) return {};
  return {format_time(*t), soci::i_ok};
}

}  // namespace gpucloud::store
