// Keystone v3 policies (/v3/policies): opaque blobs with a type, stored and returned for admins.
// They never change what gpucloud allows (api/policy.cc decides that): keystone itself
// deprecated this API, and its services read their policy from files, not from it.
#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

constexpr size_t kMaxPolicyBlob = 65535;

json identity_policy_json(const store::IdentityPolicy& p, const std::string& base) {
  return {{"id", p.id},
          {"type", p.type},
          {"blob", p.blob},
          {"links", {{"self", base + "/identity/v3/policies/" + p.id}}}};
}

Status apply_policy_fields(const json& body, store::IdentityPolicy& p, bool create) {
  if (auto s = check_fields(body, "policy", {"type", "blob"}); !s.ok()) return s;
  auto type = opt_string(body, "type", "policy");
  if (!type.ok()) return type.error();
  auto blob = opt_string(body, "blob", "policy");
  if (!blob.ok()) return blob.error();
  if (create && (!*type || !*blob)) {
    return bad_request("Invalid input for field 'policy': 'type' and 'blob' are required.");
  }
  if (*type) {
    if (auto s = check_name(**type, "policy.type", {255}); !s.ok()) return s;
    p.type = **type;
  }
  if (*blob) {
    if (blob->value().size() > kMaxPolicyBlob) {
      return bad_request("Invalid input for field 'policy.blob': at most 65535 bytes.");
    }
    p.blob = **blob;
  }
  return {};
}

Result<Reply> create_identity_policy(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "policy");
  if (!b.ok()) return b.error();
  store::IdentityPolicy p;
  p.id = new_hex_id();
  if (auto s = apply_policy_fields(*b, p, true); !s.ok()) return s.error();
  if (auto s = ctx.store().create_identity_policy(p); !s.ok()) return s.error();
  return Reply::ok({{"policy", identity_policy_json(p, ctx.base_url)}}, 201);
}

Result<Reply> list_identity_policies(ApiContext& ctx, Call& call) {
  auto ps = ctx.store().list_identity_policies();
  if (!ps.ok()) return ps.error();
  const auto type = call.query("type");
  json out = json::array();
  for (const auto& p : *ps) {
    if (type && p.type != *type) continue;
    out.push_back(identity_policy_json(p, ctx.base_url));
  }
  return Reply::ok({{"policies", out},
                    {"links",
                     {{"self", ctx.base_url + "/identity/v3/policies"},
                      {"previous", nullptr},
                      {"next", nullptr}}}});
}

Result<store::IdentityPolicy> find_identity_policy(ApiContext& ctx, Call& call) {
  const auto& id = call.param("policy_id");
  auto p = ctx.store().get_identity_policy(id);
  if (!p.ok() && p.error().code == ErrorCode::kNotFound) {
    return Error::not_found("Could not find policy: " + id + ".");
  }
  return p;
}

Result<Reply> show_identity_policy(ApiContext& ctx, Call& call) {
  auto p = find_identity_policy(ctx, call);
  if (!p.ok()) return p.error();
  return Reply::ok({{"policy", identity_policy_json(*p, ctx.base_url)}});
}

Result<Reply> update_identity_policy(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto b = member(*body, "policy");
  if (!b.ok()) return b.error();
  auto p = find_identity_policy(ctx, call);
  if (!p.ok()) return p.error();
  if (auto s = apply_policy_fields(*b, *p, false); !s.ok()) return s.error();
  if (auto s = ctx.store().update_identity_policy(*p); !s.ok()) return s.error();
  return Reply::ok({{"policy", identity_policy_json(*p, ctx.base_url)}});
}

Result<Reply> delete_identity_policy(ApiContext& ctx, Call& call) {
  auto p = find_identity_policy(ctx, call);
  if (!p.ok()) return p.error();
  if (auto s = ctx.store().delete_identity_policy(p->id); !s.ok()) return s.error();
  return Reply::no_content();
}

}  // namespace

std::vector<Route> identity_policy_routes(ApiContext& ctx) {
  std::vector<Route> r;
  auto add = [&r, &ctx](const char* m, const char* p, Result<Reply> (*h)(ApiContext&, Call&)) {
    r.push_back({m,
                 p,
                 Service::kIdentity,
                 "identity:admin",
                 [&ctx, h](Call& call) { return h(ctx, call); },
                 {}});
  };
  add("GET", "/identity/v3/policies", list_identity_policies);
  add("POST", "/identity/v3/policies", create_identity_policy);
  add("GET", "/identity/v3/policies/{policy_id}", show_identity_policy);
  add("PATCH", "/identity/v3/policies/{policy_id}", update_identity_policy);
  add("DELETE", "/identity/v3/policies/{policy_id}", delete_identity_policy);
  return r;
}

}  // namespace gpucloud::api
