// nova's security groups and their rules, which servers are in which group, and what each
// guest's firewall lets in (docs/security_groups.md). Membership is written in the transaction
// that creates the server (create_instance_with_task), like a server group's, and every check
// that depends on another row (the group still exists, the group is unused, the quota) is made
// with that row locked, so that a delete racing a boot cannot leave a server in a group that is
// gone.
#include <set>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct SecurityRuleRow {
  SecurityGroupRule r;
  int from = 0, to = 0;
  std::string cidr, remote;
  soci::indicator from_ind = soci::i_null, to_ind = soci::i_null, cidr_ind = soci::i_null,
                  remote_ind = soci::i_null;
  void bind(soci::statement& st) {
    st.exchange(soci::into(r.id));
    st.exchange(soci::into(r.group_id));
    st.exchange(soci::into(r.protocol));
    st.exchange(soci::into(from, from_ind));
    st.exchange(soci::into(to, to_ind));
    st.exchange(soci::into(cidr, cidr_ind));
    st.exchange(soci::into(remote, remote_ind));
  }
  SecurityGroupRule get() const {
    SecurityGroupRule out = r;
    out.from_port = from_ind == soci::i_ok ? std::optional<int>(from) : std::nullopt;
    out.to_port = to_ind == soci::i_ok ? std::optional<int>(to) : std::nullopt;
    out.cidr = cidr_ind == soci::i_ok ? std::optional<std::string>(cidr) : std::nullopt;
    out.remote_group_id =
        remote_ind == soci::i_ok ? std::optional<std::string>(remote) : std::nullopt;
    return out;
  }
};

const char* const kSecurityRuleColumns =
    "id, group_id, protocol, from_port, to_port, cidr, remote_group_id";

std::vector<SecurityGroupRule> select_security_rules(soci::session& sql, const std::string& where,
                                                     const std::string& value) {
  SecurityRuleRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string("SELECT ") + kSecurityRuleColumns + " FROM security_group_rules WHERE " +
             where + " ORDER BY created_at, id");
  row.bind(st);
  st.exchange(soci::use(value));
  st.define_and_bind();
  st.execute();
  std::vector<SecurityGroupRule> out;
  while (st.fetch()) out.push_back(row.get());
  return out;
}

// Groups matching `where` (one bound value, or none when `value` is empty), oldest first, with
// their rules.
std::vector<SecurityGroup> select_security_groups(soci::session& sql, const std::string& where,
                                                  const std::string& value) {
  SecurityGroup g;
  std::string created;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string("SELECT id, project_id, name, description, created_at FROM "
                         "security_groups") +
             (where.empty() ? "" : " WHERE " + where) + " ORDER BY created_at, id");
  st.exchange(soci::into(g.id));
  st.exchange(soci::into(g.project_id));
  st.exchange(soci::into(g.name));
  st.exchange(soci::into(g.description));
  st.exchange(soci::into(created));
  if (!where.empty()) st.exchange(soci::use(value));
  st.define_and_bind();
  st.execute();
  std::vector<SecurityGroup> out;
  while (st.fetch()) {
    g.created_at = parse_time(created);
    out.push_back(g);
  }
  for (auto& one : out) one.rules = select_security_rules(sql, "group_id = :g", one.id);
  return out;
}

Error security_group_not_found(const std::string& id) {
  return Error::not_found("Security group " + id + " not found.");
}

// Locks the group's row for the rest of the transaction; Abort kNotFound when it is gone.
std::string lock_security_group(soci::session& sql, const Dialect& dialect, const std::string& id) {
  std::string project;
  sql << "SELECT project_id FROM security_groups WHERE id = :g" + dialect.for_update, soci::use(id),
      soci::into(project);
  if (!sql.got_data()) throw Abort{security_group_not_found(id)};
  return project;
}

void lock_project_row(soci::session& sql, const Dialect& dialect, const std::string& project_id) {
  std::string locked;
  soci::indicator ind = soci::i_null;
  sql << "SELECT id FROM projects WHERE id = :p" + dialect.for_update, soci::use(project_id),
      soci::into(locked, ind);
}

void insert_security_group(soci::session& sql, const SecurityGroup& g) {
  const std::string ts = format_time(g.created_at == TimePoint{} ? now() : g.created_at);
  sql << "INSERT INTO security_groups (id, project_id, name, description, created_at) "
         "VALUES (:i, :p, :n, :d, :t)",
      soci::use(g.id), soci::use(g.project_id), soci::use(g.name), soci::use(g.description),
      soci::use(ts);
}

bool security_name_taken(soci::session& sql, const std::string& project, const std::string& name,
                         const std::string& except) {
  long long n = 0;
  sql << "SELECT COUNT(*) FROM security_groups WHERE project_id = :p AND name = :n AND id <> :i",
      soci::use(project), soci::use(name), soci::use(except), soci::into(n);
  return n > 0;
}

long long live_security_members(soci::session& sql, const std::string& group_id) {
  long long n = 0;
  sql << "SELECT COUNT(*) FROM instance_security_groups m JOIN instances i ON i.uuid = "
         "m.instance_uuid WHERE m.group_id = :g AND i.status <> 'DELETED'",
      soci::use(group_id), soci::into(n);
  return n;
}

}  // namespace

void join_security_groups(soci::session& sql, const Dialect& dialect, const std::string& instance,
                          const std::vector<std::string>& group_ids) {
  const std::string ts = format_time(now());
  for (const auto& g : group_ids) {
    lock_security_group(sql, dialect,
                        g);  // a concurrent delete either waits for this or went first
    sql << "INSERT INTO instance_security_groups (instance_uuid, group_id, created_at) "
           "VALUES (:i, :g, :t)",
        soci::use(instance), soci::use(g), soci::use(ts);
  }
}

Status Store::create_security_group(const SecurityGroup& g) {
  return impl_->write(
      [&](soci::session& sql) {
        lock_project_row(sql, impl_->dialect, g.project_id);
        if (security_name_taken(sql, g.project_id, g.name, "")) {
          throw Abort{Error::conflict("Security group " + g.name + " already exists")};
        }
        const int64_t limit = project_quota_limits(sql, g.project_id).at("security_groups");
        long long have = 0;
        sql << "SELECT COUNT(*) FROM security_groups WHERE project_id = :p",
            soci::use(g.project_id), soci::into(have);
        if (limit >= 0 && have >= limit) {
          throw Abort{Error{ErrorCode::kForbidden, "Quota exceeded, too many security groups."}};
        }
        insert_security_group(sql, g);
      },
      "creating security group " + g.id);
}

Result<SecurityGroup> Store::get_security_group(const std::string& id) {
  return impl_->read<SecurityGroup>(
      [&](soci::session& sql) {
        auto rows = select_security_groups(sql, "id = :i", id);
        if (rows.empty()) throw Abort{security_group_not_found(id)};
        return rows.front();
      },
      "reading security group " + id);
}

Result<std::vector<SecurityGroup>> Store::list_security_groups(const std::string& project_id) {
  return impl_->read<std::vector<SecurityGroup>>(
      [&](soci::session& sql) {
        return project_id.empty() ? select_security_groups(sql, "", "")
                                  : select_security_groups(sql, "project_id = :p", project_id);
      },
      "listing security groups");
}

Result<SecurityGroup> Store::default_security_group(const std::string& project_id,
                                                    const std::string& id_if_new) {
  // Nearly always there: a plain read first.
  auto found = impl_->read<std::vector<SecurityGroup>>(
      [&](soci::session& sql) {
        return select_security_groups(sql, "project_id = :p AND name = 'default'", project_id);
      },
      "reading the default security group of project " + project_id);
  if (!found.ok()) return found.error();
  if (!found->empty()) return found->front();
  return impl_->write_result<SecurityGroup>(
      [&](soci::session& sql) {
        // The project's row lock makes two first servers of a project make one default group.
        // It is taken before the read, so that on MariaDB the read sees the other's commit (a
        // read before it would fix the transaction's snapshot first).
        lock_project_row(sql, impl_->dialect, project_id);
        auto again =
            select_security_groups(sql, "project_id = :p AND name = 'default'", project_id);
        if (!again.empty()) return again.front();
        SecurityGroup g;
        g.id = id_if_new;
        g.project_id = project_id;
        g.name = "default";
        g.description = "default";
        g.created_at = now();
        insert_security_group(sql, g);
        return g;
      },
      "making the default security group of project " + project_id);
}

Status Store::update_security_group(const std::string& id, const std::string& name,
                                    const std::string& description) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string project = lock_security_group(sql, impl_->dialect, id);
        if (security_name_taken(sql, project, name, id)) {
          throw Abort{Error::conflict("Security group " + name + " already exists")};
        }
        sql << "UPDATE security_groups SET name = :n, description = :d WHERE id = :i",
            soci::use(name), soci::use(description), soci::use(id);
      },
      "updating security group " + id);
}

Status Store::delete_security_group(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        lock_security_group(sql, impl_->dialect, id);
        if (live_security_members(sql, id) > 0) {
          throw Abort{Error::conflict("Security group is still in use")};
        }
        sql << "DELETE FROM security_group_rules WHERE remote_group_id = :g", soci::use(id);
        sql << "DELETE FROM security_group_rules WHERE group_id = :g", soci::use(id);
        sql << "DELETE FROM instance_security_groups WHERE group_id = :g", soci::use(id);
        sql << "DELETE FROM security_groups WHERE id = :g", soci::use(id);
      },
      "deleting security group " + id);
}

Status Store::add_security_group_rule(const SecurityGroupRule& r) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string project = lock_security_group(sql, impl_->dialect, r.group_id);
        if (r.remote_group_id) lock_security_group(sql, impl_->dialect, *r.remote_group_id);
        for (const auto& have : select_security_rules(sql, "group_id = :g", r.group_id)) {
          if (have.protocol == r.protocol && have.from_port == r.from_port &&
              have.to_port == r.to_port && have.cidr == r.cidr &&
              have.remote_group_id == r.remote_group_id) {
            throw Abort{Error::conflict("This rule already exists in group " + r.group_id)};
          }
        }
        const int64_t limit = project_quota_limits(sql, project).at("security_group_rules");
        long long have = 0;
        sql << "SELECT COUNT(*) FROM security_group_rules WHERE group_id = :g",
            soci::use(r.group_id), soci::into(have);
        if (limit >= 0 && have >= limit) {
          throw Abort{
              Error{ErrorCode::kForbidden, "Quota exceeded, too many security group rules."}};
        }
        int from = r.from_port.value_or(0), to = r.to_port.value_or(0);
        std::string cidr = r.cidr.value_or(""), remote = r.remote_group_id.value_or("");
        soci::indicator from_ind = r.from_port ? soci::i_ok : soci::i_null;
        soci::indicator to_ind = r.to_port ? soci::i_ok : soci::i_null;
        soci::indicator cidr_ind = r.cidr ? soci::i_ok : soci::i_null;
        soci::indicator remote_ind = r.remote_group_id ? soci::i_ok : soci::i_null;
        const std::string ts = format_time(now());
        sql << "INSERT INTO security_group_rules (id, group_id, protocol, from_port, to_port, "
               "cidr, remote_group_id, created_at) VALUES (:i, :g, :p, :f, :t, :c, :r, :ts)",
            soci::use(r.id), soci::use(r.group_id), soci::use(r.protocol),
            soci::use(from, from_ind), soci::use(to, to_ind), soci::use(cidr, cidr_ind),
            soci::use(remote, remote_ind), soci::use(ts);
      },
      "adding a rule to security group " + r.group_id);
}

Result<SecurityGroupRule> Store::get_security_group_rule(const std::string& id) {
  return impl_->read<SecurityGroupRule>(
      [&](soci::session& sql) {
        auto rows = select_security_rules(sql, "id = :i", id);
        if (rows.empty()) {
          throw Abort{Error::not_found("Security group rule " + id + " not found.")};
        }
        return rows.front();
      },
      "reading security group rule " + id);
}

Status Store::delete_security_group_rule(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM security_group_rules WHERE id = :i", soci::use(id));
        st.execute(true);
        if (st.get_affected_rows() == 0) {
          throw Abort{Error::not_found("Security group rule " + id + " not found.")};
        }
      },
      "deleting security group rule " + id);
}

Result<std::vector<SecurityGroup>> Store::instance_security_groups(
    const std::string& instance_uuid) {
  return impl_->read<std::vector<SecurityGroup>>(
      [&](soci::session& sql) {
        std::vector<std::string> ids;
        std::string id;
        soci::statement st =
            (sql.prepare << "SELECT group_id FROM instance_security_groups WHERE instance_uuid "
                            "= :i ORDER BY created_at, group_id",
             soci::use(instance_uuid), soci::into(id));
        st.execute();
        while (st.fetch()) ids.push_back(id);
        std::vector<SecurityGroup> out;
        for (const auto& g : ids) {
          auto rows = select_security_groups(sql, "id = :i", g);
          if (!rows.empty()) out.push_back(rows.front());
        }
        return out;
      },
      "reading the security groups of " + instance_uuid);
}

Result<std::map<std::string, std::vector<std::string>>> Store::security_group_names(
    const std::string& project_id) {
  using Out = std::map<std::string, std::vector<std::string>>;
  return impl_->read<Out>(
      [&](soci::session& sql) {
        Out out;
        std::string uuid, name;
        soci::statement st(sql);
        st.alloc();
        st.prepare(std::string("SELECT m.instance_uuid, g.name FROM instance_security_groups m "
                               "JOIN security_groups g ON g.id = m.group_id") +
                   (project_id.empty() ? "" : " WHERE g.project_id = :p") +
                   " ORDER BY m.created_at, m.group_id");
        st.exchange(soci::into(uuid));
        st.exchange(soci::into(name));
        if (!project_id.empty()) st.exchange(soci::use(project_id));
        st.define_and_bind();
        st.execute();
        while (st.fetch()) out[uuid].push_back(name);
        return out;
      },
      "reading the security group names of project " + project_id);
}

Status Store::add_instance_security_group(const std::string& instance_uuid,
                                          const std::string& group_id) {
  return impl_->write(
      [&](soci::session& sql) {
        lock_security_group(sql, impl_->dialect, group_id);
        long long n = 0;
        sql << "SELECT COUNT(*) FROM instance_security_groups WHERE instance_uuid = :i AND "
               "group_id = :g",
            soci::use(instance_uuid), soci::use(group_id), soci::into(n);
        if (n > 0) throw Abort{Error::conflict("already in the group")};
        const std::string ts = format_time(now());
        sql << "INSERT INTO instance_security_groups (instance_uuid, group_id, created_at) "
               "VALUES (:i, :g, :t)",
            soci::use(instance_uuid), soci::use(group_id), soci::use(ts);
        // A server from before security groups is managed from its first group on.
        write_system_metadata(sql, instance_uuid, kSecurityGroupsManaged, "true");
      },
      "adding server " + instance_uuid + " to security group " + group_id);
}

Status Store::remove_instance_security_group(const std::string& instance_uuid,
                                             const std::string& group_id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM instance_security_groups WHERE instance_uuid = :i AND "
                            "group_id = :g",
             soci::use(instance_uuid), soci::use(group_id));
        st.execute(true);
        if (st.get_affected_rows() == 0) throw Abort{Error::conflict("not in the group")};
      },
      "removing server " + instance_uuid + " from security group " + group_id);
}

Result<std::map<std::string, std::string>> Store::security_group_reach(
    const std::string& group_id) {
  return impl_->read<std::map<std::string, std::string>>(
      [&](soci::session& sql) {
        std::map<std::string, std::string> out;
        std::string uuid, host;
        soci::statement st =
            (sql.prepare << "SELECT DISTINCT i.uuid, i.host FROM instance_security_groups m "
                            "JOIN instances i ON i.uuid = m.instance_uuid "
                            "WHERE i.status <> 'DELETED' AND i.host IS NOT NULL AND "
                            "(m.group_id = :g1 OR m.group_id IN (SELECT group_id FROM "
                            "security_group_rules WHERE remote_group_id = :g2))",
             soci::use(group_id, "g1"), soci::use(group_id, "g2"), soci::into(uuid),
             soci::into(host));
        st.execute();
        while (st.fetch()) out[uuid] = host;
        return out;
      },
      "finding the servers security group " + group_id + " reaches");
}

Result<std::map<std::string, std::vector<IngressRule>>> Store::ingress_rules(
    const std::string& host, const std::string& instance_uuid) {
  using Out = std::map<std::string, std::vector<IngressRule>>;
  return impl_->read<Out>(
      [&](soci::session& sql) {
        const std::string where = host.empty() ? "i.uuid = :v" : "i.host = :v";
        const std::string& value = host.empty() ? instance_uuid : host;
        Out out;
        std::string uuid;
        {
          soci::statement st =
              (sql.prepare << "SELECT i.uuid FROM instances i JOIN instance_system_metadata s ON "
                              "s.instance_uuid = i.uuid AND s.meta_key = '" +
                                  std::string(kSecurityGroupsManaged) +
                                  "' WHERE i.status <> 'DELETED' AND " + where,
               soci::use(value), soci::into(uuid));
          st.execute();
          while (st.fetch()) out[uuid];
        }
        if (out.empty()) return out;
        // Every rule of every group of those servers.
        std::vector<std::pair<std::string, SecurityGroupRule>> rules;
        {
          SecurityRuleRow row;
          soci::statement st(sql);
          st.alloc();
          st.prepare(
              "SELECT m.instance_uuid, r.id, r.group_id, r.protocol, r.from_port, r.to_port, "
              "r.cidr, r.remote_group_id FROM instance_security_groups m JOIN instances i ON "
              "i.uuid = m.instance_uuid JOIN security_group_rules r ON r.group_id = m.group_id "
              "WHERE i.status <> 'DELETED' AND " +
              where + " ORDER BY r.created_at, r.id");
          st.exchange(soci::into(uuid));
          row.bind(st);
          st.exchange(soci::use(value));
          st.define_and_bind();
          st.execute();
          while (st.fetch()) rules.emplace_back(uuid, row.get());
        }
        // The known addresses of the remote groups' live members.
        std::map<std::string, std::set<std::string>> members;
        for (const auto& [_, r] : rules) {
          if (!r.remote_group_id || members.count(*r.remote_group_id)) continue;
          auto& ips = members[*r.remote_group_id];
          std::string ip;
          soci::statement st =
              (sql.prepare << "SELECT i.ip_address FROM instance_security_groups m JOIN "
                              "instances i ON i.uuid = m.instance_uuid WHERE m.group_id = :g "
                              "AND i.status <> 'DELETED' AND i.ip_address <> ''",
               soci::use(*r.remote_group_id), soci::into(ip));
          st.execute();
          while (st.fetch()) ips.insert(ip);
        }
        for (const auto& [inst, r] : rules) {
          auto it = out.find(inst);
          if (it == out.end()) continue;  // not managed
          IngressRule base;
          base.protocol = r.protocol;
          base.from_port = r.from_port.value_or(-1);
          base.to_port = r.to_port.value_or(-1);
          if (r.cidr) {
            base.cidr = *r.cidr;
            it->second.push_back(base);
            continue;
          }
          for (const auto& ip : members[*r.remote_group_id]) {
            base.cidr = ip + (ip.find(':') == std::string::npos ? "/32" : "/128");
            it->second.push_back(base);
          }
        }
        return out;
      },
      "reading the firewall rules of " + (host.empty() ? instance_uuid : "host " + host));
}

Status Store::set_instance_address(const std::string& instance_uuid, const std::string& ip) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "UPDATE instances SET ip_address = :ip WHERE uuid = :u AND ip_address <> :ip2",
            soci::use(ip, "ip"), soci::use(instance_uuid, "u"), soci::use(ip, "ip2");
      },
      "recording the address of " + instance_uuid);
}

}  // namespace gpucloud::store
