// POST /servers/{id}/action {"rebuild": {...}}: nova's rebuild. The guest is made again from an
// image (the same or another) on the same host with the same GPUs; the server keeps its id,
// flavor and addresses. The new image, name, metadata, key and user data are written with the
// task_state "rebuilding" and the conductor's task in one transaction (begin_action); the
// conductor destroys and spawns the guest (conductor/rebuild.cc).
#include <sodium.h>

#include "api/compute_impl.h"
#include "api/image_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

std::vector<const char*> rebuild_fields(const Microversion& mv) {
  std::vector<const char*> f = {
      "imageRef",   "name",       "adminPass",         "metadata",
      "accessIPv4", "accessIPv6", "OS-DCF:diskConfig", "preserve_ephemeral"};
  if (!mv.at_least(2, 57)) f.push_back("personality");
  if (mv.at_least(2, 19)) f.push_back("description");
  if (mv.at_least(2, 54)) f.push_back("key_name");
  if (mv.at_least(2, 57)) f.push_back("user_data");
  if (mv.at_least(2, 63)) f.push_back("trusted_image_certificates");
  if (mv.at_least(2, 90)) f.push_back("hostname");
  return f;
}

// A new image must suit the server's host: the enabled filters that nova runs on a rebuild
// (ImagePropertiesFilter) judge it there. nova answers 202 and then puts the server in ERROR
// with its old image; gpucloud refuses at once (400) and the server is untouched.
Status check_image_on_host(ApiContext& ctx, const store::ComputeHost& host,
                           const scheduler::RequestSpec& spec) {
  auto sched = scheduler::Scheduler::create(scheduler::options_from(*compute_config(ctx)));
  if (!sched.ok()) return sched.error();
  auto aggregates = ctx.store().list_aggregates();
  if (!aggregates.ok()) return aggregates.error();
  std::vector<const store::Aggregate*> mine;
  for (const auto& a : *aggregates) {
    if (std::find(a.hosts.begin(), a.hosts.end(), host.name) != a.hosts.end()) mine.push_back(&a);
  }
  const auto state = conductor::host_state(host, {}, mine, true);
  for (const auto& v : sched->rebuild_verdicts(state, spec)) {
    if (!v.verdict.passed) {
      return Error::invalid("The image does not suit host " + host.name +
                            ", where the server is (" + v.filter + ": " + v.verdict.reason + ")");
    }
  }
  return {};
}

}  // namespace

Result<Reply> rebuild_server(ApiContext& ctx, Call& call, const store::Instance& i,
                             const json& args) {
  const Microversion& mv = call.microversion;
  if (!args.is_object()) {
    return bad_request("Invalid input for field/attribute rebuild. Value: " + shown(args) +
                       ". It is not of type 'object'");
  }
  if (auto s = no_extra_fields(args, "rebuild", rebuild_fields(mv)); !s.ok()) return s.error();
  auto image_ref = string_field(args, "imageRef", "rebuild", false);
  if (!image_ref.ok()) return image_ref.error();
  if (!*image_ref) {
    return bad_request(
        "Invalid input for field/attribute rebuild. 'imageRef' is a required property");
  }
  std::string image_id = **image_ref;
  if (auto slash = image_id.rfind('/'); slash != std::string::npos) image_id.erase(0, slash + 1);

  store::InstanceTransition tr;
  std::map<std::string, std::string> system_metadata;
  auto name = string_field(args, "name", "rebuild", false);
  if (!name.ok()) return name.error();
  if (*name) {
    if (auto s = check_name(**name, "name"); !s.ok()) return s.error();
    tr.name = **name;
  }
  auto admin_pass = string_field(args, "adminPass", "rebuild", false);
  if (!admin_pass.ok()) return admin_pass.error();
  if (args.contains("preserve_ephemeral")) {
    if (auto p = bool_field(args, "preserve_ephemeral", "rebuild"); !p.ok()) return p.error();
  }
  if (args.contains("OS-DCF:diskConfig") &&
      !(args["OS-DCF:diskConfig"] == "AUTO" || args["OS-DCF:diskConfig"] == "MANUAL")) {
    return bad_request("Invalid input for field/attribute OS-DCF:diskConfig. Value: " +
                       shown(args["OS-DCF:diskConfig"]) + ". It is not one of ['AUTO', 'MANUAL']");
  }
  if (args.contains("personality") &&
      !(args["personality"].is_array() && args["personality"].empty())) {
    return bad_request("Personality files are not supported by gpucloud (use user_data).");
  }
  if (args.contains("trusted_image_certificates") &&
      !args["trusted_image_certificates"].is_null()) {
    return bad_request(
        "Image certificate validation is not supported: gpucloud does not verify image "
        "signatures.");
  }
  // accessIPv4/v6, validated as POST /servers validates them.
  for (const char* field : {"accessIPv4", "accessIPv6"}) {
    if (!args.contains(field)) continue;
    json probe = {{field, args[field]}};
    if (auto s = check_unused_server_fields(probe, Microversion{2, 1}); !s.ok()) return s.error();
    system_metadata[field == std::string("accessIPv4") ? "access_ip_v4" : "access_ip_v6"] =
        canonical_ip(args[field].get<std::string>());
  }
  if (mv.at_least(2, 19)) {
    auto description = description_field(args);
    if (!description.ok()) return description.error();
    if (*description) system_metadata["description"] = **description;
  }
  if (args.contains("hostname")) {
    if (auto s = check_hostname(args["hostname"], mv); !s.ok()) return s.error();
    system_metadata["hostname"] = args["hostname"].get<std::string>();
  }
  if (args.contains("metadata")) {
    auto metadata = metadata_field(args["metadata"]);
    if (!metadata.ok()) return metadata.error();
    // The project's metadata_items quota, as at create (nova checks it on rebuild too: 403).
    auto quotas = ctx.store().project_quotas(i.project_id, "");
    if (!quotas.ok()) return quotas.error();
    const int64_t allowed = quotas->at("metadata_items");
    if (allowed >= 0 && static_cast<int64_t>(metadata->size()) > allowed) {
      return forbidden("Maximum number of metadata items exceeds " + std::to_string(allowed));
    }
    tr.metadata = std::move(*metadata);
  }
  if (args.contains("key_name")) {  // 2.54; null removes the key
    auto key = string_field(args, "key_name", "rebuild");
    if (!key.ok()) return key.error();
    std::string key_data;  // empty: the guest gets no key
    if (*key) {
      auto pair = ctx.store().get_keypair(call.who().user_id, **key);
      if (!pair.ok()) {
        if (pair.error().code != ErrorCode::kNotFound) return pair.error();
        return bad_request("Invalid key_name provided.");
      }
      if (pair->type == "ssh") key_data = pair->public_key;  // as at create
    }
    tr.key_name = key->value_or("");
    system_metadata["key_data"] = key_data;
  }
  if (args.contains("user_data")) {  // 2.57; null removes it
    auto data = string_field(args, "user_data", "rebuild");
    if (!data.ok()) return data.error();
    if (*data) {
      if (auto s = check_user_data(**data); !s.ok()) return s.error();
    }
    tr.user_data = data->value_or("");
  }

  // The image as a boot would take it: visible to the caller, active, and fitting the flavor.
  auto image = image::find_visible(ctx, call.who(), image_id);
  if (!image.ok()) {
    if (image.error().code != ErrorCode::kNotFound) return image.error();
    return bad_request("Image " + image_id + " could not be found.");
  }
  if (image->status != store::ImageStatus::kActive) {
    return bad_request("Image " + image_id + " is not active.");
  }
  auto flavor = ctx.store().get_flavor(i.flavor_id);
  if (!flavor.ok()) return bad_request("Flavor " + i.flavor_id + " could not be found.");
  auto spec = request_spec_for(*flavor, *image, i.availability_zone, *compute_config(ctx));
  if (!spec.ok()) return spec.error();
  if (auto s = scheduler::check_request(*spec); !s.ok()) return bad_request(s.error().message);

  using store::ServerStatus;
  if (!i.host || i.task_state ||
      (i.status != ServerStatus::kActive && i.status != ServerStatus::kShutoff &&
       i.status != ServerStatus::kError)) {
    return Error::conflict(
        "Cannot 'rebuild' instance " + i.uuid + " while it is in " +
        (i.task_state ? "task_state " + *i.task_state : "vm_state " + i.vm_state));
  }
  // A host whose agent stopped reporting cannot destroy the old guest: refused rather than
  // failed later with the GPUs given back while that guest may still run.
  auto host = ctx.store().get_compute_host(*i.host);
  if (!host.ok()) return host.error();
  if (!conductor::host_up(*host, driver_host_names(ctx),
                          std::chrono::seconds(compute_config(ctx)->service_down_time))) {
    return Error::conflict("Cannot 'rebuild' instance " + i.uuid + ": compute host " + *i.host +
                           " is down");
  }
  if (image->id != i.image_id) {
    if (auto s = check_image_on_host(ctx, *host, *spec); !s.ok()) return s.error();
  }
  tr.from = {ServerStatus::kActive, ServerStatus::kShutoff, ServerStatus::kError};
  tr.from_task = "";
  tr.task_state = "rebuilding";
  tr.image_id = image->id;
  auto task = ctx.store().begin_action(i.uuid, tr, "rebuild", *i.host, system_metadata);
  if (!task.ok()) {
    if (task.error().code == ErrorCode::kConflict) {
      return Error::conflict("Cannot 'rebuild' instance " + i.uuid + ": " + task.error().message);
    }
    return task.error();
  }
  ctx.deps.conductor->submit(task->id);
  auto now = ctx.store().get_instance(i.uuid);
  if (!now.ok()) return now.error();
  ServerViews views(ctx, call);
  json server = views.show(*now, ServerView::kRebuild);
  // nova answers with the caller's adminPass, or one it made up.
  std::string pass = admin_pass->value_or("");
  if (pass.empty()) {
    for (int k = 0; k < 12; ++k) {
      pass += "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"[randombytes_uniform(57)];
    }
  }
  server["adminPass"] = pass;
  return Reply::ok({{"server", server}}, 202);
}

}  // namespace gpucloud::api
