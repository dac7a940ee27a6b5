// nova's server groups: a policy and the servers booted into the group. Membership is written
// in the transaction that creates the server (lifecycle.cc calls join_server_group); a server's
// deletion needs no write here, because members are read as the live servers among the rows.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

const char* const kColumns =
    "uuid, name, project_id, user_id, policy, max_server_per_host, created_at";

struct GroupRow {
  ServerGroup g;
  int max_per_host = 0;
  soci::indicator max_ind = soci::i_null;
  std::string created;
  void bind(soci::statement& st) {
    st.exchange(soci::into(g.uuid));
    st.exchange(soci::into(g.name));
    st.exchange(soci::into(g.project_id));
    st.exchange(soci::into(g.user_id));
    st.exchange(soci::into(g.policy));
    st.exchange(soci::into(max_per_host, max_ind));
    st.exchange(soci::into(created));
  }
  ServerGroup get() const {
    ServerGroup out = g;
    if (max_ind == soci::i_ok) out.max_server_per_host = max_per_host;
    out.created_at = parse_time(created);
    return out;
  }
};

// The live servers of a group, oldest member first.
std::vector<std::string> live_members(soci::session& sql, const std::string& group_uuid) {
  std::vector<std::string> out;
  std::string uuid;
  soci::statement st =
      (sql.prepare << "SELECT m.instance_uuid FROM server_group_members m JOIN instances i "
                      "ON i.uuid = m.instance_uuid WHERE m.group_uuid = :g AND "
                      "i.status <> 'DELETED' ORDER BY m.created_at, m.instance_uuid",
       soci::use(group_uuid), soci::into(uuid));
  st.execute();
  while (st.fetch()) out.push_back(uuid);
  return out;
}

// Where the group's servers other than `except` hold claims (a claim is what holds a host for a
// server), as host -> servers.
std::map<std::string, int> member_hosts(soci::session& sql, const std::string& group_uuid,
                                        const std::string& except) {
  std::map<std::string, int> hosts;
  std::string name;
  int count = 0;
  soci::statement st =
      (sql.prepare << "SELECT h.name, COUNT(*) FROM server_group_members m "
                      "JOIN instance_claims c ON c.instance_uuid = m.instance_uuid "
                      "JOIN compute_hosts h ON h.id = c.compute_node_id "
                      "WHERE m.group_uuid = :g AND m.instance_uuid <> :i GROUP BY h.name",
       soci::use(group_uuid), soci::use(except), soci::into(name), soci::into(count));
  st.execute();
  while (st.fetch()) hosts[name] = count;
  return hosts;
}

// Groups matching `where` (one bound value, or none when `value` is empty), oldest first.
std::vector<ServerGroup> select_groups(soci::session& sql, const std::string& where,
                                       const std::string& value) {
  GroupRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string("SELECT ") + kColumns + " FROM server_groups" +
             (where.empty() ? "" : " WHERE " + where) + " ORDER BY created_at, uuid");
  row.bind(st);
  if (!where.empty()) st.exchange(soci::use(value));
  st.define_and_bind();
  st.execute();
  std::vector<ServerGroup> out;
  while (st.fetch()) out.push_back(row.get());
  for (auto& g : out) g.members = live_members(sql, g.uuid);
  return out;
}

}  // namespace

void join_server_group(soci::session& sql, const Dialect& dialect, const Instance& instance,
                       const std::string& group_uuid) {
  // The group's row lock orders concurrent joins, so that the count below holds until commit.
  std::string found;
  soci::indicator ind = soci::i_null;
  sql << "SELECT uuid FROM server_groups WHERE uuid = :g" + dialect.for_update,
      soci::use(group_uuid), soci::into(found, ind);
  if (!sql.got_data()) {
    throw Abort{Error::not_found("Instance group " + group_uuid + " could not be found.")};
  }
  const int64_t limit = project_quota_limits(sql, instance.project_id).at("server_group_members");
  if (limit >= 0 && static_cast<int64_t>(live_members(sql, group_uuid).size()) >= limit) {
    throw Abort{Error{ErrorCode::kForbidden, "Quota exceeded, too many servers in group"}};
  }
  const std::string ts = format_time(now());
  sql << "INSERT INTO server_group_members (group_uuid, instance_uuid, created_at) "
         "VALUES (:g, :i, :t)",
      soci::use(group_uuid), soci::use(instance.uuid), soci::use(ts);
}

void check_server_group_claim(soci::session& sql, const std::string& group_uuid,
                              const std::string& instance_uuid, const std::string& host) {
  // Written, not just read: the update is what makes a concurrent claim for the group wait (or,
  // on Galera, fail certification and run again) instead of judging by the same members.
  soci::statement bump = (sql.prepare << "UPDATE server_groups SET generation = generation + 1 "
                                         "WHERE uuid = :g",
                          soci::use(group_uuid));
  bump.execute(true);
  if (bump.get_affected_rows() == 0) return;  // the group was deleted: no policy left to keep
  std::string policy;
  int max_per_host = 1;
  soci::indicator max_ind = soci::i_null;
  sql << "SELECT policy, max_server_per_host FROM server_groups WHERE uuid = :g",
      soci::use(group_uuid), soci::into(policy), soci::into(max_per_host, max_ind);
  if (max_ind != soci::i_ok) max_per_host = 1;
  const std::map<std::string, int> hosts = member_hosts(sql, group_uuid, instance_uuid);
  if (policy == "anti-affinity") {
    auto it = hosts.find(host);
    if (it != hosts.end() && it->second >= max_per_host) {
      throw Abort{Error::conflict("host " + host + " already holds " + std::to_string(it->second) +
                                  " server(s) of anti-affinity group " + group_uuid)};
    }
  } else if (policy == "affinity") {
    if (!hosts.empty() && !hosts.count(host)) {
      throw Abort{Error::conflict("the servers of affinity group " + group_uuid + " are on " +
                                  hosts.begin()->first + ", not " + host)};
    }
  }
}

Status Store::create_server_group(const ServerGroup& g) {
  return impl_->write(
      [&](soci::session& sql) {
        // The project's row lock (SQLite: the write lock) makes two creates count each other.
        std::string locked;
        soci::indicator ind = soci::i_null;
        sql << "SELECT id FROM projects WHERE id = :p" + impl_->dialect.for_update,
            soci::use(g.project_id), soci::into(locked, ind);
        const int64_t limit = project_quota_limits(sql, g.project_id).at("server_groups");
        long long have = 0;
        sql << "SELECT COUNT(*) FROM server_groups WHERE project_id = :p", soci::use(g.project_id),
            soci::into(have);
        if (limit >= 0 && have >= limit) {
          throw Abort{Error{ErrorCode::kForbidden, "Quota exceeded, too many server groups."}};
        }
        const std::string ts = format_time(g.created_at == TimePoint{} ? now() : g.created_at);
        soci::indicator max_ind = g.max_server_per_host ? soci::i_ok : soci::i_null;
        int max_per_host = g.max_server_per_host.value_or(0);
        sql << "INSERT INTO server_groups (uuid, name, project_id, user_id, policy, "
               "max_server_per_host, created_at) VALUES (:u, :n, :p, :us, :po, :m, :t)",
            soci::use(g.uuid), soci::use(g.name), soci::use(g.project_id), soci::use(g.user_id),
            soci::use(g.policy), soci::use(max_per_host, max_ind), soci::use(ts);
      },
      "creating server group " + g.uuid);
}

Result<ServerGroup> Store::get_server_group(const std::string& uuid) {
  return impl_->read<ServerGroup>(
      [&](soci::session& sql) {
        auto rows = select_groups(sql, "uuid = :u", uuid);
        if (rows.empty()) {
          throw Abort{Error::not_found("Instance group " + uuid + " could not be found.")};
        }
        return rows.front();
      },
      "reading server group " + uuid);
}

Result<std::vector<ServerGroup>> Store::list_server_groups(const std::string& project_id) {
  return impl_->read<std::vector<ServerGroup>>(
      [&](soci::session& sql) {
        return project_id.empty() ? select_groups(sql, "", "")
                                  : select_groups(sql, "project_id = :p", project_id);
      },
      "listing server groups");
}

Status Store::delete_server_group(const std::string& uuid) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "DELETE FROM server_group_members WHERE group_uuid = :g", soci::use(uuid);
        soci::statement st =
            (sql.prepare << "DELETE FROM server_groups WHERE uuid = :g", soci::use(uuid));
        st.execute(true);
        if (st.get_affected_rows() == 0) {
          throw Abort{Error::not_found("Instance group " + uuid + " could not be found.")};
        }
      },
      "deleting server group " + uuid);
}

Result<std::optional<ServerGroup>> Store::server_group_of(const std::string& instance_uuid) {
  return impl_->read<std::optional<ServerGroup>>(
      [&](soci::session& sql) -> std::optional<ServerGroup> {
        auto rows = select_groups(
            sql, "uuid IN (SELECT group_uuid FROM server_group_members WHERE instance_uuid = :i)",
            instance_uuid);
        if (rows.empty()) return std::nullopt;
        return rows.front();
      },
      "reading the server group of " + instance_uuid);
}

Result<std::map<std::string, int>> Store::server_group_hosts(const std::string& group_uuid,
                                                             const std::string& except) {
  return impl_->read<std::map<std::string, int>>(
      [&](soci::session& sql) { return member_hosts(sql, group_uuid, except); },
      "reading the hosts of server group " + group_uuid);
}

}  // namespace gpucloud::store
