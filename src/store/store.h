// The store: gpucloud's single source of truth on SQLite (embedded) or MariaDB, behind one class.
// It holds identity, flavors, images, aggregates, compute hosts, instances and nova's pci_devices
// table, and makes GPU and host-resource claims that can never double-allocate, across threads,
// processes and server replicas (see docs/concurrency.md). SQL lives only behind this header.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "store/records.h"

namespace gpucloud::store {

// ---- opening ----

enum class Backend { kSqlite, kMysql };

struct OpenOptions {
  // Apply pending migrations on open (server, `db upgrade`). When false the schema must already be
  // current (or, with allow_old_schema, any known version: `db version`).
  bool migrate = true;
  bool allow_old_schema = false;
  int pool_size = 4;            // connections; each call borrows one
  int busy_timeout_ms = 10000;  // SQLite busy_timeout and the retry budget for lock waits
};

struct SchemaInfo {
  int current = 0;  // 0: empty database
  int latest = 0;   // what this binary knows
};

// ---- claims ----

// Which devices satisfy one alias entry; nullopt fields match anything (nova's alias semantics).
struct DeviceMatch {
  std::optional<VendorId> vendor_id;
  std::optional<ProductId> product_id;
  std::optional<PciDeviceType> dev_type;
};

// `count` devices, each matching any of `matches`, for one nova InstancePCIRequest.
struct DeviceRequest {
  std::string alias;       // for quotas and messages, e.g. "K2_Grid"
  std::string request_id;  // written to pci_devices.request_id
  std::vector<DeviceMatch> matches;
  int count = 1;
  std::vector<int> numa_nodes;  // when non-empty, only devices on these NUMA nodes qualify
};

struct ResourceAmounts {
  int vcpus = 0;
  int64_t memory_mb = 0;
  int64_t disk_gb = 0;
};

struct ClaimRequest {
  std::string instance_uuid;
  std::string project_id;  // for GPU quotas
  std::string host;        // compute host name
  ResourceAmounts resources;
  std::vector<DeviceRequest> devices;
};

struct ClaimResult {
  std::vector<PciDeviceRecord> devices;  // now `claimed` by the instance
  int attempts = 1;                      // transactions tried (retries after lock conflicts)
};

struct PciDeviceFilter {
  std::optional<int64_t> compute_node_id;
  std::optional<std::string> instance_uuid;
  std::optional<PciDeviceStatus> status;
  bool include_deleted = false;
};

struct GpuQuota {
  std::string project_id;
  std::string alias;
  int limit = 0;
};

// ---- agents (agent_tasks.cc) ----

// A compute call for a host that an agent serves: pending until the agent takes it (running),
// then succeeded or failed with the agent's message.
enum class AgentTaskState { kPending, kRunning, kSucceeded, kFailed };
const char* to_string(AgentTaskState s);  // "pending", "running", "succeeded", "failed"

struct AgentTask {
  std::string id;  // uuid; create_agent_task fills it when empty
  std::string host;
  std::string kind;  // "spawn", "destroy", "power_on", "power_off", "reboot"
  std::string instance_uuid;
  std::string payload = "{}";  // JSON text: what the agent needs to run it
  AgentTaskState state = AgentTaskState::kPending;
  std::string message;        // the agent's (or the timeout's) message
  std::string result = "{}";  // JSON text from the agent
  TimePoint created_at{};
  std::optional<TimePoint> taken_at;
  std::optional<TimePoint> finished_at;
};

// The last report of one kind from one host's agent (e.g. kind "orphans"), JSON text.
struct AgentReport {
  std::string host;
  std::string kind;
  std::string report = "{}";
  TimePoint reported_at{};
};

// Thread-safe: every method borrows a pooled connection and runs in its own transaction.
// Errors: kNotFound (no such object), kConflict (duplicate, or not enough free capacity),
// kUnavailable (database unreachable or locked past the retry budget), kInvalidArgument.
class Store {
 public:
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Backend backend() const;
  std::string redacted_url() const;
  Result<SchemaInfo> schema_info();
  static int latest_schema_version();
  Status migrate();  // apply pending migrations (open() does it unless told not to)

  // Identity.
  Status create_project(const Project& p);
  Result<Project> get_project(const std::string& id);
  Result<Project> find_project_by_name(const std::string& name, const std::string& domain_id);
  Result<std::vector<Project>> list_projects();
  Status update_project(const Project& p);
  Status delete_project(const std::string& id);

  Status create_user(const User& u);
  Result<User> get_user(const std::string& id);
  Result<User> find_user_by_name(const std::string& name, const std::string& domain_id);
  Result<std::vector<User>> list_users();
  Status update_user(const User& u);
  Status delete_user(const std::string& id);

  Status assign_role(const RoleAssignment& a);  // idempotent
  Status unassign_role(const RoleAssignment& a);
  // Filters are optional: empty string means any.
  Result<std::vector<RoleAssignment>> list_role_assignments(const std::string& user_id,
                                                            const std::string& project_id);

  Status store_token(const Token& t);
  Result<Token> get_token(const std::string& token_hash);  // revoked/expired ones too
  Status revoke_token(const std::string& token_hash);
  Result<int> delete_expired_tokens(TimePoint now);

  Status create_keypair(const KeyPair& k);
  Result<KeyPair> get_keypair(const std::string& user_id, const std::string& name);
  Result<std::vector<KeyPair>> list_keypairs(const std::string& user_id);
  Status delete_keypair(const std::string& user_id, const std::string& name);

  // Flavors. get/list fill extra_specs.
  Status create_flavor(const Flavor& f);  // writes f.extra_specs too
  Result<Flavor> get_flavor(const std::string& id);
  Result<std::vector<Flavor>> list_flavors();
  Status delete_flavor(const std::string& id);
  Status set_flavor_extra_specs(const std::string& id, const std::map<std::string, std::string>& s);
  Status delete_flavor_extra_spec(const std::string& id, const std::string& key);
  Status add_flavor_access(const std::string& flavor_id, const std::string& project_id);
  Status remove_flavor_access(const std::string& flavor_id, const std::string& project_id);
  Result<std::vector<std::string>> list_flavor_access(const std::string& flavor_id);

  // Images. update_image replaces every field, properties and tags included.
  Status create_image(const Image& i);
  Result<Image> get_image(const std::string& id);
  Result<std::vector<Image>> list_images();
  Status update_image(const Image& i);
  Status delete_image(const std::string& id);

  // Aggregates. create fills the id; availability_zone is also nova's metadata key.
  Result<Aggregate> create_aggregate(const Aggregate& a);
  Result<Aggregate> get_aggregate(int64_t id);
  Result<std::vector<Aggregate>> list_aggregates();
  Status update_aggregate(int64_t id, const std::string& name,
                          const std::optional<std::string>& availability_zone);
  // nullopt values delete keys (nova's set_metadata with null).
  Status set_aggregate_metadata(int64_t id,
                                const std::map<std::string, std::optional<std::string>>& m);
  Status add_aggregate_host(int64_t id, const std::string& host);     // kConflict if present
  Status remove_aggregate_host(int64_t id, const std::string& host);  // kNotFound if absent
  Status delete_aggregate(int64_t id);                                // kConflict if hosts

  // Compute hosts. upsert creates or updates by name (total resources, ratios, reserved,
  // hypervisor type, capabilities) and never touches the *_used columns or enabled/disabled.
  Result<ComputeHost> upsert_compute_host(const ComputeHost& h);
  Result<ComputeHost> get_compute_host(const std::string& name);
  Result<ComputeHost> get_compute_host_by_id(int64_t id);
  Result<std::vector<ComputeHost>> list_compute_hosts();
  Status record_heartbeat(const std::string& name, TimePoint at);
  Status set_compute_host_enabled(const std::string& name, bool enabled, const std::string& reason);
  Status set_compute_host_forced_down(const std::string& name, bool forced_down);
  Status set_doctor_status(const std::string& name, const std::string& text);

  // PCI inventory: the agent reports what it sees on a host. New devices become `available`;
  // known ones keep their status; a vanished free device becomes `removed` (soft-deleted as nova
  // does), a vanished device in use stays until released and is then removed. Logged as events.
  Status sync_pci_devices(const std::string& host, const std::vector<PciDevice>& seen);
  Result<std::vector<PciDeviceRecord>> list_pci_devices(const PciDeviceFilter& filter);
  // Operator action: `unavailable` <-> `available` for a free device.
  Status set_pci_device_available(int64_t device_id, bool available);
  Result<std::vector<PciDeviceEvent>> list_pci_device_events(const std::string& instance_uuid);

  // Instances. delete_instance marks it DELETED (soft delete) and releases its claims.
  Status create_instance(const Instance& i);
  Result<Instance> get_instance(const std::string& uuid);                      // deleted ones too
  Result<std::vector<Instance>> list_instances(const std::string& project_id,  // "" == all
                                               bool include_deleted);
  Status update_instance(const Instance& i);  // every field but uuid and created_at
  Status set_instance_status(const std::string& uuid, ServerStatus status,
                             const std::string& vm_state,
                             const std::optional<std::string>& task_state, PowerState power);
  Status set_instance_host(const std::string& uuid, const std::optional<std::string>& host);
  Status set_instance_fault(const std::string& uuid, const InstanceFault& fault);
  Status set_instance_readiness(const std::string& uuid, Readiness r, const std::string& error);
  Status delete_instance(const std::string& uuid);

  // Claims. claim() takes the host resources and exactly the requested devices for one instance
  // in one transaction, or changes nothing (kConflict naming what was short, kNotFound for an
  // unknown host). allocate_claims: claimed -> allocated when the instance runs. release_claims:
  // every device of the instance -> available and its resources returned (delete, boot failure);
  // idempotent. All transitions are written to pci_device_events.
  Result<ClaimResult> claim(const ClaimRequest& request);
  Status allocate_claims(const std::string& instance_uuid);
  Status release_claims(const std::string& instance_uuid);

  // GPU quotas per project and alias, checked inside claim().
  Status set_gpu_quota(const GpuQuota& q);
  Status delete_gpu_quota(const std::string& project_id, const std::string& alias);
  Result<std::vector<GpuQuota>> list_gpu_quotas(const std::string& project_id);  // "" == all
  // Devices the project holds (claimed or allocated) per alias.
  Result<std::map<std::string, int>> gpu_usage(const std::string& project_id);

  // Agent tasks. take_agent_tasks moves up to `max` of the host's pending tasks, oldest first,
  // to running in one transaction (two servers never hand one task out twice). finish_agent_task
  // records the outcome of a pending or running task: kNotFound for an unknown id or another
  // host's task, kConflict when it already finished (e.g. the caller timed it out).
  Result<AgentTask> create_agent_task(const AgentTask& t);
  Result<AgentTask> get_agent_task(const std::string& id);
  Result<std::vector<AgentTask>> take_agent_tasks(const std::string& host, int max);
  // running -> pending for the host's tasks that nobody answered: the agent polls only when it
  // holds no task, so at its poll these were lost (a dead agent, or an answer sent to a poll
  // whose agent was gone). Returns how many.
  Result<int> requeue_agent_tasks(const std::string& host);
  Status finish_agent_task(const std::string& id, const std::string& host, bool succeeded,
                           const std::string& message, const std::string& result_json);
  Result<std::vector<AgentTask>> list_agent_tasks(const std::string& host);  // "" == all
  Status put_agent_report(const AgentReport& r);  // replaces the host's report of that kind
  Result<std::vector<AgentReport>> list_agent_reports(const std::string& host);  // "" == all

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  friend Result<std::unique_ptr<Store>> open_store(std::string_view url, const OpenOptions&);
  friend struct StoreTestAccess;  // the store's own crash tests (store_impl.h)
  std::unique_ptr<Impl> impl_;
};

// Connects, checks the schema (refusing a newer one, or a database of another application) and
// migrates unless told not to. Errors name the redacted URL.
Result<std::unique_ptr<Store>> open_store(std::string_view url, const OpenOptions& options = {});

// Read-only access to a pci_devices table with nova's columns, in gpucloud's database or in a
// real nova database where the user may only SELECT on that table (the Cloud Controller's
// admission check). Runs nothing but one SELECT; no schema check. Live rows only (deleted = 0).
// A MySQL URL without a database name reads database `nova`, as the seed's gpu_query URL means.
Result<std::vector<PciDeviceRecord>> read_pci_devices(std::string_view url);

// Live pci_devices rows of one product on one compute node in one status.
struct PciDeviceCount {
  ProductId product_id;
  int64_t compute_node_id = 0;
  PciDeviceStatus status = PciDeviceStatus::kAvailable;
  int64_t count = 0;
};

// The admission check's reader: like read_pci_devices, but it keeps its one read-only
// connection between calls (a dropped connection is opened again on the next call) and lets the
// database count, so a check costs one round trip instead of a connection and a table's rows.
class PciDeviceCounter {
 public:
  // Checks the URL; connects on the first count().
  static Result<std::unique_ptr<PciDeviceCounter>> open(std::string_view url);
  ~PciDeviceCounter();
  // One GROUP BY over the live rows of `products` (all products when empty), per compute node
  // when `per_node` (else compute_node_id is 0: fewer groups for the admission check). Statuses
  // this version does not know are errors naming the value.
  Result<std::vector<PciDeviceCount>> count(const std::vector<ProductId>& products,
                                            bool per_node = true);

 private:
  explicit PciDeviceCounter(std::unique_ptr<Store::Impl> impl);
  std::unique_ptr<Store::Impl> impl_;
};

}  // namespace gpucloud::store
