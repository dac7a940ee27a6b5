// nova's quotas (os-quota-sets, os-quota-class-sets): limits per quota class, per project and
// per user in a project, the usage they are checked against, and the check a server create makes
// inside its own transaction (create_instance_with_task, lifecycle.cc).
#include <fmt/format.h>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

// The (resource, hard_limit) rows `query` selects with `key` bound as :k, laid over `out`.
void overlay_rows(soci::session& sql, const std::string& query, const std::string& key,
                  QuotaLimits& out) {
  std::string resource;
  long long limit = 0;
  soci::statement st =
      (sql.prepare << query, soci::use(key, "k"), soci::into(resource), soci::into(limit));
  st.execute();
  while (st.fetch()) {
    if (is_quota_resource(resource)) out[resource] = limit;
  }
}

QuotaLimits nova_defaults() {
  QuotaLimits out;
  for (const auto& r : quota_resources()) out[std::string(r.name)] = r.default_limit;
  return out;
}

QuotaLimits class_limits(soci::session& sql, const std::string& class_name) {
  QuotaLimits out = nova_defaults();
  overlay_rows(sql, "SELECT resource, hard_limit FROM quota_classes WHERE class_name = :k",
               class_name, out);
  return out;
}

QuotaLimits project_limits(soci::session& sql, const std::string& project_id,
                           const std::string& user_id) {
  QuotaLimits out = class_limits(sql, "default");
  overlay_rows(sql,
               "SELECT resource, hard_limit FROM quotas WHERE project_id = :k AND user_id = ''",
               project_id, out);
  if (user_id.empty()) return out;
  std::string resource;
  long long limit = 0;
  soci::statement st =
      (sql.prepare << "SELECT resource, hard_limit FROM quotas WHERE project_id = :p "
                      "AND user_id = :u",
       soci::use(project_id, "p"), soci::use(user_id, "u"), soci::into(resource),
       soci::into(limit));
  st.execute();
  while (st.fetch()) {
    if (is_quota_resource(resource)) out[resource] = limit;
  }
  return out;
}

QuotaUsage count_usage(soci::session& sql, const std::string& project_id,
                       const std::string& user_id) {
  QuotaUsage u;
  long long n = 0, cores = 0, ram = 0;
  soci::indicator i_cores = soci::i_null, i_ram = soci::i_null;
  // A server whose flavor was deleted since counts as an instance without cores or RAM: the
  // instances table keeps no copy of the flavor's figures.
  sql << "SELECT COUNT(*), SUM(f.vcpus), SUM(f.memory_mb) FROM instances i "
         "LEFT JOIN flavors f ON f.id = i.flavor_id WHERE i.project_id = :p "
         "AND i.status <> 'DELETED' AND (:u1 = '' OR i.user_id = :u2)",
      soci::use(project_id, "p"), soci::use(user_id, "u1"), soci::use(user_id, "u2"), soci::into(n),
      soci::into(cores, i_cores), soci::into(ram, i_ram);
  u.instances = n;
  u.cores = i_cores == soci::i_null ? 0 : cores;
  u.ram = i_ram == soci::i_null ? 0 : ram;
  long long groups = 0;
  sql << "SELECT COUNT(*) FROM server_groups WHERE project_id = :p AND (:u1 = '' OR user_id = :u2)",
      soci::use(project_id, "p"), soci::use(user_id, "u1"), soci::use(user_id, "u2"),
      soci::into(groups);
  u.server_groups = groups;
  long long security_groups = 0;
  sql << "SELECT COUNT(*) FROM security_groups WHERE project_id = :p", soci::use(project_id),
      soci::into(security_groups);
  u.security_groups = security_groups;
  if (!user_id.empty()) {
    long long keys = 0;
    sql << "SELECT COUNT(*) FROM keypairs WHERE user_id = :u", soci::use(user_id), soci::into(keys);
    u.key_pairs = keys;
  }
  return u;
}

// Writes each limit as a row keyed by `keys` (column, value) and the resource.
void write_limits(soci::session& sql, const std::string& table,
                  const std::vector<std::pair<std::string, std::string>>& keys,
                  const QuotaLimits& limits) {
  for (const auto& [resource, limit] : limits) {
    if (!is_quota_resource(resource)) {
      throw Abort{Error::invalid("unknown quota resource '" + resource + "'")};
    }
    if (limit < -1) {
      throw Abort{
          Error::invalid(fmt::format("quota {} must be -1 or greater, not {}", resource, limit))};
    }
    // Portable upsert: the old row goes first (MariaDB's UPDATE counts changed rows only).
    Binder del, ins;
    std::string where, cols, values;
    for (const auto& [column, value] : keys) {
      where += column + " = " + del.text(value) + " AND ";
      cols += column + ", ";
      values += ins.text(value) + ", ";
    }
    execute_bound(
        sql, "DELETE FROM " + table + " WHERE " + where + "resource = " + del.text(resource), del);
    execute_bound(sql,
                  "INSERT INTO " + table + " (" + cols + "resource, hard_limit) VALUES (" + values +
                      ins.text(resource) + ", " + ins.number(limit) + ")",
                  ins);
  }
}

}  // namespace

QuotaLimits project_quota_limits(soci::session& sql, const std::string& project_id) {
  return project_limits(sql, project_id, "");
}

const std::vector<QuotaResource>& quota_resources() {
  // nova.conf [quota] defaults (nova/conf/quota.py); fixed_ips -1: unlimited.
  static const std::vector<QuotaResource> kAll = {{"instances", 10},
                                                  {"cores", 20},
                                                  {"ram", 51200},
                                                  {"metadata_items", 128},
                                                  {"key_pairs", 100},
                                                  {"server_groups", 10},
                                                  {"server_group_members", 10},
                                                  {"injected_files", 5},
                                                  {"injected_file_content_bytes", 10240},
                                                  {"injected_file_path_bytes", 255},
                                                  {"fixed_ips", -1},
                                                  {"floating_ips", 10},
                                                  {"security_groups", 10},
                                                  {"security_group_rules", 20}};
  return kAll;
}

bool is_quota_resource(std::string_view name) {
  for (const auto& r : quota_resources()) {
    if (r.name == name) return true;
  }
  return false;
}

void check_instance_quota(soci::session& sql, const Dialect& dialect, const Instance& i,
                          const InstanceQuotaRequest& q) {
  // Locking the project's row (SQLite: the write lock is already ours) before counting makes two
  // creates of one project count each other's servers instead of both passing on the same old
  // figure; under READ COMMITTED the count after the lock sees what the other committed.
  std::string locked;
  soci::indicator ind = soci::i_null;
  sql << "SELECT id FROM projects WHERE id = :p" + dialect.for_update, soci::use(i.project_id),
      soci::into(locked, ind);
  const QuotaLimits limits = project_limits(sql, i.project_id, "");
  const QuotaUsage used = count_usage(sql, i.project_id, "");
  std::vector<std::string> overs, asked, had, allowed;
  auto check = [&](const char* name, int64_t want, int64_t in_use) {
    const int64_t limit = limits.at(name);
    if (limit < 0 || in_use + want <= limit) return;
    overs.push_back(name);
    asked.push_back(std::to_string(want));
    had.push_back(std::to_string(in_use));
    allowed.push_back(std::to_string(limit));
  };
  check("instances", 1, used.instances);
  check("cores", q.cores, used.cores);
  check("ram", q.ram, used.ram);
  if (overs.empty()) return;
  // nova's TooManyInstances message, its lists joined as nova joins them.
  const std::string o = fmt::format("{}", fmt::join(overs, ", "));
  throw Abort{Error{
      ErrorCode::kForbidden,
      fmt::format("Quota exceeded for {}: Requested {}, but already used {} of {} {}", o,
                  fmt::join(asked, ", "), fmt::join(had, ", "), fmt::join(allowed, ", "), o)}};
}

Result<QuotaLimits> Store::quota_class(const std::string& class_name) {
  return impl_->read<QuotaLimits>([&](soci::session& sql) { return class_limits(sql, class_name); },
                                  "reading quota class");
}

Status Store::set_quota_class(const std::string& class_name, const QuotaLimits& limits) {
  return impl_->write(
      [&](soci::session& sql) {
        write_limits(sql, "quota_classes", {{"class_name", class_name}}, limits);
      },
      "setting quota class " + class_name);
}

Result<QuotaLimits> Store::project_quotas(const std::string& project_id,
                                          const std::string& user_id) {
  return impl_->read<QuotaLimits>(
      [&](soci::session& sql) { return project_limits(sql, project_id, user_id); },
      "reading quotas of project " + project_id);
}

Status Store::set_project_quotas(const std::string& project_id, const std::string& user_id,
                                 const QuotaLimits& limits) {
  return impl_->write(
      [&](soci::session& sql) {
        write_limits(sql, "quotas", {{"project_id", project_id}, {"user_id", user_id}}, limits);
      },
      "setting quotas of project " + project_id);
}

Status Store::delete_project_quotas(const std::string& project_id, const std::string& user_id) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "DELETE FROM quotas WHERE project_id = :p AND (:u1 = '' OR user_id = :u2)",
            soci::use(project_id, "p"), soci::use(user_id, "u1"), soci::use(user_id, "u2");
      },
      "deleting quotas of project " + project_id);
}

Result<QuotaUsage> Store::quota_usage(const std::string& project_id, const std::string& user_id) {
  return impl_->read<QuotaUsage>(
      [&](soci::session& sql) { return count_usage(sql, project_id, user_id); },
      "counting quota usage of project " + project_id);
}

}  // namespace gpucloud::store
