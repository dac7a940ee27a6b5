// Roles on domains (schema version 15), held by users (domain_user_roles) or groups
// (domain_group_roles). They grant no token (gpucloud issues no domain-scoped tokens), so no
// change here has a token to revoke; they answer which domains a user may see.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

void require_domain_row(soci::session& sql, const std::string& id) {
  std::string found;
  sql << "SELECT id FROM domains WHERE id = :i", soci::use(id), soci::into(found);
  if (!sql.got_data()) throw Abort{Error::not_found("domain " + id + " does not exist")};
}

// The table and holder column of an assignment; the holder is a user or a group, never both.
struct DomainRoleHolder {
  const char* table;
  const char* column;
  const std::string& id;
};

DomainRoleHolder holder_of(const DomainRoleAssignment& a) {
  if (a.user_id.empty() == a.group_id.empty()) {
    throw Abort{{ErrorCode::kInvalidArgument,
                 "a domain role assignment names exactly one of a user and a group"}};
  }
  if (!a.user_id.empty()) return {"domain_user_roles", "user_id", a.user_id};
  return {"domain_group_roles", "group_id", a.group_id};
}

}  // namespace

Status Store::assign_domain_role(const DomainRoleAssignment& a) {
  return impl_->write(
      [&](soci::session& sql) {
        const DomainRoleHolder h = holder_of(a);
        require_domain_row(sql, a.domain_id);
        if (!a.user_id.empty()) {
          require_user(sql, a.user_id);
        } else {
          require_group(sql, a.group_id, "");
        }
        require_role_held_as(sql, impl_->dialect, a.role);
        int n = 0;
        sql << std::string("SELECT COUNT(*) FROM ") + h.table + " WHERE domain_id = :d AND " +
                   h.column + " = :h AND role = :r",
            soci::use(a.domain_id), soci::use(h.id), soci::use(a.role), soci::into(n);
        if (n > 0) return;
        try {
          sql << std::string("INSERT INTO ") + h.table + " (domain_id, " + h.column +
                     ", role) VALUES (:d, :h, :r)",
              soci::use(a.domain_id), soci::use(h.id), soci::use(a.role);
        } catch (const std::exception& e) {
          // Another request made the same assignment first: it holds, as asked.
          if (!is_duplicate(e)) throw;
        }
      },
      "assigning a role on domain " + a.domain_id);
}

Status Store::unassign_domain_role(const DomainRoleAssignment& a) {
  return impl_->write(
      [&](soci::session& sql) {
        const DomainRoleHolder h = holder_of(a);
        soci::statement st =
            (sql.prepare << std::string("DELETE FROM ") + h.table + " WHERE domain_id = :d AND " +
                                h.column + " = :h AND role = :r",
             soci::use(a.domain_id), soci::use(h.id), soci::use(a.role));
        st.execute(true);
        require_row(st, "no such role assignment on domain " + a.domain_id);
      },
      "removing a role on domain " + a.domain_id);
}

Result<std::vector<DomainRoleAssignment>> Store::list_domain_role_assignments(
    const std::string& domain_id, const std::string& user_id, const std::string& group_id) {
  return impl_->read<std::vector<DomainRoleAssignment>>(
      [&](soci::session& sql) {
        std::vector<DomainRoleAssignment> out;
        // A filter on one kind of holder leaves out the other kind.
        const bool users = group_id.empty(), groups = user_id.empty();
        for (const bool user_table : {true, false}) {
          if ((user_table && !users) || (!user_table && !groups)) continue;
          const std::string& holder = user_table ? user_id : group_id;
          const std::string column = user_table ? "user_id" : "group_id";
          DomainRoleAssignment row;
          std::string& holder_out = user_table ? row.user_id : row.group_id;
          soci::statement st =
              (sql.prepare << "SELECT domain_id, " + column + ", role FROM " +
                                  (user_table ? "domain_user_roles" : "domain_group_roles") +
                                  " WHERE (:d1 = '' OR domain_id = :d2) AND (:h1 = '' OR " +
                                  column + " = :h2) ORDER BY domain_id, " + column + ", role",
               soci::use(domain_id, "d1"), soci::use(domain_id, "d2"), soci::use(holder, "h1"),
               soci::use(holder, "h2"), soci::into(row.domain_id), soci::into(holder_out),
               soci::into(row.role));
          st.execute();
          while (st.fetch()) out.push_back(row);
        }
        return out;
      },
      "listing domain role assignments");
}

Result<std::vector<Domain>> Store::list_user_domains(const std::string& user_id) {
  return impl_->read<std::vector<Domain>>(
      [&](soci::session& sql) {
        std::vector<Domain> out;
        Domain d;
        std::string desc;
        soci::indicator i_desc = soci::i_null;
        soci::statement st =
            (sql.prepare << "SELECT id, name, description FROM domains WHERE enabled = 1 AND ("
                            "id IN (SELECT domain_id FROM domain_user_roles WHERE user_id = :u1) "
                            "OR id IN (SELECT r.domain_id FROM domain_group_roles r JOIN "
                            "identity_group_members m ON m.group_id = r.group_id WHERE "
                            "m.user_id = :u2)) ORDER BY name",
             soci::use(user_id, "u1"), soci::use(user_id, "u2"), soci::into(d.id),
             soci::into(d.name), soci::into(desc, i_desc));
        st.execute();
        while (st.fetch()) {
          d.description = i_desc == soci::i_null ? "" : desc;
          d.enabled = true;
          out.push_back(d);
        }
        return out;
      },
      "listing the domains of user " + user_id);
}

}  // namespace gpucloud::store
