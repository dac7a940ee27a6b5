// Keystone's domains and roles as rows (schema version 7). A domain owns projects and users,
// deleted with it; a role is held by name in role_assignments, so a rename or a delete reaches
// the assignments in the same transaction. A domain-specific role (version 18) is held by its id
// instead (Role::held_as), with its name in domain_specific_roles, and goes with its domain.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct DomainRow {
  Domain d;
  int enabled = 1;
  std::string desc;
  soci::indicator i_desc{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(d.id));
    st.exchange(soci::into(d.name));
    st.exchange(soci::into(desc, i_desc));
    st.exchange(soci::into(enabled));
  }
  Domain get() const {
    Domain out = d;
    out.description = i_desc == soci::i_null ? "" : desc;
    out.enabled = enabled != 0;
    return out;
  }
};

struct RoleRow {
  Role r;
  std::string desc, domain;
  soci::indicator i_desc{}, i_domain{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(r.id));
    st.exchange(soci::into(r.name));
    st.exchange(soci::into(desc, i_desc));
    st.exchange(soci::into(domain, i_domain));
  }
  Role get() const {
    Role out = r;
    out.description = i_desc == soci::i_null ? "" : desc;
    out.domain_id = opt(domain, i_domain);
    return out;
  }
};

const char* kDomainSelect = "SELECT id, name, description, enabled FROM domains ";
// A domain-specific role's name is its domain_specific_roles row's (roles.name holds its id).
const char* kRoleSelect =
    "SELECT r.id, COALESCE(d.name, r.name), r.description, d.domain_id FROM roles r "
    "LEFT JOIN domain_specific_roles d ON d.role_id = r.id ";

// Deletes a role (held as `held_as`) with everything that names it. keystone revokes the tokens
// that carried the role (revoke_by_grant); those that had it only through an inference rule
// lose it at their next request, when their roles are read again.
void erase_role(soci::session& sql, const std::string& id, const std::string& held_as) {
  sql << "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND EXISTS (SELECT 1 FROM "
         "role_assignments a WHERE a.role = :r AND a.user_id = tokens.user_id AND "
         "a.project_id = tokens.project_id)",
      soci::use(held_as);
  // And those that carried it through a group.
  sql << "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND EXISTS (SELECT 1 FROM "
         "project_group_roles r JOIN identity_group_members m ON m.group_id = r.group_id "
         "WHERE r.role = :r AND m.user_id = tokens.user_id AND "
         "r.project_id = tokens.project_id)",
      soci::use(held_as);
  sql << "DELETE FROM project_group_roles WHERE role = :r", soci::use(held_as);
  sql << "DELETE FROM system_user_roles WHERE role = :r", soci::use(held_as);
  sql << "DELETE FROM system_group_roles WHERE role = :r", soci::use(held_as);
  sql << "DELETE FROM role_assignments WHERE role = :r", soci::use(held_as);
  sql << "DELETE FROM domain_user_roles WHERE role = :r", soci::use(held_as);
  sql << "DELETE FROM domain_group_roles WHERE role = :r", soci::use(held_as);
  // The foreign keys cascade too; said here so that the delete does not depend on them.
  sql << "DELETE FROM implied_roles WHERE prior_role_id = :p OR implied_role_id = :i",
      soci::use(id, "p"), soci::use(id, "i");
  sql << "DELETE FROM domain_specific_roles WHERE role_id = :i", soci::use(id);
  sql << "DELETE FROM roles WHERE id = :i", soci::use(id);
}

}  // namespace

void require_role_held_as(soci::session& sql, const Dialect& dialect, const std::string& held_as) {
  std::string found;
  sql << "SELECT id FROM roles WHERE name = :n" + dialect.for_update, soci::use(held_as),
      soci::into(found);
  if (!sql.got_data()) throw Abort{Error::not_found("role " + held_as + " does not exist")};
}

Status Store::create_domain(const Domain& d) {
  return impl_->write(
      [&](soci::session& sql) {
        int en = d.enabled ? 1 : 0;
        sql << "INSERT INTO domains (id, name, description, enabled) VALUES (:i, :n, :ds, :e)",
            soci::use(d.id), soci::use(d.name), soci::use(d.description), soci::use(en);
      },
      "creating domain '" + d.name + "'");
}

Result<Domain> Store::get_domain(const std::string& id) {
  return impl_->read<Domain>(
      [&](soci::session& sql) {
        auto out =
            select_rows<DomainRow, Domain>(sql, std::string(kDomainSelect) + "WHERE id = :i", {id});
        if (out.empty()) throw Abort{Error::not_found("domain " + id + " does not exist")};
        return out.front();
      },
      "reading domain " + id);
}

Result<std::vector<Domain>> Store::list_domains() {
  return impl_->read<std::vector<Domain>>(
      [&](soci::session& sql) {
        return select_rows<DomainRow, Domain>(sql, std::string(kDomainSelect) + "ORDER BY name",
                                              {});
      },
      "listing domains");
}

Status Store::update_domain(const Domain& d) {
  return impl_->write(
      [&](soci::session& sql) {
        int en = d.enabled ? 1 : 0;
        soci::statement st =
            (sql.prepare << "UPDATE domains SET name = :n, description = :ds, "
                            "enabled = :e WHERE id = :i",
             soci::use(d.name), soci::use(d.description), soci::use(en), soci::use(d.id));
        st.execute(true);
        // MariaDB counts changed rows, not matched ones: an unchanged row is no error.
        int n = 0;
        sql << "SELECT COUNT(*) FROM domains WHERE id = :i", soci::use(d.id), soci::into(n);
        if (n == 0) throw Abort{Error::not_found("domain " + d.id + " does not exist")};
        if (!d.enabled) {
          // keystone: disabling a domain revokes the tokens of its users and projects.
          sql << "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND (user_id IN (SELECT id "
                 "FROM users WHERE domain_id = :d1) OR project_id IN (SELECT id FROM projects "
                 "WHERE domain_id = :d2))",
              soci::use(d.id, "d1"), soci::use(d.id, "d2");
        }
      },
      "updating domain " + d.id);
}

Status Store::delete_domain(const std::string& id) {
  const std::string lock = impl_->dialect.for_update;
  return impl_->write(
      [&](soci::session& sql) {
        if (id == "default") {
          throw Abort{{ErrorCode::kForbidden, "the default domain cannot be deleted"}};
        }
        int enabled = 0;
        sql << "SELECT enabled FROM domains WHERE id = :i" + lock, soci::use(id),
            soci::into(enabled);
        if (!sql.got_data()) throw Abort{Error::not_found("domain " + id + " does not exist")};
        if (enabled != 0) {
          throw Abort{{ErrorCode::kForbidden,
                       "Cannot delete a domain that is enabled, please disable it first."}};
        }
        // The domain's content goes with it (keystone deletes its projects, users and groups);
        // role assignments and login failures follow their users and projects by foreign key.
        sql << "DELETE FROM tokens WHERE user_id IN (SELECT id FROM users WHERE domain_id = :d1) "
               "OR project_id IN (SELECT id FROM projects WHERE domain_id = :d2)",
            soci::use(id, "d1"), soci::use(id, "d2");
        sql << "DELETE FROM keypairs WHERE user_id IN (SELECT id FROM users WHERE domain_id = :d)",
            soci::use(id);
        sql << "DELETE FROM role_assignments WHERE user_id IN (SELECT id FROM users WHERE "
               "domain_id = :d1) OR project_id IN (SELECT id FROM projects WHERE domain_id = :d2)",
            soci::use(id, "d1"), soci::use(id, "d2");
        // The members of its groups lose the groups' roles on other domains' projects: their
        // tokens there are revoked.
        sql << "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND EXISTS (SELECT 1 FROM "
               "project_group_roles r JOIN identity_group_members m ON m.group_id = r.group_id "
               "JOIN identity_groups g ON g.id = r.group_id WHERE g.domain_id = :d AND "
               "m.user_id = tokens.user_id AND r.project_id = tokens.project_id)",
            soci::use(id);
        // Its groups' memberships and roles follow the groups, and its users' memberships in
        // other domains' groups follow the users, by foreign key.
        sql << "DELETE FROM identity_groups WHERE domain_id = :d", soci::use(id);
        sql << "DELETE FROM users WHERE domain_id = :d", soci::use(id);
        // Parent links first: a parent's row may not go while a link points at it, and MariaDB
        // checks that row by row within one DELETE. Tags follow their projects by foreign key,
        // and the domain's roles follow it.
        sql << "DELETE FROM project_parents WHERE project_id IN (SELECT id FROM projects WHERE "
               "domain_id = :d)",
            soci::use(id);
        sql << "DELETE FROM projects WHERE domain_id = :d", soci::use(id);
        // Its roles, with their assignments elsewhere and their inference rules (keystone
        // deletes a domain's roles with it).
        std::vector<std::string> roles;
        {
          std::string role_id;
          soci::statement st = (sql.prepare << "SELECT role_id FROM domain_specific_roles WHERE "
                                               "domain_id = :d ORDER BY role_id",
                                soci::use(id), soci::into(role_id));
          st.execute();
          while (st.fetch()) roles.push_back(role_id);
        }
        for (const auto& role_id : roles) erase_role(sql, role_id, role_id);
        sql << "DELETE FROM domains WHERE id = :i", soci::use(id);
      },
      "deleting domain " + id);
}

Status Store::create_role(const Role& r) {
  return impl_->write(
      [&](soci::session& sql) {
        if (r.domain_id) {
          std::string found;
          sql << "SELECT id FROM domains WHERE id = :d", soci::use(*r.domain_id), soci::into(found);
          if (!sql.got_data()) {
            throw Abort{Error::not_found("domain " + *r.domain_id + " does not exist")};
          }
        }
        sql << "INSERT INTO roles (id, name, description) VALUES (:i, :n, :ds)", soci::use(r.id),
            soci::use(r.held_as()), soci::use(r.description);
        if (r.domain_id) {
          sql << "INSERT INTO domain_specific_roles (role_id, domain_id, name) "
                 "VALUES (:i, :d, :n)",
              soci::use(r.id), soci::use(*r.domain_id), soci::use(r.name);
        }
      },
      "creating role '" + r.name + "'");
}

Result<Role> Store::get_role(const std::string& id) {
  return impl_->read<Role>(
      [&](soci::session& sql) {
        auto out =
            select_rows<RoleRow, Role>(sql, std::string(kRoleSelect) + "WHERE r.id = :i", {id});
        if (out.empty()) throw Abort{Error::not_found("role " + id + " does not exist")};
        return out.front();
      },
      "reading role " + id);
}

Result<std::vector<Role>> Store::list_roles() {
  return impl_->read<std::vector<Role>>(
      [&](soci::session& sql) {
        return select_rows<RoleRow, Role>(sql, std::string(kRoleSelect) + "ORDER BY 2, 1", {});
      },
      "listing roles");
}

Status Store::update_role(const Role& r) {
  const std::string lock = impl_->dialect.for_update;
  return impl_->write(
      [&](soci::session& sql) {
        std::string old_name;
        sql << "SELECT name FROM roles WHERE id = :i" + lock, soci::use(r.id), soci::into(old_name);
        if (!sql.got_data()) throw Abort{Error::not_found("role " + r.id + " does not exist")};
        int domain_specific = 0;
        sql << "SELECT COUNT(*) FROM domain_specific_roles WHERE role_id = :i", soci::use(r.id),
            soci::into(domain_specific);
        if (domain_specific > 0) {
          // Held by its id: a new name changes no assignment.
          sql << "UPDATE domain_specific_roles SET name = :n WHERE role_id = :i", soci::use(r.name),
              soci::use(r.id);
          sql << "UPDATE roles SET description = :ds WHERE id = :i", soci::use(r.description),
              soci::use(r.id);
          return;
        }
        sql << "UPDATE roles SET name = :n, description = :ds WHERE id = :i", soci::use(r.name),
            soci::use(r.description), soci::use(r.id);
        if (old_name != r.name) {
          sql << "UPDATE role_assignments SET role = :n WHERE role = :o", soci::use(r.name),
              soci::use(old_name);
          sql << "UPDATE domain_user_roles SET role = :n WHERE role = :o", soci::use(r.name),
              soci::use(old_name);
          sql << "UPDATE domain_group_roles SET role = :n WHERE role = :o", soci::use(r.name),
              soci::use(old_name);
          sql << "UPDATE project_group_roles SET role = :n WHERE role = :o", soci::use(r.name),
              soci::use(old_name);
          sql << "UPDATE system_user_roles SET role = :n WHERE role = :o", soci::use(r.name),
              soci::use(old_name);
          sql << "UPDATE system_group_roles SET role = :n WHERE role = :o", soci::use(r.name),
              soci::use(old_name);
        }
      },
      "updating role " + r.id);
}

Status Store::delete_role(const std::string& id) {
  const std::string lock = impl_->dialect.for_update;
  return impl_->write(
      [&](soci::session& sql) {
        // roles.name is what assignments hold (a domain-specific role's id).
        std::string held_as;
        sql << "SELECT name FROM roles WHERE id = :i" + lock, soci::use(id), soci::into(held_as);
        if (!sql.got_data()) throw Abort{Error::not_found("role " + id + " does not exist")};
        erase_role(sql, id, held_as);
      },
      "deleting role " + id);
}

}  // namespace gpucloud::store
