// Keystone v3 credentials (/v3/credentials): blobs a user keeps with keystone (EC2 key pairs,
// TOTP seeds). gpucloud stores and returns them and authenticates with none of them. As
// keystone's default policy: an admin manages anyone's, a user its own. A blob is a secret, so
// no log line and no error message here carries it.
#include <spdlog/spdlog.h>

#include "api/identity_impl.h"
#include "api/login_guard_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

constexpr size_t kMaxCredentialBlob = 65535;

json credential_json(const store::Credential& c, const std::string& base) {
  return {{"id", c.id},
          {"user_id", c.user_id},
          {"project_id", c.project_id ? json(*c.project_id) : json(nullptr)},
          {"type", c.type},
          {"blob", c.blob},
          {"links", {{"self", base + "/identity/v3/credentials/" + c.id}}}};
}

// Someone else's credential is "not found" to a user who is no admin: its existence is not
// theirs to learn (keystone answers 403; either way nothing of it is shown).
Result<store::Credential> visible_credential(ApiContext& ctx, Call& call) {
  const auto& id = call.param("credential_id");
  auto c = ctx.store().get_credential(id);
  if (!c.ok() && c.error().code != ErrorCode::kNotFound) return c.error();
  if (!c.ok() || (!call.who().is_admin() && c->user_id != call.who().user_id)) {
    return Error::not_found("Could not find credential: " + id + ".");
  }
  return c;
}

// Checks and applies the body's fields to `c`. A user who is no admin keeps the credential its
// own and may name only a project where it holds a role.
Status apply_credential_fields(ApiContext& ctx, Call& call, const json& body, store::Credential& c,
                               bool create) {
  if (auto s = check_fields(body, "credential", {"user_id", "project_id", "type", "blob"}); !s.ok())
    return s;
  auto user = opt_string(body, "user_id", "credential");
  if (!user.ok()) return user.error();
  auto type = opt_string(body, "type", "credential");
  if (!type.ok()) return type.error();
  // The blob is checked without being repeated in any message.
  if (body.contains("blob") && !body["blob"].is_string()) {
    return bad_request("Invalid input for field 'credential.blob': string required.");
  }
  if (create && (!*user || !*type || !body.contains("blob"))) {
    return bad_request(
        "Invalid input for field 'credential': 'user_id', 'type' and 'blob' are required.");
  }
  if (*user) c.user_id = **user;
  if (*type) {
    if (auto s = check_name(**type, "credential.type", {255}); !s.ok()) return s;
    c.type = **type;
  }
  if (body.contains("blob")) c.blob = body["blob"].get<std::string>();
  if (body.contains("project_id")) {
    auto project = opt_string(body, "project_id", "credential");
    if (!project.ok()) return project.error();
    c.project_id = *project;
  }
  if (c.blob.empty() || c.blob.size() > kMaxCredentialBlob) {
    return bad_request("Invalid input for field 'credential.blob': 1 to 65535 bytes required.");
  }
  if (c.type == "ec2") {
    // keystone: an EC2 credential's blob is JSON with the access key, and it names a project.
    const json blob = json::parse(c.blob, nullptr, false);
    if (!blob.is_object() || !blob.contains("access") || !blob["access"].is_string()) {
      return bad_request(
          "Invalid input for field 'credential.blob': an ec2 credential's blob is a JSON "
          "object with 'access'.");
    }
    if (!c.project_id) {
      return bad_request("Invalid input for field 'credential.project_id': ec2 needs one.");
    }
  }
  if (!ctx.store().get_user(c.user_id).ok()) {
    return bad_request("Invalid input for field 'credential.user_id': no such user.");
  }
  if (c.project_id && !ctx.store().get_project(*c.project_id).ok()) {
    return bad_request("Invalid input for field 'credential.project_id': no such project.");
  }
  if (call.who().is_admin()) return {};
  if (c.user_id != call.who().user_id) {
    return forbidden("You are not authorized to perform the requested action.");
  }
  if (c.project_id) {
    auto as = ctx.store().user_project_roles(c.user_id, *c.project_id);
    if (!as.ok()) return as.error();
    if (as->empty()) return forbidden("You hold no role on project " + *c.project_id + ".");
  }
  return {};
}

Result<Reply> create_credential(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "credential");
  if (!b.ok()) return b.error();
  store::Credential c;
  c.id = new_hex_id();
  if (auto s = apply_credential_fields(ctx, call, *b, c, true); !s.ok()) return s.error();
  if (auto s = ctx.store().create_credential(c); !s.ok()) return s.error();
  spdlog::info("identity: credential {} of type '{}' created for user {}", c.id, loggable(c.type),
               c.user_id);
  return Reply::ok({{"credential", credential_json(c, ctx.base_url)}}, 201);
}

Result<Reply> list_credentials(ApiContext& ctx, Call& call) {
  std::string user = call.query("user_id").value_or("");
  // A user who is no admin sees its own, whatever it asks for.
  if (!call.who().is_admin()) {
    if (!user.empty() && user != call.who().user_id) {
      return Reply::ok({{"credentials", json::array()}});
    }
    user = call.who().user_id;
  }
  auto cs = ctx.store().list_credentials(user, call.query("type").value_or(""));
  if (!cs.ok()) return cs.error();
  json out = json::array();
  for (const auto& c : *cs) out.push_back(credential_json(c, ctx.base_url));
  return Reply::ok({{"credentials", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/credentials"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

Result<Reply> show_credential(ApiContext& ctx, Call& call) {
  auto c = visible_credential(ctx, call);
  if (!c.ok()) return c.error();
  return Reply::ok({{"credential", credential_json(*c, ctx.base_url)}});
}

Result<Reply> update_credential(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "credential");
  if (!b.ok()) return b.error();
  auto c = visible_credential(ctx, call);
  if (!c.ok()) return c.error();
  if (auto s = apply_credential_fields(ctx, call, *b, *c, false); !s.ok()) return s.error();
  if (auto s = ctx.store().update_credential(*c); !s.ok()) return s.error();
  return Reply::ok({{"credential", credential_json(*c, ctx.base_url)}});
}

Result<Reply> delete_credential(ApiContext& ctx, Call& call) {
  auto c = visible_credential(ctx, call);
  if (!c.ok()) return c.error();
  if (auto s = ctx.store().delete_credential(c->id); !s.ok()) return s.error();
  return Reply::no_content();
}

}  // namespace

std::vector<Route> identity_credential_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, Result<Reply> (*h)(ApiContext&, Call&)) {
    // Any token may call them; the handlers hold a user who is no admin to its own.
    r.push_back({m,
                 p,
                 Service::kIdentity,
                 "identity:read_self",
                 [&ctx, h](Call& call) { return h(ctx, call); },
                 {}});
  };
  add("GET", "/identity/v3/credentials", list_credentials);
  add("POST", "/identity/v3/credentials", create_credential);
  add("GET", "/identity/v3/credentials/{credential_id}", show_credential);
  add("PATCH", "/identity/v3/credentials/{credential_id}", update_credential);
  add("DELETE", "/identity/v3/credentials/{credential_id}", delete_credential);
  return r;
}

}  // namespace gpucloud::api
