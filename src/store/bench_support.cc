// The store's side of bench/store_claims: the raw commit rate of a one-row transaction through
// the same connection pool and transaction runner that claims use, and MariaDB's statement count.
#include <chrono>

#include "store/store_impl.h"

namespace gpucloud::store {

Result<double> time_one_row_commits(Store& store, const std::string& host, int n) {
  Store::Impl& impl = StoreTestAccess::impl(store);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    Status s = impl.write(
        [&](soci::session& sql) {
          std::string ts = format_time(now());
          sql << "UPDATE compute_hosts SET updated_at = :t WHERE name = :n", soci::use(ts),
              soci::use(host);
        },
        "one-row commit");
    if (!s) return s.error();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Result<long long> server_statement_count(Store& store) {
  Store::Impl& impl = StoreTestAccess::impl(store);
  if (impl.target.backend != Backend::kMysql) return Error::invalid("not a MariaDB store");
  auto lease = impl.borrow();
  if (!lease) return lease.error();
  try {
    std::string name;
    long long n = 0;
    **lease << "SHOW GLOBAL STATUS LIKE 'Questions'", soci::into(name), soci::into(n);
    return n;
  } catch (const std::exception& e) {
    return classify(e, "reading the statement count");
  }
}

Status insert_bench_fleet(Store& store, const std::string& prefix, int hosts, int gpu_hosts,
                          int gpus) {
  Store::Impl& impl = StoreTestAccess::impl(store);
  return impl.write(
      [&](soci::session& sql) {
        const std::string ts = format_time(now());
        for (int h = 0; h < hosts; ++h) {
          char name[64];
          std::snprintf(name, sizeof name, "%s%05d", prefix.c_str(), h);
          const std::string host = name, uuid = generate_uuid();
          sql << "INSERT INTO compute_hosts (uuid, name, hypervisor_type, vcpus, memory_mb, "
                 "disk_gb, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, "
                 "capabilities, doctor_status, heartbeat_at, created_at, updated_at) VALUES "
                 "(:u, :n, 'QEMU', 256, 1048576, 100000, 4, 1, 1, "
                 "'{\"hypervisor_type\": \"QEMU\", \"cpu_info\": {\"arch\": \"x86_64\"}}', "
                 "'ok: bench', :hb, :c, :up)",
              soci::use(uuid), soci::use(host), soci::use(ts), soci::use(ts), soci::use(ts);
          if (h >= gpu_hosts) continue;
          long long node = 0;
          sql << "SELECT id FROM compute_hosts WHERE name = :n", soci::use(host), soci::into(node);
          for (int g = 0; g < gpus; ++g) {
            char addr[32], dev_id[32];
            std::snprintf(addr, sizeof addr, "0000:%02x:00.0", g + 1);
            std::snprintf(dev_id, sizeof dev_id, "pci_0000_%02x_00_0", g + 1);
            const std::string a = addr, d = dev_id, du = generate_uuid();
            sql << "INSERT INTO pci_devices (created_at, deleted, compute_node_id, address, "
                   "vendor_id, product_id, dev_type, dev_id, label, status, extra_info, uuid) "
                   "VALUES (:c, 0, :n, :a, '10de', '11bf', 'type-PCI', :d, 'label_10de_11bf', "
                   "'available', '{}', :u)",
                soci::use(ts), soci::use(node), soci::use(a), soci::use(d), soci::use(du);
          }
        }
      },
      "inserting the bench fleet");
}

Status insert_bench_instances(Store& store, int n) {
  Store::Impl& impl = StoreTestAccess::impl(store);
  return impl.write(
      [&](soci::session& sql) {
        const std::string ts = format_time(now());
        for (int i = 0; i < n; ++i) {
          const std::string uuid = generate_uuid(), name = "old-" + std::to_string(i);
          sql << "INSERT INTO instances (uuid, name, project_id, user_id, flavor_id, image_id, "
                 "status, vm_state, power_state, created_at, updated_at) VALUES (:u, :n, "
                 "'bench', 'bench', '1', '', 'ACTIVE', 'active', 1, :c, :up)",
              soci::use(uuid), soci::use(name), soci::use(ts), soci::use(ts);
        }
      },
      "inserting bench instances");
}

Status insert_bench_guests(Store& store, int hosts, int remote_members) {
  Store::Impl& impl = StoreTestAccess::impl(store);
  return impl.write(
      [&](soci::session& sql) {
        const std::string ts = format_time(now());
        for (const std::string g : {"web", "db"}) {
          sql << "INSERT INTO security_groups (id, project_id, name, description, created_at) "
                 "VALUES (:i, 'bench', :n, '', :t)",
              soci::use(g), soci::use(g), soci::use(ts);
        }
        sql << "INSERT INTO security_group_rules (id, group_id, protocol, from_port, to_port, "
               "cidr, "
               "remote_group_id, created_at) VALUES ('r-ssh', 'web', 'tcp', 22, 22, '0.0.0.0/0', "
               "NULL, :t)",
            soci::use(ts);
        sql << "INSERT INTO security_group_rules (id, group_id, protocol, from_port, to_port, "
               "cidr, "
               "remote_group_id, created_at) VALUES ('r-peers', 'db', 'tcp', 5432, 5432, NULL, "
               "'db', :t)",
            soci::use(ts);
        for (int h = 0; h < hosts; ++h) {
          const std::string uuid = generate_uuid(), host = "bench-" + std::to_string(h);
          const std::string ip = "10." + std::to_string(h / 65536) + "." +
                                 std::to_string(h / 256 % 256) + "." + std::to_string(h % 256);
          const std::string group = h < remote_members ? "db" : "web";
          sql << "INSERT INTO instances (uuid, name, project_id, user_id, flavor_id, image_id, "
                 "status, vm_state, power_state, host, ip_address, created_at, updated_at) VALUES "
                 "(:u, :n, 'bench', 'bench', '1', '', 'ACTIVE', 'active', 1, :h, :ip, :c, :up)",
              soci::use(uuid), soci::use(host), soci::use(host), soci::use(ip), soci::use(ts),
              soci::use(ts);
          sql << "INSERT INTO instance_system_metadata (instance_uuid, meta_key, meta_value) "
                 "VALUES (:u, 'security_groups_managed', 'true')",
              soci::use(uuid);
          sql << "INSERT INTO instance_security_groups (instance_uuid, group_id, created_at) "
                 "VALUES (:u, :g, :t)",
              soci::use(uuid), soci::use(group), soci::use(ts);
        }
      },
      "inserting bench guests");
}

Status recreate_mysql_database(const std::string& server_url, const std::string& name) {
  auto target = DatabaseTarget::parse(server_url);
  if (!target.ok()) return target.error();
  try {
    std::string conn = "host=" + target->url.host() + " user=" + target->url.user() +
                       " password=" + target->url.password();
    if (target->url.port()) conn += " port=" + std::to_string(*target->url.port());
    soci::session sql("mysql", conn);
    sql << "DROP DATABASE IF EXISTS " + name;
    sql << "CREATE DATABASE " + name;
    return {};
  } catch (const std::exception& e) {
    return classify(e, "creating database " + name);
  }
}

}  // namespace gpucloud::store
