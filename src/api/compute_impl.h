// Internal to api/: helpers shared by the compute (nova v2.1) handlers. Boots, deletes and power
// actions are carried out by the conductor (src/conductor) after the API answered 202.
#pragma once

#include "api/router_impl.h"
#include "conductor/conductor.h"
#include "scheduler/scheduler.h"

namespace gpucloud::api {

inline const std::string kCompute = "/compute/v2.1";
// The server's nova.conf view, or an empty one (no aliases, default filters) when none was given.
std::shared_ptr<const config::NovaConfig> compute_config(const ApiContext& ctx);
// [DEFAULT] default_availability_zone: the zone of hosts in no aggregate with a zone ("nova").
std::string default_zone(const ApiContext& ctx);

// Hosts of the in-process compute driver (up without a heartbeat); empty without one.
std::vector<std::string> driver_host_names(ApiContext& ctx);

// nova's JSON-schema style errors.
Result<json> body_member(const json& body, const char* key);  // body[key] must be an object
Status no_extra_fields(const json& obj, const char* where,
                       std::initializer_list<const char*> known);
Status no_extra_fields(const json& obj, const char* where, const std::vector<const char*>& known);
// A string field, or nullopt when absent; null counts as absent when `nullable`.
Result<std::optional<std::string>> string_field(const json& obj, const char* key, const char* where,
                                                bool nullable = true);
// An integer given as a JSON number or a string of digits (nova's schemas accept both).
Result<std::optional<int64_t>> int_field(const json& obj, const char* key, const char* where,
                                         int64_t min, int64_t max);
Result<std::optional<bool>> bool_field(const json& obj, const char* key, const char* where);

json link_list(const std::string& base, const std::string& path);
// compute_server_fields.cc: POST /servers' accessIPv4/v6, networks and security_groups, which
// gpucloud does not use, validated as nova does (400 naming the field).
// Versioned as nova: from 2.37 `networks` is required ("auto" accepted), device tags at 2.32-2.36
// and from 2.42.
Status check_unused_server_fields(const json& server, const Microversion& mv);
// A server's metadata (create and rebuild): an object of 1-255 character keys and 0-255
// character printable string values (400 naming the field otherwise).
Result<std::map<std::string, std::string>> metadata_field(const json& metadata);
// user_data (create, 2.57 rebuild): base64 of at most 65535 characters (400 otherwise).
Status check_user_data(const std::string& user_data);
// nova's uuid format: 32 hex digits, dashes optional where a UUID has them.
bool is_nova_uuid(const std::string& s);
// An IP address as nova stores it (its IPAddress column type): the canonical text form, e.g.
// "::babe:220.12.22.2" is "::babe:dc0c:1602". Anything not an address is returned as given.
std::string canonical_ip(const std::string& address);
// nova's timestamps: "2026-12-03T07:00:15Z".
std::string nova_time(store::TimePoint t);

struct ReportedAddress;  // agent_guests_impl.h
// nova's addresses: {network name: [{"version", "addr", "OS-EXT-IPS:type", mac}]}: the address
// and network the host's agent last reported (libvirt's network name), else the address the
// spawn gave, under the guest network its host reports (`host_network`), else "private".
json addresses_json(const store::Instance& i, const ReportedAddress* reported,
                    const std::string& host_network = "");
// nova's sanitize_hostname of a display name ("server-<uuid>" when nothing is left).
std::string sanitize_hostname(const std::string& name, const std::string& uuid);
// The guest's hostname: set by 2.90's hostname, else the sanitized name.
std::string server_hostname(const store::Instance& i);
json server_tags(const store::Instance& i);  // 2.26

// compute_servers.cc: the server of the path's {server_id} if the caller may act on it (own
// project, or admin); others' and deleted ones are nova's 404.
Error server_not_found(const std::string& id);
Result<store::Instance> owned_server(ApiContext& ctx, const Call& call);
// nova's lock: kConflict when `i` is locked and the caller is no admin.
Status check_unlocked(ApiContext& ctx, const Call& call, const store::Instance& i);
// os-getVNCConsole, os-getSPICEConsole, os-getRDPConsole, os-getSerialConsole
// (compute_consoles.cc).
bool is_console_action(const std::string& action);
// os-getConsoleOutput (compute_console_output.cc).
Result<Reply> console_output_action(ApiContext& ctx, const store::Instance& i, const json& args);
Result<Reply> legacy_console_action(ApiContext& ctx, Call& call, const store::Instance& i,
                                    const std::string& action, const json& args);
// nova's proxy APIs (images, security groups) end at 2.35: from 2.36 on each of `routes` answers
// 404 as nova does (compute_images.cc).
void end_at_2_35(std::vector<Route>& routes);
// compute_security_groups.cc: the ids of the groups POST /servers names in `server` (names or
// ids; the project's default when none; 400 for one that is not there); the addSecurityGroup
// and removeSecurityGroup actions; a server's `security_groups` field ([{"name"}], empty when
// it is in none).
Result<std::vector<std::string>> server_security_groups(ApiContext& ctx, const json& server,
                                                        const std::string& project_id);
Result<Reply> security_group_action(ApiContext& ctx, const store::Instance& i,
                                    const std::string& action, const json& args);
// `names`: the server's group names when already read (a list reads them all in one query).
json server_security_groups_json(ApiContext& ctx, const store::Instance& i,
                                 const std::vector<std::string>* names = nullptr);
// compute_networks.cc: the name of the guest network whose os-networks id is `id` (a boot's
// networks: [{"uuid"}]); kNotFound when no host has it.
Result<std::string> network_for_id(ApiContext& ctx, const std::string& id);
// compute_instance_actions.cc: records that the caller's request did `action` (nova's name) to
// the server, for os-instance-actions; called once the request has been accepted.
void record_instance_action(ApiContext& ctx, const Call& call, const std::string& instance_uuid,
                            const std::string& action);
// compute_server_rebuild.cc: the rebuild action of server `i` (the caller may act on it, and it
// is not locked against them).
Result<Reply> rebuild_server(ApiContext& ctx, Call& call, const store::Instance& i,
                             const json& args);
// compute_server_edit.cc: fields of later microversions, validated as nova (400s naming them).
Result<std::optional<std::string>> description_field(const json& body);  // 2.19
Status check_tag(const std::string& tag);                                // 2.26
Result<std::vector<std::string>> tag_list(const json& v, const char* where);
Status check_hostname(const json& v, const Microversion& mv);  // 2.90, FQDN from 2.94

// kBrief: id, name, links (GET /servers). kList and kShow: every field of the microversion
// (kShow adds 2.71's server_groups). kUpdate: PUT's answer, nova's core fields only below 2.75
// (addresses without their OS-EXT-IPS attributes); kRebuild: rebuild's, the same plus key_name
// from 2.54 and user_data from 2.57.
enum class ServerView { kBrief, kList, kShow, kUpdate, kRebuild };

// Servers as nova shows them at the call's microversion (compute_server_view.cc), for one
// request: the flavors, host states and image properties some fields need are read once.
// `gpucloud:readiness` appears only when the server runs the Cloud Controller, which sets it.
class ServerViews {
 public:
  ServerViews(ApiContext& ctx, const Call& call);
  json show(const store::Instance& i, ServerView view, const ReportedAddress* reported = nullptr);
  // Reads the security group names of the project's servers ("" every project's) in one query,
  // for a list; without it each server's are read when shown.
  void prefetch_security_groups(const std::string& project_id);

 private:
  json flavor_view(const store::Instance& i);
  const store::Flavor* flavor(const std::string& id);
  std::string host_status(const std::string& host);
  std::optional<std::string> image_property(const std::string& image_id, const std::string& key);

  ApiContext& ctx_;
  const Call& call_;
  std::optional<std::map<std::string, store::Flavor>> flavors_;
  std::optional<std::map<std::string, std::string>> host_states_;
  // The guest network of each host this request met (the label of an unreported address).
  const std::string& host_network(const std::string& host);
  std::map<std::string, std::string> host_networks_;
  std::map<std::string, std::map<std::string, std::string>> images_;
  std::optional<std::map<std::string, std::vector<std::string>>> security_groups_;
};
// GET /servers and /servers/detail with nova's filters, sorting and paging
// (compute_server_list.cc).
Result<Reply> list_servers(ApiContext& ctx, Call& call, bool detail);
// A flavor as nova shows it at `mv`: 2.55 description, 2.61 extra_specs, 2.75 swap 0 for none.
json flavor_json(const store::Flavor& f, const std::string& base, bool detail,
                 const Microversion& mv);

// Validates extra specs as the flavor API stores them: key shape, value length, and the keys
// gpucloud acts on (pci_passthrough:alias names configured aliases, hw_video:ram_max_mb an
// integer). The message names the key.
Status validate_extra_specs(const std::map<std::string, std::string>& specs,
                            const AliasTable& aliases);
// extra_spec_rules.cc: microversion 2.86's check of the keys nova knows (their values' kinds,
// limits and formats) and of unknown keys in nova's namespaces (400).
Status validate_known_extra_specs(const std::map<std::string, std::string>& specs);

// Turns a server's flavor and image into the scheduler's request; errors are 400s.
Result<scheduler::RequestSpec> request_spec_for(const store::Flavor& flavor,
                                                const store::Image& image,
                                                const std::string& availability_zone,
                                                const config::NovaConfig& config);

// Registers the compute gauges (GPUs per alias/host and state) and counters on ctx.metrics.
void add_compute_metrics(ApiContext& ctx);

// compute_gpus.cc: per project and alias, the GPUs its servers run on (in_use: allocated), those
// being claimed for its boots (reserved) and its quota; "" == every project. Projects with a quota
// appear even when they hold nothing.
struct ProjectGpuUsage {
  std::string project_id;
  std::string alias;
  int in_use = 0;
  int reserved = 0;
  std::optional<int> quota;
};
Result<std::vector<ProjectGpuUsage>> project_gpu_usage(ApiContext& ctx,
                                                       const std::string& project_id);

}  // namespace gpucloud::api
