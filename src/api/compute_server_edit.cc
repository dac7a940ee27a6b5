// Compute v2.1: what a server's owner edits after the create. PUT /servers/{id} (name, 2.19's
// description, 2.90's hostname, access addresses) and 2.26's server tags, all kept as the
// instance's name and system metadata and written key by key (Store::update_server_fields), so
// that an edit never overwrites the state the conductor is writing at the same moment.
#include <fmt/format.h>

#include <functional>
#include <regex>

#include "api/agent_guests_impl.h"
#include "api/compute_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {

// nova's description (2.19): null, or 0 to 255 printable characters.
Result<std::optional<std::string>> description_field(const json& b) {
  if (!b.contains("description") || b["description"].is_null()) return std::optional<std::string>();
  if (!b["description"].is_string()) {
    return bad_request(std::string("Invalid input for field/attribute description. Value: ") +
                       shown(b["description"]) + ". It is not of type 'string', 'null'");
  }
  const std::string d = b["description"].get<std::string>();
  if (auto s = check_text(d, "description", 255); !s.ok()) return s.error();
  return std::optional<std::string>(d);
}

// One tag: 1 to 60 printable characters, no ',' or '/' (they separate tags in filters and
// URLs).
Status check_tag(const std::string& t) {
  if (t.empty() || t.size() > 60 || t.find_first_of(",/") != std::string::npos ||
      !check_text(t, "tag", 60).ok()) {
    return bad_request("Invalid input for field/attribute tag. Value: " + t +
                       ". Tags are 1 to 60 printable characters without ',' or '/'");
  }
  return {};
}

// nova's tags (2.26): at most 50, each 1 to 60 characters without ',' or '/', no duplicates
// kept.
Result<std::vector<std::string>> tag_list(const json& v, const char* where) {
  const auto bad = [&](const std::string& why) {
    return bad_request(std::string("Invalid input for field/attribute ") + where +
                       ". Value: " + shown(v) + ". " + why);
  };
  if (!v.is_array()) return bad("It is not of type 'array'");
  if (v.size() > 50) return bad("It is too long (at most 50 tags)");
  std::vector<std::string> out;
  for (const auto& t : v) {
    if (!t.is_string()) return bad(shown(t) + " is not of type 'string'");
    const std::string s = t.get<std::string>();
    if (auto e = check_tag(s); !e.ok()) return e.error();
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

// nova's hostname (2.90): 1 to 63 of [a-zA-Z0-9-], not starting or ending with '-' (2.94 allows
// an FQDN of up to 255, in labels of that shape).
Status check_hostname(const json& v, const Microversion& mv) {
  const std::string bad_value = "Invalid input for field/attribute hostname. Value: " + shown(v);
  if (!v.is_string()) return bad_request(bad_value + ". It is not of type 'string'");
  const std::string h = v.get<std::string>();
  static const std::regex kLabel("[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?");
  static const std::regex kFqdn(
      "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
      "*");
  const bool ok = mv.at_least(2, 94) ? h.size() <= 255 && std::regex_match(h, kFqdn)
                                     : std::regex_match(h, kLabel);
  if (!ok) return bad_request(bad_value + ". '" + h + "' is not a valid hostname");
  return {};
}

namespace {

// Routes that appear at a microversion are nova's 404 below it.
Error not_at_version() { return Error::not_found("The resource could not be found."); }

constexpr size_t kMaxTags = 50;

Result<Reply> update_server(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"server"}); !s.ok()) return s.error();
  auto sb = body_member(*body, "server");
  if (!sb.ok()) return sb.error();
  const json& b = *sb;
  const Microversion& mv = call.microversion;
  std::vector<const char*> known = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"};
  if (mv.at_least(2, 19)) known.push_back("description");
  if (mv.at_least(2, 90)) known.push_back("hostname");
  if (auto s = no_extra_fields(b, "server", known); !s.ok()) return s.error();

  std::optional<std::string> name;
  if (b.contains("name")) {
    auto n = string_field(b, "name", "server", false);
    if (!n.ok()) return n.error();
    if (auto s = check_name(**n, "name"); !s.ok()) return s.error();
    name = **n;
  }
  std::map<std::string, std::optional<std::string>> changes;
  // An access address of "" clears it, as nova (its schema allows the empty string here).
  for (auto [field, key] :
       {std::pair{"accessIPv4", "access_ip_v4"}, std::pair{"accessIPv6", "access_ip_v6"}}) {
    if (!b.contains(field)) continue;
    if (b[field].is_string() && b[field].get<std::string>().empty()) {
      changes[key] = std::nullopt;
      continue;
    }
    if (auto s = check_unused_server_fields(json{{field, b[field]}}, Microversion{}); !s.ok()) {
      return s.error();
    }
    changes[key] = canonical_ip(b[field].get<std::string>());
  }
  if (b.contains("OS-DCF:diskConfig")) {
    const json& d = b["OS-DCF:diskConfig"];
    if (!d.is_string() || (d != "AUTO" && d != "MANUAL")) {
      return bad_request("Invalid input for field/attribute OS-DCF:diskConfig. Value: " + shown(d) +
                         ". " + shown(d) + " is not one of ['AUTO', 'MANUAL']");
    }
  }
  if (b.contains("description")) {
    auto d = description_field(b);
    if (!d.ok()) return d.error();
    changes["description"] = *d;
  }
  if (b.contains("hostname")) {
    if (auto s = check_hostname(b["hostname"], mv); !s.ok()) return s.error();
    changes["hostname"] = b["hostname"].get<std::string>();
  }
  if (auto s = ctx.store().update_server_fields(i->uuid, name, changes); !s.ok()) {
    return s.error().code == ErrorCode::kNotFound ? server_not_found(i->uuid) : s.error();
  }
  auto updated = ctx.store().get_instance(i->uuid);
  if (!updated.ok()) return updated.error();
  const auto reported = updated->host ? reported_addresses(ctx, *updated->host)
                                      : std::map<std::string, ReportedAddress>{};
  const auto mine = reported.find(updated->uuid);
  ServerViews views(ctx, call);
  return Reply::ok({{"server", views.show(*updated, ServerView::kUpdate,
                                          mine == reported.end() ? nullptr : &mine->second)}});
}

// The server for a tag route: 404 below 2.26, and nova's 409 while it is being deleted.
Result<store::Instance> tagged_server(ApiContext& ctx, const Call& call) {
  if (!call.microversion.at_least(2, 26)) return not_at_version();
  return owned_server(ctx, call);
}

Status write_tags(ApiContext& ctx, const store::Instance& i, const json& tags,
                  const std::map<std::string, std::optional<std::string>>& expected = {}) {
  return ctx.store().update_server_fields(
      i.uuid, std::nullopt,
      {{"tags", tags.empty() ? std::nullopt : std::optional<std::string>(tags.dump())}}, expected);
}

// Adds or removes one tag: `edit` changes the list (or answers without changing it), and the
// list is written as a compare-and-set on the one that was read, retried when a concurrent edit
// of the same server's tags got there first; else one of two simultaneous PUTs would be lost.
Result<Reply> edit_tags(ApiContext& ctx, const Call& call,
                        const std::function<Result<Reply>(const store::Instance&, json&)>& edit) {
  // Each conflict means another edit landed; a server has at most kMaxTags tags to race for.
  constexpr int kAttempts = 64;
  for (int attempt = 1;; ++attempt) {
    auto i = tagged_server(ctx, call);
    if (!i.ok()) return i.error();
    json tags = server_tags(*i);
    const json before = tags;
    auto reply = edit(*i, tags);
    if (!reply.ok() || tags == before) return reply;
    const auto stored = i->system_metadata.find("tags");
    const std::optional<std::string> expected =
        stored == i->system_metadata.end() ? std::nullopt : std::optional(stored->second);
    const Status s = write_tags(ctx, *i, tags, {{"tags", expected}});
    if (s.ok()) return reply;
    if (s.error().code != ErrorCode::kConflict || attempt == kAttempts) return s.error();
  }
}

Result<Reply> list_tags(ApiContext& ctx, const Call& call) {
  auto i = tagged_server(ctx, call);
  if (!i.ok()) return i.error();
  return Reply::ok({{"tags", server_tags(*i)}});
}

Result<Reply> replace_tags(ApiContext& ctx, Call& call) {
  auto i = tagged_server(ctx, call);
  if (!i.ok()) return i.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body", {"tags"}); !s.ok()) return s.error();
  if (!body->contains("tags")) {
    return bad_request("Invalid input for field/attribute body. 'tags' is a required property");
  }
  auto tags = tag_list((*body)["tags"], "tags");
  if (!tags.ok()) return tags.error();
  if (auto s = write_tags(ctx, *i, json(*tags)); !s.ok()) return s.error();
  return Reply::ok({{"tags", *tags}});
}

Result<Reply> delete_all_tags(ApiContext& ctx, const Call& call) {
  auto i = tagged_server(ctx, call);
  if (!i.ok()) return i.error();
  if (auto s = write_tags(ctx, *i, json::array()); !s.ok()) return s.error();
  return Reply::no_content();
}

Result<Reply> check_one_tag(ApiContext& ctx, const Call& call) {
  auto i = tagged_server(ctx, call);
  if (!i.ok()) return i.error();
  const std::string& tag = call.param("tag");
  for (const auto& t : server_tags(*i)) {
    if (t == tag) return Reply::no_content();
  }
  return Error::not_found("Server " + i->uuid + " has no tag '" + tag + "'");
}

// PUT /servers/{id}/tags/{tag}: 201 with the tag's Location when new, 204 when it was there.
Result<Reply> add_one_tag(ApiContext& ctx, const Call& call) {
  const std::string& tag = call.param("tag");
  if (auto s = check_tag(tag); !s.ok()) return s.error();
  return edit_tags(ctx, call, [&](const store::Instance& i, json& tags) -> Result<Reply> {
    for (const auto& t : tags) {
      if (t == tag) return Reply::no_content();
    }
    if (tags.size() >= kMaxTags) {
      return bad_request(
          fmt::format("The number of tags exceeded the per-server limit {}", kMaxTags));
    }
    tags.push_back(tag);
    Reply r = Reply::ok(nullptr, 201);
    r.headers.push_back(
        {"Location", ctx.base_url + kCompute + "/servers/" + i.uuid + "/tags/" + tag});
    return r;
  });
}

Result<Reply> delete_one_tag(ApiContext& ctx, const Call& call) {
  const std::string& tag = call.param("tag");
  return edit_tags(ctx, call, [&](const store::Instance& i, json& tags) -> Result<Reply> {
    json kept = json::array();
    for (const auto& t : tags) {
      if (t != tag) kept.push_back(t);
    }
    if (kept.size() == tags.size()) {
      return Error::not_found("Server " + i.uuid + " has no tag '" + tag + "'");
    }
    tags = std::move(kept);
    return Reply::no_content();
  });
}

}  // namespace

std::vector<Route> compute_server_edit_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string one = kCompute + "/servers/{server_id}";
  const std::string tags = one + "/tags";
  std::vector<Route> r;
  const auto add = [&](const char* method, const std::string& path, const char* rule,
                       std::function<Result<Reply>(Call&)> h) {
    r.push_back({method, path, Service::kCompute, rule, std::move(h), {}});
  };
  add("PUT", one, "compute:server:write", [c](Call& call) { return update_server(*c, call); });
  add("GET", tags, "compute:server:read", [c](Call& call) { return list_tags(*c, call); });
  add("PUT", tags, "compute:server:write", [c](Call& call) { return replace_tags(*c, call); });
  add("DELETE", tags, "compute:server:write",
      [c](Call& call) { return delete_all_tags(*c, call); });
  add("GET", tags + "/{tag}", "compute:server:read",
      [c](Call& call) { return check_one_tag(*c, call); });
  add("PUT", tags + "/{tag}", "compute:server:write",
      [c](Call& call) { return add_one_tag(*c, call); });
  add("DELETE", tags + "/{tag}", "compute:server:write",
      [c](Call& call) { return delete_one_tag(*c, call); });
  return r;
}

}  // namespace gpucloud::api
