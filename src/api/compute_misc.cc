// Compute v2.1: version discovery, keypairs and limits.
#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "api/compute_impl.h"
#include "api/ssh_keys_impl.h"

namespace gpucloud::api {
namespace {

json version_json(const std::string& base) {
  return {{"id", "v2.1"},
          {"status", "CURRENT"},
          {"version", fmt::format("2.{}", kMaxComputeMinor)},
          {"min_version", fmt::format("2.{}", kMinComputeMinor)},
          {"updated", "2013-07-23T11:33:21Z"},
          {"links", json::array({{{"rel", "self"}, {"href", base + kCompute + "/"}}})},
          {"media-types",
           json::array({{{"base", "application/json"},
                         {"type", "application/vnd.openstack.compute+json;version=2.1"}}})}};
}

json keypair_json(const store::KeyPair& k, bool full, const Microversion& mv) {
  json j = {{"name", k.name}, {"public_key", k.public_key}, {"fingerprint", k.fingerprint}};
  if (mv.at_least(2, 2)) j["type"] = k.type;
  if (full) {
    j["user_id"] = k.user_id;
    j["created_at"] = iso8601(k.created_at);
    j["deleted"] = false;
    j["deleted_at"] = nullptr;
    j["updated_at"] = nullptr;
    j["id"] = 0;
  }
  return j;
}

// 2.10: an admin names the user whose key pairs are meant (?user_id=, or the body's user_id);
// anyone else acts on their own only.
Result<std::string> keypair_owner(const Call& call, const std::optional<std::string>& asked) {
  if (!asked || !call.microversion.at_least(2, 10) || *asked == call.who().user_id) {
    return call.who().user_id;
  }
  if (!call.who().is_admin()) {
    return forbidden("Policy doesn't allow os_compute_api:os-keypairs to be performed.");
  }
  return *asked;
}

Error keypair_not_found(const std::string& name, const std::string& user) {
  return Error::not_found("Keypair " + name + " not found for user " + user);
}

Result<Reply> create_keypair(ApiContext& ctx, Call& call) {
  const Microversion& mv = call.microversion;
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"keypair"}); !s.ok()) return s.error();
  auto kp = body_member(*body, "keypair");
  if (!kp.ok()) return kp.error();
  std::vector<const char*> known = {"name", "public_key"};
  if (mv.at_least(2, 2)) known.push_back("type");
  if (mv.at_least(2, 10)) known.push_back("user_id");
  if (auto s = no_extra_fields(*kp, "keypair", known); !s.ok()) return s.error();
  auto name = string_field(*kp, "name", "keypair", false);
  if (!name.ok()) return name.error();
  if (!*name)
    return bad_request("Invalid input for field/attribute keypair. 'name' is a required property");
  // 2.92 also allows '@' in names.
  static const std::regex kName("[a-zA-Z0-9 _.\\-]+"), kName292("[a-zA-Z0-9 _.@\\-]+");
  if ((*name)->empty() || (*name)->size() > 255 ||
      !std::regex_match(**name, mv.at_least(2, 92) ? kName292 : kName)) {
    return bad_request("Keypair data is invalid: Keypair name contains unsafe characters");
  }
  auto type = string_field(*kp, "type", "keypair", false);
  if (!type.ok()) return type.error();
  if (*type && **type != "ssh" && **type != "x509") {
    return bad_request("Invalid input for field/attribute type. Value: " + **type + ". '" + **type +
                       "' is not one of ['ssh', 'x509']");
  }
  const bool x509 = *type && **type == "x509";
  auto asked_user = string_field(*kp, "user_id", "keypair", false);
  if (!asked_user.ok()) return asked_user.error();
  auto owner = keypair_owner(call, *asked_user);
  if (!owner.ok()) return owner.error();
  auto pub = string_field(*kp, "public_key", "keypair", false);
  if (!pub.ok()) return pub.error();
  if (!*pub && mv.at_least(2, 92)) {
    return bad_request(
        "Invalid input for field/attribute keypair. 'public_key' is a required property");
  }
  // Without a public key nova (below 2.92) generates the pair and returns the private key once;
  // openstacksdk's create_keypair relies on it. Only the public half is kept.
  std::optional<GeneratedKeyPair> made;
  if (!*pub) {
    auto g = x509 ? generate_x509_key_pair(*owner) : generate_rsa_key_pair();
    if (!g.ok()) return g.error();
    made = std::move(*g);
  }
  const std::string public_key = made ? made->public_key : **pub;
  if (!x509) {
    if (auto s = check_public_key(public_key); !s.ok()) return s.error();
  }
  auto fp = x509 ? x509_fingerprint(public_key) : public_key_fingerprint(public_key);
  if (!fp.ok()) return fp.error();
  store::KeyPair k;
  k.user_id = *owner;
  k.name = **name;
  k.public_key = public_key;
  k.fingerprint = *fp;
  k.type = x509 ? "x509" : "ssh";
  k.created_at = std::chrono::system_clock::now();
  // The key_pairs quota counts the user's pairs (nova's is per user). As nova, it is checked
  // before the insert and again after it (recheck_quota): two creates racing past the first
  // check see each other in the second, and the one over the limit is removed again.
  auto quotas = ctx.store().project_quotas(call.who().project_id, k.user_id);
  if (!quotas.ok()) return quotas.error();
  const int64_t allowed = quotas->at("key_pairs");
  auto over = [&]() -> Result<bool> {
    auto used = ctx.store().quota_usage(call.who().project_id, k.user_id);
    if (!used.ok()) return used.error();
    return allowed >= 0 && used->key_pairs > allowed;
  };
  const Error too_many{ErrorCode::kForbidden, "Quota exceeded, too many key pairs."};
  if (allowed >= 0) {
    auto used = ctx.store().quota_usage(call.who().project_id, k.user_id);
    if (!used.ok()) return used.error();
    if (used->key_pairs + 1 > allowed) return too_many;
  }
  if (auto s = ctx.store().create_keypair(k); !s.ok()) {
    if (s.error().code == ErrorCode::kConflict) {
      return Error::conflict("Key pair '" + k.name + "' already exists.");
    }
    return s.error();
  }
  if (auto o = over(); !o.ok() || *o) {
    (void)ctx.store().delete_keypair(k.user_id, k.name);
    return o.ok() ? too_many : o.error();
  }
  json j = keypair_json(k, false, mv);
  j["user_id"] = k.user_id;
  if (made) j["private_key"] = made->private_key;
  return Reply::ok({{"keypair", j}}, mv.at_least(2, 2) ? 201 : 200);  // 2.2: 201 Created
}

// GET /os-keypairs: 2.35 pages by name (limit, marker) with keypairs_links.
Result<Reply> list_keypairs(ApiContext& ctx, Call& call) {
  const Microversion& mv = call.microversion;
  auto owner = keypair_owner(call, call.query("user_id"));
  if (!owner.ok()) return owner.error();
  auto ks = ctx.store().list_keypairs(*owner);
  if (!ks.ok()) return ks.error();
  std::sort(ks->begin(), ks->end(),
            [](const store::KeyPair& a, const store::KeyPair& b) { return a.name < b.name; });
  size_t start = 0, limit = ks->size();
  if (mv.at_least(2, 35)) {
    if (auto m = call.query("marker")) {
      auto it = std::find_if(ks->begin(), ks->end(),
                             [&](const store::KeyPair& k) { return k.name == *m; });
      if (it == ks->end()) return bad_request("marker [" + *m + "] not found");
      start = static_cast<size_t>(it - ks->begin()) + 1;
    }
    if (auto l = call.query("limit")) {
      if (l->empty() || l->size() > 9 ||
          !std::all_of(l->begin(), l->end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        return bad_request("Invalid input for query parameters limit. Value: " + *l + ". '" + *l +
                           "' does not match '^[0-9]*$'");
      }
      limit = std::stoul(*l);
    }
  }
  json list = json::array();
  for (size_t n = start; n < ks->size() && list.size() < limit; ++n) {
    list.push_back({{"keypair", keypair_json((*ks)[n], false, mv)}});
  }
  json out = {{"keypairs", list}};
  if (mv.at_least(2, 35) && !list.empty() && list.size() == limit && start + limit < ks->size()) {
    std::string next = ctx.base_url + kCompute + "/os-keypairs?limit=" + std::to_string(limit) +
                       "&marker=" + list.back()["keypair"]["name"].get<std::string>();
    if (*owner != call.who().user_id) next += "&user_id=" + *owner;
    out["keypairs_links"] = json::array({{{"rel", "next"}, {"href", next}}});
  }
  return Reply::ok(out);
}

Result<Reply> limits(ApiContext& ctx, Call& call) {
  const auto& who = call.who();
  // nova's os-quota-sets limits and usage of the caller's project (key pairs: the caller's own).
  auto q = ctx.store().project_quotas(who.project_id, "");
  if (!q.ok()) return q.error();
  auto used = ctx.store().quota_usage(who.project_id, "");
  if (!used.ok()) return used.error();
  auto mine = ctx.store().quota_usage(who.project_id, who.user_id);
  if (!mine.ok()) return mine.error();
  used->key_pairs = mine->key_pairs;
  json absolute = {{"maxTotalInstances", q->at("instances")},
                   {"maxTotalCores", q->at("cores")},
                   {"maxTotalRAMSize", q->at("ram")},
                   {"maxServerMeta", q->at("metadata_items")},
                   {"maxImageMeta", q->at("metadata_items")},
                   {"maxPersonality", q->at("injected_files")},
                   {"maxPersonalitySize", q->at("injected_file_content_bytes")},
                   {"maxTotalKeypairs", q->at("key_pairs")},
                   {"maxServerGroups", q->at("server_groups")},
                   {"maxServerGroupMembers", q->at("server_group_members")},
                   {"maxTotalFloatingIps", q->at("floating_ips")},
                   {"maxSecurityGroups", q->at("security_groups")},
                   {"maxSecurityGroupRules", q->at("security_group_rules")},
                   {"totalInstancesUsed", used->instances},
                   {"totalCoresUsed", used->cores},
                   {"totalRAMUsed", used->ram},
                   {"totalFloatingIpsUsed", 0},
                   {"totalSecurityGroupsUsed", used->security_groups},
                   {"totalServerGroupsUsed", used->server_groups}};
  // What later microversions dropped: network quotas (2.36), image metadata (2.39), file
  // injection (2.57).
  const Microversion& mv = call.microversion;
  if (mv.at_least(2, 36)) {
    for (const char* k : {"maxTotalFloatingIps", "maxSecurityGroups", "maxSecurityGroupRules",
                          "totalFloatingIpsUsed", "totalSecurityGroupsUsed"}) {
      absolute.erase(k);
    }
  }
  if (mv.at_least(2, 39)) absolute.erase("maxImageMeta");
  if (mv.at_least(2, 57)) {
    absolute.erase("maxPersonality");
    absolute.erase("maxPersonalitySize");
  }
  auto gpu = gpu_quota_limits(ctx, call.who().project_id);
  if (!gpu.ok()) return gpu.error();
  absolute.update(*gpu);
  return Reply::ok({{"limits", {{"rate", json::array()}, {"absolute", absolute}}}});
}

}  // namespace

std::vector<Route> compute_misc_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  // nova still lists its legacy v2.0 API (2.1 without microversions) and answers its version
  // document; clients that walk the listing fetch it. Only the document is served under v2.
  auto v20 = [c] {
    return json{
        {"id", "v2.0"},
        {"status", "SUPPORTED"},
        {"version", ""},
        {"min_version", ""},
        {"updated", "2011-01-21T11:33:21Z"},
        {"links", json::array({{{"rel", "self"}, {"href", c->base_url + "/compute/v2/"}}})}};
  };
  auto versions = [c, v20](Call&) -> Result<Reply> {
    json v = version_json(c->base_url);
    v.erase("media-types");
    return Reply::ok({{"versions", json::array({v20(), v})}});
  };
  auto version = [c](Call&) -> Result<Reply> {
    return Reply::ok({{"version", version_json(c->base_url)}});
  };
  auto version20 = [v20](Call&) -> Result<Reply> {
    json v = v20();
    v["media-types"] =
        json::array({{{"base", "application/json"},
                      {"type", "application/vnd.openstack.compute+json;version=2"}}});
    return Reply::ok({{"version", v}});
  };
  std::vector<Route> r;
  r.push_back({"GET", "/compute", Service::kCompute, "public", versions, {}});
  r.push_back({"GET", "/compute/", Service::kCompute, "public", versions, {}});
  r.push_back({"GET", kCompute, Service::kCompute, "public", version, {}});
  r.push_back({"GET", kCompute + "/", Service::kCompute, "public", version, {}});
  r.push_back({"GET", "/compute/v2", Service::kCompute, "public", version20, {}});
  r.push_back({"GET", "/compute/v2/", Service::kCompute, "public", version20, {}});
  r.push_back({"GET",
               kCompute + "/limits",
               Service::kCompute,
               "compute:read",
               [c](Call& call) { return limits(*c, call); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-keypairs",
               Service::kCompute,
               "compute:keypair",
               [c](Call& call) { return list_keypairs(*c, call); },
               {}});
  r.push_back({"POST",
               kCompute + "/os-keypairs",
               Service::kCompute,
               "compute:keypair",
               [c](Call& call) { return create_keypair(*c, call); },
               {}});
  r.push_back({"GET",
               kCompute + "/os-keypairs/{name}",
               Service::kCompute,
               "compute:keypair",
               [c](Call& call) -> Result<Reply> {
                 auto owner = keypair_owner(call, call.query("user_id"));
                 if (!owner.ok()) return owner.error();
                 auto k = c->store().get_keypair(*owner, call.param("name"));
                 if (!k.ok()) {
                   if (k.error().code == ErrorCode::kNotFound) {
                     return keypair_not_found(call.param("name"), *owner);
                   }
                   return k.error();
                 }
                 return Reply::ok({{"keypair", keypair_json(*k, true, call.microversion)}});
               },
               {}});
  r.push_back({"DELETE",
               kCompute + "/os-keypairs/{name}",
               Service::kCompute,
               "compute:keypair",
               [c](Call& call) -> Result<Reply> {
                 auto owner = keypair_owner(call, call.query("user_id"));
                 if (!owner.ok()) return owner.error();
                 auto s = c->store().delete_keypair(*owner, call.param("name"));
                 if (!s.ok()) {
                   if (s.error().code == ErrorCode::kNotFound) {
                     return keypair_not_found(call.param("name"), *owner);
                   }
                   return s.error();
                 }
                 // 2.2: 204 No Content.
                 return call.microversion.at_least(2, 2) ? Reply::no_content()
                                                         : Reply::ok(nullptr, 202);
               },
               {}});
  return r;
}

}  // namespace gpucloud::api
