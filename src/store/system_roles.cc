// Role assignments on the system (schema version 17), held by users (system_user_roles) or groups
// (system_group_roles), as keystone keeps them. gpucloud issues no system-scoped token, so they
// grant nothing and no change here has a token to revoke (docs/identity.md).
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

// The table and holder column of an assignment; the holder is a user or a group, never both.
struct SystemRoleHolder {
  const char* table;
  const char* column;
  const std::string& id;
};

SystemRoleHolder system_holder_of(const SystemRoleAssignment& a) {
  if (a.user_id.empty() == a.group_id.empty()) {
    throw Abort{{ErrorCode::kInvalidArgument,
                 "a system role assignment names exactly one of a user and a group"}};
  }
  if (!a.user_id.empty()) return {"system_user_roles", "user_id", a.user_id};
  return {"system_group_roles", "group_id", a.group_id};
}

}  // namespace

Status Store::assign_system_role(const SystemRoleAssignment& a) {
  return impl_->write(
      [&](soci::session& sql) {
        const SystemRoleHolder h = system_holder_of(a);
        if (!a.user_id.empty()) {
          require_user(sql, a.user_id);
        } else {
          require_group(sql, a.group_id, "");
        }
        require_role_held_as(sql, impl_->dialect, a.role);
        int n = 0;
        sql << std::string("SELECT COUNT(*) FROM ") + h.table + " WHERE " + h.column +
                   " = :h AND role = :r",
            soci::use(h.id), soci::use(a.role), soci::into(n);
        if (n > 0) return;
        try {
          sql << std::string("INSERT INTO ") + h.table + " (" + h.column +
                     ", role) VALUES (:h, :r)",
              soci::use(h.id), soci::use(a.role);
        } catch (const std::exception& e) {
          // Another request made the same assignment first: it holds, as asked.
          if (!is_duplicate(e)) throw;
        }
      },
      "assigning a role on the system");
}

Status Store::unassign_system_role(const SystemRoleAssignment& a) {
  return impl_->write(
      [&](soci::session& sql) {
        const SystemRoleHolder h = system_holder_of(a);
        soci::statement st = (sql.prepare << std::string("DELETE FROM ") + h.table + " WHERE " +
                                                 h.column + " = :h AND role = :r",
                              soci::use(h.id), soci::use(a.role));
        st.execute(true);
        require_row(st, "no such role assignment on the system");
      },
      "removing a role on the system");
}

Result<std::vector<SystemRoleAssignment>> Store::list_system_role_assignments(
    const std::string& user_id, const std::string& group_id) {
  return impl_->read<std::vector<SystemRoleAssignment>>(
      [&](soci::session& sql) {
        std::vector<SystemRoleAssignment> out;
        // A filter on one kind of holder leaves out the other kind.
        for (const bool user_table : {true, false}) {
          if ((user_table && !group_id.empty()) || (!user_table && !user_id.empty())) continue;
          const std::string& holder = user_table ? user_id : group_id;
          const std::string column = user_table ? "user_id" : "group_id";
          SystemRoleAssignment row;
          std::string& holder_out = user_table ? row.user_id : row.group_id;
          soci::statement st =
              (sql.prepare << "SELECT " + column + ", role FROM " +
                                  (user_table ? "system_user_roles" : "system_group_roles") +
                                  " WHERE (:h1 = '' OR " + column + " = :h2) ORDER BY " + column +
                                  ", role",
               soci::use(holder, "h1"), soci::use(holder, "h2"), soci::into(holder_out),
               soci::into(row.role));
          st.execute();
          while (st.fetch()) out.push_back(row);
        }
        return out;
      },
      "listing system role assignments");
}

}  // namespace gpucloud::store
