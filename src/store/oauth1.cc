// keystone's OAuth1 delegation (OS-OAUTH1, schema version 23): consumers, request tokens, access
// tokens and the nonces of signed requests. The API checks signatures (api/oauth1_signature.cc);
// here are the rows and the one-time steps, each in one transaction so that two replicas never
// authorize or exchange one request token twice.
#include <sstream>

#include "store/store_impl.h"

namespace gpucloud::store {

std::string join_role_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& x : names) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::vector<std::string> split_role_names(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

namespace {

struct ConsumerRow {
  OAuthConsumer c;
  std::string desc;
  soci::indicator i_desc{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(c.id));
    st.exchange(soci::into(c.secret));
    st.exchange(soci::into(desc, i_desc));
  }
  OAuthConsumer get() const {
    OAuthConsumer out = c;
    out.description = opt(desc, i_desc);
    return out;
  }
};

struct RequestTokenRow {
  OAuthRequestToken t;
  std::string roles, user, verifier, expires;
  soci::indicator i_roles{}, i_user{}, i_verifier{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(t.id));
    st.exchange(soci::into(t.secret));
    st.exchange(soci::into(t.consumer_id));
    st.exchange(soci::into(t.project_id));
    st.exchange(soci::into(roles, i_roles));
    st.exchange(soci::into(user, i_user));
    st.exchange(soci::into(verifier, i_verifier));
    st.exchange(soci::into(expires));
  }
  OAuthRequestToken get() const {
    OAuthRequestToken out = t;
    if (i_roles != soci::i_null) out.roles = split_role_names(roles);
    out.user_id = opt(user, i_user);
    out.verifier = opt(verifier, i_verifier);
    out.expires_at = parse_time(expires);
    return out;
  }
};

struct AccessTokenRow {
  OAuthAccessToken t;
  std::string roles, expires;
  void bind(soci::statement& st) {
    st.exchange(soci::into(t.id));
    st.exchange(soci::into(t.secret));
    st.exchange(soci::into(t.consumer_id));
    st.exchange(soci::into(t.user_id));
    st.exchange(soci::into(t.project_id));
    st.exchange(soci::into(roles));
    st.exchange(soci::into(expires));
  }
  OAuthAccessToken get() const {
    OAuthAccessToken out = t;
    out.roles = split_role_names(roles);
    out.expires_at = parse_time(expires);
    return out;
  }
};

const char* const kConsumerSelect = "SELECT id, secret, description FROM oauth_consumers ";
const char* const kRequestTokenSelect =
    "SELECT id, secret, consumer_id, project_id, roles, user_id, verifier, expires_at "
    "FROM oauth_request_tokens ";
const char* const kAccessTokenSelect =
    "SELECT id, secret, consumer_id, user_id, project_id, roles, expires_at "
    "FROM oauth_access_tokens ";

template <typename Row, typename T>
T oauth_row(soci::session& sql, const char* select, const std::string& id, const char* what,
            const std::string& lock = "") {
  auto rows = select_rows<Row, T>(sql, std::string(select) + "WHERE id = :i" + lock, {id});
  if (rows.empty()) throw Abort{Error::not_found(std::string(what) + " " + id + " does not exist")};
  return rows.front();
}

}  // namespace

Status Store::create_oauth_consumer(const OAuthConsumer& c) {
  return impl_->write(
      [&](soci::session& sql) {
        NullableString desc = nullable(c.description);
        sql << "INSERT INTO oauth_consumers (id, secret, description) VALUES (:i, :s, :d)",
            soci::use(c.id), soci::use(c.secret), soci::use(desc.value, desc.ind);
      },
      "creating OAuth consumer " + c.id);
}

Result<OAuthConsumer> Store::get_oauth_consumer(const std::string& id) {
  return impl_->read<OAuthConsumer>(
      [&](soci::session& sql) {
        return oauth_row<ConsumerRow, OAuthConsumer>(sql, kConsumerSelect, id, "consumer");
      },
      "reading OAuth consumer " + id);
}

Result<std::vector<OAuthConsumer>> Store::list_oauth_consumers() {
  return impl_->read<std::vector<OAuthConsumer>>(
      [&](soci::session& sql) {
        return select_rows<ConsumerRow, OAuthConsumer>(
            sql, std::string(kConsumerSelect) + "ORDER BY id", {});
      },
      "listing OAuth consumers");
}

Status Store::update_oauth_consumer(const OAuthConsumer& c) {
  return impl_->write(
      [&](soci::session& sql) {
        NullableString desc = nullable(c.description);
        soci::statement st =
            (sql.prepare << "UPDATE oauth_consumers SET description = :d WHERE id = :i",
             soci::use(desc.value, desc.ind), soci::use(c.id));
        st.execute(true);
        // MariaDB counts changed rows only: an unchanged description is no miss.
        oauth_row<ConsumerRow, OAuthConsumer>(sql, kConsumerSelect, c.id, "consumer");
      },
      "updating OAuth consumer " + c.id);
}

// The tokens made from the consumer's access tokens are revoked with them (their rows say so at
// once; get_token_grant would refuse them anyway once the access tokens are gone).
Status Store::delete_oauth_consumer(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "UPDATE tokens SET revoked = 1 WHERE token_hash IN (SELECT d.token_hash FROM "
               "oauth_delegated_tokens d JOIN oauth_access_tokens a ON a.id = d.access_token_id "
               "WHERE a.consumer_id = :c)",
            soci::use(id);
        soci::statement st =
            (sql.prepare << "DELETE FROM oauth_consumers WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "consumer " + id + " does not exist");
      },
      "deleting OAuth consumer " + id);
}

Status Store::create_request_token(const OAuthRequestToken& t) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string expires = format_time(t.expires_at);
        sql << "INSERT INTO oauth_request_tokens (id, secret, consumer_id, project_id, "
               "expires_at) VALUES (:i, :s, :c, :p, :e)",
            soci::use(t.id), soci::use(t.secret), soci::use(t.consumer_id), soci::use(t.project_id),
            soci::use(expires);
      },
      "creating request token");
}

Result<OAuthRequestToken> Store::get_request_token(const std::string& id) {
  return impl_->read<OAuthRequestToken>(
      [&](soci::session& sql) {
        return oauth_row<RequestTokenRow, OAuthRequestToken>(sql, kRequestTokenSelect, id,
                                                             "request token");
      },
      "reading request token");
}

Status Store::authorize_request_token(const std::string& id, const std::string& user_id,
                                      const std::vector<std::string>& roles,
                                      const std::string& verifier, TimePoint at) {
  return impl_->write(
      [&](soci::session& sql) {
        auto t = oauth_row<RequestTokenRow, OAuthRequestToken>(
            sql, kRequestTokenSelect, id, "request token", impl_->dialect.for_update);
        if (t.expires_at <= at) throw Abort{Error::not_found("request token has expired")};
        if (t.user_id) throw Abort{Error::conflict("request token is already authorized")};
        const std::string names = join_role_names(roles);
        sql << "UPDATE oauth_request_tokens SET user_id = :u, roles = :r, verifier = :v "
               "WHERE id = :i",
            soci::use(user_id), soci::use(names), soci::use(verifier), soci::use(id);
      },
      "authorizing request token");
}

Status Store::exchange_request_token(const std::string& request_token_id,
                                     const OAuthAccessToken& a) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st = (sql.prepare << "DELETE FROM oauth_request_tokens WHERE id = :i "
                                             "AND user_id IS NOT NULL",
                              soci::use(request_token_id));
        st.execute(true);
        // A second exchange (another replica's, or a replay) finds the row gone.
        require_row(st, "request token " + request_token_id + " does not exist");
        const std::string roles = join_role_names(a.roles), expires = format_time(a.expires_at);
        sql << "INSERT INTO oauth_access_tokens (id, secret, consumer_id, user_id, project_id, "
               "roles, expires_at) VALUES (:i, :s, :c, :u, :p, :r, :e)",
            soci::use(a.id), soci::use(a.secret), soci::use(a.consumer_id), soci::use(a.user_id),
            soci::use(a.project_id), soci::use(roles), soci::use(expires);
      },
      "exchanging request token");
}

Result<OAuthAccessToken> Store::get_access_token(const std::string& id) {
  return impl_->read<OAuthAccessToken>(
      [&](soci::session& sql) {
        return oauth_row<AccessTokenRow, OAuthAccessToken>(sql, kAccessTokenSelect, id,
                                                           "access token");
      },
      "reading access token");
}

Result<std::vector<OAuthAccessToken>> Store::list_user_access_tokens(const std::string& user_id) {
  return impl_->read<std::vector<OAuthAccessToken>>(
      [&](soci::session& sql) {
        return select_rows<AccessTokenRow, OAuthAccessToken>(
            sql, std::string(kAccessTokenSelect) + "WHERE user_id = :u ORDER BY id", {user_id});
      },
      "listing access tokens");
}

Status Store::delete_access_token(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "UPDATE tokens SET revoked = 1 WHERE token_hash IN (SELECT token_hash FROM "
               "oauth_delegated_tokens WHERE access_token_id = :a)",
            soci::use(id);
        soci::statement st =
            (sql.prepare << "DELETE FROM oauth_access_tokens WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "access token " + id + " does not exist");
      },
      "deleting access token");
}

Status Store::use_oauth_nonce(const std::string& consumer_id, const std::string& nonce,
                              TimePoint at) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string ts = format_time(at);
        int seen = 0;
        sql << "SELECT COUNT(*) FROM oauth_nonces WHERE consumer_id = :c AND nonce = :n",
            soci::use(consumer_id), soci::use(nonce), soci::into(seen);
        if (seen > 0) throw Abort{Error::conflict("the nonce was used before")};
        // (a racing replica's insert of the same nonce fails on the primary key: kConflict too)
        sql << "INSERT INTO oauth_nonces (consumer_id, nonce, seen_at) VALUES (:c, :n, :t)",
            soci::use(consumer_id), soci::use(nonce), soci::use(ts);
      },
      "recording an OAuth nonce");
}

}  // namespace gpucloud::store
