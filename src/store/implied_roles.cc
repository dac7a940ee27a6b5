// keystone's role inference rules (schema version 18): whoever holds the prior role holds the
// implied one too. The rules are expanded where a user's roles are read for every request
// (project_group_roles.cc), so a rule added or removed holds at the next request, on every
// replica. What keystone refuses is refused here, in the transaction that writes the rule: a
// missing role (kNotFound), the admin role as an implied one (its [assignment]
// prohibited_implied_role) and a global role implying a domain-specific one (kForbidden). A rule
// that would close a cycle is refused too (kForbidden), where keystone stores it and stops its
// expansion at the repeat.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

// keystone's own rules, seeded by the migration: refused to delete, as the built-in roles are.
bool is_builtin_rule(const RoleInference& r) {
  return (r.prior_role_id == "admin" && r.implied_role_id == "member") ||
         (r.prior_role_id == "member" && r.implied_role_id == "reader");
}

struct RoleFacts {
  std::string name;  // as keystone shows it
  bool domain_specific = false;
};

RoleFacts role_facts(soci::session& sql, const std::string& id) {
  RoleFacts f;
  std::string domain;
  soci::indicator i_domain = soci::i_null;
  sql << "SELECT COALESCE(d.name, r.name), d.domain_id FROM roles r LEFT JOIN "
         "domain_specific_roles d ON d.role_id = r.id WHERE r.id = :i",
      soci::use(id), soci::into(f.name), soci::into(domain, i_domain);
  if (!sql.got_data()) throw Abort{Error::not_found("Could not find role: " + id + ".")};
  f.domain_specific = i_domain != soci::i_null;
  return f;
}

// Whether `to` can be reached from `from` by following rules (a role reaches itself).
bool reaches(soci::session& sql, const std::string& from, const std::string& to) {
  if (from == to) return true;
  // The anchor reads a column rather than a bound value: MariaDB types a recursive CTE's
  // column by its anchor, and a literal would make it as narrow as the literal.
  int n = 0;
  sql << "WITH RECURSIVE reach (id) AS (SELECT implied_role_id FROM implied_roles WHERE "
         "prior_role_id = :f UNION SELECT i.implied_role_id FROM reach JOIN implied_roles i "
         "ON i.prior_role_id = reach.id) SELECT COUNT(*) FROM reach WHERE id = :t",
      soci::use(from, "f"), soci::use(to, "t"), soci::into(n);
  return n > 0;
}

}  // namespace

Status Store::create_implied_role(const RoleInference& r) {
  const std::string lock = impl_->dialect.for_update;
  return impl_->write(
      [&](soci::session& sql) {
        // Rule writes meet on the admin role's row (MariaDB; SQLite's write lock does it), so
        // that two rules written at once cannot close a cycle that neither saw. Should one slip
        // through elsewhere (Galera nodes), the expansion still ends: UNION keeps each role once.
        std::string serialise;
        sql << "SELECT id FROM roles WHERE id = 'admin'" + lock, soci::into(serialise);
        const RoleFacts prior = role_facts(sql, r.prior_role_id);
        const RoleFacts implied = role_facts(sql, r.implied_role_id);
        if (r.implied_role_id == "admin" || implied.name == "admin") {
          throw Abort{{ErrorCode::kForbidden, r.implied_role_id + " cannot be an implied role."}};
        }
        if (!prior.domain_specific && implied.domain_specific) {
          throw Abort{{ErrorCode::kForbidden, "Global role cannot imply a domain-specific role."}};
        }
        int n = 0;
        sql << "SELECT COUNT(*) FROM implied_roles WHERE prior_role_id = :p AND "
               "implied_role_id = :i",
            soci::use(r.prior_role_id, "p"), soci::use(r.implied_role_id, "i"), soci::into(n);
        if (n > 0) {
          throw Abort{Error::conflict("Conflict occurred attempting to store implied_role - " +
                                      r.prior_role_id + " already implies " + r.implied_role_id +
                                      ".")};
        }
        if (reaches(sql, r.implied_role_id, r.prior_role_id)) {
          throw Abort{{ErrorCode::kForbidden, "Role " + r.prior_role_id + " cannot imply " +
                                                  r.implied_role_id + ": " + r.implied_role_id +
                                                  " already implies " + r.prior_role_id +
                                                  ", and role inference rules may not form a "
                                                  "cycle."}};
        }
        sql << "INSERT INTO implied_roles (prior_role_id, implied_role_id) VALUES (:p, :i)",
            soci::use(r.prior_role_id, "p"), soci::use(r.implied_role_id, "i");
      },
      "creating the rule that " + r.prior_role_id + " implies " + r.implied_role_id);
}

Status Store::delete_implied_role(const RoleInference& r) {
  return impl_->write(
      [&](soci::session& sql) {
        role_facts(sql, r.prior_role_id);
        role_facts(sql, r.implied_role_id);
        if (is_builtin_rule(r)) {
          throw Abort{{ErrorCode::kForbidden, "The built-in rule that " + r.prior_role_id +
                                                  " implies " + r.implied_role_id +
                                                  " cannot be deleted."}};
        }
        soci::statement st = (sql.prepare << "DELETE FROM implied_roles WHERE prior_role_id = :p "
                                             "AND implied_role_id = :i",
                              soci::use(r.prior_role_id, "p"), soci::use(r.implied_role_id, "i"));
        st.execute(true);
        require_row(st, r.prior_role_id + " does not imply " + r.implied_role_id + ".");
      },
      "deleting the rule that " + r.prior_role_id + " implies " + r.implied_role_id);
}

Result<std::vector<RoleInference>> Store::list_implied_roles(const std::string& prior_role_id) {
  return impl_->read<std::vector<RoleInference>>(
      [&](soci::session& sql) {
        if (!prior_role_id.empty()) role_facts(sql, prior_role_id);
        std::vector<RoleInference> out;
        RoleInference r;
        soci::statement st =
            (sql.prepare << "SELECT prior_role_id, implied_role_id FROM implied_roles WHERE "
                            "(:p1 = '' OR prior_role_id = :p2) ORDER BY prior_role_id, "
                            "implied_role_id",
             soci::use(prior_role_id, "p1"), soci::use(prior_role_id, "p2"),
             soci::into(r.prior_role_id), soci::into(r.implied_role_id));
        st.execute();
        while (st.fetch()) out.push_back(r);
        return out;
      },
      "listing role inference rules");
}

}  // namespace gpucloud::store
