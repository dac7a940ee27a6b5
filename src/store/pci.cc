// nova's pci_devices table: inventory sync from the agent, listing, the operator's
// available/unavailable switch, the event log, and the read-only reader for the admission check.
#include <set>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

const char* kPciColumns =
    "id, compute_node_id, address, vendor_id, product_id, dev_type, dev_id, status, "
    "instance_uuid, request_id, numa_node, label, parent_addr, extra_info, uuid, created_at, "
    "updated_at, deleted_at, deleted";

// Reads rows of kPciColumns. Rows that nova could hold but we cannot parse are reported, not
// silently skipped: the admission check must not under-count.
struct PciRow {
  long long id = 0, node = 0, deleted = 0;
  std::string address, vendor, product, dev_type, dev_id, status, instance, request, label, parent,
      extra, uuid, created, updated, deleted_at;
  int numa = 0;
  soci::indicator i_dev_id{}, i_instance{}, i_request{}, i_numa{}, i_parent{}, i_extra{}, i_uuid{},
      i_created{}, i_updated{}, i_deleted_at{}, i_deleted{};

  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(node));
    st.exchange(soci::into(address));
    st.exchange(soci::into(vendor));
    st.exchange(soci::into(product));
    st.exchange(soci::into(dev_type));
    st.exchange(soci::into(dev_id, i_dev_id));
    st.exchange(soci::into(status));
    st.exchange(soci::into(instance, i_instance));
    st.exchange(soci::into(request, i_request));
    st.exchange(soci::into(numa, i_numa));
    st.exchange(soci::into(label));
    st.exchange(soci::into(parent, i_parent));
    st.exchange(soci::into(extra, i_extra));
    st.exchange(soci::into(uuid, i_uuid));
    st.exchange(soci::into(created, i_created));
    st.exchange(soci::into(updated, i_updated));
    st.exchange(soci::into(deleted_at, i_deleted_at));
    st.exchange(soci::into(deleted, i_deleted));
  }

  Result<PciDeviceRecord> record() const {
    PciDeviceRecord r;
    const std::string where = "pci_devices row " + std::to_string(id) + ": ";
    r.id = id;
    r.compute_node_id = node;
    auto a = PciAddress::parse(address);
    auto v = HexId::parse(vendor, "vendor_id");
    auto p = HexId::parse(product, "product_id");
    auto t = parse_device_type(dev_type);
    auto s = parse_pci_device_status(status);
    if (!a) return a.error().with_context(where + "address");
    if (!v) return v.error().with_context(where);
    if (!p) return p.error().with_context(where);
    if (!t) return t.error().with_context(where);
    if (!s) return s.error().with_context(where);
    r.address = *a;
    r.vendor_id = *v;
    r.product_id = *p;
    r.dev_type = *t;
    r.status = *s;
    r.dev_id = i_dev_id == soci::i_null ? "" : dev_id;
    r.instance_uuid = opt(instance, i_instance);
    r.request_id = opt(request, i_request);
    if (i_numa != soci::i_null) r.numa_node = numa;
    r.label = label;
    if (i_parent != soci::i_null && !parent.empty()) {
      auto pa = PciAddress::parse(parent);
      if (!pa) return pa.error().with_context(where + "parent_addr");
      r.parent_addr = *pa;
    }
    r.extra_info = i_extra == soci::i_null ? "{}" : extra;
    r.uuid = i_uuid == soci::i_null ? "" : uuid;
    if (i_created != soci::i_null) r.created_at = parse_time(created);
    if (i_updated != soci::i_null) r.updated_at = parse_time(updated);
    if (i_deleted_at != soci::i_null) r.deleted_at = parse_time(deleted_at);
    r.deleted = i_deleted == soci::i_null ? 0 : deleted;
    return r;
  }
};

std::string dev_id_for(const PciAddress& a) {
  std::string s = "pci_" + a.to_string();
  for (char& c : s) {
    if (c == ':' || c == '.') c = '_';
  }
  return s;
}

}  // namespace

std::vector<PciDeviceRecord> query_pci_devices(soci::session& sql, const PciDeviceFilter& f) {
  // Only the filters that are set go into the WHERE clause, so that the (instance_uuid, deleted)
  // and (compute_node_id, deleted) indexes serve the common lookups.
  Binder b;
  std::string where = " WHERE 1 = 1";
  if (f.compute_node_id) where += " AND compute_node_id = " + b.number(*f.compute_node_id);
  if (f.instance_uuid) where += " AND instance_uuid = " + b.text(*f.instance_uuid);
  if (f.status) where += " AND status = " + b.text(to_string(*f.status));
  if (!f.include_deleted) where += " AND deleted = 0";
  return select_pci_devices(sql, where + " ORDER BY compute_node_id, address, id", b);
}

std::vector<PciDeviceRecord> select_pci_devices(soci::session& sql, const std::string& tail,
                                                Binder& b) {
  PciRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string("SELECT ") + kPciColumns + " FROM pci_devices" + tail);
  row.bind(st);
  b.bind(st);
  st.define_and_bind();
  st.execute();
  std::vector<PciDeviceRecord> out;
  while (st.fetch()) {
    auto r = row.record();
    if (!r) throw Abort{r.error()};
    out.push_back(std::move(*r));
  }
  return out;
}

void log_pci_event(soci::session& sql, const PciDeviceRecord& d,
                   std::optional<PciDeviceStatus> from, PciDeviceStatus to, const std::string& ts) {
  NullableString f = nullable(from ? std::optional<std::string>(to_string(*from)) : std::nullopt);
  NullableString inst = nullable(d.instance_uuid);
  NullableString req = nullable(d.request_id);
  long long id = d.id, node = d.compute_node_id;
  std::string addr = d.address.to_string(), t = to_string(to);
  sql << "INSERT INTO pci_device_events (device_id, compute_node_id, address, from_status, "
         "to_status, instance_uuid, request_id, created_at) "
         "VALUES (:d, :n, :a, :f, :t, :i, :r, :c)",
      soci::use(id), soci::use(node), soci::use(addr), soci::use(f.value, f.ind), soci::use(t),
      soci::use(inst.value, inst.ind), soci::use(req.value, req.ind), soci::use(ts);
}

Status Store::sync_pci_devices(const std::string& host, const std::vector<PciDevice>& seen,
                               const std::map<PciAddress, std::string>& extra_info) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        long long node = 0;
        soci::indicator ind = soci::i_null;
        sql << "SELECT id FROM compute_hosts WHERE name = :n", soci::use(host),
            soci::into(node, ind);
        if (ind == soci::i_null || !sql.got_data()) {
          throw Abort{Error::not_found("compute host '" + host + "' is not registered")};
        }
        PciDeviceFilter f;
        f.compute_node_id = node;
        auto known = query_pci_devices(sql, f);
        const std::string ts = format_time(now());
        std::set<PciAddress> seen_addrs;
        for (const PciDevice& d : seen) {
          seen_addrs.insert(d.address);
          auto tags = extra_info.find(d.address);
          std::string extra = tags == extra_info.end() ? "{}" : tags->second;
          const PciDeviceRecord* existing = nullptr;
          for (const auto& k : known) {
            if (k.address == d.address) existing = &k;
          }
          if (existing) {
            if (existing->extra_info != extra) {  // the device spec's tags changed
              long long id = existing->id;
              sql << "UPDATE pci_devices SET extra_info = :e WHERE id = :id", soci::use(extra),
                  soci::use(id);
            }
            continue;
          }
          std::string addr = d.address.to_string(), v = d.vendor_id.str(), p = d.product_id.str();
          std::string type = to_string(d.dev_type), dev_id = dev_id_for(d.address);
          std::string label = "label_" + v + "_" + p, uuid = generate_uuid();
          NullableString parent =
              nullable(d.parent_addr ? std::optional<std::string>(d.parent_addr->to_string())
                                     : std::nullopt);
          int numa = d.numa_node.value_or(0);
          soci::indicator numa_ind = d.numa_node ? soci::i_ok : soci::i_null;
          sql << "INSERT INTO pci_devices (created_at, updated_at, deleted_at, deleted, "
                 "compute_node_id, address, vendor_id, product_id, dev_type, dev_id, label, "
                 "status, extra_info, instance_uuid, request_id, numa_node, parent_addr, uuid) "
                 "VALUES (:c, NULL, NULL, 0, :n, :a, :v, :p, :t, :di, :l, 'available', :e, "
                 "NULL, NULL, :numa, :pa, :u)",
              soci::use(ts), soci::use(node), soci::use(addr), soci::use(v), soci::use(p),
              soci::use(type), soci::use(dev_id), soci::use(label), soci::use(extra),
              soci::use(numa, numa_ind), soci::use(parent.value, parent.ind), soci::use(uuid);
          long long id = 0;
          sql << "SELECT id FROM pci_devices WHERE compute_node_id = :n AND address = :a "
                 "AND deleted = 0",
              soci::use(node), soci::use(addr), soci::into(id);
          PciDeviceRecord r;
          r.id = id;
          r.compute_node_id = node;
          r.address = d.address;
          log_pci_event(sql, r, std::nullopt, PciDeviceStatus::kAvailable, ts);
        }
        // Gone from the host: free devices are soft-deleted as nova does (status removed,
        // deleted = id). Devices in use stay until released; the next sync removes them.
        for (const auto& k : known) {
          if (seen_addrs.count(k.address)) continue;
          if (k.status != PciDeviceStatus::kAvailable && k.status != PciDeviceStatus::kUnavailable)
            continue;
          long long id = k.id;
          std::string from = to_string(k.status);
          soci::statement st = (sql.prepare << "UPDATE pci_devices SET status = 'removed', "
                                               "deleted = id, deleted_at = :t, updated_at = :t2 "
                                               "WHERE id = :id AND status = :s AND deleted = 0",
                                soci::use(ts), soci::use(ts), soci::use(id), soci::use(from));
          st.execute(true);
          if (st.get_affected_rows() == 1) {
            log_pci_event(sql, k, k.status, PciDeviceStatus::kRemoved, ts);
          }
        }
        // The conductors' fleet views notice the host changed by its generation.
        sql << "UPDATE compute_hosts SET generation = generation + 1 WHERE id = :n",
            soci::use(node);
      },
      "syncing PCI devices of " + host));
}

Result<std::vector<PciDeviceRecord>> Store::list_pci_devices(const PciDeviceFilter& filter) {
  return impl_->read<std::vector<PciDeviceRecord>>(
      [&](soci::session& sql) { return query_pci_devices(sql, filter); }, "listing PCI devices");
}

Status Store::set_pci_device_available(int64_t device_id, bool available) {
  return impl_->changed(impl_->write(
      [&](soci::session& sql) {
        long long id = device_id;
        const PciDeviceStatus from =
            available ? PciDeviceStatus::kUnavailable : PciDeviceStatus::kAvailable;
        const PciDeviceStatus to =
            available ? PciDeviceStatus::kAvailable : PciDeviceStatus::kUnavailable;
        std::string f = to_string(from), t = to_string(to), ts = format_time(now());
        soci::statement st = (sql.prepare << "UPDATE pci_devices SET status = :t, updated_at = :u "
                                             "WHERE id = :id AND status = :f AND deleted = 0",
                              soci::use(t), soci::use(ts), soci::use(id), soci::use(f));
        st.execute(true);
        if (st.get_affected_rows() != 1) {
          throw Abort{Error::conflict("PCI device " + std::to_string(device_id) + " is not " +
                                      std::string(to_string(from)))};
        }
        PciDeviceRecord r;
        r.id = id;
        sql << "SELECT compute_node_id, address FROM pci_devices WHERE id = :id", soci::use(id),
            soci::into(r.compute_node_id), soci::into(f);
        if (auto a = PciAddress::parse(f)) r.address = *a;
        log_pci_event(sql, r, from, to, ts);
        if (available) sql << "DELETE FROM pci_device_reasons WHERE device_id = :id", soci::use(id);
        long long node = r.compute_node_id;
        sql << "UPDATE compute_hosts SET generation = generation + 1 WHERE id = :n",
            soci::use(node);
      },
      "changing PCI device " + std::to_string(device_id)));
}

Result<std::map<int64_t, std::string>> Store::pci_device_reasons() {
  return impl_->read<std::map<int64_t, std::string>>(
      [&](soci::session& sql) {
        std::map<int64_t, std::string> out;
        long long id = 0;
        std::string reason;
        soci::indicator ind{};
        soci::statement st = (sql.prepare << "SELECT device_id, reason FROM pci_device_reasons",
                              soci::into(id), soci::into(reason, ind));
        st.execute();
        while (st.fetch()) out[id] = ind == soci::i_null ? "" : reason;
        return out;
      },
      "reading why PCI devices are unavailable");
}

Result<std::vector<PciDeviceEvent>> Store::list_pci_device_events(const std::string& instance) {
  return impl_->read<std::vector<PciDeviceEvent>>(
      [&](soci::session& sql) {
        std::vector<PciDeviceEvent> out;
        PciDeviceEvent e;
        long long id = 0, dev = 0, node = 0;
        std::string addr, from, to, inst, req, at;
        soci::indicator i_from{}, i_inst{}, i_req{};
        std::string filter = instance;
        soci::statement st =
            (sql.prepare << "SELECT id, device_id, compute_node_id, address, from_status, "
                            "to_status, instance_uuid, request_id, created_at FROM "
                            "pci_device_events WHERE (:f1 = '' OR instance_uuid = :f2) ORDER BY id",
             soci::use(filter, "f1"), soci::use(filter, "f2"), soci::into(id), soci::into(dev),
             soci::into(node), soci::into(addr), soci::into(from, i_from), soci::into(to),
             soci::into(inst, i_inst), soci::into(req, i_req), soci::into(at));
        st.execute();
        while (st.fetch()) {
          PciDeviceEvent ev;
          ev.id = id;
          ev.device_id = dev;
          ev.compute_node_id = node;
          if (auto a = PciAddress::parse(addr)) ev.address = *a;
          if (i_from != soci::i_null) {
            if (auto s = parse_pci_device_status(from)) ev.from_status = *s;
          }
          if (auto s = parse_pci_device_status(to)) ev.to_status = *s;
          ev.instance_uuid = opt(inst, i_inst);
          ev.request_id = opt(req, i_req);
          ev.at = parse_time(at);
          out.push_back(std::move(ev));
        }
        return out;
      },
      "listing PCI device events");
}

namespace {

// A one-connection, read-only Impl for a pci_devices table that may be nova's: no pragmas, no
// schema check, nothing but SELECT.
Result<std::unique_ptr<Store::Impl>> read_only_impl(std::string_view url) {
  auto target = DatabaseTarget::parse(url);
  if (!target) return target.error();
  auto impl = std::make_unique<Store::Impl>();
  impl->target = std::move(*target);
  impl->options.pool_size = 1;
  impl->read_only = true;
  // The seed's `mysql://cc:PW@openstack_host` names no database; its grant is on nova.pci_devices.
  if (impl->target.backend == Backend::kMysql && impl->target.database.empty()) {
    impl->target.database = "nova";
  }
  impl->dialect =
      impl->target.backend == Backend::kSqlite
          ? Dialect{Backend::kSqlite, "BEGIN", "BEGIN"}
          : Dialect{Backend::kMysql, "START TRANSACTION READ ONLY", "START TRANSACTION READ ONLY"};
  return impl;
}

}  // namespace

Result<std::vector<PciDeviceRecord>> read_pci_devices(std::string_view url) {
  auto impl = read_only_impl(url);
  if (!impl) return impl.error();
  auto rows = (*impl)->read<std::vector<PciDeviceRecord>>(
      [&](soci::session& sql) { return query_pci_devices(sql, PciDeviceFilter{}); },
      "reading pci_devices");
  if (!rows) return rows.error().with_context((*impl)->target.redacted());
  return rows;
}

PciDeviceCounter::PciDeviceCounter(std::unique_ptr<Store::Impl> impl) : impl_(std::move(impl)) {}
PciDeviceCounter::~PciDeviceCounter() = default;

Result<std::unique_ptr<PciDeviceCounter>> PciDeviceCounter::open(std::string_view url) {
  auto impl = read_only_impl(url);
  if (!impl) return impl.error();
  return std::unique_ptr<PciDeviceCounter>(new PciDeviceCounter(std::move(*impl)));
}

Result<std::vector<PciDeviceCount>> PciDeviceCounter::count(const std::vector<ProductId>& products,
                                                            bool per_node) {
  // nova's table keeps product ids lower case (as the agent writes them); ours does too.
  std::vector<std::string> ids;
  for (const auto& p : products) ids.push_back(p.str());
  std::string where = " WHERE deleted = 0";
  if (!ids.empty()) {
    where += " AND product_id IN (";
    for (size_t k = 0; k < ids.size(); ++k) where += (k ? ", :p" : ":p") + std::to_string(k);
    where += ")";
  }
  auto rows = impl_->read<std::vector<PciDeviceCount>>(
      [&](soci::session& sql) {
        std::string product, status;
        long long node = 0, n = 0;
        soci::statement st(sql);
        st.alloc();
        st.prepare(per_node ? "SELECT product_id, compute_node_id, status, COUNT(*) FROM "
                              "pci_devices" +
                                  where + " GROUP BY product_id, compute_node_id, status"
                            : "SELECT product_id, 0, status, COUNT(*) FROM pci_devices" + where +
                                  " GROUP BY product_id, status");
        st.exchange(soci::into(product));
        st.exchange(soci::into(node));
        st.exchange(soci::into(status));
        st.exchange(soci::into(n));
        for (size_t k = 0; k < ids.size(); ++k)
          st.exchange(soci::use(ids[k], "p" + std::to_string(k)));
        st.define_and_bind();
        st.execute();
        std::vector<PciDeviceCount> out;
        while (st.fetch()) {
          PciDeviceCount c;
          auto pid = HexId::parse(product, "product_id");
          if (!pid) throw Abort{Error::invalid("pci_devices.product_id: " + pid.error().message)};
          auto s = parse_pci_device_status(status);
          if (!s) throw Abort{Error::invalid("pci_devices.status: " + s.error().message)};
          c.product_id = *pid;
          c.compute_node_id = node;
          c.status = *s;
          c.count = n;
          out.push_back(c);
        }
        return out;
      },
      "counting pci_devices");
  if (!rows) return rows.error().with_context(impl_->target.redacted());
  return rows;
}

}  // namespace gpucloud::store
