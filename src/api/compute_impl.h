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
Status check_unused_server_fields(const json& server);
// nova's timestamps: "2026-12-03T07:00:15Z".
std::string nova_time(store::TimePoint t);

struct ReportedAddress;  // agent_guests_impl.h
// A server as nova shows it (compute_servers.cc); detail adds the OS-EXT-* fields, and
// `addresses` from the agent's report when there is one. `gpucloud:readiness` appears only when
// the server runs the Cloud Controller, which is what sets it.
json server_json(const ApiContext& ctx, const store::Instance& i, const Caller& who, bool detail,
                 const ReportedAddress* reported = nullptr);
// GET /servers and /servers/detail with nova's filters, sorting and paging
// (compute_server_list.cc).
Result<Reply> list_servers(ApiContext& ctx, Call& call, bool detail);
json flavor_json(const store::Flavor& f, const std::string& base, bool detail);

// Validates extra specs as the flavor API stores them: key shape, value length, and the keys
// gpucloud acts on (pci_passthrough:alias names configured aliases, hw_video:ram_max_mb an
// integer). The message names the key.
Status validate_extra_specs(const std::map<std::string, std::string>& specs,
                            const AliasTable& aliases);

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
