// What a token grants at the moment it is used, and failed password logins per user: the store's
// half of keystone's revocation and lockout. Both live in the database so that every server
// replica sees a revocation or a lockout at once, with no cache to invalidate.

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

LoginFailures read_failures(soci::session& sql, const std::string& user_id) {
  LoginFailures f;
  std::string at;
  soci::indicator i_at = soci::i_null;
  sql << "SELECT failed_count, last_failed_at FROM login_failures WHERE user_id = :u",
      soci::use(user_id), soci::into(f.count), soci::into(at, i_at);
  if (!sql.got_data()) return {};
  if (i_at != soci::i_null) f.last_at = parse_time(at);
  return f;
}

}  // namespace

Result<TokenGrant> Store::get_token_grant(const std::string& token_hash) {
  return impl_->read<TokenGrant>(
      [&](soci::session& sql) {
        TokenGrant g;
        Token& t = g.token;
        std::string roles, issued, expires;
        soci::indicator i_roles = soci::i_null;
        int revoked = 0;
        std::string access;
        soci::indicator i_access = soci::i_null;
        sql << "SELECT t.token_hash, t.user_id, t.project_id, t.roles, t.issued_at, "
               "t.expires_at, t.revoked, d.access_token_id FROM tokens t LEFT JOIN "
               "oauth_delegated_tokens d ON d.token_hash = t.token_hash WHERE t.token_hash = :h",
            soci::use(token_hash), soci::into(t.token_hash), soci::into(t.user_id),
            soci::into(t.project_id), soci::into(roles, i_roles), soci::into(issued),
            soci::into(expires), soci::into(revoked), soci::into(access, i_access);
        if (!sql.got_data()) throw Abort{Error::not_found("token not found")};
        t.oauth_access_token_id = opt(access, i_access);
        if (i_roles != soci::i_null) t.roles = split_role_names(roles);
        t.issued_at = parse_time(issued);
        t.expires_at = parse_time(expires);
        t.revoked = revoked != 0;

        User& u = g.user;
        int user_enabled = 0;
        std::string default_project;
        soci::indicator i_default = soci::i_null;
        sql << "SELECT id, name, domain_id, enabled, default_project_id FROM users WHERE id = :i",
            soci::use(t.user_id), soci::into(u.id), soci::into(u.name), soci::into(u.domain_id),
            soci::into(user_enabled), soci::into(default_project, i_default);
        if (!sql.got_data()) throw Abort{Error::not_found("the token's user is gone")};
        u.enabled = user_enabled != 0;
        u.default_project_id = opt(default_project, i_default);

        if (t.project_id.empty()) return g;
        Project p;
        int project_enabled = 0;
        sql << "SELECT id, name, domain_id, enabled FROM projects WHERE id = :i",
            soci::use(t.project_id), soci::into(p.id), soci::into(p.name), soci::into(p.domain_id),
            soci::into(project_enabled);
        if (!sql.got_data()) return g;
        p.enabled = project_enabled != 0;
        g.project = p;

        // The user's own roles and its groups': a membership or grant that went is gone here.
        g.roles = read_user_project_roles(sql, t.user_id, t.project_id);
        if (t.oauth_access_token_id) {
          // Delegated: the access token's roles, none once it is deleted or expired.
          std::string delegated, consumer, until;
          sql << "SELECT roles, consumer_id, expires_at FROM oauth_access_tokens WHERE id = :a",
              soci::use(*t.oauth_access_token_id), soci::into(delegated), soci::into(consumer),
              soci::into(until);
          g.delegated_roles.emplace();
          if (sql.got_data() && parse_time(until) > now()) {
            g.oauth_consumer_id = consumer;
            g.delegated_roles = split_role_names(delegated);
          }
        }
        return g;
      },
      "reading token");
}

Result<LoginFailures> Store::get_login_failures(const std::string& user_id) {
  return impl_->read<LoginFailures>([&](soci::session& sql) { return read_failures(sql, user_id); },
                                    "reading login failures");
}

Result<LoginFailures> Store::record_login_failure(const std::string& user_id, TimePoint at) {
  return impl_->write_result<LoginFailures>(
      [&](soci::session& sql) {
        const std::string ts = format_time(at);
        auto bump = [&] {
          soci::statement st =
              (sql.prepare << "UPDATE login_failures SET failed_count = failed_count + 1, "
                              "last_failed_at = :t WHERE user_id = :u",
               soci::use(ts), soci::use(user_id));
          st.execute(true);
          return st.get_affected_rows() > 0;
        };
        if (!bump()) {
          try {
            sql << "INSERT INTO login_failures (user_id, failed_count, last_failed_at) "
                   "VALUES (:u, 1, :t)",
                soci::use(user_id), soci::use(ts);
          } catch (const std::exception& e) {
            // Another replica inserted the row first (MariaDB: the statement alone failed, the
            // transaction goes on); count this failure on its row.
            if (!is_duplicate(e) || !bump()) throw;
          }
        }
        return read_failures(sql, user_id);
      },
      "recording a login failure");
}

Status Store::clear_login_failures(const std::string& user_id) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "DELETE FROM login_failures WHERE user_id = :u", soci::use(user_id);
      },
      "clearing login failures");
}

}  // namespace gpucloud::store
