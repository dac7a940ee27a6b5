// Claims: host resources and PCI devices for one instance, in one transaction.
//
// Why no device can be handed out twice (docs/concurrency.md has the longer story): every device
// moves with `UPDATE ... WHERE id = ? AND status = 'available'`, and the claim counts the rows
// that UPDATE changed. Two transactions racing for one device both run that UPDATE; the database
// lets only one change the row (InnoDB row lock, SQLite's single writer), the other sees 0 rows
// and moves on to the next candidate or gives up and rolls back everything. Nothing here relies
// on a mutex in this process, so the same holds across processes and server replicas.
#include <map>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

// Up to `want` + a few free devices on `node` that satisfy `req`, all conditions bound.
std::vector<long long> select_candidates(soci::session& sql, long long node,
                                         const DeviceRequest& req, int want) {
  std::vector<std::string> texts;  // bound by reference: keep them alive until execute()
  std::vector<int> numbers;
  texts.reserve(3 * req.matches.size());
  numbers.reserve(req.numa_nodes.size());
  std::string match;
  for (size_t m = 0; m < req.matches.size(); ++m) {
    const DeviceMatch& dm = req.matches[m];
    std::string term;
    auto add = [&](const char* column, const std::string& value) {
      texts.push_back(value);
      term += std::string(term.empty() ? "" : " AND ") + column + " = :t" +
              std::to_string(texts.size());
    };
    if (dm.vendor_id) add("vendor_id", dm.vendor_id->str());
    if (dm.product_id) add("product_id", dm.product_id->str());
    if (dm.dev_type) add("dev_type", to_string(*dm.dev_type));
    match += std::string(match.empty() ? "" : " OR ") + "(" + (term.empty() ? "1 = 1" : term) + ")";
  }
  std::string numa;
  for (int n : req.numa_nodes) {
    numbers.push_back(n);
    numa += std::string(numa.empty() ? "" : ", ") + ":u" + std::to_string(numbers.size());
  }
  long long limit = want + 8;
  std::string query =
      "SELECT id FROM pci_devices WHERE compute_node_id = :node AND status = 'available' AND "
      "deleted = 0";
  if (!match.empty()) query += " AND (" + match + ")";
  if (!numa.empty()) query += " AND numa_node IN (" + numa + ")";
  query += " ORDER BY numa_node, address LIMIT :lim";
  long long id = 0;
  soci::statement st(sql);
  st.alloc();
  st.prepare(query);
  st.exchange(soci::into(id));
  st.exchange(soci::use(node, "node"));
  for (size_t i = 0; i < texts.size(); ++i) {
    st.exchange(soci::use(texts[i], "t" + std::to_string(i + 1)));
  }
  for (size_t i = 0; i < numbers.size(); ++i) {
    st.exchange(soci::use(numbers[i], "u" + std::to_string(i + 1)));
  }
  st.exchange(soci::use(limit, "lim"));
  st.define_and_bind();
  st.execute();
  std::vector<long long> out;
  while (st.fetch()) out.push_back(id);
  return out;
}

std::string describe(const DeviceRequest& req) {
  std::string s = req.alias.empty() ? "device" : req.alias;
  std::string ids;
  for (const DeviceMatch& m : req.matches) {
    ids += (ids.empty() ? "" : ", ") + (m.vendor_id ? m.vendor_id->str() : std::string("*")) + ":" +
           (m.product_id ? m.product_id->str() : std::string("*"));
  }
  return ids.empty() ? s : s + " (" + ids + ")";
}

// Moves every device of the instance in `from` to `to`; returns how many moved.
int move_devices(soci::session& sql, const std::string& instance, PciDeviceStatus from,
                 PciDeviceStatus to, const std::string& ts) {
  PciDeviceFilter f;
  f.instance_uuid = instance;
  f.status = from;
  int moved = 0;
  for (PciDeviceRecord d : query_pci_devices(sql, f)) {
    long long id = d.id;
    std::string fs = to_string(from), tsn = to_string(to);
    const bool release = to == PciDeviceStatus::kAvailable;
    soci::statement st =
        release ? (sql.prepare << "UPDATE pci_devices SET status = :t, instance_uuid = NULL, "
                                  "request_id = NULL, updated_at = :u "
                                  "WHERE id = :id AND status = :f AND deleted = 0",
                   soci::use(tsn), soci::use(ts), soci::use(id), soci::use(fs))
                : (sql.prepare << "UPDATE pci_devices SET status = :t, updated_at = :u "
                                  "WHERE id = :id AND status = :f AND deleted = 0",
                   soci::use(tsn), soci::use(ts), soci::use(id), soci::use(fs));
    st.execute(true);
    if (st.get_affected_rows() == 1) {
      log_pci_event(sql, d, from, to, ts);  // d still names the instance and request
      ++moved;
    }
  }
  return moved;
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
  Status s = impl_->transact(
      true,
      [&](soci::session& sql) {
        out.devices.clear();
        const std::string ts = format_time(now());
        long long node = 0;
        soci::indicator ind = soci::i_null;
        sql << "SELECT id FROM compute_hosts WHERE name = :n", soci::use(r.host),
            soci::into(node, ind);
        if (!sql.got_data() || ind == soci::i_null) {
          throw Abort{Error::not_found("compute host '" + r.host + "' does not exist")};
        }
        int existing = 0;
        sql << "SELECT COUNT(*) FROM instance_claims WHERE instance_uuid = :i",
            soci::use(r.instance_uuid), soci::into(existing);
        if (existing > 0) {
          throw Abort{Error::conflict("instance " + r.instance_uuid + " already holds a claim")};
        }

        // Resources. The generation bump makes the UPDATE change the row even for a zero-sized
        // request, so the affected-row count is meaningful and claims on one host serialize here.
        int c = r.resources.vcpus;
        long long m = r.resources.memory_mb, d = r.resources.disk_gb;
        soci::statement st =
            (sql.prepare << "UPDATE compute_hosts SET vcpus_used = vcpus_used + :c, "
                            "memory_mb_used = memory_mb_used + :m, disk_gb_used = disk_gb_used + "
                            ":d, generation = generation + 1, updated_at = :t WHERE id = :id "
                            "AND (:c2 = 0 OR vcpus_used + :c3 <= "
                            "(vcpus - reserved_host_cpus) * cpu_allocation_ratio) "
                            "AND (:m2 = 0 OR memory_mb_used + :m3 <= "
                            "(memory_mb - reserved_host_memory_mb) * ram_allocation_ratio) "
                            "AND (:d2 = 0 OR (disk_gb_used + :d3) * 1024 <= "
                            "(disk_gb * 1024 - reserved_host_disk_mb) * disk_allocation_ratio)",
             soci::use(c, "c"), soci::use(m, "m"), soci::use(d, "d"), soci::use(ts, "t"),
             soci::use(node, "id"), soci::use(c, "c2"), soci::use(c, "c3"), soci::use(m, "m2"),
             soci::use(m, "m3"), soci::use(d, "d2"), soci::use(d, "d3"));
        st.execute(true);
        if (st.get_affected_rows() != 1) {
          throw Abort{Error::conflict("host " + r.host + " has not enough free vCPU/RAM/disk for " +
                                      std::to_string(c) + " vCPU, " + std::to_string(m) +
                                      " MB RAM, " + std::to_string(d) + " GB disk")};
        }
        std::string project = r.project_id;
        sql << "INSERT INTO instance_claims (instance_uuid, compute_node_id, project_id, vcpus, "
               "memory_mb, disk_gb, created_at) VALUES (:i, :n, :p, :c, :m, :d, :t)",
            soci::use(r.instance_uuid), soci::use(node), soci::use(project), soci::use(c),
            soci::use(m), soci::use(d), soci::use(ts);

        // GPU quotas. The UPDATE locks the quota row, so two claims of one project for one alias
        // count each other's requests instead of both passing on the same old count.
        std::map<std::string, int> asked;
        for (const auto& req : r.devices) {
          if (!req.alias.empty()) asked[req.alias] += req.count;
        }
        for (const auto& [alias, count] : asked) {
          std::string a = alias;
          soci::statement q = (sql.prepare << "UPDATE gpu_quotas SET generation = generation + 1 "
                                              "WHERE project_id = :p AND alias = :a",
                               soci::use(project), soci::use(a));
          q.execute(true);
          if (q.get_affected_rows() != 1) continue;  // no quota for this alias
          int limit = 0;
          long long used = 0;
          soci::indicator used_ind = soci::i_null;
          sql << "SELECT quota_limit FROM gpu_quotas WHERE project_id = :p AND alias = :a",
              soci::use(project), soci::use(a), soci::into(limit);
          sql << "SELECT SUM(device_count) FROM instance_pci_requests "
                 "WHERE project_id = :p AND alias = :a",
              soci::use(project), soci::use(a), soci::into(used, used_ind);
          if (used_ind == soci::i_null) used = 0;
          if (used + count > limit) {
            // Forbidden, not conflict: no other host or retry can help (nova answers quota
            // excess with 403 too).
            throw Abort{Error{ErrorCode::kForbidden, "GPU quota exceeded for " + alias + ": project " + project +
                                        " holds " + std::to_string(used) + " of " +
                                        std::to_string(limit) + ", asked for " +
                                        std::to_string(count)}};
          }
        }

        // Devices: a few candidates at a time (matching in SQL, so LIMIT means something),
        // then one conditional UPDATE each; a candidate taken meanwhile is simply skipped and
        // the next batch is selected, until enough are ours or none is left.
        for (const auto& req : r.devices) {
          std::string rid = req.request_id;
          int got = 0;
          for (;;) {
            std::vector<long long> candidates = select_candidates(sql, node, req, req.count - got);
            for (long long cand : candidates) {
              if (got == req.count) break;
              soci::statement up =
                  (sql.prepare << "UPDATE pci_devices SET status = 'claimed', instance_uuid = :i, "
                                  "request_id = :r, updated_at = :t "
                                  "WHERE id = :id AND status = 'available' AND deleted = 0",
                   soci::use(r.instance_uuid), soci::use(rid), soci::use(ts), soci::use(cand));
              up.execute(true);
              if (up.get_affected_rows() != 1) continue;  // taken meanwhile: try the next one
              ++got;
              if (impl_->after_device_update_hook) impl_->after_device_update_hook();
            }
            if (got == req.count || candidates.empty()) break;
          }
          if (got < req.count) {
            throw Abort{Error::conflict("host " + r.host + " has " + std::to_string(got) +
                                        " free " + describe(req) + ", " +
                                        std::to_string(req.count) + " requested")};
          }
          int count = req.count;
          std::string alias = req.alias;
          sql << "INSERT INTO instance_pci_requests (instance_uuid, request_id, alias, "
                 "project_id, device_count) VALUES (:i, :r, :a, :p, :c)",
              soci::use(r.instance_uuid), soci::use(rid), soci::use(alias), soci::use(project),
              soci::use(count);
        }
        if (!r.devices.empty()) {
          // One statement logs every device this claim took.
          sql << "INSERT INTO pci_device_events (device_id, compute_node_id, address, "
                 "from_status, to_status, instance_uuid, request_id, created_at) "
                 "SELECT id, compute_node_id, address, 'available', 'claimed', instance_uuid, "
                 "request_id, :t FROM pci_devices WHERE instance_uuid = :i AND status = "
                 "'claimed' AND deleted = 0",
              soci::use(ts), soci::use(r.instance_uuid);
          PciDeviceFilter mine;
          mine.instance_uuid = r.instance_uuid;
          out.devices = query_pci_devices(sql, mine);
        }
      },
      "claiming for instance " + r.instance_uuid + " on " + r.host, &out.attempts);
  if (!s) return s.error();
  return out;
}

Status Store::allocate_claims(const std::string& instance_uuid) {
  return impl_->write(
      [&](soci::session& sql) {
        move_devices(sql, instance_uuid, PciDeviceStatus::kClaimed, PciDeviceStatus::kAllocated,
                     format_time(now()));
      },
      "allocating devices of instance " + instance_uuid);
}

void release_in_transaction(soci::session& sql, const std::string& instance_uuid) {
  const std::string ts = format_time(now());
  long long node = 0, m = 0, d = 0;
  int c = 0;
  sql << "SELECT compute_node_id, vcpus, memory_mb, disk_gb FROM instance_claims "
         "WHERE instance_uuid = :i",
      soci::use(instance_uuid), soci::into(node), soci::into(c), soci::into(m), soci::into(d);
  if (sql.got_data()) {
    sql << "UPDATE compute_hosts SET vcpus_used = vcpus_used - :c, memory_mb_used = "
           "memory_mb_used - :m, disk_gb_used = disk_gb_used - :d, generation = "
           "generation + 1, updated_at = :t WHERE id = :id",
        soci::use(c), soci::use(m), soci::use(d), soci::use(ts), soci::use(node);
    sql << "DELETE FROM instance_claims WHERE instance_uuid = :i", soci::use(instance_uuid);
  }
  move_devices(sql, instance_uuid, PciDeviceStatus::kClaimed, PciDeviceStatus::kAvailable, ts);
  move_devices(sql, instance_uuid, PciDeviceStatus::kAllocated, PciDeviceStatus::kAvailable, ts);
  sql << "DELETE FROM instance_pci_requests WHERE instance_uuid = :i", soci::use(instance_uuid);
}

Status Store::release_claims(const std::string& instance_uuid) {
  return impl_->write([&](soci::session& sql) { release_in_transaction(sql, instance_uuid); },
                      "releasing claims of instance " + instance_uuid);
}

Status Store::set_gpu_quota(const GpuQuota& q) {
  if (q.limit < 0) return Error::invalid("GPU quota for " + q.alias + " is negative");
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "UPDATE gpu_quotas SET quota_limit = :l, generation "
                            "= generation + 1 WHERE project_id = :p AND alias = :a",
             soci::use(q.limit), soci::use(q.project_id), soci::use(q.alias));
        st.execute(true);
        if (st.get_affected_rows() == 0) {
          sql << "INSERT INTO gpu_quotas (project_id, alias, quota_limit, generation) "
                 "VALUES (:p, :a, :l, 0)",
              soci::use(q.project_id), soci::use(q.alias), soci::use(q.limit);
        }
      },
      "setting GPU quota");
}

Status Store::delete_gpu_quota(const std::string& project_id, const std::string& alias) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM gpu_quotas WHERE project_id = :p AND alias = :a",
             soci::use(project_id), soci::use(alias));
        st.execute(true);
        require_row(st, "no GPU quota for " + alias + " in project " + project_id);
      },
      "deleting GPU quota");
}

Result<std::vector<GpuQuota>> Store::list_gpu_quotas(const std::string& project_id) {
  return impl_->read<std::vector<GpuQuota>>(
      [&](soci::session& sql) {
        std::vector<GpuQuota> out;
        GpuQuota q;
        soci::statement st =
            (sql.prepare << "SELECT project_id, alias, quota_limit FROM gpu_quotas "
                            "WHERE (:p1 = '' OR project_id = :p2) ORDER BY project_id, alias",
             soci::use(project_id, "p1"), soci::use(project_id, "p2"), soci::into(q.project_id),
             soci::into(q.alias), soci::into(q.limit));
        st.execute();
        while (st.fetch()) out.push_back(q);
        return out;
      },
      "listing GPU quotas");
}

Result<std::map<std::string, int>> Store::gpu_usage(const std::string& project_id) {
  return impl_->read<std::map<std::string, int>>(
      [&](soci::session& sql) {
        std::map<std::string, int> out;
        std::string alias;
        long long n = 0;
        soci::statement st =
            (sql.prepare << "SELECT alias, SUM(device_count) FROM instance_pci_requests "
                            "WHERE project_id = :p GROUP BY alias",
             soci::use(project_id), soci::into(alias), soci::into(n));
        st.execute();
        while (st.fetch()) out[alias] = static_cast<int>(n);
        return out;
      },
      "reading GPU usage");
}

}  // namespace gpucloud::store
