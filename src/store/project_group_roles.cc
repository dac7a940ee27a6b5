// Roles on projects held by keystone groups (schema version 17). Every member of a group holds
// the group's roles on its projects: a user's roles on a project are its own and its groups',
// with the roles they imply (version 18), read on every request (token_grants.cc), so a
// membership, a grant or an inference rule that goes takes its roles with it at the next
// request; the tokens concerned by a grant are also revoked, as keystone does.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

void require_project_row(soci::session& sql, const std::string& id) {
  std::string found;
  sql << "SELECT id FROM projects WHERE id = :i", soci::use(id), soci::into(found);
  if (!sql.got_data()) throw Abort{Error::not_found("project " + id + " does not exist")};
}

}  // namespace

std::vector<std::string> read_user_project_roles(soci::session& sql, const std::string& user_id,
                                                 const std::string& project_id) {
  // The roles held directly: role_assignments' primary key (user_id, project_id, role) answers
  // the first half; identity_group_members' user_id index and project_group_roles' primary key
  // (project_id, group_id, role) the second. Then, recursively, every role an inference rule
  // implies from one already held (roles' unique name, implied_roles' primary key, roles'
  // primary key); UNION keeps each role once, which also ends the recursion should a cycle ever
  // be stored. Last, the domain-specific roles go (held by their id, the primary key of
  // domain_specific_roles): they only convey what they imply, as in keystone.
  std::vector<std::string> out;
  std::string role;
  soci::statement st =
      (sql.prepare << "WITH RECURSIVE held (role) AS ("
                      "SELECT role FROM (SELECT role FROM role_assignments WHERE user_id = :u1 "
                      "AND project_id = :p1 UNION SELECT r.role FROM identity_group_members m "
                      "JOIN project_group_roles r ON r.group_id = m.group_id WHERE m.user_id = "
                      ":u2 AND r.project_id = :p2) own "
                      "UNION SELECT ir.name FROM held JOIN roles pr ON pr.name = held.role "
                      "JOIN implied_roles i ON i.prior_role_id = pr.id "
                      "JOIN roles ir ON ir.id = i.implied_role_id) "
                      "SELECT role FROM held WHERE role NOT IN (SELECT role_id FROM "
                      "domain_specific_roles) ORDER BY 1",
       soci::use(user_id, "u1"), soci::use(project_id, "p1"), soci::use(user_id, "u2"),
       soci::use(project_id, "p2"), soci::into(role));
  st.execute();
  while (st.fetch()) out.push_back(role);
  return out;
}

Status Store::assign_group_role(const GroupRoleAssignment& a) {
  return impl_->write(
      [&](soci::session& sql) {
        require_project_row(sql, a.project_id);
        require_group(sql, a.group_id, "");
        require_role_held_as(sql, impl_->dialect, a.role);
        int n = 0;
        sql << "SELECT COUNT(*) FROM project_group_roles WHERE project_id = :p AND group_id = :g "
               "AND role = :r",
            soci::use(a.project_id), soci::use(a.group_id), soci::use(a.role), soci::into(n);
        if (n > 0) return;
        try {
          sql << "INSERT INTO project_group_roles (project_id, group_id, role) "
                 "VALUES (:p, :g, :r)",
              soci::use(a.project_id), soci::use(a.group_id), soci::use(a.role);
        } catch (const std::exception& e) {
          // Another request made the same assignment first: it holds, as asked.
          if (!is_duplicate(e)) throw;
        }
      },
      "assigning role " + a.role + " to group " + a.group_id);
}

Status Store::unassign_group_role(const GroupRoleAssignment& a) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st = (sql.prepare << "DELETE FROM project_group_roles WHERE project_id = "
                                             ":p AND group_id = :g AND role = :r",
                              soci::use(a.project_id), soci::use(a.group_id), soci::use(a.role));
        st.execute(true);
        require_row(st, "role " + a.role + " is not assigned to group " + a.group_id +
                            " on project " + a.project_id);
        // keystone's revoke_by_grant for a group: its members' tokens on the project.
        sql << "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND project_id = :p AND user_id "
               "IN (SELECT user_id FROM identity_group_members WHERE group_id = :g)",
            soci::use(a.project_id), soci::use(a.group_id);
      },
      "removing role " + a.role + " from group " + a.group_id);
}

Result<std::vector<GroupRoleAssignment>> Store::list_group_role_assignments(
    const std::string& project_id, const std::string& group_id) {
  return impl_->read<std::vector<GroupRoleAssignment>>(
      [&](soci::session& sql) {
        std::vector<GroupRoleAssignment> out;
        GroupRoleAssignment a;
        soci::statement st =
            (sql.prepare << "SELECT group_id, project_id, role FROM project_group_roles "
                            "WHERE (:p1 = '' OR project_id = :p2) AND (:g1 = '' OR group_id = :g2) "
                            "ORDER BY project_id, group_id, role",
             soci::use(project_id, "p1"), soci::use(project_id, "p2"), soci::use(group_id, "g1"),
             soci::use(group_id, "g2"), soci::into(a.group_id), soci::into(a.project_id),
             soci::into(a.role));
        st.execute();
        while (st.fetch()) out.push_back(a);
        return out;
      },
      "listing group role assignments");
}

Result<std::vector<std::string>> Store::user_project_roles(const std::string& user_id,
                                                           const std::string& project_id) {
  return impl_->read<std::vector<std::string>>(
      [&](soci::session& sql) { return read_user_project_roles(sql, user_id, project_id); },
      "reading the roles of user " + user_id + " on project " + project_id);
}

Result<std::vector<std::string>> Store::list_user_project_ids(const std::string& user_id) {
  return impl_->read<std::vector<std::string>>(
      [&](soci::session& sql) {
        std::vector<std::string> out;
        std::string id;
        soci::statement st =
            (sql.prepare << "SELECT project_id FROM role_assignments WHERE user_id = :u1 UNION "
                            "SELECT r.project_id FROM identity_group_members m JOIN "
                            "project_group_roles r ON r.group_id = m.group_id WHERE m.user_id = "
                            ":u2 ORDER BY 1",
             soci::use(user_id, "u1"), soci::use(user_id, "u2"), soci::into(id));
        st.execute();
        while (st.fetch()) out.push_back(id);
        return out;
      },
      "listing the projects of user " + user_id);
}

}  // namespace gpucloud::store
