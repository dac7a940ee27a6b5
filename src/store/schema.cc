// The schema, as numbered migrations, and how they are applied.
//
// SQLite runs DDL inside transactions, so a migration and its schema_version row commit together
// or not at all. MariaDB commits every DDL statement on its own; there each statement is written
// to be idempotent (IF NOT EXISTS), the version row is written last, and a failed migration runs
// its undo statements (dropping the tables it created) so the previous schema is what remains.
// If even the undo cannot run (the process died), the next run finds the old version number and
// re-applies the idempotent statements. A named lock (GET_LOCK) keeps two replicas that start at
// once from migrating together; on SQLite the write transaction does the same.
#include <regex>
#include <set>
#include <string>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

// Writes one statement for both backends: @ID, @TS, @TEXT, @BIG, @REAL, @ENGINE and
// @INSERT_IGNORE differ.
std::string expand(const std::string& sql, Backend b) {
  const bool my = b == Backend::kMysql;
  std::string out = sql;
  auto sub = [&](const std::string& token, const std::string& value) {
    for (size_t p; (p = out.find(token)) != std::string::npos;) out.replace(p, token.size(), value);
  };
  sub("@ID",
      my ? "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT");
  sub("@TS", my ? "DATETIME(6)" : "DATETIME");
  sub("@TEXT", my ? "MEDIUMTEXT" : "TEXT");
  sub("@BIG", my ? "BIGINT" : "INTEGER");
  sub("@REAL", my ? "DOUBLE" : "REAL");
  sub("@INSERT_IGNORE", my ? "INSERT IGNORE" : "INSERT OR IGNORE");
  sub("@ENGINE", my ? " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin" : "");
  return out;
}

// Version 1: everything. pci_devices has exactly nova's columns, types and indexes.
const std::vector<std::string> kVersion1 = {
    "CREATE TABLE IF NOT EXISTS projects (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL, domain_id VARCHAR(64) NOT NULL, description @TEXT, "
    "enabled INTEGER NOT NULL DEFAULT 1, created_at @TS, UNIQUE (domain_id, name))@ENGINE",
    "CREATE TABLE IF NOT EXISTS users (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL, domain_id VARCHAR(64) NOT NULL, "
    "password_hash VARCHAR(255) NOT NULL DEFAULT '', email VARCHAR(255) NOT NULL DEFAULT '', "
    "default_project_id VARCHAR(64) NULL, enabled INTEGER NOT NULL DEFAULT 1, created_at @TS, "
    "UNIQUE (domain_id, name))@ENGINE",
    "CREATE TABLE IF NOT EXISTS role_assignments (user_id VARCHAR(64) NOT NULL, "
    "project_id VARCHAR(64) NOT NULL, role VARCHAR(64) NOT NULL, "
    "PRIMARY KEY (user_id, project_id, role), "
    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE, "
    "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS tokens (token_hash VARCHAR(128) NOT NULL PRIMARY KEY, "
    "user_id VARCHAR(64) NOT NULL, project_id VARCHAR(64) NOT NULL DEFAULT '', roles @TEXT, "
    "issued_at @TS NOT NULL, expires_at @TS NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_tokens_expires_at ON tokens (expires_at)",
    "CREATE TABLE IF NOT EXISTS keypairs (user_id VARCHAR(64) NOT NULL, name VARCHAR(255) NOT "
    "NULL, "
    "public_key @TEXT, fingerprint VARCHAR(255) NOT NULL DEFAULT '', "
    "type VARCHAR(16) NOT NULL DEFAULT 'ssh', created_at @TS, PRIMARY KEY (user_id, name))@ENGINE",
    "CREATE TABLE IF NOT EXISTS flavors (id VARCHAR(255) NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL UNIQUE, vcpus INTEGER NOT NULL, memory_mb @BIG NOT NULL, "
    "root_gb @BIG NOT NULL DEFAULT 0, ephemeral_gb @BIG NOT NULL DEFAULT 0, "
    "swap_mb @BIG NOT NULL DEFAULT 0, rxtx_factor @REAL NOT NULL DEFAULT 1, "
    "is_public INTEGER NOT NULL DEFAULT 1, disabled INTEGER NOT NULL DEFAULT 0, "
    "description @TEXT, created_at @TS)@ENGINE",
    "CREATE TABLE IF NOT EXISTS flavor_extra_specs (flavor_id VARCHAR(255) NOT NULL, "
    "spec_key VARCHAR(255) NOT NULL, spec_value @TEXT, PRIMARY KEY (flavor_id, spec_key), "
    "FOREIGN KEY (flavor_id) REFERENCES flavors(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS flavor_projects (flavor_id VARCHAR(255) NOT NULL, "
    "project_id VARCHAR(64) NOT NULL, PRIMARY KEY (flavor_id, project_id), "
    "FOREIGN KEY (flavor_id) REFERENCES flavors(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS images (id VARCHAR(36) NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL DEFAULT '', owner VARCHAR(64) NOT NULL DEFAULT '', "
    "status VARCHAR(30) NOT NULL, visibility VARCHAR(20) NOT NULL, "
    "disk_format VARCHAR(20) NOT NULL DEFAULT '', container_format VARCHAR(20) NOT NULL DEFAULT "
    "'', "
    "size @BIG NULL, virtual_size @BIG NULL, checksum VARCHAR(32) NOT NULL DEFAULT '', "
    "os_hash_algo VARCHAR(64) NOT NULL DEFAULT '', os_hash_value VARCHAR(128) NOT NULL DEFAULT '', "
    "location @TEXT, min_disk @BIG NOT NULL DEFAULT 0, min_ram @BIG NOT NULL DEFAULT 0, "
    "protected INTEGER NOT NULL DEFAULT 0, os_hidden INTEGER NOT NULL DEFAULT 0, "
    "created_at @TS, updated_at @TS)@ENGINE",
    "CREATE TABLE IF NOT EXISTS image_properties (image_id VARCHAR(36) NOT NULL, "
    "name VARCHAR(255) NOT NULL, value @TEXT, PRIMARY KEY (image_id, name), "
    "FOREIGN KEY (image_id) REFERENCES images(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS image_tags (image_id VARCHAR(36) NOT NULL, "
    "tag VARCHAR(255) NOT NULL, PRIMARY KEY (image_id, tag), "
    "FOREIGN KEY (image_id) REFERENCES images(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS aggregates (id @ID, uuid VARCHAR(36) NOT NULL, "
    "name VARCHAR(255) NOT NULL UNIQUE, availability_zone VARCHAR(255) NULL, "
    "created_at @TS, updated_at @TS)@ENGINE",
    "CREATE TABLE IF NOT EXISTS aggregate_metadata (aggregate_id @BIG NOT NULL, "
    "meta_key VARCHAR(255) NOT NULL, meta_value @TEXT, PRIMARY KEY (aggregate_id, meta_key), "
    "FOREIGN KEY (aggregate_id) REFERENCES aggregates(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS aggregate_hosts (aggregate_id @BIG NOT NULL, "
    "host VARCHAR(255) NOT NULL, PRIMARY KEY (aggregate_id, host), "
    "FOREIGN KEY (aggregate_id) REFERENCES aggregates(id) ON DELETE CASCADE)@ENGINE",
    // generation: bumped by every claim and release, so that a claim's UPDATE always changes the
    // row (MySQL reports changed, not matched, rows) and concurrent claims on a host serialize.
    "CREATE TABLE IF NOT EXISTS compute_hosts (id @ID, uuid VARCHAR(36) NOT NULL, "
    "name VARCHAR(255) NOT NULL UNIQUE, hypervisor_type VARCHAR(32) NOT NULL DEFAULT 'QEMU', "
    "vcpus INTEGER NOT NULL DEFAULT 0, memory_mb @BIG NOT NULL DEFAULT 0, "
    "disk_gb @BIG NOT NULL DEFAULT 0, vcpus_used INTEGER NOT NULL DEFAULT 0, "
    "memory_mb_used @BIG NOT NULL DEFAULT 0, disk_gb_used @BIG NOT NULL DEFAULT 0, "
    "reserved_host_cpus INTEGER NOT NULL DEFAULT 0, "
    "reserved_host_memory_mb @BIG NOT NULL DEFAULT 0, "
    "reserved_host_disk_mb @BIG NOT NULL DEFAULT 0, "
    "cpu_allocation_ratio @REAL NOT NULL DEFAULT 16, "
    "ram_allocation_ratio @REAL NOT NULL DEFAULT 1.5, "
    "disk_allocation_ratio @REAL NOT NULL DEFAULT 1, heartbeat_at @TS NULL, "
    "enabled INTEGER NOT NULL DEFAULT 1, disabled_reason VARCHAR(255) NOT NULL DEFAULT '', "
    "forced_down INTEGER NOT NULL DEFAULT 0, doctor_status @TEXT, capabilities @TEXT, "
    "generation @BIG NOT NULL DEFAULT 0, created_at @TS, updated_at @TS)@ENGINE",
    "CREATE TABLE IF NOT EXISTS instances (uuid VARCHAR(36) NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL DEFAULT '', project_id VARCHAR(64) NOT NULL, "
    "user_id VARCHAR(64) NOT NULL, flavor_id VARCHAR(255) NOT NULL, "
    "image_id VARCHAR(36) NOT NULL DEFAULT '', "
    "availability_zone VARCHAR(255) NOT NULL DEFAULT '', host VARCHAR(255) NULL, "
    "status VARCHAR(16) NOT NULL, vm_state VARCHAR(32) NOT NULL, task_state VARCHAR(64) NULL, "
    "power_state INTEGER NOT NULL DEFAULT 0, fault_code INTEGER NULL, fault_message @TEXT NULL, "
    "fault_details @TEXT NULL, fault_created_at @TS NULL, request_spec @TEXT, "
    "readiness VARCHAR(16) NOT NULL DEFAULT 'waiting', readiness_error @TEXT, "
    "readiness_at @TS NULL, ip_address VARCHAR(64) NOT NULL DEFAULT '', user_data @TEXT, "
    "config_drive INTEGER NOT NULL DEFAULT 0, key_name VARCHAR(255) NOT NULL DEFAULT '', "
    "reservation_id VARCHAR(255) NOT NULL DEFAULT '', launch_index INTEGER NOT NULL DEFAULT 0, "
    "created_at @TS, updated_at @TS, launched_at @TS NULL, deleted_at @TS NULL)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_instances_project_id ON instances (project_id)",
    "CREATE TABLE IF NOT EXISTS instance_metadata (instance_uuid VARCHAR(36) NOT NULL, "
    "meta_key VARCHAR(255) NOT NULL, meta_value @TEXT, PRIMARY KEY (instance_uuid, meta_key), "
    "FOREIGN KEY (instance_uuid) REFERENCES instances(uuid) ON DELETE CASCADE)@ENGINE",
    // nova.db.main.models.PciDevice, column for column.
    "CREATE TABLE IF NOT EXISTS pci_devices (created_at @TS NULL, updated_at @TS NULL, "
    "deleted_at @TS NULL, deleted INTEGER NULL DEFAULT 0, id @ID, "
    "compute_node_id @BIG NOT NULL, address VARCHAR(12) NOT NULL, "
    "vendor_id VARCHAR(4) NOT NULL, product_id VARCHAR(4) NOT NULL, "
    "dev_type VARCHAR(8) NOT NULL, dev_id VARCHAR(255) NULL, label VARCHAR(255) NOT NULL, "
    "status VARCHAR(36) NOT NULL, extra_info @TEXT NULL, instance_uuid VARCHAR(36) NULL, "
    "request_id VARCHAR(36) NULL, numa_node INTEGER NULL, parent_addr VARCHAR(12) NULL, "
    "uuid VARCHAR(36) NULL, "
    "CONSTRAINT uniq_pci_devices0compute_node_id0address0deleted "
    "UNIQUE (compute_node_id, address, deleted), "
    "CONSTRAINT pci_devices_compute_node_id_fkey FOREIGN KEY (compute_node_id) "
    "REFERENCES compute_hosts(id))@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_pci_devices_compute_node_id_deleted "
    "ON pci_devices (compute_node_id, deleted)",
    "CREATE INDEX IF NOT EXISTS ix_pci_devices_instance_uuid_deleted "
    "ON pci_devices (instance_uuid, deleted)",
    "CREATE INDEX IF NOT EXISTS ix_pci_devices_compute_node_id_parent_addr_deleted "
    "ON pci_devices (compute_node_id, parent_addr, deleted)",
    "CREATE TABLE IF NOT EXISTS pci_device_events (id @ID, device_id @BIG NOT NULL, "
    "compute_node_id @BIG NOT NULL, address VARCHAR(12) NOT NULL, from_status VARCHAR(36) NULL, "
    "to_status VARCHAR(36) NOT NULL, instance_uuid VARCHAR(36) NULL, request_id VARCHAR(36) NULL, "
    "created_at @TS NOT NULL)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_pci_device_events_instance_uuid "
    "ON pci_device_events (instance_uuid)",
    "CREATE TABLE IF NOT EXISTS instance_claims (instance_uuid VARCHAR(36) NOT NULL PRIMARY KEY, "
    "compute_node_id @BIG NOT NULL, project_id VARCHAR(64) NOT NULL DEFAULT '', "
    "vcpus INTEGER NOT NULL, memory_mb @BIG NOT NULL, disk_gb @BIG NOT NULL, "
    "created_at @TS NOT NULL, FOREIGN KEY (compute_node_id) REFERENCES compute_hosts(id))@ENGINE",
    "CREATE TABLE IF NOT EXISTS instance_pci_requests (instance_uuid VARCHAR(36) NOT NULL, "
    "request_id VARCHAR(36) NOT NULL, alias VARCHAR(255) NOT NULL DEFAULT '', "
    "project_id VARCHAR(64) NOT NULL DEFAULT '', device_count INTEGER NOT NULL, "
    "PRIMARY KEY (instance_uuid, request_id))@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_instance_pci_requests_project_alias "
    "ON instance_pci_requests (project_id, alias)",
    "CREATE TABLE IF NOT EXISTS gpu_quotas (project_id VARCHAR(64) NOT NULL, "
    "alias VARCHAR(255) NOT NULL, quota_limit INTEGER NOT NULL, "
    "generation @BIG NOT NULL DEFAULT 0, PRIMARY KEY (project_id, alias))@ENGINE",
};

// Version 2: the agents' work queue and their reports. A compute call on a host served by an
// agent (`gpucloud agent`) becomes an agent_tasks row that the agent takes and answers, so a
// server restart loses no task; agent_reports keeps each host's last report of a kind
// (e.g. "orphans") for the admin to read.
const std::vector<std::string> kVersion2 = {
    "CREATE TABLE IF NOT EXISTS agent_tasks (id VARCHAR(36) NOT NULL PRIMARY KEY, "
    "host VARCHAR(255) NOT NULL, kind VARCHAR(32) NOT NULL, "
    "instance_uuid VARCHAR(36) NOT NULL DEFAULT '', payload @TEXT, state VARCHAR(16) NOT NULL, "
    "message @TEXT, result @TEXT, created_at @TS NOT NULL, taken_at @TS NULL, "
    "finished_at @TS NULL)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_agent_tasks_host_state ON agent_tasks (host, state)",
    "CREATE TABLE IF NOT EXISTS agent_reports (host VARCHAR(255) NOT NULL, "
    "kind VARCHAR(32) NOT NULL, report @TEXT, reported_at @TS NOT NULL, "
    "PRIMARY KEY (host, kind))@ENGINE",
};

// Version 3: the conductor's durable tasks. A boot, delete, stop, start or reboot is a row with
// an owner and a lease, so that a replica that dies leaves nothing stuck: another takes the row
// over when the lease runs out. Finished agent tasks are pruned by age (finished_at).
const std::vector<std::string> kVersion3 = {
    "CREATE TABLE IF NOT EXISTS lifecycle_tasks (id VARCHAR(36) NOT NULL PRIMARY KEY, "
    "instance_uuid VARCHAR(36) NOT NULL, kind VARCHAR(16) NOT NULL, step VARCHAR(32) NOT NULL, "
    "host VARCHAR(255) NULL, agent_task_id VARCHAR(36) NULL, owner VARCHAR(64) NULL, "
    "lease_until @TS NULL, attempts INTEGER NOT NULL DEFAULT 0, created_at @TS NOT NULL, "
    "updated_at @TS NOT NULL)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_lifecycle_tasks_instance_uuid "
    "ON lifecycle_tasks (instance_uuid)",
    "CREATE INDEX IF NOT EXISTS ix_lifecycle_tasks_lease_until ON lifecycle_tasks (lease_until)",
    "CREATE INDEX IF NOT EXISTS ix_agent_tasks_finished_at ON agent_tasks (finished_at)",
};

// Version 4: failed password logins per user (keystone's failed_auth_count / failed_auth_at),
// for the lockout that [security_compliance] lockout_failure_attempts turns on. A table of its
// own rather than columns on users: CREATE TABLE IF NOT EXISTS is idempotent on both backends.
const std::vector<std::string> kVersion4 = {
    "CREATE TABLE IF NOT EXISTS login_failures (user_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "failed_count INTEGER NOT NULL DEFAULT 0, last_failed_at @TS NULL, "
    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE)@ENGINE",
};

// Version 5: why a device is unavailable (its cleaning failed, or it is one_time_use and was
// used), shown to admins until one makes it available again. Beside pci_devices, whose columns
// stay nova's.
const std::vector<std::string> kVersion5 = {
    "CREATE TABLE IF NOT EXISTS pci_device_reasons (device_id @BIG NOT NULL PRIMARY KEY, "
    "reason @TEXT, updated_at @TS NOT NULL)@ENGINE",
};

// Version 6: nova's instance_system_metadata, for what gpucloud keeps about an instance beside
// its row: the snapshot image of a shelved server ("shelved_image_id"), which unshelve boots.
// And room for the status SHELVED_OFFLOADED (17 characters) on MariaDB (SQLite does not enforce
// VARCHAR lengths); MODIFY is idempotent, and the wider column is kept on an undo.
const std::vector<std::string> kVersion6 = {
    "CREATE TABLE IF NOT EXISTS instance_system_metadata (instance_uuid VARCHAR(36) NOT NULL, "
    "meta_key VARCHAR(255) NOT NULL, meta_value @TEXT, "
    "PRIMARY KEY (instance_uuid, meta_key))@ENGINE",
};
const char* kVersion6Mysql = "ALTER TABLE instances MODIFY status VARCHAR(32) NOT NULL";

// Version 7: keystone's domains and roles as rows, for the admin API to create, update and
// delete them. The fixed ones gpucloud had so far are seeded (idempotently: a rerun after a
// MariaDB failure ignores rows already there): the "default" domain, and the built-in roles with
// their names as ids, so that existing role assignments (held by name) stay valid.
const std::vector<std::string> kVersion7 = {
    "CREATE TABLE IF NOT EXISTS domains (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "name VARCHAR(64) NOT NULL UNIQUE, description @TEXT, "
    "enabled INTEGER NOT NULL DEFAULT 1)@ENGINE",
    "CREATE TABLE IF NOT EXISTS roles (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL UNIQUE, description @TEXT)@ENGINE",
    "@INSERT_IGNORE INTO domains (id, name, description, enabled) "
    "VALUES ('default', 'Default', 'The default domain', 1)",
    "@INSERT_IGNORE INTO roles (id, name, description) VALUES ('admin', 'admin', ''), "
    "('member', 'member', ''), ('reader', 'reader', ''), ('service', 'service', '')",
};

// Version 8: nova's quotas (os-quota-sets, os-quota-class-sets): limits per project, per user in
// a project (user_id '' for the project's own), and per quota class ('default' holds the
// defaults an admin set; a resource without a row has nova's default). The runner applies each
// missing version, whatever its neighbours (the two were built apart).
const std::vector<std::string> kVersion8 = {
    "CREATE TABLE IF NOT EXISTS quotas (project_id VARCHAR(64) NOT NULL, "
    "user_id VARCHAR(64) NOT NULL DEFAULT '', resource VARCHAR(255) NOT NULL, "
    "hard_limit @BIG NOT NULL, PRIMARY KEY (project_id, user_id, resource))@ENGINE",
    "CREATE TABLE IF NOT EXISTS quota_classes (class_name VARCHAR(255) NOT NULL, "
    "resource VARCHAR(255) NOT NULL, hard_limit @BIG NOT NULL, "
    "PRIMARY KEY (class_name, resource))@ENGINE",
};

// Version 9: keystone's users take properties beyond its own (a description, anything a client
// adds: keystone keeps them in its `extra` column and returns them). A side table, as version 5,
// so that no ALTER runs on users.
const std::vector<std::string> kVersion9 = {
    "CREATE TABLE IF NOT EXISTS user_extra (user_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "extra @TEXT, FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE)@ENGINE",
};

// Version 10: nova's instance actions. No foreign key: a deleted server's actions stay readable.
const std::vector<std::string> kVersion10 = {
    "CREATE TABLE IF NOT EXISTS instance_actions (instance_uuid VARCHAR(36) NOT NULL, "
    "request_id VARCHAR(64) NOT NULL, action VARCHAR(32) NOT NULL, "
    "user_id VARCHAR(64) NOT NULL, project_id VARCHAR(64) NOT NULL, message @TEXT, "
    "start_time @TS NOT NULL, updated_at @TS NOT NULL, "
    "PRIMARY KEY (instance_uuid, request_id))@ENGINE",
};

// Version 11: glance's image members, the projects a shared image is offered to, each with its
// answer (pending, accepted, rejected). member_id is a project id, as wide as glance's column.
// The index serves image lists, which look up one project's memberships.
const std::vector<std::string> kVersion11 = {
    "CREATE TABLE IF NOT EXISTS image_members (image_id VARCHAR(36) NOT NULL, "
    "member_id VARCHAR(255) NOT NULL, status VARCHAR(20) NOT NULL, created_at @TS NOT NULL, "
    "updated_at @TS NOT NULL, PRIMARY KEY (image_id, member_id), "
    "FOREIGN KEY (image_id) REFERENCES images(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_image_members_member_id ON image_members (member_id)",
};

// Version 12: nova's server groups and their members. `generation` is bumped by every claim for
// a member (claims.cc): the write makes two claims for one group meet on its row, on Galera too,
// where a lock taken by a read does not reach the other nodes. A member row stays when its
// server is deleted; the members are the live servers among them.
const std::vector<std::string> kVersion12 = {
    "CREATE TABLE IF NOT EXISTS server_groups (uuid VARCHAR(36) NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL, project_id VARCHAR(64) NOT NULL, user_id VARCHAR(64) NOT NULL, "
    "policy VARCHAR(32) NOT NULL, max_server_per_host INTEGER NULL, "
    "generation @BIG NOT NULL DEFAULT 0, created_at @TS NOT NULL)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_server_groups_project_id ON server_groups (project_id)",
    "CREATE TABLE IF NOT EXISTS server_group_members (group_uuid VARCHAR(36) NOT NULL, "
    "instance_uuid VARCHAR(36) NOT NULL, created_at @TS NOT NULL, "
    "PRIMARY KEY (group_uuid, instance_uuid), "
    "FOREIGN KEY (group_uuid) REFERENCES server_groups(uuid) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_server_group_members_instance_uuid "
    "ON server_group_members (instance_uuid)",
};

// Version 13: keystone's groups with their members, and its catalog (services, regions,
// endpoints) as the identity API manages it. The tables carry a prefix: GROUPS is a reserved word
// in MySQL 8, and nova's own `services` are another thing. A membership goes with its group or its
// user (foreign keys); a service's endpoints go with it; a region's parent and an endpoint's
// region must exist, so a region is deleted only once nothing points at it (identity_catalog.cc).
const std::vector<std::string> kVersion13 = {
    "CREATE TABLE IF NOT EXISTS identity_groups (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "domain_id VARCHAR(64) NOT NULL, name VARCHAR(255) NOT NULL, description @TEXT, "
    "UNIQUE (domain_id, name))@ENGINE",
    "CREATE TABLE IF NOT EXISTS identity_group_members (group_id VARCHAR(64) NOT NULL, "
    "user_id VARCHAR(64) NOT NULL, PRIMARY KEY (group_id, user_id), "
    "FOREIGN KEY (group_id) REFERENCES identity_groups(id) ON DELETE CASCADE, "
    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_identity_group_members_user_id "
    "ON identity_group_members (user_id)",
    "CREATE TABLE IF NOT EXISTS catalog_services (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "type VARCHAR(255) NOT NULL, name VARCHAR(255) NULL, description @TEXT, "
    "enabled INTEGER NOT NULL DEFAULT 1)@ENGINE",
    "CREATE TABLE IF NOT EXISTS catalog_regions (id VARCHAR(255) NOT NULL PRIMARY KEY, "
    "description VARCHAR(255) NOT NULL DEFAULT '', parent_region_id VARCHAR(255) NULL, "
    "FOREIGN KEY (parent_region_id) REFERENCES catalog_regions(id))@ENGINE",
    "CREATE TABLE IF NOT EXISTS catalog_endpoints (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "service_id VARCHAR(64) NOT NULL, interface VARCHAR(8) NOT NULL, url @TEXT NOT NULL, "
    "region_id VARCHAR(255) NULL, enabled INTEGER NOT NULL DEFAULT 1, "
    "FOREIGN KEY (service_id) REFERENCES catalog_services(id) ON DELETE CASCADE, "
    "FOREIGN KEY (region_id) REFERENCES catalog_regions(id))@ENGINE",
};

// Version 14: glance's metadata definitions. A namespace has an id of its own so that renaming
// it touches one row; objects, properties and tags share one table (a name and a JSON definition
// per kind). Deleting a namespace deletes what it holds (metadefs.cc does it explicitly too, as
// SQLite enforces foreign keys only when asked). The resource types glance seeds come with it.
const std::vector<std::string> kVersion14 = {
    "CREATE TABLE IF NOT EXISTS metadef_namespaces (id @ID, name VARCHAR(80) NOT NULL, "
    "display_name VARCHAR(80) NULL, description @TEXT, is_public INTEGER NOT NULL DEFAULT 0, "
    "protected INTEGER NOT NULL DEFAULT 0, owner VARCHAR(255) NOT NULL DEFAULT '', "
    "created_at @TS NOT NULL, updated_at @TS NOT NULL, UNIQUE (name))@ENGINE",
    "CREATE TABLE IF NOT EXISTS metadef_items (namespace_id @BIG NOT NULL, "
    "kind VARCHAR(16) NOT NULL, name VARCHAR(255) NOT NULL, definition @TEXT NOT NULL, "
    "created_at @TS NOT NULL, updated_at @TS NOT NULL, PRIMARY KEY (namespace_id, kind, name), "
    "FOREIGN KEY (namespace_id) REFERENCES metadef_namespaces(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS metadef_resource_types (name VARCHAR(80) NOT NULL PRIMARY KEY, "
    "protected INTEGER NOT NULL DEFAULT 0, created_at @TS NOT NULL, "
    "updated_at @TS NOT NULL)@ENGINE",
    "CREATE TABLE IF NOT EXISTS metadef_associations (namespace_id @BIG NOT NULL, "
    "resource_type VARCHAR(80) NOT NULL, prefix VARCHAR(80) NULL, "
    "properties_target VARCHAR(80) NULL, created_at @TS NOT NULL, updated_at @TS NOT NULL, "
    "PRIMARY KEY (namespace_id, resource_type), "
    "FOREIGN KEY (namespace_id) REFERENCES metadef_namespaces(id) ON DELETE CASCADE, "
    "FOREIGN KEY (resource_type) REFERENCES metadef_resource_types(name))@ENGINE",
    "@INSERT_IGNORE INTO metadef_resource_types (name, protected, created_at, updated_at) VALUES "
    "('OS::Glance::Image', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
    "('OS::Cinder::Volume', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
    "('OS::Nova::Flavor', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
    "('OS::Nova::Aggregate', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), "
    "('OS::Nova::Server', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
};

// Version 15 (14 is another branch's): keystone's project hierarchy and tags, roles on domains
// held by users and groups, and the credentials and policies its API stores. Side tables, so that
// no ALTER runs on projects. A parent may not be deleted while a child points at it (the foreign
// key has no cascade; delete_project says so first with keystone's 403). Domain roles go with their
// domain, user or group.
const std::vector<std::string> kVersion15 = {
    "CREATE TABLE IF NOT EXISTS project_parents (project_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "parent_id VARCHAR(64) NOT NULL, "
    "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE, "
    "FOREIGN KEY (parent_id) REFERENCES projects(id))@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_project_parents_parent_id ON project_parents (parent_id)",
    "CREATE TABLE IF NOT EXISTS project_tags (project_id VARCHAR(64) NOT NULL, "
    "tag VARCHAR(255) NOT NULL, tag_order INTEGER NOT NULL, PRIMARY KEY (project_id, tag), "
    "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS domain_user_roles (domain_id VARCHAR(64) NOT NULL, "
    "user_id VARCHAR(64) NOT NULL, role VARCHAR(255) NOT NULL, "
    "PRIMARY KEY (domain_id, user_id, role), "
    "FOREIGN KEY (domain_id) REFERENCES domains(id) ON DELETE CASCADE, "
    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_domain_user_roles_user_id ON domain_user_roles (user_id)",
    "CREATE TABLE IF NOT EXISTS domain_group_roles (domain_id VARCHAR(64) NOT NULL, "
    "group_id VARCHAR(64) NOT NULL, role VARCHAR(255) NOT NULL, "
    "PRIMARY KEY (domain_id, group_id, role), "
    "FOREIGN KEY (domain_id) REFERENCES domains(id) ON DELETE CASCADE, "
    "FOREIGN KEY (group_id) REFERENCES identity_groups(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_domain_group_roles_group_id ON domain_group_roles (group_id)",
    "CREATE TABLE IF NOT EXISTS identity_credentials (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "user_id VARCHAR(64) NOT NULL, project_id VARCHAR(64) NULL, type VARCHAR(255) NOT NULL, "
    "blob_text @TEXT NOT NULL, "
    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE, "
    "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_identity_credentials_user_id ON identity_credentials (user_id)",
    "CREATE TABLE IF NOT EXISTS identity_policies (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "type VARCHAR(255) NOT NULL, blob_text @TEXT NOT NULL)@ENGINE",
};

// Version 16: when each compute host last booted, as its agent reports it at registration (for
// os-hypervisors' uptime). A side table: compute_hosts is read by every scheduling round and
// needs none of it.
const std::vector<std::string> kVersion16 = {
    "CREATE TABLE IF NOT EXISTS compute_host_boots (host_name VARCHAR(255) NOT NULL PRIMARY KEY, "
    "booted_at @TS NOT NULL)@ENGINE",
};

// Version 17: roles on projects held by keystone groups (every member holds them: the token
// checks read them beside the user's own, through identity_group_members' user_id index and this
// table's primary key), and the properties a client gives a group beyond keystone's own (as
// user_extra), and roles on the system (stored and listed, granting nothing: gpucloud issues no
// system-scoped token). Side tables: nothing existing is altered.
const std::vector<std::string> kVersion17 = {
    "CREATE TABLE IF NOT EXISTS project_group_roles (project_id VARCHAR(64) NOT NULL, "
    "group_id VARCHAR(64) NOT NULL, role VARCHAR(255) NOT NULL, "
    "PRIMARY KEY (project_id, group_id, role), "
    "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE, "
    "FOREIGN KEY (group_id) REFERENCES identity_groups(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_project_group_roles_group_id ON project_group_roles (group_id)",
    "CREATE TABLE IF NOT EXISTS group_extra (group_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "extra @TEXT, FOREIGN KEY (group_id) REFERENCES identity_groups(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS system_user_roles (user_id VARCHAR(64) NOT NULL, "
    "role VARCHAR(255) NOT NULL, PRIMARY KEY (user_id, role), "
    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS system_group_roles (group_id VARCHAR(64) NOT NULL, "
    "role VARCHAR(255) NOT NULL, PRIMARY KEY (group_id, role), "
    "FOREIGN KEY (group_id) REFERENCES identity_groups(id) ON DELETE CASCADE)@ENGINE",
};

// Version 18: keystone's role inference rules (implied roles) and domain-specific roles. Side
// tables: roles keeps its unique name, which is what assignments hold, so a domain-specific role
// is a roles row whose name is its id (it never collides with a global role's name, and no
// assignment of it can read as "admin") with its real name here, unique within its domain. The
// rules hold role ids and go with either role; the implied_role_id index serves deleting a role.
// keystone's own rules admin -> member -> reader are seeded, so that the per-request expansion
// (project_group_roles.cc) sees a rule on member from an admin too.
const std::vector<std::string> kVersion18 = {
    "CREATE TABLE IF NOT EXISTS domain_specific_roles (role_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "domain_id VARCHAR(64) NOT NULL, name VARCHAR(255) NOT NULL, UNIQUE (domain_id, name), "
    "FOREIGN KEY (role_id) REFERENCES roles(id) ON DELETE CASCADE, "
    "FOREIGN KEY (domain_id) REFERENCES domains(id))@ENGINE",
    "CREATE TABLE IF NOT EXISTS implied_roles (prior_role_id VARCHAR(64) NOT NULL, "
    "implied_role_id VARCHAR(64) NOT NULL, PRIMARY KEY (prior_role_id, implied_role_id), "
    "FOREIGN KEY (prior_role_id) REFERENCES roles(id) ON DELETE CASCADE, "
    "FOREIGN KEY (implied_role_id) REFERENCES roles(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_implied_roles_implied_role_id ON implied_roles "
    "(implied_role_id)",
    "@INSERT_IGNORE INTO implied_roles (prior_role_id, implied_role_id) "
    "VALUES ('admin', 'member'), ('member', 'reader')",
};

// Version 19: console tokens (docs/consoles.md). Only the token's SHA-256 is kept, as for API
// tokens; each row says which guest console the token opens, where the relay reaches it, and
// until when.
const std::vector<std::string> kVersion19 = {
    "CREATE TABLE IF NOT EXISTS console_auth_tokens (token_hash CHAR(64) NOT NULL PRIMARY KEY, "
    "instance_uuid VARCHAR(36) NOT NULL, console_type VARCHAR(32) NOT NULL, "
    "host VARCHAR(255) NOT NULL, console_host VARCHAR(255) NOT NULL, "
    "console_port INTEGER NOT NULL, expires_at @TS NOT NULL)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_console_auth_tokens_instance ON console_auth_tokens "
    "(instance_uuid)",
    "CREATE INDEX IF NOT EXISTS ix_console_auth_tokens_expires ON console_auth_tokens (expires_at)",
};

// Version 20: security groups (docs/security_groups.md). A rule holds either a cidr or a remote
// group; its parent's rows go with the parent. Membership rows go with the group; a deleted
// server's rows stay (it is read only while the server lives). The remote_group_id index serves
// deleting a group (its rules elsewhere go) and finding the servers a change reaches.
const std::vector<std::string> kVersion20 = {
    "CREATE TABLE IF NOT EXISTS security_groups (id VARCHAR(36) NOT NULL PRIMARY KEY, "
    "project_id VARCHAR(64) NOT NULL, name VARCHAR(255) NOT NULL, "
    "description VARCHAR(255) NOT NULL, created_at @TS NOT NULL, "
    "UNIQUE (project_id, name))@ENGINE",
    "CREATE TABLE IF NOT EXISTS security_group_rules (id VARCHAR(36) NOT NULL PRIMARY KEY, "
    "group_id VARCHAR(36) NOT NULL, protocol VARCHAR(16) NOT NULL, from_port INTEGER, "
    "to_port INTEGER, cidr VARCHAR(64), remote_group_id VARCHAR(36), created_at @TS NOT NULL, "
    "FOREIGN KEY (group_id) REFERENCES security_groups(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_security_group_rules_group ON security_group_rules "
    "(group_id)",
    "CREATE INDEX IF NOT EXISTS ix_security_group_rules_remote ON security_group_rules "
    "(remote_group_id)",
    "CREATE TABLE IF NOT EXISTS instance_security_groups (instance_uuid VARCHAR(36) NOT NULL, "
    "group_id VARCHAR(36) NOT NULL, created_at @TS NOT NULL, "
    "PRIMARY KEY (instance_uuid, group_id), "
    "FOREIGN KEY (group_id) REFERENCES security_groups(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_instance_security_groups_group ON instance_security_groups "
    "(group_id)",
    // An agent's view and its firewall rules read the instances of one host.
    "CREATE INDEX IF NOT EXISTS ix_instances_host ON instances (host)",
};

// Version 21: keystone's endpoint groups (OS-EP-FILTER). A filter's keys are columns (NULL:
// any); the association rows go with what they name.
const std::vector<std::string> kVersion21 = {
    "CREATE TABLE IF NOT EXISTS endpoint_groups (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL, description @TEXT, service_id VARCHAR(255), "
    "region_id VARCHAR(255), interface VARCHAR(255))@ENGINE",
    "CREATE TABLE IF NOT EXISTS project_endpoint_groups (endpoint_group_id VARCHAR(64) NOT NULL, "
    "project_id VARCHAR(64) NOT NULL, PRIMARY KEY (endpoint_group_id, project_id), "
    "FOREIGN KEY (endpoint_group_id) REFERENCES endpoint_groups(id) ON DELETE CASCADE, "
    "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_project_endpoint_groups_project ON project_endpoint_groups "
    "(project_id)",
    "CREATE TABLE IF NOT EXISTS project_endpoints (endpoint_id VARCHAR(64) NOT NULL, "
    "project_id VARCHAR(64) NOT NULL, PRIMARY KEY (endpoint_id, project_id), "
    "FOREIGN KEY (endpoint_id) REFERENCES catalog_endpoints(id) ON DELETE CASCADE, "
    "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_project_endpoints_project ON project_endpoints (project_id)",
};

// Version 22: keystone's domain configurations (domain_configs.cc).
// One row per option of a domain's `identity` or `ldap` group, its value as JSON text; a sensitive
// option (ldap.password) is flagged so that nothing reads it back to a client. The rows go with
// their domain. The columns are not called `group`, `option` and `sensitive`: all three are
// reserved words in MySQL.
const std::vector<std::string> kVersion22 = {
    "CREATE TABLE IF NOT EXISTS domain_configs (domain_id VARCHAR(64) NOT NULL, "
    "config_group VARCHAR(64) NOT NULL, config_option VARCHAR(64) NOT NULL, "
    "config_value @TEXT NOT NULL, is_sensitive INTEGER NOT NULL DEFAULT 0, "
    "PRIMARY KEY (domain_id, config_group, config_option), "
    "FOREIGN KEY (domain_id) REFERENCES domains(id) ON DELETE CASCADE)@ENGINE",
};

// Version 23: keystone's OAuth1 delegation (OS-OAUTH1). Tokens made from an access token are
// marked in their own table, which goes with the token; a missing access token row then means
// the token grants nothing. Nonces are kept for the signature's time window (replays).
const std::vector<std::string> kVersion23 = {
    "CREATE TABLE IF NOT EXISTS oauth_consumers (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "secret VARCHAR(64) NOT NULL, description @TEXT)@ENGINE",
    "CREATE TABLE IF NOT EXISTS oauth_request_tokens (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "secret VARCHAR(64) NOT NULL, consumer_id VARCHAR(64) NOT NULL, "
    "project_id VARCHAR(64) NOT NULL, roles @TEXT, user_id VARCHAR(64), verifier VARCHAR(64), "
    "expires_at @TS NOT NULL, "
    "FOREIGN KEY (consumer_id) REFERENCES oauth_consumers(id) ON DELETE CASCADE)@ENGINE",
    "CREATE TABLE IF NOT EXISTS oauth_access_tokens (id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "secret VARCHAR(64) NOT NULL, consumer_id VARCHAR(64) NOT NULL, "
    "user_id VARCHAR(64) NOT NULL, project_id VARCHAR(64) NOT NULL, roles @TEXT NOT NULL, "
    "expires_at @TS NOT NULL, "
    "FOREIGN KEY (consumer_id) REFERENCES oauth_consumers(id) ON DELETE CASCADE, "
    "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE, "
    "FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_oauth_access_tokens_user ON oauth_access_tokens (user_id)",
    "CREATE TABLE IF NOT EXISTS oauth_delegated_tokens (token_hash VARCHAR(128) NOT NULL "
    "PRIMARY KEY, access_token_id VARCHAR(64) NOT NULL, "
    "FOREIGN KEY (token_hash) REFERENCES tokens(token_hash) ON DELETE CASCADE)@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_oauth_delegated_tokens_access ON oauth_delegated_tokens "
    "(access_token_id)",
    "CREATE TABLE IF NOT EXISTS oauth_nonces (consumer_id VARCHAR(64) NOT NULL, "
    "nonce VARCHAR(255) NOT NULL, seen_at @TS NOT NULL, PRIMARY KEY (consumer_id, nonce))@ENGINE",
    "CREATE INDEX IF NOT EXISTS ix_oauth_nonces_seen ON oauth_nonces (seen_at)",
};

// Version 24: fixed IPs an admin reserved (os-fixed-ips reserve): no guest of a host on that
// guest network is given the address (docs/networks.md). A network is known by its name.
const std::vector<std::string> kVersion24 = {
    "CREATE TABLE IF NOT EXISTS fixed_ip_reservations (network VARCHAR(255) NOT NULL, "
    "address VARCHAR(64) NOT NULL, created_at @TS NOT NULL, PRIMARY KEY (network, address))@ENGINE",
};

Migration make(int version, std::string description, const std::vector<std::string>& stmts) {
  Migration m{version, std::move(description), {}, {}, {}};
  static const std::regex kCreate(R"(^CREATE TABLE IF NOT EXISTS (\w+))");
  for (const auto& s : stmts) {
    m.sqlite.push_back(expand(s, Backend::kSqlite));
    m.mysql.push_back(expand(s, Backend::kMysql));
    std::smatch match;
    if (std::regex_search(s, match, kCreate)) {
      m.undo_mysql.insert(m.undo_mysql.begin(), "DROP TABLE IF EXISTS " + match[1].str());
    }
  }
  return m;
}

// A statement MariaDB needs and SQLite does not (column types SQLite does not enforce).
Migration with_mysql(Migration m, const std::string& stmt) {
  m.mysql.push_back(stmt);
  return m;
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kAll = {
      make(1, "initial schema", kVersion1),
      make(2, "agent tasks and reports", kVersion2),
      make(3, "conductor tasks", kVersion3),
      make(4, "login failures", kVersion4),
      make(5, "PCI device reasons", kVersion5),
      with_mysql(make(6, "instance system metadata", kVersion6), kVersion6Mysql),
      make(7, "domains and roles", kVersion7),
      make(8, "nova quotas", kVersion8),
      make(9, "user extra attributes", kVersion9),
      make(10, "instance actions", kVersion10),
      make(11, "image members", kVersion11),
      make(12, "server groups", kVersion12),
      make(13, "identity groups and catalog", kVersion13),
      make(14, "glance metadata definitions", kVersion14),
      make(15, "project hierarchy, project tags, domain roles, credentials, policies", kVersion15),
      make(16, "compute host boot times", kVersion16),
      make(17, "group roles on projects, group extra attributes, system roles", kVersion17),
      make(18, "implied roles, domain-specific roles", kVersion18),
      make(19, "console tokens", kVersion19),
      make(20, "security groups", kVersion20),
      make(21, "endpoint groups", kVersion21),
      make(22, "domain configs", kVersion22),
      make(23, "OAuth1 delegation", kVersion23),
      make(24, "fixed IP reservations", kVersion24)};
  return kAll;
}

int Store::latest_schema_version() { return migrations().back().version; }

// The highest version applied, unless a version this binary knows below it is missing (a
// database migrated by a branch that had 8 but not 7): then the version just before the first
// missing one, so that open() sees an old schema and migrates it.
Result<int> Store::Impl::current_version() {
  return read<int>(
      [](soci::session& sql) {
        std::set<int> applied;
        int v = 0;
        soci::statement st = (sql.prepare << "SELECT version FROM schema_version", soci::into(v));
        st.execute();
        while (st.fetch()) applied.insert(v);
        if (applied.empty()) return 0;
        const int highest = *applied.rbegin();
        if (highest > latest_schema_version()) return highest;
        int complete = 0;
        for (const auto& m : migrations()) {
          if (!applied.count(m.version)) return complete;
          complete = m.version;
        }
        return highest;
      },
      "reading schema_version");
}

Status Store::Impl::apply_migrations(const std::vector<Migration>& list) {
  auto lease = borrow();
  if (!lease) return lease.error();
  soci::session& sql = **lease;
  const bool my = target.backend == Backend::kMysql;
  int current = 0;
  try {
    // Galera refuses GET_LOCK (a named lock is one node's, not the cluster's). There, two
    // replicas migrating at once rely on the idempotent statements and on the version row's
    // primary key: the second to insert it sees a duplicate and leaves the migration be.
    if (my && !galera.load()) {
      int got = 0;
      sql << "SELECT GET_LOCK('gpucloud_schema_migration', 60)", soci::into(got);
      if (got != 1) return Error::unavailable("another process holds the migration lock");
    }
    sql << "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, "
           "description VARCHAR(255) NOT NULL, applied_at VARCHAR(32) NOT NULL)" +
               std::string(my ? " ENGINE=InnoDB" : "");
  } catch (const std::exception& e) {
    return classify(e, "preparing schema_version");
  }
  Status result;
  const bool cluster = my && galera.load();
  int conflicts = 0;  // Galera: statements aborted by another replica's DDL, run again
  for (size_t k = 0; k < list.size(); ++k) {
    const Migration& m = list[k];
    const auto& stmts = my ? m.mysql : m.sqlite;
    size_t step = 0;
    try {
      if (!my) sql << "BEGIN IMMEDIATE";
      soci::indicator ind = soci::i_null;
      sql << "SELECT MAX(version) FROM schema_version", soci::into(current, ind);
      if (ind == soci::i_null) current = 0;
      // Each version is applied unless its own row is there, not merely when it is above the
      // highest: versions are numbered on branches, so one may arrive after a higher one was
      // applied (a database at 8 that never had 7), and the list may have gaps.
      int present = 0;
      sql << "SELECT COUNT(*) FROM schema_version WHERE version = :v", soci::use(m.version),
          soci::into(present);
      if (present > 0) {
        if (!my) sql << "ROLLBACK";
        continue;
      }
      for (step = 0; step < stmts.size(); ++step) sql << stmts[step];
      const std::string at = format_time(now());
      try {
        sql << "INSERT INTO schema_version (version, description, applied_at) "
               "VALUES (:v, :d, :a)",
            soci::use(m.version), soci::use(m.description), soci::use(at);
      } catch (const std::exception& e) {
        if (!my || !is_duplicate(e)) throw;
        // Another replica applied the same migration at the same time (Galera, no GET_LOCK):
        // its statements and ours were the same idempotent ones. Nothing to undo.
      }
      if (!my) sql << "COMMIT";
    } catch (const std::exception& e) {
      if (cluster && is_retryable(e) && ++conflicts < 10) {
        // Another replica's DDL, replicated in total order, aborted this statement (1213).
        // Every statement is idempotent: run this migration again from its start.
        --k;
        continue;
      }
      if (!my) {
        try {
          sql << "ROLLBACK";
        } catch (const std::exception&) {
        }
      } else if (cluster) {
        // No undo on a cluster: the other replica may be applying the same migration, and
        // dropping its tables would undo its work. The next run finishes it idempotently.
      } else {
        for (const auto& undo : m.undo_mysql) {
          try {
            sql << undo;
          } catch (const std::exception&) {
            // Best effort: what remains is re-applied idempotently by the next run.
          }
        }
      }
      result = classify(e, "migration " + std::to_string(m.version) + " (" + m.description +
                               ") failed at statement " + std::to_string(step + 1) +
                               "; the schema stays at version " + std::to_string(current));
      break;
    }
  }
  if (my && !galera.load()) {
    try {
      int released = 0;
      soci::indicator ind = soci::i_null;
      sql << "SELECT RELEASE_LOCK('gpucloud_schema_migration')", soci::into(released, ind);
    } catch (const std::exception&) {
    }
  }
  return result;
}

Status Store::migrate() { return impl_->apply_migrations(migrations()); }

}  // namespace gpucloud::store
