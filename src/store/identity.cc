// Keystone's side of the store: users, role assignments, hashed tokens, and nova's keypairs
// (owned by users). Projects are in identity_projects.cc.

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

std::string stamp(TimePoint t) { return format_time(t == TimePoint{} ? now() : t); }

struct UserRow {
  User u;
  int enabled = 1;
  std::string created, default_project, extra;
  soci::indicator i_default{}, i_created{}, i_extra{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(u.id));
    st.exchange(soci::into(u.name));
    st.exchange(soci::into(u.domain_id));
    st.exchange(soci::into(u.password_hash));
    st.exchange(soci::into(u.email));
    st.exchange(soci::into(default_project, i_default));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(created, i_created));
    st.exchange(soci::into(extra, i_extra));
  }
  User get() const {
    User out = u;
    if (i_extra != soci::i_null) out.extra = extra;
    out.default_project_id = opt(default_project, i_default);
    out.enabled = enabled != 0;
    if (i_created != soci::i_null) out.created_at = parse_time(created);
    return out;
  }
};
const char* kUserSelect =
    "SELECT id, name, domain_id, password_hash, email, default_project_id, enabled, created_at, "
    "user_extra.extra FROM users LEFT JOIN user_extra ON user_extra.user_id = users.id ";

template <typename T>
T first_or_not_found(std::vector<T> rows, const std::string& what) {
  if (rows.empty()) throw Abort{Error::not_found(what)};
  return std::move(rows.front());
}

}  // namespace

Status Store::create_user(const User& u) {
  return impl_->write(
      [&](soci::session& sql) {
        int en = u.enabled ? 1 : 0;
        std::string ts = stamp(u.created_at);
        NullableString dp = nullable(u.default_project_id);
        sql << "INSERT INTO users (id, name, domain_id, password_hash, email, default_project_id, "
               "enabled, created_at) VALUES (:i, :n, :d, :h, :e, :p, :en, :c)",
            soci::use(u.id), soci::use(u.name), soci::use(u.domain_id), soci::use(u.password_hash),
            soci::use(u.email), soci::use(dp.value, dp.ind), soci::use(en), soci::use(ts);
        if (!u.extra.empty()) {
          sql << "INSERT INTO user_extra (user_id, extra) VALUES (:i, :x)", soci::use(u.id),
              soci::use(u.extra);
        }
      },
      "creating user '" + u.name + "'");
}

Result<User> Store::get_user(const std::string& id) {
  return impl_->read<User>(
      [&](soci::session& sql) {
        return first_or_not_found(
            select_rows<UserRow, User>(sql, std::string(kUserSelect) + "WHERE id = :i", {id}),
            "user " + id + " does not exist");
      },
      "reading user " + id);
}

Result<User> Store::find_user_by_name(const std::string& name, const std::string& domain) {
  return impl_->read<User>(
      [&](soci::session& sql) {
        return first_or_not_found(
            select_rows<UserRow, User>(
                sql, std::string(kUserSelect) + "WHERE name = :n AND domain_id = :d",
                {name, domain}),
            "user '" + name + "' does not exist");
      },
      "reading user '" + name + "'");
}

Result<std::vector<User>> Store::list_users() {
  return impl_->read<std::vector<User>>(
      [&](soci::session& sql) {
        return select_rows<UserRow, User>(sql, std::string(kUserSelect) + "ORDER BY name", {});
      },
      "listing users");
}

// Here rather than in identity_groups.cc: it reads user rows.
Result<std::vector<User>> Store::list_group_users(const std::string& group_id) {
  return impl_->read<std::vector<User>>(
      [&](soci::session& sql) {
        require_group(sql, group_id, "");
        return select_rows<UserRow, User>(
            sql,
            std::string(kUserSelect) +
                "JOIN identity_group_members m ON m.user_id = users.id WHERE m.group_id = :g "
                "ORDER BY name",
            {group_id});
      },
      "listing the users of group " + group_id);
}

Status Store::update_user(const User& u) {
  const std::string lock = impl_->dialect.for_update;
  return impl_->write(
      [&](soci::session& sql) {
        // keystone: a new password or a disable revokes every token of the user, so that the
        // old credentials stop working at once on every replica (tokens are checked here).
        std::string old_hash;
        int old_enabled = 0;
        sql << "SELECT password_hash, enabled FROM users WHERE id = :i" + lock, soci::use(u.id),
            soci::into(old_hash), soci::into(old_enabled);
        if (!sql.got_data()) throw Abort{Error::not_found("user " + u.id + " does not exist")};
        int en = u.enabled ? 1 : 0;
        NullableString dp = nullable(u.default_project_id);
        soci::statement st =
            (sql.prepare << "UPDATE users SET name = :n, domain_id = :d, password_hash = :h, "
                            "email = :e, default_project_id = :p, enabled = :en WHERE id = :i",
             soci::use(u.name), soci::use(u.domain_id), soci::use(u.password_hash),
             soci::use(u.email), soci::use(dp.value, dp.ind), soci::use(en), soci::use(u.id));
        st.execute(true);
        sql << "DELETE FROM user_extra WHERE user_id = :i", soci::use(u.id);
        if (!u.extra.empty()) {
          sql << "INSERT INTO user_extra (user_id, extra) VALUES (:i, :x)", soci::use(u.id),
              soci::use(u.extra);
        }
        if (old_hash != u.password_hash || (old_enabled != 0 && !u.enabled)) {
          sql << "UPDATE tokens SET revoked = 1 WHERE user_id = :u AND revoked = 0",
              soci::use(u.id);
        }
      },
      "updating user " + u.id);
}

Status Store::delete_user(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st = (sql.prepare << "DELETE FROM users WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "user " + id + " does not exist");
        sql << "DELETE FROM tokens WHERE user_id = :i", soci::use(id);
        sql << "DELETE FROM keypairs WHERE user_id = :i", soci::use(id);
      },
      "deleting user " + id);
}

Status Store::assign_role(const RoleAssignment& a) {
  return impl_->write(
      [&](soci::session& sql) {
        require_role_held_as(sql, impl_->dialect, a.role);
        int n = 0;
        sql << "SELECT COUNT(*) FROM role_assignments WHERE user_id = :u AND project_id = :p "
               "AND role = :r",
            soci::use(a.user_id), soci::use(a.project_id), soci::use(a.role), soci::into(n);
        if (n > 0) return;
        sql << "INSERT INTO role_assignments (user_id, project_id, role) VALUES (:u, :p, :r)",
            soci::use(a.user_id), soci::use(a.project_id), soci::use(a.role);
      },
      "assigning role " + a.role);
}

Status Store::unassign_role(const RoleAssignment& a) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st = (sql.prepare << "DELETE FROM role_assignments WHERE user_id = :u "
                                             "AND project_id = :p AND role = :r",
                              soci::use(a.user_id), soci::use(a.project_id), soci::use(a.role));
        st.execute(true);
        require_row(st, "role " + a.role + " is not assigned to user " + a.user_id +
                            " on project " + a.project_id);
        // keystone revokes the user's tokens on the project when a grant goes (revoke_by_grant).
        sql << "UPDATE tokens SET revoked = 1 WHERE user_id = :u AND project_id = :p AND "
               "revoked = 0",
            soci::use(a.user_id), soci::use(a.project_id);
      },
      "removing role " + a.role);
}

Result<std::vector<RoleAssignment>> Store::list_role_assignments(const std::string& user_id,
                                                                 const std::string& project_id) {
  return impl_->read<std::vector<RoleAssignment>>(
      [&](soci::session& sql) {
        std::vector<RoleAssignment> out;
        RoleAssignment a;
        soci::statement st =
            (sql.prepare << "SELECT user_id, project_id, role FROM role_assignments "
                            "WHERE (:u1 = '' OR user_id = :u2) AND (:p1 = '' OR project_id = :p2) "
                            "ORDER BY user_id, project_id, role",
             soci::use(user_id, "u1"), soci::use(user_id, "u2"), soci::use(project_id, "p1"),
             soci::use(project_id, "p2"), soci::into(a.user_id), soci::into(a.project_id),
             soci::into(a.role));
        st.execute();
        while (st.fetch()) out.push_back(a);
        return out;
      },
      "listing role assignments");
}

Status Store::store_token(const Token& t) {
  return impl_->write(
      [&](soci::session& sql) {
        std::string roles = join_role_names(t.roles), issued = stamp(t.issued_at),
                    expires = format_time(t.expires_at);
        int revoked = t.revoked ? 1 : 0;
        sql << "INSERT INTO tokens (token_hash, user_id, project_id, roles, issued_at, "
               "expires_at, revoked) VALUES (:h, :u, :p, :r, :i, :e, :rv)",
            soci::use(t.token_hash), soci::use(t.user_id), soci::use(t.project_id),
            soci::use(roles), soci::use(issued), soci::use(expires), soci::use(revoked);
        if (t.oauth_access_token_id) {
          sql << "INSERT INTO oauth_delegated_tokens (token_hash, access_token_id) "
                 "VALUES (:h, :a)",
              soci::use(t.token_hash), soci::use(*t.oauth_access_token_id);
        }
      },
      "storing token");
}

Result<Token> Store::get_token(const std::string& token_hash) {
  return impl_->read<Token>(
      [&](soci::session& sql) {
        Token t;
        std::string roles, issued, expires;
        soci::indicator i_roles = soci::i_null;
        int revoked = 0;
        sql << "SELECT token_hash, user_id, project_id, roles, issued_at, expires_at, revoked "
               "FROM tokens WHERE token_hash = :h",
            soci::use(token_hash), soci::into(t.token_hash), soci::into(t.user_id),
            soci::into(t.project_id), soci::into(roles, i_roles), soci::into(issued),
            soci::into(expires), soci::into(revoked);
        if (!sql.got_data()) throw Abort{Error::not_found("token not found")};
        if (i_roles != soci::i_null) t.roles = split_role_names(roles);
        t.issued_at = parse_time(issued);
        t.expires_at = parse_time(expires);
        t.revoked = revoked != 0;
        return t;
      },
      "reading token");
}

Status Store::revoke_token(const std::string& token_hash) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "UPDATE tokens SET revoked = 1 WHERE token_hash = :h AND revoked = 0",
             soci::use(token_hash));
        st.execute(true);
        require_row(st, "token not found or already revoked");
      },
      "revoking token");
}

Result<int> Store::delete_expired_tokens(TimePoint at) {
  int deleted = 0;
  Status s = impl_->write(
      [&](soci::session& sql) {
        std::string ts = format_time(at);
        soci::statement st =
            (sql.prepare << "DELETE FROM tokens WHERE expires_at < :t", soci::use(ts));
        st.execute(true);
        deleted = static_cast<int>(st.get_affected_rows());
        // OAuth1's short-lived rows go with them: expired request and access tokens, and
        // nonces older than any signature the API still accepts (oauth1_signature.cc).
        sql << "DELETE FROM oauth_request_tokens WHERE expires_at < :t", soci::use(ts);
        sql << "DELETE FROM oauth_access_tokens WHERE expires_at < :t", soci::use(ts);
        const std::string nonces = format_time(at - std::chrono::minutes(20));
        sql << "DELETE FROM oauth_nonces WHERE seen_at < :t", soci::use(nonces);
      },
      "deleting expired tokens");
  if (!s) return s.error();
  return deleted;
}

Status Store::create_keypair(const KeyPair& k) {
  return impl_->write(
      [&](soci::session& sql) {
        std::string ts = stamp(k.created_at);
        sql << "INSERT INTO keypairs (user_id, name, public_key, fingerprint, type, created_at) "
               "VALUES (:u, :n, :k, :f, :t, :c)",
            soci::use(k.user_id), soci::use(k.name), soci::use(k.public_key),
            soci::use(k.fingerprint), soci::use(k.type), soci::use(ts);
      },
      "creating keypair '" + k.name + "'");
}

namespace {
std::vector<KeyPair> select_keypairs(soci::session& sql, const std::string& user,
                                     const std::string& name) {
  std::vector<KeyPair> out;
  KeyPair k;
  std::string created;
  soci::statement st =
      (sql.prepare << "SELECT user_id, name, public_key, fingerprint, type, created_at FROM "
                      "keypairs WHERE user_id = :u AND (:n1 = '' OR name = :n2) ORDER BY name",
       soci::use(user, "u"), soci::use(name, "n1"), soci::use(name, "n2"), soci::into(k.user_id),
       soci::into(k.name), soci::into(k.public_key), soci::into(k.fingerprint), soci::into(k.type),
       soci::into(created));
  st.execute();
  while (st.fetch()) {
    k.created_at = parse_time(created);
    out.push_back(k);
  }
  return out;
}
}  // namespace

Result<KeyPair> Store::get_keypair(const std::string& user_id, const std::string& name) {
  return impl_->read<KeyPair>(
      [&](soci::session& sql) {
        if (name.empty()) throw Abort{Error::invalid("keypair name is empty")};
        return first_or_not_found(select_keypairs(sql, user_id, name),
                                  "keypair '" + name + "' does not exist");
      },
      "reading keypair");
}

Result<std::vector<KeyPair>> Store::list_keypairs(const std::string& user_id) {
  return impl_->read<std::vector<KeyPair>>(
      [&](soci::session& sql) { return select_keypairs(sql, user_id, ""); }, "listing keypairs");
}

Status Store::delete_keypair(const std::string& user_id, const std::string& name) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM keypairs WHERE user_id = :u AND name = :n",
             soci::use(user_id), soci::use(name));
        st.execute(true);
        require_row(st, "keypair '" + name + "' does not exist");
      },
      "deleting keypair");
}

}  // namespace gpucloud::store
