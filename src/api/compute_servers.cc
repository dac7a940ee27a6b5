// Compute v2.1: servers. Create validates, admits, writes each server with its boot task and
// answers 202 with the servers in BUILD; the conductor (src/conductor) carries the tasks out.
// Delete and the power actions likewise only change the row and hand a task over.
#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <regex>

#include "api/agent_guests_impl.h"
#include "api/compute_impl.h"
#include "api/image_impl.h"
#include "api/policy_impl.h"
#include "api/validation_impl.h"
#include "compute/compute.h"

namespace gpucloud::api {

Error server_not_found(const std::string& id) {
  return Error::not_found("Instance " + id + " could not be found.");
}

// The server if the caller may act on it (own project, or admin); others' look absent.
Result<store::Instance> owned_server(ApiContext& ctx, const Call& call) {
  const std::string& id = call.param("server_id");
  auto i = ctx.store().get_instance(id);
  if (!i.ok()) return i.error().code == ErrorCode::kNotFound ? server_not_found(id) : i.error();
  if (i->status == store::ServerStatus::kDeleted) return server_not_found(id);
  if (!check_owner(call.who(), i->project_id, "Instance " + id).ok()) return server_not_found(id);
  return i;
}

// nova's lock: a locked server refuses every action and the delete of non-admins (409), the
// owner's included; only admins act on it. Kept as the instance's system metadata "locked_by"
// ("owner" or "admin"; an admin's lock is lifted only by an admin).
namespace {
Result<std::optional<std::string>> locked_by(ApiContext& ctx, const store::Instance& i) {
  return ctx.store().system_metadata(i.uuid, "locked_by");
}
}  // namespace

Status check_unlocked(ApiContext& ctx, const Call& call, const store::Instance& i) {
  if (call.who().is_admin()) return {};
  auto by = locked_by(ctx, i);
  if (!by.ok()) return by.error();
  if (*by) return Error::conflict("Instance " + i.uuid + " is locked");
  return {};
}

namespace {

// GET /servers/{id}/ips[/{network}]: nova's ips view, the server's addresses by network with
// only "version" and "addr".
Result<Reply> server_ips(ApiContext& ctx, const Call& call, bool one_network) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  const auto reported =
      i->host ? reported_addresses(ctx, *i->host) : std::map<std::string, ReportedAddress>{};
  const auto mine = reported.find(i->uuid);
  std::string host_network;
  if (i->host) {
    if (auto h = ctx.store().get_compute_host(*i->host); h.ok()) {
      if (auto n = compute::guest_network(*h)) host_network = n->name;
    }
  }
  json all = addresses_json(*i, mine == reported.end() ? nullptr : &mine->second, host_network);
  for (auto& [network, list] : all.items()) {
    for (auto& a : list) a = {{"version", a["version"]}, {"addr", a["addr"]}};
  }
  if (!one_network) return Reply::ok({{"addresses", all}});
  const std::string& network = call.param("network");
  if (!all.contains(network)) return Error::not_found("There is no such network: " + network);
  return Reply::ok({{network, all[network]}});
}

// os-server-password: the password a guest posted to the metadata service. gpucloud has no
// metadata service that takes one, so it is always empty, and clearing it does nothing.
Result<Reply> server_password(ApiContext& ctx, const Call& call, bool clear) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  if (clear) return Reply::no_content();
  return Reply::ok({{"password", ""}});
}

// GET /servers/{id}: also a deleted server whose devices are not released yet, as nova shows a
// server until its delete finished (task_state `deleting`): `openstack server delete --wait`
// then returns once the GPU is free again.
Result<Reply> show_server(ApiContext& ctx, const Call& call) {
  const std::string& id = call.param("server_id");
  auto i = ctx.store().get_instance(id);
  if (!i.ok()) return i.error().code == ErrorCode::kNotFound ? server_not_found(id) : i.error();
  if (!check_owner(call.who(), i->project_id, "Instance " + id).ok()) return server_not_found(id);
  if (i->status == store::ServerStatus::kDeleted) {
    store::PciDeviceFilter held;
    held.instance_uuid = id;
    auto devices = ctx.store().list_pci_devices(held);
    if (!devices.ok()) return devices.error();
    if (devices->empty()) return server_not_found(id);
    i->task_state = "deleting";
  }
  const auto reported =
      i->host ? reported_addresses(ctx, *i->host) : std::map<std::string, ReportedAddress>{};
  const auto mine = reported.find(id);
  ServerViews views(ctx, call);
  return Reply::ok({{"server", views.show(*i, ServerView::kShow,
                                          mine == reported.end() ? nullptr : &mine->second)}});
}

// Everything POST /servers accepts at the call's microversion; the ones gpucloud has no use
// for are accepted and ignored (networks, security groups, block devices).
std::vector<const char*> server_fields(const Microversion& mv) {
  std::vector<const char*> f = {"name",
                                "imageRef",
                                "flavorRef",
                                "adminPass",
                                "metadata",
                                "networks",
                                "OS-DCF:diskConfig",
                                "accessIPv4",
                                "accessIPv6",
                                "availability_zone",
                                "block_device_mapping",
                                "block_device_mapping_v2",
                                "config_drive",
                                "key_name",
                                "min_count",
                                "max_count",
                                "return_reservation_id",
                                "security_groups",
                                "user_data"};
  if (!mv.at_least(2, 57)) f.push_back("personality");  // 2.57 removed file injection
  if (mv.at_least(2, 19)) f.push_back("description");
  if (mv.at_least(2, 52)) f.push_back("tags");
  if (mv.at_least(2, 63)) f.push_back("trusted_image_certificates");
  if (mv.at_least(2, 74)) {
    f.push_back("host");
    f.push_back("hypervisor_hostname");
  }
  if (mv.at_least(2, 90)) f.push_back("hostname");
  return f;
}

// nova's legacy forced host in availability_zone: "zone:host", "zone:host:node" or "zone::node"
// (gpucloud's host is its node, so host and node must agree). The zone may be empty.
struct ForcedHost {
  std::string zone;
  std::string host;  // empty: no forced host
};
Result<ForcedHost> split_forced_host(const std::string& az) {
  std::vector<std::string> parts{""};
  for (char c : az) {
    if (c == ':') {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  if (parts.size() == 1) return ForcedHost{az, ""};
  if (parts.size() > 3) return bad_request("Unable to parse availability_zone");
  const std::string& host = parts[1];
  const std::string node = parts.size() == 3 ? parts[2] : "";
  if (!host.empty() && !node.empty() && host != node) {
    return bad_request("availability_zone " + az + " names host " + host + " and node " + node +
                       ": a gpucloud host is its own node");
  }
  if (host.empty() && node.empty()) return bad_request("Unable to parse availability_zone");
  return ForcedHost{parts[0], host.empty() ? node : host};
}

Result<Reply> create_server(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (auto s = no_extra_fields(*body, "body",
                               {"server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"});
      !s.ok())
    return s.error();
  auto sb = body_member(*body, "server");
  if (!sb.ok()) return sb.error();
  const json& b = *sb;
  // Scheduler hints: `group` names the server group the servers join (os-server-groups); the
  // others (same_host, different_host, ...) are accepted and not acted on.
  std::string group_uuid;
  for (const char* key : {"os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"}) {
    if (!body->contains(key)) continue;
    const json& hints = (*body)[key];
    if (!hints.is_object()) {
      return bad_request(std::string("Invalid input for field/attribute ") + key +
                         ". It is not of type 'object'");
    }
    if (hints.contains("group")) {
      const json& g = hints["group"];
      if (!g.is_string() || !is_nova_uuid(g.get<std::string>())) {
        return bad_request("Invalid input for field/attribute group. Value: " + shown(g) + ". " +
                           shown(g) + " is not a 'uuid'");
      }
      group_uuid = g.get<std::string>();
    }
  }
  const Microversion& mv = call.microversion;
  if (auto s = no_extra_fields(b, "server", server_fields(mv)); !s.ok()) return s.error();
  if (auto s = check_unused_server_fields(b, mv); !s.ok()) return s.error();
  const Caller& who = call.who();
  // The fields of later microversions, kept as the instance's system metadata.
  std::map<std::string, std::string> system_metadata;
  auto description = description_field(b);
  if (!description.ok()) return description.error();
  if (*description) system_metadata["description"] = **description;
  if (b.contains("tags")) {
    auto tags = tag_list(b["tags"], "tags");
    if (!tags.ok()) return tags.error();
    system_metadata["tags"] = json(*tags).dump();
  }
  if (b.contains("hostname")) {
    if (auto s = check_hostname(b["hostname"], mv); !s.ok()) return s.error();
  }
  for (const char* field : {"accessIPv4", "accessIPv6"}) {
    if (b.contains(field)) {
      system_metadata[field == std::string("accessIPv4") ? "access_ip_v4" : "access_ip_v6"] =
          canonical_ip(b[field].get<std::string>());
    }
  }
  // 2.37's "none": a guest without a NIC (compute::without_network); no address, nothing for
  // readiness probes to reach.
  if (mv.at_least(2, 37) && b.contains("networks") && b["networks"] == "none") {
    system_metadata["networks"] = "none";
  }
  // A network asked for by its os-networks id: the scheduler keeps to hosts that have it.
  if (b.contains("networks") && b["networks"].is_array() && !b["networks"].empty()) {
    const std::string id = b["networks"][0].value("uuid", "");
    auto name = network_for_id(ctx, id);
    if (!name.ok()) {
      if (name.error().code != ErrorCode::kNotFound) return name.error();
      return bad_request("Network " + id + " could not be found.");
    }
    system_metadata["network"] = *name;
  }
  if (b.contains("trusted_image_certificates") && !b["trusted_image_certificates"].is_null()) {
    // nova refuses them unless glance signature verification is on, which gpucloud lacks.
    return bad_request(
        "Image certificate validation is not supported: gpucloud does not verify image "
        "signatures.");
  }
  if (b.contains("host") || b.contains("hypervisor_hostname")) {
    // 2.74: an admin asks for a host (gpucloud's host is its hypervisor: the two name the same
    // one). The scheduler considers only it, and it must still pass the filters.
    if (!who.is_admin()) {
      return forbidden(
          "Policy doesn't allow compute:servers:create:requested_destination to be performed.");
    }
    std::string wanted;
    for (const char* field : {"host", "hypervisor_hostname"}) {
      if (!b.contains(field)) continue;
      if (!b[field].is_string() || b[field].get<std::string>().empty() ||
          b[field].get<std::string>().size() > 255) {
        return bad_request(std::string("Invalid input for field/attribute ") + field +
                           ". Value: " + shown(b[field]) + ". It is not a host name");
      }
      const std::string name = b[field].get<std::string>();
      if (!wanted.empty() && wanted != name) {
        return bad_request("host and hypervisor_hostname name different hosts: " + wanted + ", " +
                           name);
      }
      if (!ctx.store().get_compute_host(name).ok()) {
        return bad_request(
            std::string(field == std::string("host") ? "Compute host" : "Hypervisor") + " " + name +
            " could not be found.");
      }
      wanted = name;
    }
    system_metadata["requested_host"] = wanted;
  }

  auto name = string_field(b, "name", "server", false);
  if (!name.ok()) return name.error();
  if (!*name)
    return bad_request("Invalid input for field/attribute server. 'name' is a required property");
  // nova's name_with_leading_trailing_spaces: printable, 1 to 255, not only spaces.
  if (auto s = check_name(**name, "name"); !s.ok()) return s.error();
  auto flavor_ref = string_field(b, "flavorRef", "server", false);
  if (!flavor_ref.ok()) {
    if (!b["flavorRef"].is_number_integer()) return flavor_ref.error();
    flavor_ref = std::optional<std::string>(std::to_string(b["flavorRef"].get<int64_t>()));
  }
  if (!*flavor_ref) {
    return bad_request(
        "Invalid input for field/attribute server. 'flavorRef' is a required property");
  }
  std::string flavor_id = **flavor_ref;
  if (auto slash = flavor_id.rfind('/'); slash != std::string::npos) flavor_id.erase(0, slash + 1);
  auto image_ref = string_field(b, "imageRef", "server");
  if (!image_ref.ok()) return image_ref.error();
  if (!*image_ref || (*image_ref)->empty()) {
    return bad_request(
        "Block Device Mapping is Invalid: gpucloud boots from images only; "
        "imageRef is required.");
  }
  std::string image_id = **image_ref;
  if (auto slash = image_id.rfind('/'); slash != std::string::npos) image_id.erase(0, slash + 1);

  auto admin_pass = string_field(b, "adminPass", "server");
  if (!admin_pass.ok()) return admin_pass.error();
  auto az = string_field(b, "availability_zone", "server");
  if (!az.ok()) return az.error();
  if (*az) {
    auto forced = split_forced_host(**az);
    if (!forced.ok()) return forced.error();
    if (!forced->host.empty()) {
      // An admin's forced host: only that host, and only the filters that check fit (the
      // resources and GPUs must be there); it may be disabled, as in nova, but its agent must be up
      // to build the guest.
      if (!who.is_admin()) {
        return forbidden(
            "Policy doesn't allow os_compute_api:servers:create:forced_host to be "
            "performed.");
      }
      if (system_metadata.count("requested_host")) {
        return bad_request(
            "A forced host in availability_zone and a requested host (host, "
            "hypervisor_hostname) cannot be given together");
      }
      auto host = ctx.store().get_compute_host(forced->host);
      if (!host.ok()) {
        if (host.error().code != ErrorCode::kNotFound) return host.error();
        return bad_request("Compute host " + forced->host + " could not be found.");
      }
      if (!conductor::host_up(*host, driver_host_names(ctx),
                              std::chrono::seconds(compute_config(ctx)->service_down_time))) {
        return bad_request("Compute host " + forced->host + " is down");
      }
      system_metadata["requested_host"] = forced->host;
      system_metadata["force_host"] = "true";
      *az = forced->zone.empty() ? std::nullopt : std::optional<std::string>(forced->zone);
    }
  }
  auto key_name = string_field(b, "key_name", "server");
  if (!key_name.ok()) return key_name.error();
  auto user_data = string_field(b, "user_data", "server");
  if (!user_data.ok()) return user_data.error();
  if (*user_data) {
    if (auto s = check_user_data(**user_data); !s.ok()) return s.error();
  }
  bool config_drive = false;
  if (b.contains("config_drive") && !b["config_drive"].is_null()) {
    auto cd = bool_field(b, "config_drive", "server");
    if (!cd.ok()) {
      // nova also takes "" (no drive).
      if (!(b["config_drive"].is_string() && b["config_drive"].get<std::string>().empty())) {
        return cd.error();
      }
    } else {
      config_drive = cd->value_or(false);
    }
  }
  std::map<std::string, std::string> metadata;
  if (b.contains("metadata")) {
    if (!b["metadata"].is_object()) {
      return bad_request(
          "Invalid input for field/attribute metadata. Value: " + shown(b["metadata"]) + ". " +
          shown(b["metadata"]) + " is not of type 'object'");
    }
    // The project's metadata_items quota, per server (nova's MetadataLimitExceeded: 403).
    auto quotas = ctx.store().project_quotas(who.project_id, "");
    if (!quotas.ok()) return quotas.error();
    const int64_t allowed = quotas->at("metadata_items");
    if (allowed >= 0 && static_cast<int64_t>(b["metadata"].size()) > allowed) {
      return forbidden("Maximum number of metadata items exceeds " + std::to_string(allowed));
    }
    auto items = metadata_field(b["metadata"]);
    if (!items.ok()) return items.error();
    metadata = std::move(*items);
  }
  auto min_count = int_field(b, "min_count", "server", 1, 1000);
  if (!min_count.ok()) return min_count.error();
  auto max_count = int_field(b, "max_count", "server", 1, 1000);
  if (!max_count.ok()) return max_count.error();
  const int64_t lo = min_count->value_or(1);
  const int64_t hi = max_count->value_or(lo);
  if (lo > hi) return bad_request("min_count must be <= max_count");
  if (hi > 1 && b.contains("hostname")) {
    return bad_request("Cannot specify hostname when creating multiple instances");
  }
  auto want_reservation = bool_field(b, "return_reservation_id", "server");
  if (!want_reservation.ok()) return want_reservation.error();

  // What nova checks before scheduling: the flavor and image exist and fit each other.
  auto flavor = ctx.store().get_flavor(flavor_id);
  if (!flavor.ok() || flavor->disabled) {
    return bad_request("Flavor " + flavor_id + " could not be found.");
  }
  if (!flavor->is_public && !who.is_admin()) {
    auto access = ctx.store().list_flavor_access(flavor_id);
    bool ok = false;
    if (access.ok()) {
      for (const auto& p : *access) ok = ok || p == who.project_id;
    }
    if (!ok) return bad_request("Flavor " + flavor_id + " could not be found.");
  }
  // The image API's own visibility: a shared image boots for its owner and its members only.
  auto image = image::find_visible(ctx, who, image_id);
  if (!image.ok()) {
    if (image.error().code != ErrorCode::kNotFound) return image.error();
    return bad_request("Image " + image_id + " could not be found.");
  }
  if (image->status != store::ImageStatus::kActive) {
    return bad_request("Image " + image_id + " is not active.");
  }
  if (*az && !(*az)->empty()) {
    bool known = **az == default_zone(ctx);
    auto aggs = ctx.store().list_aggregates();
    if (!aggs.ok()) return aggs.error();
    for (const auto& a : *aggs)
      known = known || (a.availability_zone && *a.availability_zone == **az);
    if (!known) return bad_request("The requested availability zone is not available");
  }
  if (*key_name) {
    auto key = ctx.store().get_keypair(who.user_id, **key_name);
    if (!key.ok()) {
      if (key.error().code != ErrorCode::kNotFound) return key.error();
      return bad_request("Invalid key_name provided.");
    }
    // nova's instance.key_data: the public key as it was at boot goes to the guest, so a key pair
    // deleted or replaced later changes nothing for this server (until a rebuild names a key).
    // An x509 pair's certificate has no place in a NoCloud config drive.
    if (key->type == "ssh") system_metadata["key_data"] = key->public_key;
  }
  auto spec = request_spec_for(*flavor, *image, az->value_or(""), *compute_config(ctx));
  if (!spec.ok()) return spec.error();
  if (auto s = admit_gpu_boot(ctx, *flavor, lo); !s.ok()) return s.error();
  if (!group_uuid.empty()) {
    // Another project's group is as absent as one that does not exist (nova: 400).
    auto g = ctx.store().get_server_group(group_uuid);
    if (!g.ok() && g.error().code != ErrorCode::kNotFound) return g.error();
    if (!g.ok() || !check_owner(who, g->project_id, "Instance group " + group_uuid).ok()) {
      return bad_request("Instance group " + group_uuid + " could not be found.");
    }
    group_uuid = g->uuid;
  }
  auto sec_groups = server_security_groups(ctx, b, who.project_id);
  if (!sec_groups.ok()) return sec_groups.error();
  json sec_group_names = json::array();
  for (const auto& id : *sec_groups) {
    auto g = ctx.store().get_security_group(id);
    if (g.ok()) sec_group_names.push_back({{"name", g->name}});
  }

  std::string reservation = "r-";
  for (int k = 0; k < 8; ++k)
    reservation += "abcdefghijklmnopqrstuvwxyz0123456789"[randombytes_uniform(36)];
  const auto now = std::chrono::system_clock::now();
  std::vector<std::string> created, tasks;
  for (int64_t n = 0; n < hi; ++n) {
    store::Instance i;
    i.uuid = new_uuid();
    i.name = hi > 1 ? fmt::format("{}-{}", **name, n + 1) : **name;
    i.project_id = who.project_id;
    i.user_id = who.user_id;
    i.flavor_id = flavor_id;
    i.image_id = image_id;
    i.availability_zone = az->value_or("");
    i.metadata = metadata;
    i.user_data = user_data->value_or("");
    i.config_drive = config_drive;
    i.key_name = key_name->value_or("");
    i.reservation_id = reservation;
    i.launch_index = static_cast<int>(n);
    i.system_metadata = system_metadata;
    i.system_metadata[store::kSecurityGroupsManaged] = "true";
    if (b.contains("hostname")) i.system_metadata["hostname"] = b["hostname"].get<std::string>();
    i.request_spec_json =
        json{{"num_instances", hi}, {"availability_zone", i.availability_zone}}.dump();
    i.created_at = now;
    i.updated_at = now;
    store::LifecycleTask boot;
    boot.id = new_uuid();
    boot.kind = "boot";
    boot.step = "schedule";
    // The quota check runs inside the create's transaction (two creates cannot both take the
    // last instance). As nova, a multi-create gets as many servers as the quotas allow, and a
    // 403 when that is fewer than min_count (those already made are deleted again).
    const store::InstanceQuotaRequest quota{flavor->vcpus, flavor->memory_mb};
    if (auto s = ctx.store().create_instance_with_task(i, boot, &quota, group_uuid, *sec_groups);
        !s.ok()) {
      // A group deleted since it was looked up above.
      if (s.error().code == ErrorCode::kNotFound) return bad_request(s.error().message);
      if (s.error().code != ErrorCode::kForbidden || n == 0) return s.error();
      if (n >= lo) break;
      for (const auto& uuid : created) {
        if (auto d = ctx.store().begin_delete(uuid); d.ok() && *d) {
          ctx.deps.conductor->submit((*d)->id);
        }
      }
      return s.error();
    }
    created.push_back(i.uuid);
    tasks.push_back(boot.id);
    record_instance_action(ctx, call, i.uuid, "create");
  }
  for (const auto& id : tasks) ctx.deps.conductor->submit(id);
  if (want_reservation->value_or(false)) return Reply::ok({{"reservation_id", reservation}}, 202);
  // nova answers with the caller's adminPass, or one it made up.
  std::string pass = admin_pass->value_or("");
  if (pass.empty()) {
    for (int k = 0; k < 12; ++k) {
      pass += "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"[randombytes_uniform(57)];
    }
  }
  Reply r = Reply::ok({{"server",
                        {{"id", created.front()},
                         {"links", link_list(ctx.base_url, "/servers/" + created.front())},
                         {"OS-DCF:diskConfig", "MANUAL"},
                         {"security_groups", sec_group_names},
                         {"adminPass", pass}}}},
                      202);
  r.headers.push_back({"Location", ctx.base_url + kCompute + "/servers/" + created.front()});
  return r;
}

// 2.73: lock takes {"locked_reason": "..."} (up to 255 characters), shown as locked_reason.
Result<Reply> lock_action(ApiContext& ctx, const Call& call, const store::Instance& i, bool lock,
                          const json& args) {
  auto by = locked_by(ctx, i);
  if (!by.ok()) return by.error();
  const bool admin = call.who().is_admin();
  const char* action = lock ? "lock" : "unlock";
  if (!args.is_null()) {
    const bool reason_allowed = lock && call.microversion.at_least(2, 73);
    if (!args.is_object()) {
      return bad_request(std::string("Invalid input for field/attribute ") + action +
                         ". Value: " + shown(args) + ". It is not of type 'null'");
    }
    if (auto s = no_extra_fields(args, action,
                                 reason_allowed ? std::vector<const char*>{"locked_reason"}
                                                : std::vector<const char*>{});
        !s.ok()) {
      return s.error();
    }
  }
  if (lock) {
    std::map<std::string, std::optional<std::string>> changes;
    if (!*by) changes["locked_by"] = admin ? "admin" : "owner";
    if (args.is_object() && args.contains("locked_reason")) {
      const json& r = args["locked_reason"];
      if (!r.is_string()) {
        return bad_request("Invalid input for field/attribute locked_reason. Value: " + shown(r) +
                           ". It is not of type 'string'");
      }
      if (auto s = check_text(r.get<std::string>(), "locked_reason", 255); !s.ok())
        return s.error();
      if (!*by) changes["locked_reason"] = r.get<std::string>();
    }
    if (!changes.empty()) {
      if (auto s = ctx.store().update_server_fields(i.uuid, std::nullopt, changes); !s.ok()) {
        return s.error();
      }
    }
    return Reply::ok(nullptr, 202);
  }
  if (*by == std::optional<std::string>("admin") && !admin) {
    return forbidden(
        "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override "
        "to be performed.");
  }
  if (auto s = ctx.store().update_server_fields(
          i.uuid, std::nullopt, {{"locked_by", std::nullopt}, {"locked_reason", std::nullopt}});
      !s.ok()) {
    return s.error();
  }
  return Reply::ok(nullptr, 202);
}

Result<Reply> delete_server(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  if (auto s = check_unlocked(ctx, call, *i); !s.ok()) return s.error();

  // Delete wins over whatever is in flight: the row is DELETED now, and the guest and claims go
  // in the background (or at once when there is no guest).
  auto task = ctx.store().begin_delete(i->uuid);
  if (!task.ok()) {
    return task.error().code == ErrorCode::kNotFound ? server_not_found(i->uuid) : task.error();
  }
  if (*task) ctx.deps.conductor->submit((*task)->id);
  record_instance_action(ctx, call, i->uuid, "delete");
  // begin_delete removed a shelved server's snapshot record; its data goes now.
  if (auto shelved = ctx.store().system_metadata(i->uuid, "shelved_image_id");
      shelved.ok() && *shelved && !(*shelved)->empty()) {
    if (auto s = image::delete_with_data(ctx, **shelved); !s.ok()) {
      spdlog::warn("server {} deleted; the data of its snapshot image {} stays: {}", i->uuid,
                   **shelved, s.error().message);
    }
  }
  return Reply::no_content();
}

// nova's shelve: the server's disk becomes a private snapshot image "<name>-shelved" of its
// project (the base image's properties copied, so that unshelve schedules alike), then the guest
// and its GPUs go (docs/conductor.md). The image record (queued), the task, its task_state and the
// instance's shelved_image_id are one transaction: a crash leaves all or nothing.
Result<Reply> shelve(ApiContext& ctx, const store::Instance& i) {
  store::Image snap;
  if (auto base = ctx.store().get_image(i.image_id); base.ok()) {
    snap.properties = base->properties;
    snap.min_disk = base->min_disk;
    snap.min_ram = base->min_ram;
  }
  snap.id = new_uuid();
  snap.name = (i.name + "-shelved").substr(0, 255);
  snap.owner = i.project_id;
  snap.visibility = store::ImageVisibility::kPrivate;
  snap.disk_format = compute::kSnapshotDiskFormat;
  snap.container_format = "bare";
  snap.properties["image_type"] = "snapshot";
  snap.properties["instance_uuid"] = i.uuid;
  snap.properties["base_image_ref"] = i.image_id;
  snap.properties["user_id"] = i.user_id;
  store::InstanceTransition tr;
  tr.from = {store::ServerStatus::kActive, store::ServerStatus::kShutoff};
  tr.task_state = "shelving";
  auto task = ctx.store().begin_action(i.uuid, tr, "shelve", i.host.value_or(""),
                                       {{"shelved_image_id", snap.id}}, &snap);
  if (!task.ok()) return task.error();
  ctx.deps.conductor->submit(task->id);
  return Reply::ok(nullptr, 202);
}

// nova's os-resetState (admin only): the server's state set by hand to ERROR or ACTIVE and its
// task_state cleared; the guest, host and claims stay as they are (a delete releases them).
// Refused (409) while a task is in flight: the conductor owns the server then.
Result<Reply> reset_state(ApiContext& ctx, Call& call, const store::Instance& i, const json& args) {
  if (!call.who().is_admin()) {
    return forbidden(
        "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.");
  }
  if (!args.is_object() || !args.contains("state") || !args["state"].is_string()) {
    return bad_request(
        "Invalid input for field/attribute os-resetState. 'state' is a required "
        "property");
  }
  if (auto s = no_extra_fields(args, "os-resetState", {"state"}); !s.ok()) return s.error();
  const std::string state = args["state"].get<std::string>();
  if (state != "error" && state != "active") {
    return bad_request("Invalid input for field/attribute state. Value: " + args["state"].dump() +
                       ". '" + state + "' is not one of ['active', 'error']");
  }
  using store::ServerStatus;
  if (i.task_state || (i.status != ServerStatus::kActive && i.status != ServerStatus::kShutoff &&
                       i.status != ServerStatus::kError)) {
    return Error::conflict(fmt::format("Cannot 'os-resetState' instance {} while it is in {} {}",
                                       i.uuid, i.task_state ? "task_state" : "vm_state",
                                       i.task_state ? *i.task_state : i.vm_state));
  }
  store::InstanceTransition tr;
  tr.from = {ServerStatus::kActive, ServerStatus::kShutoff, ServerStatus::kError};
  tr.status = state == "error" ? ServerStatus::kError : ServerStatus::kActive;
  tr.vm_state = state;
  if (auto s = ctx.store().transition_instance(i.uuid, tr); !s.ok()) return s.error();
  return Reply::ok(nullptr, 202);
}

Result<Reply> server_action(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (body->size() != 1) return bad_request("Exactly one action is required.");
  const std::string action = body->begin().key();
  if (action == "lock" || action == "unlock") {
    return lock_action(ctx, call, *i, action == "lock", (*body)[action]);
  }
  // nova lets a locked server's owner open its console.
  if (is_console_action(action)) {
    return legacy_console_action(ctx, call, *i, action, (*body)[action]);
  }
  // nova's network API does not look at the lock either.
  if (action == "addSecurityGroup" || action == "removeSecurityGroup") {
    return security_group_action(ctx, *i, action, (*body)[action]);
  }
  if (action == "os-getConsoleOutput") return console_output_action(ctx, *i, (*body)[action]);
  if (auto s = check_unlocked(ctx, call, *i); !s.ok()) return s.error();
  const auto conflict = [&](const char* what) {
    return Error::conflict(fmt::format("Cannot '{}' instance {} while it is in vm_state {}", what,
                                       i->uuid, i->vm_state));
  };
  using store::ServerStatus;
  std::string kind;
  std::vector<ServerStatus> from;
  std::string unshelve_host;
  if (action == "os-start") {
    kind = "start";
    from = {ServerStatus::kShutoff};
  } else if (action == "os-stop") {
    kind = "stop";
    from = {ServerStatus::kActive, ServerStatus::kError};
  } else if (action == "reboot") {
    const json& args = (*body)["reboot"];
    if (!args.is_object() || !args.contains("type") || !args["type"].is_string()) {
      return bad_request("Invalid input for field/attribute reboot. 'type' is a required property");
    }
    std::string type = args["type"].get<std::string>();
    for (auto& ch : type) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (type != "SOFT" && type != "HARD") {
      return bad_request("Invalid input for field/attribute type. Value: " + args["type"].dump() +
                         ". 'SOFT' or 'HARD' required");
    }
    kind = type == "HARD" ? "reboot_hard" : "reboot";
    from = {ServerStatus::kActive};
    if (type == "HARD")
      from = {ServerStatus::kActive, ServerStatus::kShutoff, ServerStatus::kError};
  } else if (action == "shelve") {
    kind = "shelve";
    from = {ServerStatus::kActive, ServerStatus::kShutoff};
  } else if (action == "unshelve") {
    const json& args = (*body)["unshelve"];
    if (args.is_object() && args.size() == 1 && args.contains("host") &&
        call.microversion.at_least(2, 91)) {
      // 2.91: an admin unshelves onto a chosen host (it must still pass the filters).
      if (!call.who().is_admin()) {
        return forbidden(
            "Policy doesn't allow os_compute_api:os-shelve:unshelve_to_host to be "
            "performed.");
      }
      if (!args["host"].is_string() ||
          !ctx.store().get_compute_host(args["host"].get<std::string>()).ok()) {
        return bad_request("Compute host " + shown(args["host"]) + " could not be found.");
      }
      unshelve_host = args["host"].get<std::string>();
    } else if (!args.is_null() && !(args.is_object() && args.empty())) {
      // nova's availability_zone (2.77) is not built: unshelve lands wherever the scheduler
      // finds room, in the server's own zone.
      const std::string key = args.is_object() ? args.begin().key() : "";
      if (key == "availability_zone" && call.microversion.at_least(2, 77)) {
        return bad_request("Unshelving to a chosen " + key +
                           " is not supported by gpucloud; unshelve without it.");
      }
      const std::string what =
          args.is_object() ? "'" + key + "' was unexpected" : "must be null or an object";
      return bad_request("Invalid input for field/attribute unshelve. " + what);
    }
    kind = "unshelve";
    from = {ServerStatus::kShelvedOffloaded};
  } else if (action == "restore" || action == "forceDelete") {
    // nova's soft delete (reclaim_instance_interval > 0) is not implemented: a delete is
    // immediate, so no server is ever SOFT_DELETED, and nova answers 409 for the other states.
    return conflict(action.c_str());
  } else if (action == "rebuild") {
    return rebuild_server(ctx, call, *i, (*body)["rebuild"]);
  } else if (action == "os-resetState") {
    return reset_state(ctx, call, *i, (*body)["os-resetState"]);
  } else if (action == "shelveOffload") {
    // gpucloud offloads as soon as a server is shelved (nova's shelved_offload_time = 0), so
    // there is never a SHELVED server to offload: nova answers 409 for the other states.
    return conflict("shelveOffload");
  } else {
    return bad_request("There is no such action: " + action);
  }
  const bool needs_host = kind != "unshelve";
  if (std::find(from.begin(), from.end(), i->status) == from.end() || (needs_host && !i->host)) {
    return conflict(kind == "reboot_hard" ? "reboot" : kind.c_str());
  }
  if (kind == "shelve") return shelve(ctx, *i);
  // As nova: the row takes the action's task_state now (a second action gets 409), and the
  // conductor makes the call and sets the final state.
  store::InstanceTransition tr;
  tr.from = from;
  tr.task_state = kind == "unshelve" ? "unshelving" : conductor::power_task_state(kind);
  // An unshelve's requested host holds for this unshelve only ("" clears an earlier one).
  std::map<std::string, std::string> sys;
  if (kind == "unshelve") {
    sys["requested_host"] = unshelve_host;
    sys["force_host"] = "";  // an unshelve is scheduled with the filters, even to its own host
  }
  auto task = ctx.store().begin_action(i->uuid, tr, kind, i->host.value_or(""), sys);
  if (!task.ok()) return task.error();
  ctx.deps.conductor->submit(task->id);
  return Reply::ok(nullptr, 202);
}

// A server action, recorded under nova's action name once accepted (os-resetState is not: nova
// does not record it either).
Result<Reply> recorded_server_action(ApiContext& ctx, Call& call) {
  auto reply = server_action(ctx, call);
  if (!reply.ok() || reply->status != 202) return reply;
  static const std::map<std::string, std::string> kNames = {
      {"os-start", "start"},    {"os-stop", "stop"},   {"reboot", "reboot"},
      {"lock", "lock"},         {"unlock", "unlock"},  {"shelve", "shelve"},
      {"unshelve", "unshelve"}, {"rebuild", "rebuild"}};
  auto body = call.json_body();
  if (body.ok() && body->is_object() && !body->empty()) {
    const auto name = kNames.find(body->begin().key());
    if (name != kNames.end())
      record_instance_action(ctx, call, call.param("server_id"), name->second);
  }
  return reply;
}

}  // namespace

std::vector<Route> compute_server_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  add_compute_metrics(ctx);
  const std::string base = kCompute + "/servers";
  const std::string one = base + "/{server_id}";
  std::vector<Route> r;
  r.push_back({"GET",
               base,
               Service::kCompute,
               "compute:server:read",
               [c](Call& call) { return list_servers(*c, call, false); },
               {}});
  r.push_back({"GET",
               base + "/detail",
               Service::kCompute,
               "compute:server:read",
               [c](Call& call) { return list_servers(*c, call, true); },
               {}});
  r.push_back({"POST",
               base,
               Service::kCompute,
               "compute:server:write",
               [c](Call& call) { return create_server(*c, call); },
               {}});
  r.push_back({"GET",
               one,
               Service::kCompute,
               "compute:server:read",
               [c](Call& call) { return show_server(*c, call); },
               {}});
  r.push_back({"DELETE",
               one,
               Service::kCompute,
               "compute:server:write",
               [c](Call& call) { return delete_server(*c, call); },
               {}});
  r.push_back({"GET",
               one + "/ips",
               Service::kCompute,
               "compute:server:read",
               [c](Call& call) { return server_ips(*c, call, false); },
               {}});
  r.push_back({"GET",
               one + "/ips/{network}",
               Service::kCompute,
               "compute:server:read",
               [c](Call& call) { return server_ips(*c, call, true); },
               {}});
  r.push_back({"GET",
               one + "/os-server-password",
               Service::kCompute,
               "compute:server:read",
               [c](Call& call) { return server_password(*c, call, false); },
               {}});
  r.push_back({"DELETE",
               one + "/os-server-password",
               Service::kCompute,
               "compute:server:write",
               [c](Call& call) { return server_password(*c, call, true); },
               {}});
  r.push_back({"POST",
               one + "/action",
               Service::kCompute,
               "compute:server:write",
               [c](Call& call) { return recorded_server_action(*c, call); },
               {}});
  return r;
}

Status start_conductor(ApiContext& ctx) {
  if (ctx.deps.conductor) return {};
  conductor::Options o;
  o.workers = ctx.deps.conductor_workers;
  o.lease = ctx.deps.task_lease;
  o.notifier = ctx.deps.task_notifier;
  o.service_down_time = std::chrono::seconds(compute_config(ctx)->service_down_time);
  ApiContext* c = &ctx;
  // Shelve snapshots of in-process hosts, and a snapshot that unshelve no longer needs.
  o.import_image = [c](const std::string& id, const std::string& path) {
    return image::import_file(*c, id, path);
  };
  o.delete_image = [c](const std::string& id) { return image::delete_with_data(*c, id); };
  auto made = conductor::Conductor::create(
      ctx.store(), ctx.deps.driver, [c] { return compute_config(*c); }, o);
  if (!made.ok()) return made.error();
  if (auto s = (*made)->start(); !s.ok()) return s;
  std::shared_ptr<conductor::Conductor> owned(std::move(*made));
  ctx.deps.conductor = owned.get();
  ctx.stop_hooks.push_back([owned] { owned->stop(); });
  return {};
}

}  // namespace gpucloud::api
