// Compute v2.1: a server's metadata (nova's server_metadata API, what `openstack server set
// --property` and `unset --property` call). Only the control plane keeps it: gpucloud has no
// metadata service, and the config drive is written at boot. Changes are refused (409) while the
// server is locked against the caller, has a task, or is not active or stopped, as in nova; the
// project's metadata_items quota counts the keys after the change (403).
#include "api/compute_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

// nova's update_instance_metadata allows these vm_states (paused and suspended, which gpucloud
// does not have, included).
const std::vector<std::string> kServerMetaEditable = {"active", "paused", "suspended", "stopped"};

Error server_meta_item_not_found() { return Error::not_found("Metadata item was not found"); }

// A body's `metadata` or `meta` object, validated as at create.
Result<std::map<std::string, std::string>> server_meta_member(const json& body, const char* key) {
  if (!body.is_object() || !body.contains(key)) {
    return bad_request(std::string("Invalid input for field/attribute ") + key + ". '" + key +
                       "' is a required property");
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() != key) {
      return bad_request("Additional properties are not allowed ('" + it.key() +
                         "' was unexpected)");
    }
  }
  if (!body[key].is_object()) {
    return bad_request(std::string("Invalid input for field/attribute ") + key + ". Value: " +
                       body[key].dump() + ". " + body[key].dump() + " is not of type 'object'");
  }
  return metadata_field(body[key]);
}

// Sets (or with replace_all, replaces) the metadata of server `i`, which the caller may act on.
Result<std::map<std::string, std::string>> write_server_metadata(
    ApiContext& ctx, const Call& call, const store::Instance& i,
    const std::map<std::string, std::optional<std::string>>& changes, bool replace_all) {
  if (auto s = check_unlocked(ctx, call, i); !s.ok()) return s.error();
  auto quotas = ctx.store().project_quotas(i.project_id, "");
  if (!quotas.ok()) return quotas.error();
  auto written = ctx.store().update_instance_metadata(
      i.uuid, changes, replace_all, quotas->at("metadata_items"), kServerMetaEditable);
  if (!written.ok() && written.error().code == ErrorCode::kNotFound) {
    return server_not_found(i.uuid);
  }
  return written;
}

std::map<std::string, std::optional<std::string>> server_meta_changes(
    const std::map<std::string, std::string>& m) {
  return {m.begin(), m.end()};
}

Result<Reply> list_server_metadata(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  return Reply::ok({{"metadata", i->metadata}});
}

// POST merges the given keys into the metadata (nova answers 200, not 201); PUT (replace_all)
// makes the metadata exactly the given keys.
Result<Reply> write_server_metadata_body(ApiContext& ctx, Call& call, bool replace_all) {
  auto i = owned_server(ctx, call);  // another project's server is absent, whatever the body
  if (!i.ok()) return i.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto items = server_meta_member(*body, "metadata");
  if (!items.ok()) return items.error();
  auto written = write_server_metadata(ctx, call, *i, server_meta_changes(*items), replace_all);
  if (!written.ok()) return written.error();
  return Reply::ok({{"metadata", *written}});
}

Result<Reply> show_server_meta_item(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  auto it = i->metadata.find(call.param("key"));
  if (it == i->metadata.end()) return server_meta_item_not_found();
  return Reply::ok({{"meta", {{it->first, it->second}}}});
}

// PUT /metadata/{key}: {"meta": {key: value}}, exactly one item, named as in the path.
Result<Reply> set_server_meta_item(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  auto items = server_meta_member(*body, "meta");
  if (!items.ok()) return items.error();
  if (items->size() != 1) {
    return bad_request(items->empty()
                           ? "Invalid input for field/attribute meta. {} does not have enough "
                             "properties"
                           : "Invalid input for field/attribute meta. Request body contains too "
                             "many items");
  }
  const std::string& key = call.param("key");
  if (items->begin()->first != key) return bad_request("Request body and URI mismatch");
  auto written = write_server_metadata(ctx, call, *i, server_meta_changes(*items), false);
  if (!written.ok()) return written.error();
  return Reply::ok({{"meta", {{key, written->at(key)}}}});
}

Result<Reply> delete_server_meta_item(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  const std::string& key = call.param("key");
  if (!i->metadata.count(key)) return server_meta_item_not_found();
  auto written = write_server_metadata(ctx, call, *i, {{key, std::nullopt}}, false);
  if (!written.ok()) return written.error();
  return Reply::no_content();
}

}  // namespace

std::vector<Route> compute_server_metadata_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string meta = kCompute + "/servers/{server_id}/metadata";
  auto bind = [c](Result<Reply> (*f)(ApiContext&, Call&)) {
    return [c, f](Call& call) { return f(*c, call); };
  };
  return {
      {"GET", meta, Service::kCompute, "compute:server:read", bind(list_server_metadata), {}},
      {"POST",
       meta,
       Service::kCompute,
       "compute:server:write",
       [c](Call& call) { return write_server_metadata_body(*c, call, false); },
       {}},
      {"PUT",
       meta,
       Service::kCompute,
       "compute:server:write",
       [c](Call& call) { return write_server_metadata_body(*c, call, true); },
       {}},
      {"GET",
       meta + "/{key}",
       Service::kCompute,
       "compute:server:read",
       bind(show_server_meta_item),
       {}},
      {"PUT",
       meta + "/{key}",
       Service::kCompute,
       "compute:server:write",
       bind(set_server_meta_item),
       {}},
      {"DELETE",
       meta + "/{key}",
       Service::kCompute,
       "compute:server:write",
       bind(delete_server_meta_item),
       {}},
  };
}

}  // namespace gpucloud::api
