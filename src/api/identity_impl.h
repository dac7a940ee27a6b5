// Internal to api/: passwords (Argon2id via libsodium) and tokens (random, stored only hashed).
#pragma once

#include <string>

#include "api/router_impl.h"

namespace gpucloud::api {

Result<std::string> hash_password(const std::string& password);
bool verify_password(const std::string& stored_hash, const std::string& password);
// For the in-process unit tests only (never called by gpucloud itself): new hashes use Argon2id's
// minimum cost instead of libsodium's interactive one, which was 80% of those tests' CPU time.
// A hash records its own cost, so verifying is cheap as well. The integration tests run the real
// binary at the real cost.
void use_cheap_password_hashes_for_tests(bool cheap);

// A fresh random token for the client (43 url-safe characters, 256 bits).
std::string new_token();
// What the store keeps and looks tokens up by: hex SHA-256 of the token.
std::string token_hash(const std::string& token);

// Validates the token (not revoked, not expired, user and project still enabled, the user still
// holds a role on the project) and returns who it belongs to, with the roles the user holds on
// the project now (keystone's semantics: a token carries no grant its user has lost). Checked
// in the database at every call, so a revocation holds on every replica at once. The error never
// repeats the token.
Result<Caller> validate_token(store::Store& store, const std::string& token);

// keystone's default implied roles: admin implies member, member implies reader. Stable order:
// admin, member, reader, then others.
std::vector<std::string> with_implied_roles(const std::vector<std::string>& roles);

// What an OAuth1 delegation grants: the roles of `held` (the user's, implied ones included) that
// `delegated` names or implies. Empty when the user holds none of them any more.
std::vector<std::string> delegated_roles_held(const std::vector<std::string>& held,
                                              const std::vector<std::string>& delegated);

// Keystone request bodies (identity_admin.cc): an optional string or boolean field, the body's
// object member (`{"user": {...}}`), and a refusal of unknown fields; errors name the field.
Result<std::optional<std::string>> opt_string(const json& obj, const char* field,
                                              const char* where);
Result<bool> opt_bool(const json& obj, const char* field, const char* where, bool dflt);
Result<json> member(const json& body, const char* key);
Status check_fields(const json& obj, const char* where, std::initializer_list<const char*> known);

// A keystone token asked for with the "oauth1" method (identity_oauth1.cc): the request signed
// by a consumer with its access token. Who delegated, on which project, and until when.
struct OAuthLogin {
  std::string user_id, project_id, access_token_id, consumer_id;
  std::vector<std::string> roles;  // delegated, by the names assignments hold
  store::TimePoint expires_at{};
};
Result<OAuthLogin> oauth1_login(ApiContext& ctx, Call& call);

// A user as keystone shows it (identity_admin.cc), its other properties included.
json user_json(const store::User& u, const std::string& base);
// A project as keystone shows it (identity_projects.cc), with its parent and tags.
json project_json(const store::Project& p, const std::string& base);

// An endpoint as keystone shows it (identity_catalog.cc).
json catalog_endpoint_json(const store::Endpoint& e, const std::string& base);

// Keystone's version document and the service catalog for this server.
json identity_version(const std::string& base_url);
json service_catalog(const std::string& base_url);

// A role as keystone lists it (id, name, domain_id, links) in the lists of a project's, a
// domain's or the system's roles (identity_domains.cc).
json listed_role_json(const store::Role& r, const std::string& base);

// keystone's DomainSpecificRoleMismatch (identity_domains.cc): a domain-specific role is granted
// on its own domain's projects only (403 otherwise).
Status check_role_fits_project(const store::Role& role, const store::Project& project);

// keystone's query filter on a boolean (identity_domains.cc): "false", "False" and "0" are
// false, any other value true; nullopt when the parameter is absent.
std::optional<bool> keystone_bool_query(const std::optional<std::string>& v);

// Who a domain or system role route names and the role: the path's {user_id} or (group)
// {group_id}, and the role's name when the route has a {role_id}; 404 naming whichever does not
// exist (identity_domain_roles.cc).
struct RoleHolder {
  std::string user_id, group_id, role;
};
Result<RoleHolder> role_holder(store::Store& st, const Call& call, bool group);

}  // namespace gpucloud::api
