// Where instances run: compute hosts (resources, ratios, heartbeat, state) and host aggregates
// (availability zone, metadata, member hosts).
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct HostRow {
  ComputeHost h;
  long long id = 0, mem = 0, disk = 0, mem_used = 0, disk_used = 0, res_mem = 0, res_disk = 0;
  int enabled = 1, forced = 0;
  std::string heartbeat, doctor, caps, created, updated;
  soci::indicator i_hb{}, i_doctor{}, i_caps{}, i_created{}, i_updated{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(h.uuid));
    st.exchange(soci::into(h.name));
    st.exchange(soci::into(h.hypervisor_type));
    st.exchange(soci::into(h.vcpus));
    st.exchange(soci::into(mem));
    st.exchange(soci::into(disk));
    st.exchange(soci::into(h.vcpus_used));
    st.exchange(soci::into(mem_used));
    st.exchange(soci::into(disk_used));
    st.exchange(soci::into(h.reserved_host_cpus));
    st.exchange(soci::into(res_mem));
    st.exchange(soci::into(res_disk));
    st.exchange(soci::into(h.cpu_allocation_ratio));
    st.exchange(soci::into(h.ram_allocation_ratio));
    st.exchange(soci::into(h.disk_allocation_ratio));
    st.exchange(soci::into(heartbeat, i_hb));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(h.disabled_reason));
    st.exchange(soci::into(forced));
    st.exchange(soci::into(doctor, i_doctor));
    st.exchange(soci::into(caps, i_caps));
    st.exchange(soci::into(created, i_created));
    st.exchange(soci::into(updated, i_updated));
  }
  ComputeHost get() const {
    ComputeHost out = h;
    out.id = id;
    out.memory_mb = mem;
    out.disk_gb = disk;
    out.memory_mb_used = mem_used;
    out.disk_gb_used = disk_used;
    out.reserved_host_memory_mb = res_mem;
    out.reserved_host_disk_mb = res_disk;
    if (i_hb != soci::i_null) out.heartbeat_at = parse_time(heartbeat);
    out.enabled = enabled != 0;
    out.forced_down = forced != 0;
    out.doctor_status = i_doctor == soci::i_null ? "" : doctor;
    out.capabilities_json = i_caps == soci::i_null ? "{}" : caps;
    if (i_created != soci::i_null) out.created_at = parse_time(created);
    if (i_updated != soci::i_null) out.updated_at = parse_time(updated);
    return out;
  }
};

std::vector<ComputeHost> select_hosts(soci::session& sql, const std::string& name, long long id) {
  HostRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(
      "SELECT id, uuid, name, hypervisor_type, vcpus, memory_mb, disk_gb, vcpus_used, "
      "memory_mb_used, disk_gb_used, reserved_host_cpus, reserved_host_memory_mb, "
      "reserved_host_disk_mb, cpu_allocation_ratio, ram_allocation_ratio, "
      "disk_allocation_ratio, heartbeat_at, enabled, disabled_reason, forced_down, "
      "doctor_status, capabilities, created_at, updated_at FROM compute_hosts "
      "WHERE (:n1 = '' OR name = :n2) AND (:i1 = 0 OR id = :i2) ORDER BY name");
  row.bind(st);
  st.exchange(soci::use(name, "n1"));
  st.exchange(soci::use(name, "n2"));
  st.exchange(soci::use(id, "i1"));
  st.exchange(soci::use(id, "i2"));
  st.define_and_bind();
  st.execute();
  std::vector<ComputeHost> out;
  while (st.fetch()) out.push_back(row.get());
  return out;
}

ComputeHost one_host(soci::session& sql, const std::string& name, long long id) {
  auto rows = select_hosts(sql, name, id);
  if (rows.empty()) {
    throw Abort{Error::not_found("compute host " +
                                 (name.empty() ? std::to_string(id) : "'" + name + "'") +
                                 " does not exist")};
  }
  return rows.front();
}

// UPDATE compute_hosts by name; on MySQL an unchanged row counts 0, so check existence then.
void update_host(soci::session& sql, soci::statement& st, const std::string& name) {
  st.execute(true);
  if (st.get_affected_rows() == 0) one_host(sql, name, 0);
}

}  // namespace

Result<ComputeHost> Store::upsert_compute_host(const ComputeHost& h) {
  return impl_->changed(impl_->write_result<ComputeHost>(
      [&](soci::session& sql) {
        const std::string ts = format_time(now());
        long long mem = h.memory_mb, disk = h.disk_gb, res_mem = h.reserved_host_memory_mb,
                  res_disk = h.reserved_host_disk_mb;
        int n = 0;
        sql << "SELECT COUNT(*) FROM compute_hosts WHERE name = :n", soci::use(h.name),
            soci::into(n);
        if (n == 0) {
          std::string uuid = h.uuid.empty() ? generate_uuid() : h.uuid;
          sql << "INSERT INTO compute_hosts (uuid, name, hypervisor_type, vcpus, memory_mb, "
                 "disk_gb, reserved_host_cpus, reserved_host_memory_mb, reserved_host_disk_mb, "
                 "cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, "
                 "capabilities, doctor_status, created_at, updated_at) VALUES (:u, :n, :t, :v, "
                 ":m, :d, :rc, :rm, :rd, :cr, :rr, :dr, :cap, :doc, :c, :up)",
              soci::use(uuid), soci::use(h.name), soci::use(h.hypervisor_type), soci::use(h.vcpus),
              soci::use(mem), soci::use(disk), soci::use(h.reserved_host_cpus), soci::use(res_mem),
              soci::use(res_disk), soci::use(h.cpu_allocation_ratio),
              soci::use(h.ram_allocation_ratio), soci::use(h.disk_allocation_ratio),
              soci::use(h.capabilities_json), soci::use(h.doctor_status), soci::use(ts),
              soci::use(ts);
        } else {
          sql << "UPDATE compute_hosts SET hypervisor_type = :t, vcpus = :v, memory_mb = :m, "
                 "disk_gb = :d, reserved_host_cpus = :rc, reserved_host_memory_mb = :rm, "
                 "reserved_host_disk_mb = :rd, cpu_allocation_ratio = :cr, "
                 "ram_allocation_ratio = :rr, disk_allocation_ratio = :dr, capabilities = :cap, "
                 "generation = generation + 1, updated_at = :up WHERE name = :n",
              soci::use(h.hypervisor_type), soci::use(h.vcpus), soci::use(mem), soci::use(disk),
              soci::use(h.reserved_host_cpus), soci::use(res_mem), soci::use(res_disk),
              soci::use(h.cpu_allocation_ratio), soci::use(h.ram_allocation_ratio),
              soci::use(h.disk_allocation_ratio), soci::use(h.capabilities_json), soci::use(ts),
              soci::use(h.name);
        }
        return one_host(sql, h.name, 0);
      },
      "registering compute host '" + h.name + "'"));
}

Result<ComputeHost> Store::get_compute_host(const std::string& name) {
  return impl_->read<ComputeHost>(
      [&](soci::session& sql) {
        if (name.empty()) throw Abort{Error::not_found("compute host name is empty")};
        return one_host(sql, name, 0);
      },
      "reading compute host '" + name + "'");
}

Result<ComputeHost> Store::get_compute_host_by_id(int64_t id) {
  return impl_->read<ComputeHost>(
      [&](soci::session& sql) {
        if (id == 0) throw Abort{Error::not_found("compute host id 0")};
        return one_host(sql, "", id);
      },
      "reading compute host " + std::to_string(id));
}

Result<std::vector<ComputeHost>> Store::list_compute_hosts() {
  return impl_->read<std::vector<ComputeHost>>(
      [&](soci::session& sql) { return select_hosts(sql, "", 0); }, "listing compute hosts");
}

Status Store::record_heartbeat(const std::string& name, TimePoint at) {
  return impl_->write(
      [&](soci::session& sql) {
        std::string ts = format_time(at);
        soci::statement st =
            (sql.prepare << "UPDATE compute_hosts SET heartbeat_at = :t WHERE name = :n",
             soci::use(ts), soci::use(name));
        update_host(sql, st, name);
      },
      "recording heartbeat of '" + name + "'");
}

Status Store::record_host_boot(const std::string& name, TimePoint booted_at) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string ts = format_time(booted_at);
        sql << "DELETE FROM compute_host_boots WHERE host_name = :n", soci::use(name);
        sql << "INSERT INTO compute_host_boots (host_name, booted_at) VALUES (:n, :t)",
            soci::use(name), soci::use(ts);
      },
      "recording the boot time of '" + name + "'");
}

Result<std::optional<TimePoint>> Store::host_booted_at(const std::string& name) {
  return impl_->read<std::optional<TimePoint>>(
      [&](soci::session& sql) -> std::optional<TimePoint> {
        std::string ts;
        sql << "SELECT booted_at FROM compute_host_boots WHERE host_name = :n", soci::use(name),
            soci::into(ts);
        if (!sql.got_data()) return std::nullopt;
        return parse_time(ts);
      },
      "reading the boot time of '" + name + "'");
}

Status Store::record_heartbeats(const std::vector<std::string>& names, TimePoint at) {
  return impl_->write(
      [&](soci::session& sql) {
        constexpr size_t kChunk = 500;
        for (size_t k = 0; k < names.size(); k += kChunk) {
          Binder b;
          std::string in;
          for (size_t j = k; j < std::min(names.size(), k + kChunk); ++j) {
            in += (in.empty() ? "" : ", ") + b.text(names[j]);
          }
          const std::string ts = b.text(format_time(at));
          execute_bound(
              sql, "UPDATE compute_hosts SET heartbeat_at = " + ts + " WHERE name IN (" + in + ")",
              b);
        }
      },
      "recording heartbeats");
}

Status Store::set_compute_host_enabled(const std::string& name, bool enabled,
                                       const std::string& reason) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        int en = enabled ? 1 : 0;
        std::string r = enabled ? "" : reason, ts = format_time(now());
        soci::statement st = (sql.prepare << "UPDATE compute_hosts SET enabled = :e, "
                                             "disabled_reason = :r, updated_at = :t, "
                                             "generation = generation + 1 "
                                             "WHERE name = :n",
                              soci::use(en), soci::use(r), soci::use(ts), soci::use(name));
        update_host(sql, st, name);
      },
      "changing compute host '" + name + "'"));
}

Status Store::set_compute_host_forced_down(const std::string& name, bool forced_down) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        int f = forced_down ? 1 : 0;
        soci::statement st =
            (sql.prepare
                 << "UPDATE compute_hosts SET forced_down = :f, generation = generation + 1 "
                    "WHERE name = :n",
             soci::use(f), soci::use(name));
        update_host(sql, st, name);
      },
      "changing compute host '" + name + "'"));
}

Status Store::set_doctor_status(const std::string& name, const std::string& text) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare
                 << "UPDATE compute_hosts SET doctor_status = :d, generation = generation + 1 "
                    "WHERE name = :n",
             soci::use(text), soci::use(name));
        update_host(sql, st, name);
      },
      "recording doctor status of '" + name + "'"));
}

// ---- aggregates ----

namespace {

std::vector<Aggregate> select_aggregates(soci::session& sql, long long id, bool with_hosts = true) {
  std::vector<Aggregate> out;
  Aggregate a;
  long long aid = 0;
  std::string az, created, updated;
  soci::indicator i_az{}, i_c{}, i_u{};
  soci::statement st =
      (sql.prepare << "SELECT id, uuid, name, availability_zone, created_at, updated_at FROM "
                      "aggregates WHERE (:a = 0 OR id = :b) ORDER BY id",
       soci::use(id, "a"), soci::use(id, "b"), soci::into(aid), soci::into(a.uuid),
       soci::into(a.name), soci::into(az, i_az), soci::into(created, i_c),
       soci::into(updated, i_u));
  st.execute();
  while (st.fetch()) {
    Aggregate x = a;
    x.id = aid;
    x.availability_zone = opt(az, i_az);
    if (i_c != soci::i_null) x.created_at = parse_time(created);
    if (i_u != soci::i_null) x.updated_at = parse_time(updated);
    out.push_back(std::move(x));
  }
  for (Aggregate& x : out) {
    long long xid = x.id;
    std::string k, v, host;
    soci::indicator vi{};
    soci::statement m = (sql.prepare << "SELECT meta_key, meta_value FROM aggregate_metadata "
                                        "WHERE aggregate_id = :i",
                         soci::use(xid), soci::into(k), soci::into(v, vi));
    m.execute();
    while (m.fetch()) x.metadata[k] = vi == soci::i_null ? "" : v;
    if (!with_hosts) continue;
    soci::statement h = (sql.prepare << "SELECT host FROM aggregate_hosts WHERE aggregate_id = "
                                        ":i ORDER BY host",
                         soci::use(xid), soci::into(host));
    h.execute();
    while (h.fetch()) x.hosts.push_back(host);
  }
  return out;
}

Aggregate one_aggregate(soci::session& sql, long long id) {
  auto rows = select_aggregates(sql, id);
  if (id == 0 || rows.empty()) {
    throw Abort{Error::not_found("aggregate " + std::to_string(id) + " does not exist")};
  }
  return rows.front();
}

// Also bumps the generation of the aggregate's hosts: their scheduling metadata changed, and
// that is how the conductors' fleet views notice it.
void touch_aggregate(soci::session& sql, long long id) {
  std::string ts = format_time(now());
  sql << "UPDATE aggregates SET updated_at = :t WHERE id = :i", soci::use(ts), soci::use(id);
  sql << "UPDATE compute_hosts SET generation = generation + 1 WHERE name IN "
         "(SELECT host FROM aggregate_hosts WHERE aggregate_id = :i)",
      soci::use(id);
}

}  // namespace

Result<Aggregate> Store::create_aggregate(const Aggregate& a) {
  return impl_->changed(impl_->write_result<Aggregate>(
      [&](soci::session& sql) {
        std::string uuid = a.uuid.empty() ? generate_uuid() : a.uuid, ts = format_time(now());
        NullableString az = nullable(a.availability_zone);
        sql << "INSERT INTO aggregates (uuid, name, availability_zone, created_at, updated_at) "
               "VALUES (:u, :n, :az, :c, :up)",
            soci::use(uuid), soci::use(a.name), soci::use(az.value, az.ind), soci::use(ts),
            soci::use(ts);
        long long id = 0;
        sql << "SELECT id FROM aggregates WHERE uuid = :u", soci::use(uuid), soci::into(id);
        for (const auto& [k, v] : a.metadata) {
          sql << "INSERT INTO aggregate_metadata (aggregate_id, meta_key, meta_value) "
                 "VALUES (:i, :k, :v)",
              soci::use(id), soci::use(k), soci::use(v);
        }
        for (const auto& h : a.hosts) {
          sql << "INSERT INTO aggregate_hosts (aggregate_id, host) VALUES (:i, :h)", soci::use(id),
              soci::use(h);
        }
        return one_aggregate(sql, id);
      },
      "creating aggregate '" + a.name + "'"));
}

Result<Aggregate> Store::get_aggregate(int64_t id) {
  return impl_->read<Aggregate>([&](soci::session& sql) { return one_aggregate(sql, id); },
                                "reading aggregate " + std::to_string(id));
}

Result<std::vector<Aggregate>> Store::list_aggregates() {
  return impl_->read<std::vector<Aggregate>>(
      [&](soci::session& sql) { return select_aggregates(sql, 0); }, "listing aggregates");
}

Status Store::update_aggregate(int64_t id, const std::string& name,
                               const std::optional<std::string>& availability_zone) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        long long aid = id;
        one_aggregate(sql, aid);
        NullableString az = nullable(availability_zone);
        std::string ts = format_time(now());
        sql << "UPDATE aggregates SET name = :n, availability_zone = :az, updated_at = :t "
               "WHERE id = :i",
            soci::use(name), soci::use(az.value, az.ind), soci::use(ts), soci::use(aid);
        touch_aggregate(sql, aid);
      },
      "updating aggregate " + std::to_string(id)));
}

Status Store::set_aggregate_metadata(int64_t id,
                                     const std::map<std::string, std::optional<std::string>>& m) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        long long aid = id;
        one_aggregate(sql, aid);
        for (const auto& [k, v] : m) {
          if (k == "availability_zone") {  // nova keeps the AZ as metadata; we keep it beside
            NullableString az = nullable(v);
            sql << "UPDATE aggregates SET availability_zone = :az WHERE id = :i",
                soci::use(az.value, az.ind), soci::use(aid);
            continue;
          }
          sql << "DELETE FROM aggregate_metadata WHERE aggregate_id = :i AND meta_key = :k",
              soci::use(aid), soci::use(k);
          if (v) {
            sql << "INSERT INTO aggregate_metadata (aggregate_id, meta_key, meta_value) "
                   "VALUES (:i, :k, :v)",
                soci::use(aid), soci::use(k), soci::use(*v);
          }
        }
        touch_aggregate(sql, aid);
      },
      "setting metadata of aggregate " + std::to_string(id)));
}

Status Store::add_aggregate_host(int64_t id, const std::string& host) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        long long aid = id;
        Aggregate a = one_aggregate(sql, aid);
        for (const auto& h : a.hosts) {
          if (h == host) {
            throw Abort{
                Error::conflict("host '" + host + "' is already in aggregate '" + a.name + "'")};
          }
        }
        sql << "INSERT INTO aggregate_hosts (aggregate_id, host) VALUES (:i, :h)", soci::use(aid),
            soci::use(host);
        touch_aggregate(sql, aid);
      },
      "adding host to aggregate " + std::to_string(id)));
}

Status Store::remove_aggregate_host(int64_t id, const std::string& host) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        long long aid = id;
        Aggregate a = one_aggregate(sql, aid);
        soci::statement st = (sql.prepare << "DELETE FROM aggregate_hosts WHERE aggregate_id = :i "
                                             "AND host = :h",
                              soci::use(aid), soci::use(host));
        st.execute(true);
        require_row(st, "host '" + host + "' is not in aggregate '" + a.name + "'");
        touch_aggregate(sql, aid);
        sql << "UPDATE compute_hosts SET generation = generation + 1 WHERE name = :h",
            soci::use(host);
      },
      "removing host from aggregate " + std::to_string(id)));
}

Status Store::delete_aggregate(int64_t id) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        long long aid = id;
        // Locked first: a host added by another replica meanwhile waits on this row (the foreign
        // key) and then fails, instead of being cascaded away after the emptiness check passed.
        lock_row(sql, impl_->dialect, "aggregates", "id", aid);
        Aggregate a = one_aggregate(sql, aid);
        if (!a.hosts.empty()) {
          throw Abort{Error::conflict("aggregate '" + a.name + "' still has " +
                                      std::to_string(a.hosts.size()) + " hosts")};
        }
        sql << "DELETE FROM aggregate_metadata WHERE aggregate_id = :i", soci::use(aid);
        sql << "DELETE FROM aggregates WHERE id = :i", soci::use(aid);
      },
      "deleting aggregate " + std::to_string(id)));
}

// ---- the conductor's fleet view ----

Result<std::vector<HostGeneration>> Store::list_host_generations() {
  return impl_->read<std::vector<HostGeneration>>(
      [&](soci::session& sql) {
        std::vector<HostGeneration> out;
        HostGeneration g;
        long long id = 0, gen = 0;
        std::string hb;
        soci::indicator i_hb{};
        soci::statement st =
            (sql.prepare << "SELECT id, name, generation, heartbeat_at "
                            "FROM compute_hosts ORDER BY id",
             soci::into(id), soci::into(g.name), soci::into(gen), soci::into(hb, i_hb));
        st.execute();
        while (st.fetch()) {
          g.id = id;
          g.generation = gen;
          g.heartbeat_at.reset();
          if (i_hb != soci::i_null) g.heartbeat_at = parse_time(hb);
          out.push_back(g);
        }
        return out;
      },
      "reading host generations");
}

Result<std::vector<Store::HostDetail>> Store::get_host_details(const std::vector<int64_t>& ids) {
  return impl_->read<std::vector<HostDetail>>(
      [&](soci::session& sql) {
        std::vector<HostDetail> out;
        for (int64_t id : ids) {
          auto rows = select_hosts(sql, "", id);
          if (rows.empty()) continue;  // removed meanwhile
          HostDetail d;
          d.host = std::move(rows.front());
          PciDeviceFilter f;
          f.compute_node_id = id;
          d.devices = query_pci_devices(sql, f);
          long long agg = 0;
          soci::statement st =
              (sql.prepare << "SELECT aggregate_id FROM aggregate_hosts WHERE host = :h",
               soci::use(d.host.name), soci::into(agg));
          st.execute();
          while (st.fetch()) d.aggregate_ids.push_back(agg);
          out.push_back(std::move(d));
        }
        return out;
      },
      "reading compute hosts");
}

Result<std::vector<Aggregate>> Store::list_aggregates_without_hosts() {
  return impl_->read<std::vector<Aggregate>>(
      [&](soci::session& sql) { return select_aggregates(sql, 0, false); }, "listing aggregates");
}

}  // namespace gpucloud::store
