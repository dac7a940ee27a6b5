// Claims: host resources and PCI devices for one instance, in one transaction, and the moves
// that follow (claimed -> allocated -> available).
//
// Why no device can be handed out twice (docs/concurrency.md has the longer story): a claim
// first locks the devices it will take (MariaDB: `SELECT ... FOR UPDATE SKIP LOCKED`; SQLite has
// one writer at a time), then moves them with one `UPDATE ... WHERE id IN (...) AND status =
// 'available'` whose affected-row count must equal the number asked for, or the whole transaction
// rolls back. The database decides who gets a row; nothing here relies on a mutex in this
// process, so the same holds across processes and server replicas.
//
// Why this order: claims on one host meet on its compute_hosts row, which every claim updates.
// That row is updated last, so the time a claim holds it is one UPDATE, one INSERT and the
// COMMIT; everything before runs side by side with the host's other claims (SKIP LOCKED hands
// them different devices instead of making them queue for the same first one).
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

std::string describe(const DeviceRequest& req) {
  std::string s = req.alias.empty() ? "device" : req.alias;
  std::string ids;
  for (const DeviceMatch& m : req.matches) {
    ids += (ids.empty() ? "" : ", ") + (m.vendor_id ? m.vendor_id->str() : std::string("*")) + ":" +
           (m.product_id ? m.product_id->str() : std::string("*"));
  }
  return ids.empty() ? s : s + " (" + ids + ")";
}

// " AND ..." conditions for the devices that satisfy `req` (nova's alias semantics: any of the
// matches; fields left out match anything), values bound in `b`.
std::string device_conditions(const DeviceRequest& req, Binder& b) {
  std::string match;
  for (const DeviceMatch& dm : req.matches) {
    std::string term;
    auto add = [&](const char* column, std::string value) {
      term += std::string(term.empty() ? "" : " AND ") + column + " = " + b.text(std::move(value));
    };
    if (dm.vendor_id) add("vendor_id", dm.vendor_id->str());
    if (dm.product_id) add("product_id", dm.product_id->str());
    if (dm.dev_type) add("dev_type", to_string(*dm.dev_type));
    match += std::string(match.empty() ? "" : " OR ") + "(" + (term.empty() ? "1 = 1" : term) + ")";
  }
  std::string numa;
  for (int n : req.numa_nodes) numa += (numa.empty() ? "" : ", ") + b.number(n);
  std::string chosen;
  for (const auto& a : req.addresses)
    chosen += (chosen.empty() ? "" : ", ") + b.text(a.to_string());
  std::string out;
  if (!match.empty()) out += " AND (" + match + ")";
  if (!numa.empty()) out += " AND numa_node IN (" + numa + ")";
  if (!chosen.empty()) out += " AND address IN (" + chosen + ")";
  return out;
}

std::string id_list(const std::vector<PciDeviceRecord>& devices, Binder& b) {
  std::string ids;
  for (const auto& d : devices) ids += (ids.empty() ? "" : ", ") + b.number(d.id);
  return ids;
}

// One pci_device_events row per device, all in one INSERT: from each record's status to `to`,
// naming the instance and request the record names.
void log_moves(StatementBatch& batch, const std::vector<PciDeviceRecord>& devices,
               PciDeviceStatus to, const std::string& ts) {
  if (devices.empty()) return;
  std::string rows;
  Binder b = batch.values();
  for (const auto& d : devices) {
    auto nullable_text = [&](const std::optional<std::string>& v) {
      return v ? b.text(*v) : std::string("NULL");
    };
    rows += std::string(rows.empty() ? "" : ", ") + "(" + b.number(d.id) + ", " +
            b.number(d.compute_node_id) + ", " + b.text(d.address.to_string()) + ", " +
            b.text(to_string(d.status)) + ", " + b.text(to_string(to)) + ", " +
            nullable_text(d.instance_uuid) + ", " + nullable_text(d.request_id) + ", " +
            b.text(ts) + ")";
  }
  batch.add(
      "INSERT INTO pci_device_events (device_id, compute_node_id, address, from_status, "
      "to_status, instance_uuid, request_id, created_at) VALUES " +
          rows,
      std::move(b));
}

// The body of one claim transaction; claim() runs it (again, after a lost lock race). Reads
// (host, quotas, devices) take one statement each; every write then goes in one batch (one
// round trip on MariaDB), and its matched-row counts are checked before the caller commits.
class ClaimTransaction {
 public:
  ClaimTransaction(Store::Impl& impl, soci::session& sql, const ClaimRequest& r)
      : impl_(impl), sql_(sql), r_(r) {}

  std::vector<PciDeviceRecord> run() {
    find_host();
    check_quotas();
    if (!r_.server_group.empty()) {
      check_server_group_claim(sql_, r_.server_group, r_.instance_uuid, r_.host);
    }
    std::vector<PciDeviceRecord> locked;
    std::vector<std::vector<PciDeviceRecord>> per_request;
    for (const auto& req : r_.devices) {
      per_request.push_back(lock_devices(req, locked));
      locked.insert(locked.end(), per_request.back().begin(), per_request.back().end());
    }
    // The time written to the rows and the event log is read once the devices are locked, so it
    // is later than the commit that last freed them: a device's events sorted by time are in
    // commit order, across processes and Galera nodes (the Galera test checks with that).
    ts_ = format_time(now());
    std::vector<PciDeviceRecord> taken;
    std::vector<long long> expected;  // per device UPDATE in the batch: the rows it must match
    for (size_t k = 0; k < r_.devices.size(); ++k) {
      auto& got = per_request[k];
      move_devices(r_.devices[k], got);
      expected.push_back(static_cast<long long>(got.size()));
      taken.insert(taken.end(), got.begin(), got.end());
    }
    if (!taken.empty()) {
      record_requests();
      log_moves(writes_, taken, PciDeviceStatus::kClaimed, ts_);
    }
    const size_t resources_step = take_resources();
    std::vector<long long> counts;
    try {
      counts = writes_.run(sql_, impl_.dialect.batch_backend());
    } catch (const std::exception& e) {
      // The primary key of instance_claims (or instance_pci_requests): the instance has a claim.
      if (!is_duplicate(e)) throw;
      throw Abort{Error::conflict("instance " + r_.instance_uuid + " already holds a claim")};
    }
    for (size_t k = 0; k < expected.size(); ++k) {
      if (counts[k] != expected[k]) {
        // Cannot happen while the rows are locked (or SQLite's write lock is held); if it
        // ever does, the claim must not go ahead with fewer devices.
        throw Abort{Error::conflict("devices of host " + r_.host + " changed under the claim for " +
                                    r_.instance_uuid)};
      }
    }
    if (counts[resources_step] != 1) {
      confirm_host();
      const ResourceAmounts& a = r_.resources;
      throw Abort{Error::conflict("host " + r_.host + " has not enough free vCPU/RAM/disk for " +
                                  std::to_string(a.vcpus) + " vCPU, " +
                                  std::to_string(a.memory_mb) + " MB RAM, " +
                                  std::to_string(a.disk_gb) + " GB disk")};
    }
    if (impl_.mid_claim_hook) impl_.mid_claim_hook();  // all written, nothing committed
    for (auto& d : taken) d.status = PciDeviceStatus::kClaimed;
    std::sort(taken.begin(), taken.end(),
              [](const auto& a, const auto& b) { return a.address < b.address; });
    return taken;
  }

  bool stale_host_id = false;  // the cached host id named another row: look it up and run again

 private:
  void find_host() {
    {
      std::lock_guard<std::mutex> lock(impl_.host_ids_mutex);
      auto it = impl_.host_ids.find(r_.host);
      if (it != impl_.host_ids.end()) {
        node_ = it->second;
        cached_ = true;
        return;
      }
    }
    node_ = lookup_host();
    if (node_ == 0) throw Abort{Error::not_found("compute host '" + r_.host + "' does not exist")};
    std::lock_guard<std::mutex> lock(impl_.host_ids_mutex);
    impl_.host_ids[r_.host] = node_;
  }

  long long lookup_host() {
    long long id = 0;
    soci::indicator ind = soci::i_null;
    sql_ << "SELECT id FROM compute_hosts WHERE name = :n", soci::use(r_.host), soci::into(id, ind);
    return sql_.got_data() && ind != soci::i_null ? id : 0;
  }

  // Before a failure is reported: is the cached id still this host's? If not, the failure says
  // nothing about the host, and the claim runs again with the right id.
  void confirm_host() {
    if (!cached_) return;
    const long long id = lookup_host();
    if (id == node_) return;
    std::lock_guard<std::mutex> lock(impl_.host_ids_mutex);
    impl_.host_ids.erase(r_.host);
    if (id == 0) throw Abort{Error::not_found("compute host '" + r_.host + "' does not exist")};
    stale_host_id = true;
    throw Abort{Error::conflict("compute host '" + r_.host + "' was registered anew")};
  }

  // GPU quotas. Locking the project's quota rows (SQLite: the write lock) before counting its
  // usage makes two claims of one project count each other's requests instead of both passing
  // on the same old figure. Aliases without a quota row have no limit.
  void check_quotas() {
    std::map<std::string, int> asked;
    for (const auto& req : r_.devices) {
      if (!req.alias.empty()) asked[req.alias] += req.count;
    }
    if (asked.empty()) return;
    Binder b;
    std::string aliases;
    for (const auto& [alias, count] : asked) {
      aliases += (aliases.empty() ? "" : ", ") + b.text(alias);
    }
    std::map<std::string, int> limits;
    {
      std::string alias;
      int limit = 0;
      soci::statement st(sql_);
      st.alloc();
      st.prepare(
          "SELECT alias, quota_limit FROM gpu_quotas WHERE project_id = " + b.text(r_.project_id) +
          " AND alias IN (" + aliases + ")" + impl_.dialect.for_update);
      st.exchange(soci::into(alias));
      st.exchange(soci::into(limit));
      b.bind(st);
      st.define_and_bind();
      st.execute();
      while (st.fetch()) limits[alias] = limit;
    }
    for (const auto& [alias, limit] : limits) {
      // A statement of its own: under READ COMMITTED it reads what was committed before the
      // quota row's lock came to us.
      long long used = 0;
      soci::indicator used_ind = soci::i_null;
      sql_ << "SELECT SUM(device_count) FROM instance_pci_requests "
              "WHERE project_id = :p AND alias = :a",
          soci::use(r_.project_id), soci::use(alias), soci::into(used, used_ind);
      if (used_ind == soci::i_null) used = 0;
      const int count = asked[alias];
      if (used + count > limit) {
        // Forbidden, not conflict: no other host or retry can help (nova answers quota
        // excess with 403 too).
        throw Abort{Error{ErrorCode::kForbidden,
                          "GPU quota exceeded for " + alias + ": project " + r_.project_id +
                              " holds " + std::to_string(used) + " of " + std::to_string(limit) +
                              ", asked for " + std::to_string(count)}};
      }
    }
  }

  // Locks up to `count` free devices of the host that satisfy `req`, lowest PCI address first,
  // leaving out those this claim took for its earlier requests (their UPDATE is still queued).
  std::vector<PciDeviceRecord> lock_free(const DeviceRequest& req, int count, bool skip_locked,
                                         const std::vector<PciDeviceRecord>& mine) {
    Binder b;
    std::string tail = impl_.dialect.pci_by_address +
                       " WHERE compute_node_id = " + b.number(node_) +
                       " AND status = 'available' AND deleted = 0" + device_conditions(req, b);
    if (!mine.empty()) tail += " AND id NOT IN (" + id_list(mine, b) + ")";
    tail += " ORDER BY address LIMIT " + b.number(count) +
            (skip_locked ? impl_.dialect.skip_locked : impl_.dialect.for_update);
    return select_pci_devices(sql_, tail, b);
  }

  std::vector<PciDeviceRecord> lock_devices(const DeviceRequest& req,
                                            const std::vector<PciDeviceRecord>& mine) {
    // Passing over devices that other claims have locked lets claims on one host proceed side
    // by side. Those claims may still roll back, though, so before a shortfall is reported the
    // free devices are read again, this time waiting for the locks.
    // Chosen devices are waited for: skipping one would only end in a shortfall.
    const bool can_skip = !impl_.dialect.skip_locked.empty() && req.addresses.empty();
    auto devices = lock_free(req, req.count, can_skip, mine);
    if (static_cast<int>(devices.size()) < req.count && can_skip) {
      devices = lock_free(req, req.count, false, mine);
    }
    if (static_cast<int>(devices.size()) < req.count) {
      confirm_host();
      throw Abort{Error::conflict("host " + r_.host + " has " + std::to_string(devices.size()) +
                                  " free " + describe(req) + ", " + std::to_string(req.count) +
                                  " requested")};
    }
    return devices;
  }

  // Queues the move of `devices` (locked above) to claimed; run() checks the matched rows.
  void move_devices(const DeviceRequest& req, std::vector<PciDeviceRecord>& devices) {
    Binder b = writes_.values();
    std::string text =
        "UPDATE pci_devices SET status = 'claimed', instance_uuid = " + b.text(r_.instance_uuid) +
        ", request_id = " + b.text(req.request_id) + ", updated_at = " + b.text(ts_) +
        " WHERE id IN (" + id_list(devices, b) + ") AND status = 'available' AND deleted = 0";
    writes_.add(std::move(text), std::move(b));
    for (auto& d : devices) {  // as the log and the caller see them
      d.instance_uuid = r_.instance_uuid;
      d.request_id = req.request_id;
      d.updated_at = parse_time(ts_);
    }
  }

  // instance_pci_requests: what the quotas count. One INSERT for all requests.
  void record_requests() {
    Binder b = writes_.values();
    std::string rows;
    for (const auto& req : r_.devices) {
      rows += std::string(rows.empty() ? "" : ", ") + "(" + b.text(r_.instance_uuid) + ", " +
              b.text(req.request_id) + ", " + b.text(req.alias) + ", " + b.text(r_.project_id) +
              ", " + b.number(req.count) + ")";
    }
    writes_.add(
        "INSERT INTO instance_pci_requests (instance_uuid, request_id, alias, project_id, "
        "device_count) VALUES " +
            rows,
        std::move(b));
  }

  // vCPU, RAM and disk, within (total - reserved) x allocation ratio; returns the batch index of
  // the UPDATE, which must match the host's row. The generation bump makes every claim change
  // the row. Then the instance_claims row, after the host row is ours: its foreign key would
  // otherwise share-lock the host row, and two claims upgrading shared locks would deadlock.
  size_t take_resources() {
    const int c = r_.resources.vcpus;
    const long long m = r_.resources.memory_mb, d = r_.resources.disk_gb;
    Binder b = writes_.values();
    std::string text =
        "UPDATE compute_hosts SET vcpus_used = vcpus_used + " + b.number(c) +
        ", memory_mb_used = memory_mb_used + " + b.number(m) + ", disk_gb_used = disk_gb_used + " +
        b.number(d) + ", generation = generation + 1, updated_at = " + b.text(ts_) +
        " WHERE id = " + b.number(node_) + " AND name = " + b.text(r_.host) + " AND (" +
        b.number(c) + " = 0 OR vcpus_used + " + b.number(c) +
        " <= (vcpus - reserved_host_cpus) * cpu_allocation_ratio) AND (" + b.number(m) +
        " = 0 OR memory_mb_used + " + b.number(m) +
        " <= (memory_mb - reserved_host_memory_mb) * ram_allocation_ratio) AND (" + b.number(d) +
        " = 0 OR (disk_gb_used + " + b.number(d) +
        ") * 1024 <= (disk_gb * 1024 - reserved_host_disk_mb) * disk_allocation_ratio)";
    const size_t step = writes_.size();
    writes_.add(std::move(text), std::move(b));
    Binder ins = writes_.values();
    text =
        "INSERT INTO instance_claims (instance_uuid, compute_node_id, project_id, vcpus, "
        "memory_mb, disk_gb, created_at) VALUES (" +
        ins.text(r_.instance_uuid) + ", " + ins.number(node_) + ", " + ins.text(r_.project_id) +
        ", " + ins.number(c) + ", " + ins.number(m) + ", " + ins.number(d) + ", " + ins.text(ts_) +
        ")";
    writes_.add(std::move(text), std::move(ins));
    return step;
  }

  Store::Impl& impl_;
  soci::session& sql_;
  const ClaimRequest& r_;
  std::string ts_ = format_time(now());
  long long node_ = 0;
  bool cached_ = false;  // node_ came from impl_.host_ids, not from this transaction
  StatementBatch writes_;
};

// Moves every device of the instance that is in one of `from` to `to`: lock them, then move and
// log them in one batch (the move must match every locked row). Returns them as they were.
std::vector<PciDeviceRecord> move_devices(soci::session& sql, const Dialect& dialect,
                                          const std::string& instance,
                                          std::initializer_list<PciDeviceStatus> from,
                                          PciDeviceStatus to) {
  Binder sel;
  std::string statuses;
  for (PciDeviceStatus f : from) {
    statuses += (statuses.empty() ? "" : ", ") + sel.text(to_string(f));
  }
  auto devices =
      select_pci_devices(sql,
                         " WHERE instance_uuid = " + sel.text(instance) + " AND status IN (" +
                             statuses + ") AND deleted = 0 ORDER BY address" + dialect.for_update,
                         sel);
  if (devices.empty()) return devices;
  const std::string ts = format_time(now());  // after the lock, as in a claim (see run())
  StatementBatch batch;
  Binder b = batch.values();
  // A device being cleaned belongs to nobody any more: the instance may be gone.
  const bool release = to == PciDeviceStatus::kAvailable || to == PciDeviceStatus::kCleaning;
  std::string text = "UPDATE pci_devices SET status = " + b.text(to_string(to)) +
                     (release ? ", instance_uuid = NULL, request_id = NULL" : "") +
                     ", updated_at = " + b.text(ts) + " WHERE id IN (" + id_list(devices, b) +
                     ") AND instance_uuid = " + b.text(instance) + " AND deleted = 0";
  batch.add(std::move(text), std::move(b));
  log_moves(batch, devices, to, ts);  // the records still name the instance and request
  if (batch.run(sql, dialect.batch_backend()).front() != static_cast<long long>(devices.size())) {
    throw Abort{Error::conflict("devices of instance " + instance + " changed while moving to " +
                                to_string(to))};
  }
  return devices;
}

}  // namespace

namespace {

// The devices of the instance's claim when it has one (instance_claims), else nullopt.
Result<std::optional<std::vector<PciDeviceRecord>>> committed_claim(
    Store::Impl& impl, const std::string& instance_uuid) {
  using Held = std::optional<std::vector<PciDeviceRecord>>;
  return impl.read<Held>(
      [&](soci::session& sql) -> Held {
        int one = 0;
        sql << "SELECT 1 FROM instance_claims WHERE instance_uuid = :i", soci::use(instance_uuid),
            soci::into(one);
        if (!sql.got_data()) return std::nullopt;
        PciDeviceFilter f;
        f.instance_uuid = instance_uuid;
        auto devices = query_pci_devices(sql, f);
        std::sort(devices.begin(), devices.end(),
                  [](const auto& a, const auto& b) { return a.address < b.address; });
        return devices;
      },
      "reading the claim of instance " + instance_uuid);
}

}  // namespace

Result<ClaimResult> Store::claim(const ClaimRequest& r) {
  if (r.instance_uuid.empty()) return Error::invalid("claim: instance_uuid is empty");
  if (r.resources.vcpus < 0 || r.resources.memory_mb < 0 || r.resources.disk_gb < 0) {
    return Error::invalid("claim: negative resource amounts");
  }
  for (const auto& d : r.devices) {
    if (d.count < 1) return Error::invalid("claim: device request " + describe(d) + " count < 1");
  }
  ClaimResult out;
  bool stale_retried = false;
  for (int pass = 1;; ++pass) {
    bool stale = false, unknown = false;
    int attempts = 0;
    Status s = impl_->transact(
        true,
        [&](soci::session& sql) {
          ClaimTransaction tx(*impl_, sql, r);
          try {
            out.devices = tx.run();
          } catch (const Abort&) {
            stale = tx.stale_host_id;
            throw;
          }
        },
        "claiming for instance " + r.instance_uuid + " on " + r.host, &attempts, &unknown);
    out.attempts += attempts;
    if (!s && stale && !stale_retried) {  // the host id cache was out of date: once more
      stale_retried = true;
      continue;
    }
    if (!s && unknown && pass < 5) {
      // The connection died in COMMIT (a Galera node killed, a failover): find out whether the
      // claim is in the database, on a new connection, before claiming again; a claim must
      // happen exactly once.
      auto held = committed_claim(*impl_, r.instance_uuid);
      if (!held) return s.error();
      if (*held) {
        out.devices = std::move(**held);
        return out;
      }
      continue;
    }
    if (!s) return s.error();
    return out;
  }
}

Status Store::allocate_claims(const std::string& instance_uuid) {
  return impl_->write(
      [&](soci::session& sql) {
        move_devices(sql, impl_->dialect, instance_uuid, {PciDeviceStatus::kClaimed},
                     PciDeviceStatus::kAllocated);
      },
      "allocating devices of instance " + instance_uuid);
}

// One "clean" agent task per host for the devices a guest gave back (compute.h reads the
// payload). Its answer, in finish_agent_task, frees them.
void queue_cleaning(soci::session& sql, const std::string& instance_uuid,
                    const std::vector<PciDeviceRecord>& devices) {
  std::map<int64_t, nlohmann::json> per_node;
  for (const auto& d : devices) {
    per_node[d.compute_node_id].push_back({{"id", d.id},
                                           {"address", d.address.to_string()},
                                           {"vendor_id", d.vendor_id.str()},
                                           {"product_id", d.product_id.str()}});
  }
  const std::string ts = format_time(now()), state = to_string(AgentTaskState::kPending);
  for (const auto& [node, list] : per_node) {
    long long id = node;
    std::string host;
    sql << "SELECT name FROM compute_hosts WHERE id = :id", soci::use(id), soci::into(host);
    if (!sql.got_data()) continue;  // cannot happen: the device row refers to it
    const std::string task = generate_uuid(), payload = nlohmann::json{{"devices", list}}.dump();
    sql << "INSERT INTO agent_tasks (id, host, kind, instance_uuid, payload, state, message, "
           "result, created_at) VALUES (:i, :h, 'clean', :u, :p, :s, '', '{}', :c)",
        soci::use(task), soci::use(host), soci::use(instance_uuid), soci::use(payload),
        soci::use(state), soci::use(ts);
  }
}

void release_in_transaction(soci::session& sql, const Dialect& dialect,
                            const std::string& instance_uuid, bool used) {
  const std::string ts = format_time(now());
  long long node = 0, m = 0, d = 0;
  int c = 0;
  // Locked: two releases of one instance at once must not both give its resources back.
  sql << "SELECT compute_node_id, vcpus, memory_mb, disk_gb FROM instance_claims "
         "WHERE instance_uuid = :i" +
             dialect.for_update,
      soci::use(instance_uuid), soci::into(node), soci::into(c), soci::into(m), soci::into(d);
  if (sql.got_data()) {
    sql << "UPDATE compute_hosts SET vcpus_used = vcpus_used - :c, memory_mb_used = "
           "memory_mb_used - :m, disk_gb_used = disk_gb_used - :d, generation = "
           "generation + 1, updated_at = :t WHERE id = :id",
        soci::use(c), soci::use(m), soci::use(d), soci::use(ts), soci::use(node);
    sql << "DELETE FROM instance_claims WHERE instance_uuid = :i", soci::use(instance_uuid);
  }
  if (used) {
    auto moved = move_devices(sql, dialect, instance_uuid,
                              {PciDeviceStatus::kClaimed, PciDeviceStatus::kAllocated},
                              PciDeviceStatus::kCleaning);
    queue_cleaning(sql, instance_uuid, moved);
  } else {
    move_devices(sql, dialect, instance_uuid,
                 {PciDeviceStatus::kClaimed, PciDeviceStatus::kAllocated},
                 PciDeviceStatus::kAvailable);
  }
  sql << "DELETE FROM instance_pci_requests WHERE instance_uuid = :i", soci::use(instance_uuid);
}

Status Store::release_claims(const std::string& instance_uuid, bool used) {
  return impl_->write(
      [&](soci::session& sql) { release_in_transaction(sql, impl_->dialect, instance_uuid, used); },
      "releasing claims of instance " + instance_uuid);
}

Status Store::release_idle_claims(const std::string& instance_uuid) {
  return impl_->write(
      [&](soci::session& sql) {
        try {
          Instance i = locked_instance(sql, impl_->dialect, instance_uuid);
          if (i.status == ServerStatus::kBuild || i.task_state) {
            throw Abort{Error::conflict("instance " + instance_uuid + " is " + to_string(i.status) +
                                        (i.task_state ? " (" + *i.task_state + ")" : "") +
                                        ": its claims are in use")};
          }
        } catch (const Abort& a) {
          if (a.error.code != ErrorCode::kNotFound) throw;  // no instance row: nothing claims anew
        }
        release_in_transaction(sql, impl_->dialect, instance_uuid, true);
      },
      "releasing leaked claims of instance " + instance_uuid);
}

}  // namespace gpucloud::store
