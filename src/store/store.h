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
  // When non-empty (`count` of them): exactly these devices, the ones the scheduler chose to keep
  // a multi-device request in one group; any of them taken meanwhile is a conflict.
  std::vector<PciAddress> addresses;
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
  // The instance's server group, when it has one: its policy is checked again inside the claim's
  // transaction against the other members' claims (kConflict when the host breaks it), with the
  // group's row written, so that two claims for one group never both pass on the same view.
  std::string server_group;
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

// A token with what it grants now (token_grants.cc). Validation checks these rather than the
// roles the token was issued with, so that a removed role, a disabled user or project takes
// effect at the next request on every server replica: keystone's revocation semantics.
struct TokenGrant {
  Token token;  // with oauth_access_token_id for a delegated token
  User user;
  std::optional<Project> project;  // the scope's project; nullopt when unscoped or gone
  std::vector<std::string> roles;  // the user's role assignments on that project now
  // A delegated token (OAuth1): the roles its access token names, empty when the access token
  // is gone or expired; it grants those of `roles` only (api validate_token).
  std::optional<std::vector<std::string>> delegated_roles;
  std::optional<std::string> oauth_consumer_id;
};

// Failed password logins of one user since the last success (keystone's failed_auth_count and
// failed_auth_at), for [security_compliance] lockout_failure_attempts / lockout_duration.
struct LoginFailures {
  int count = 0;
  std::optional<TimePoint> last_at;
};

struct GpuQuota {
  std::string project_id;
  std::string alias;
  int limit = 0;
};

// ---- nova's quotas (os-quota-sets, quotas.cc) ----

// One of nova's quota resources at microversion 2.1, with nova.conf's [quota] default.
struct QuotaResource {
  std::string_view name;
  int64_t default_limit;
};
// nova's resources at 2.1 (instances, cores, ram, ..., security_group_rules), in nova's order.
const std::vector<QuotaResource>& quota_resources();
bool is_quota_resource(std::string_view name);
// resource -> limit; -1 is unlimited.
using QuotaLimits = std::map<std::string, int64_t>;
// What a project (or one user in it) holds: its servers that are not deleted, their flavors'
// vCPUs and RAM, and the user's key pairs (nova counts key pairs per user).
struct QuotaUsage {
  int64_t instances = 0;
  int64_t cores = 0;
  int64_t ram = 0;
  int64_t key_pairs = 0;
  int64_t server_groups = 0;
  int64_t security_groups = 0;
};
// What one new server asks of its project's instances, cores and ram quotas.
struct InstanceQuotaRequest {
  int64_t cores = 0;
  int64_t ram = 0;
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

// A console token (console_tokens.cc): which guest console it opens and until when. The token
// itself is never stored, only its SHA-256 (hex).
struct ConsoleToken {
  std::string token_hash;
  std::string instance_uuid;
  std::string console_type;  // "spice-html5"
  std::string host;          // the instance's compute host when the token was made
  std::string console_host;  // where the relay connects
  int console_port = 0;
  TimePoint expires_at{};
};

// ---- the conductor's durable tasks (lifecycle.cc) ----

// One boot, delete, stop, start or reboot of an instance that the conductor carries out. The row
// is the task's whole memory: any replica can take it over when its owner's lease runs out and
// go on from `step` (docs/conductor.md has the state machine).
struct LifecycleTask {
  std::string id;  // uuid; filled by the store when empty
  std::string instance_uuid;
  // "boot", "delete", "stop", "start", "reboot", "reboot_hard", "shelve", "unshelve"
  std::string kind;
  std::string step;  // the next step to run, e.g. "schedule", "spawn", "activate", "undo"
  std::optional<std::string> host;
  std::optional<std::string> agent_task_id;  // the agent call this task waits for, if any
  std::optional<std::string> owner;          // the replica running it; none: anyone may take it
  std::optional<TimePoint> lease_until;
  int attempts = 0;  // how many times a replica took it (more than 1: resumed after a crash)
  TimePoint created_at{};
  TimePoint updated_at{};
};

// A compare-and-set on an instance's state (nova's expected_task_state): the change applies only
// when the row is in one of `from` and, when `from_task` is set, has that task_state ("" means
// none); otherwise nothing changes and the call returns kConflict.
struct InstanceTransition {
  std::vector<ServerStatus> from;
  std::optional<std::string> from_task;
  std::optional<ServerStatus> status;  // each of these three is written when set
  std::optional<std::string> vm_state;
  std::optional<PowerState> power;
  std::optional<std::string> task_state;  // always written: nullopt is none (NULL)
  std::optional<std::string> host;        // written when set
  bool clear_host = false;                // host = NULL (a shelve offload left its host)
  std::optional<std::string> ip_address;  // written when set
  std::optional<std::string> image_id;    // written when set (a rebuild's new image)
  std::optional<std::string> name;        // written when set (a rebuild's new name)
  std::optional<std::string> key_name;    // written when set (2.54 rebuild; "" for none)
  std::optional<std::string> user_data;   // written when set (2.57 rebuild; "" for none)
  // Replaces the instance's metadata when set (a rebuild's), once the state matched.
  std::optional<std::map<std::string, std::string>> metadata;
  std::optional<InstanceFault> fault;  // written when set
  bool stamp_launched = false;         // launched_at = now
};

// What the fleet view reads every tick to see which hosts changed (claims, releases,
// registrations, aggregate and state changes bump the generation) and which are alive.
struct HostGeneration {
  int64_t id = 0;
  std::string name;
  int64_t generation = 0;
  std::optional<TimePoint> heartbeat_at;
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

  // Identity. Domains: a name is unique (kConflict); delete_domain refuses "default" and an
  // enabled domain (kForbidden, as keystone) and deletes the domain's
  // projects and users with it.
  Status create_domain(const Domain& d);
  Result<Domain> get_domain(const std::string& id);
  Result<std::vector<Domain>> list_domains();
  Status update_domain(const Domain& d);
  Status delete_domain(const std::string& id);
  // Roles: a global role's name is unique among global roles, a domain-specific role's within
  // its domain (kConflict; create_role wants the domain: kNotFound); renaming a global role
  // renames its assignments, deleting a role deletes them, its inference rules, and revokes the
  // tokens of the users who held it. list_roles lists both kinds; deleting a domain deletes its
  // roles.
  Status create_role(const Role& r);
  Result<Role> get_role(const std::string& id);
  Result<std::vector<Role>> list_roles();
  Status update_role(const Role& r);
  Status delete_role(const std::string& id);
  // Role inference rules (implied_roles.cc). create: kNotFound without either role (the message
  // names it), kForbidden for the admin role as the implied one, a global role implying a
  // domain-specific one, or a rule that would close a cycle; kConflict when it exists. delete:
  // kNotFound without the roles or the rule, kForbidden for keystone's built-in admin -> member
  // and member -> reader. list: one prior role's rules (kNotFound without it), or all for "".
  Status create_implied_role(const RoleInference& r);
  Status delete_implied_role(const RoleInference& r);
  Result<std::vector<RoleInference>> list_implied_roles(const std::string& prior_role_id);

  // Projects with their parent and tags (project_hierarchy.cc). A parent must be a project of the
  // same domain (kNotFound, kInvalidArgument); update_project replaces the tags and keeps the
  // parent; delete_project refuses a project that has children (kForbidden, as keystone).
  Status create_project(const Project& p);
  Result<Project> get_project(const std::string& id);
  Result<Project> find_project_by_name(const std::string& name, const std::string& domain_id);
  Result<std::vector<Project>> list_projects();
  Status update_project(const Project& p);
  Status delete_project(const std::string& id);
  // The ids of the projects whose parent is `id`.
  Result<std::vector<std::string>> list_child_projects(const std::string& id);

  Status create_user(const User& u);
  Result<User> get_user(const std::string& id);
  Result<User> find_user_by_name(const std::string& name, const std::string& domain_id);
  Result<std::vector<User>> list_users();
  Status update_user(const User& u);
  Status delete_user(const std::string& id);

  // Groups (identity_groups.cc): a name is unique in its domain (kConflict); create_group
  // wants the domain (kNotFound). Deleting a group, its user or its domain removes the
  // memberships and the group's roles. Removing a member, or deleting a group, revokes the
  // member's tokens on the projects where the group holds a role. add_group_member is idempotent;
  // it and the lists are kNotFound without the group or the user (the message names which);
  // remove_group_member is kNotFound when the user is no member.
  Status create_group(const Group& g);
  Result<Group> get_group(const std::string& id);
  Result<std::vector<Group>> list_groups();
  Status update_group(const Group& g);  // name and description
  Status delete_group(const std::string& id);
  Status add_group_member(const std::string& group_id, const std::string& user_id);
  Status remove_group_member(const std::string& group_id, const std::string& user_id);
  Result<bool> is_group_member(const std::string& group_id, const std::string& user_id);
  Result<std::vector<User>> list_group_users(const std::string& group_id);  // by name
  Result<std::vector<Group>> list_user_groups(const std::string& user_id);  // by name

  // keystone's catalog (identity_catalog.cc). Deleting a service deletes its endpoints.
  Status create_service(const CatalogService& s);
  Result<CatalogService> get_service(const std::string& id);
  Result<std::vector<CatalogService>> list_services();
  Status update_service(const CatalogService& s);
  Status delete_service(const std::string& id);
  // Regions: an id is unique (kConflict), a parent must exist (kNotFound naming it) and may not
  // be the region itself or below it (kInvalidArgument). Deleting a region deletes the regions
  // below it, as keystone, unless one of them or it has endpoints (kForbidden).
  Status create_region(const Region& r);
  Result<Region> get_region(const std::string& id);
  Result<std::vector<Region>> list_regions();
  Status update_region(const Region& r);
  Status delete_region(const std::string& id);
  // Endpoints: the service and the region must exist (kInvalidArgument naming which), unless
  // `create_region`: then a missing region is created with the endpoint (keystone's legacy
  // `region` attribute does that).
  Status create_endpoint(const Endpoint& e, bool create_region = false);
  Result<Endpoint> get_endpoint(const std::string& id);
  Result<std::vector<Endpoint>> list_endpoints();
  Status update_endpoint(const Endpoint& e, bool create_region = false);
  Status delete_endpoint(const std::string& id);

  // Endpoint groups and project associations (endpoint_groups.cc). The associations go with the
  // group, the endpoint or the project they name. add_* are idempotent and kNotFound naming what
  // is missing; remove_* are kNotFound when there is no such association.
  Status create_endpoint_group(const EndpointGroup& g);
  Result<EndpointGroup> get_endpoint_group(const std::string& id);
  Result<std::vector<EndpointGroup>> list_endpoint_groups();
  Status update_endpoint_group(const EndpointGroup& g);
  Status delete_endpoint_group(const std::string& id);
  Status add_endpoint_group_to_project(const std::string& group_id, const std::string& project_id);
  Status remove_endpoint_group_from_project(const std::string& group_id,
                                            const std::string& project_id);
  Result<bool> endpoint_group_in_project(const std::string& group_id,
                                         const std::string& project_id);
  Result<std::vector<std::string>> endpoint_group_project_ids(const std::string& group_id);
  Result<std::vector<EndpointGroup>> project_endpoint_groups(const std::string& project_id);
  Status add_endpoint_to_project(const std::string& endpoint_id, const std::string& project_id);
  Status remove_endpoint_from_project(const std::string& endpoint_id,
                                      const std::string& project_id);
  Result<bool> endpoint_in_project(const std::string& endpoint_id, const std::string& project_id);
  Result<std::vector<std::string>> endpoint_project_ids(const std::string& endpoint_id);
  Result<std::vector<std::string>> project_endpoint_ids(const std::string& project_id);

  // keystone's domain configurations (domain_configs.cc); every call is kNotFound without the
  // domain. replace: the domain's options become `options`. update: each of `options` is set,
  // the others stay; with `existing_group` (and `existing_option`) that group (option) must be
  // set already (kNotFound otherwise), checked in the same transaction. list: the options of the
  // domain, of one group or one option ("" for any), by group and option, sensitive ones
  // included. delete: the rows that matched (0 when none). The rows go with their domain.
  Status replace_domain_config(const std::string& domain_id,
                               const std::vector<DomainConfigOption>& options);
  Status update_domain_config(const std::string& domain_id,
                              const std::vector<DomainConfigOption>& options,
                              const std::string& existing_group = "",
                              const std::string& existing_option = "");
  Result<std::vector<DomainConfigOption>> list_domain_config(const std::string& domain_id,
                                                             const std::string& group = "",
                                                             const std::string& option = "");
  Result<int> delete_domain_config(const std::string& domain_id, const std::string& group = "",
                                   const std::string& option = "");

  Status assign_role(const RoleAssignment& a);  // idempotent
  Status unassign_role(const RoleAssignment& a);
  // Filters are optional: empty string means any.
  Result<std::vector<RoleAssignment>> list_role_assignments(const std::string& user_id,
                                                            const std::string& project_id);
  // Roles on projects held by groups (project_group_roles.cc): every member of the group holds
  // them there. assign is idempotent and kNotFound without the project or group (the message
  // names which); unassign is kNotFound when there was none and revokes the tokens of the
  // group's members on the project (keystone's revoke_by_grant). Filters: "" means any.
  Status assign_group_role(const GroupRoleAssignment& a);
  Status unassign_group_role(const GroupRoleAssignment& a);
  Result<std::vector<GroupRoleAssignment>> list_group_role_assignments(
      const std::string& project_id, const std::string& group_id);
  // What a user holds on a project now: its own roles and its groups', each name once, sorted.
  // Token issue and get_token_grant read the same query.
  Result<std::vector<std::string>> user_project_roles(const std::string& user_id,
                                                      const std::string& project_id);
  // The ids of the projects where the user holds a role, its own or through a group, sorted.
  Result<std::vector<std::string>> list_user_project_ids(const std::string& user_id);
  // keystone's credentials and policies (identity_credentials.cc): stored blobs. A credential
  // needs its user and, when it names one, its project (kNotFound); it goes with either.
  // list_credentials filters by user and type ("" for any).
  Status create_credential(const Credential& c);
  Result<Credential> get_credential(const std::string& id);
  Result<std::vector<Credential>> list_credentials(const std::string& user_id,
                                                   const std::string& type);
  Status update_credential(const Credential& c);
  Status delete_credential(const std::string& id);
  Status create_identity_policy(const IdentityPolicy& p);
  Result<IdentityPolicy> get_identity_policy(const std::string& id);
  Result<std::vector<IdentityPolicy>> list_identity_policies();
  Status update_identity_policy(const IdentityPolicy& p);
  Status delete_identity_policy(const std::string& id);

  // Roles on domains, held by users or groups (domain_roles.cc). assign is idempotent and
  // kNotFound without the domain, user or group; unassign is kNotFound when there was none.
  Status assign_domain_role(const DomainRoleAssignment& a);
  Status unassign_domain_role(const DomainRoleAssignment& a);
  // Filters are optional: empty string means any (user_id and group_id select the holder).
  Result<std::vector<DomainRoleAssignment>> list_domain_role_assignments(
      const std::string& domain_id, const std::string& user_id, const std::string& group_id);
  // Roles on the system, held by users or groups (system_roles.cc): stored and listed only, since
  // no system-scoped token is issued. assign is idempotent and kNotFound without the user or
  // group; unassign is kNotFound when there was none. Filters: "" means any.
  Status assign_system_role(const SystemRoleAssignment& a);
  Status unassign_system_role(const SystemRoleAssignment& a);
  Result<std::vector<SystemRoleAssignment>> list_system_role_assignments(
      const std::string& user_id, const std::string& group_id);
  // The enabled domains where the user holds a role, its own or one of its groups', by name.
  Result<std::vector<Domain>> list_user_domains(const std::string& user_id);

  // Revocation: update_user revokes the user's tokens when the password changes or the user is
  // disabled; update_project revokes a project's tokens when it is disabled; unassign_role
  // revokes the user's tokens on that project; deleting a user or project deletes its tokens.
  Status store_token(const Token& t);
  Result<Token> get_token(const std::string& token_hash);  // revoked/expired ones too
  // The token, its user and project and the user's current roles there (its own and its
  // groups'), read together in one transaction (kNotFound: no such token, or its user is gone).
  Result<TokenGrant> get_token_grant(const std::string& token_hash);
  Status revoke_token(const std::string& token_hash);
  Result<LoginFailures> get_login_failures(const std::string& user_id);
  Result<LoginFailures> record_login_failure(const std::string& user_id, TimePoint at);
  Status clear_login_failures(const std::string& user_id);
  Result<int> delete_expired_tokens(TimePoint now);

  // OAuth1 (oauth1.cc). Deleting a consumer deletes its request and access tokens; deleting an
  // access token revokes the tokens made from it (and a token whose access token is gone or
  // expired grants nothing: get_token_grant). authorize_request_token is kConflict when the
  // token was authorized already, kNotFound when it is gone or expired; exchange_request_token
  // turns an authorized request token into `access` once (kNotFound the second time).
  // use_oauth_nonce is kConflict for a nonce the consumer used before (a replay).
  Status create_oauth_consumer(const OAuthConsumer& c);
  Result<OAuthConsumer> get_oauth_consumer(const std::string& id);
  Result<std::vector<OAuthConsumer>> list_oauth_consumers();
  Status update_oauth_consumer(const OAuthConsumer& c);  // the description
  Status delete_oauth_consumer(const std::string& id);
  Status create_request_token(const OAuthRequestToken& t);
  Result<OAuthRequestToken> get_request_token(const std::string& id);
  Status authorize_request_token(const std::string& id, const std::string& user_id,
                                 const std::vector<std::string>& roles, const std::string& verifier,
                                 TimePoint now);
  Status exchange_request_token(const std::string& request_token_id,
                                const OAuthAccessToken& access);
  Result<OAuthAccessToken> get_access_token(const std::string& id);
  Result<std::vector<OAuthAccessToken>> list_user_access_tokens(const std::string& user_id);
  Status delete_access_token(const std::string& id);
  Status use_oauth_nonce(const std::string& consumer_id, const std::string& nonce, TimePoint at);

  Status create_keypair(const KeyPair& k);
  Result<KeyPair> get_keypair(const std::string& user_id, const std::string& name);
  Result<std::vector<KeyPair>> list_keypairs(const std::string& user_id);
  Status delete_keypair(const std::string& user_id, const std::string& name);

  // Flavors. get/list fill extra_specs.
  Status create_flavor(const Flavor& f);  // writes f.extra_specs too
  Result<Flavor> get_flavor(const std::string& id);
  Result<std::vector<Flavor>> list_flavors();
  Status delete_flavor(const std::string& id);
  Status set_flavor_description(const std::string& id, const std::string& description);  // 2.55
  Status set_flavor_extra_specs(const std::string& id, const std::map<std::string, std::string>& s);
  Status delete_flavor_extra_spec(const std::string& id, const std::string& key);
  Status add_flavor_access(const std::string& flavor_id, const std::string& project_id);
  Status remove_flavor_access(const std::string& flavor_id, const std::string& project_id);
  Result<std::vector<std::string>> list_flavor_access(const std::string& flavor_id);

  // Images. update_image replaces the metadata (name, owner, visibility, formats, minimums,
  // flags, properties, tags) and keeps the status and data as stored; update_image_data writes
  // only those (status, size, virtual_size, checksums, location), and only while the image is
  // still `from` (else kConflict; kNotFound when it is gone). A metadata edit racing an upload
  // thus never writes back a status or location read before the upload finished, an upload never
  // drops an edit made while it streamed, and of two uploads begun at once one wins.
  Status create_image(const Image& i);
  Result<Image> get_image(const std::string& id);
  Result<std::vector<Image>> list_images();
  Status update_image(const Image& i);
  Status update_image_data(const Image& i, ImageStatus from);
  Status delete_image(const std::string& id);  // its members go with it
  // Compare-and-set of the status alone (deactivate, reactivate): kConflict when the image is
  // no longer in `from`, kNotFound when it is gone.
  Status set_image_status(const std::string& id, ImageStatus from, ImageStatus to);

  // Image members (image_members.cc). add: kNotFound without the image, kConflict when the
  // project is a member already, kPayloadTooLarge when the image has `max_members` already
  // (counted under the image row's lock, so concurrent adds cannot pass the limit together).
  Status add_image_member(const ImageMember& m, size_t max_members);
  Result<ImageMember> get_image_member(const std::string& image_id, const std::string& member_id);
  Result<std::vector<ImageMember>> list_image_members(const std::string& image_id);
  // Every membership of one project (for image lists: which shared images it may see).
  Result<std::vector<ImageMember>> list_memberships(const std::string& member_id);
  // The member's new status; returns the updated row (kNotFound when it is not a member).
  Result<ImageMember> set_image_member_status(const std::string& image_id,
                                              const std::string& member_id,
                                              ImageMemberStatus status);
  Status delete_image_member(const std::string& image_id, const std::string& member_id);

  // glance's metadata definitions (metadefs.cc), namespaces by name. create writes the
  // namespace with its associations and items, all or nothing (kConflict: the name, or an item's
  // or association's, is taken); an association's unknown resource type is created with it.
  // update_metadef_namespace replaces every field, the name included (kConflict when the new one
  // is taken). Deleting a protected namespace is kForbidden; it takes everything it holds along.
  Status create_metadef_namespace(const MetadefNamespace& ns,
                                  const std::vector<MetadefAssociation>& associations,
                                  const std::vector<MetadefItem>& items);
  Result<MetadefNamespace> get_metadef_namespace(const std::string& name);
  Result<std::vector<MetadefNamespace>> list_metadef_namespaces();  // oldest first
  Status update_metadef_namespace(const std::string& name, const MetadefNamespace& ns);
  Status delete_metadef_namespace(const std::string& name);
  // Objects, properties and tags of a namespace (kNotFound without it). add_metadef_items adds
  // `items` as `kind`, all or nothing (kConflict on a taken name); `replace` first deletes the
  // namespace's items of that kind (glance's create-tags without X-Openstack-Append).
  // update_metadef_item renames and redefines the item called `name`. delete_metadef_items
  // (all of one kind) is kForbidden in a protected namespace.
  Result<std::vector<MetadefItem>> list_metadef_items(const std::string& ns, MetadefKind kind);
  Result<MetadefItem> get_metadef_item(const std::string& ns, MetadefKind kind,
                                       const std::string& name);
  Status add_metadef_items(const std::string& ns, MetadefKind kind,
                           const std::vector<MetadefItem>& items, bool replace = false);
  Status update_metadef_item(const std::string& ns, const std::string& name,
                             const MetadefItem& item);
  Status delete_metadef_item(const std::string& ns, MetadefKind kind, const std::string& name);
  Status delete_metadef_items(const std::string& ns, MetadefKind kind);
  // Resource types (by name) and a namespace's associations with them: add is kConflict when
  // the two are associated already, delete kNotFound when they are not.
  Result<std::vector<MetadefResourceType>> list_metadef_resource_types();
  Result<std::vector<MetadefAssociation>> list_metadef_associations(const std::string& ns);
  Status add_metadef_association(const std::string& ns, const MetadefAssociation& a);
  Status delete_metadef_association(const std::string& ns, const std::string& resource_type);

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
  Status record_heartbeats(const std::vector<std::string>& names, TimePoint at);  // one UPDATE
  // Console tokens: create also drops every expired one; get is kNotFound for a token that is
  // unknown or expired at `now`; delete drops an instance's tokens (its console is gone).
  Status create_console_token(const ConsoleToken& t);
  Result<ConsoleToken> get_console_token(const std::string& token_hash, TimePoint now);
  Status delete_console_tokens(const std::string& instance_uuid);

  // Fixed IPs reserved on a guest network (fixed_ips.cc; os-fixed-ips reserve/unreserve). Both
  // are idempotent, as nova's flag is. The list is by address, of one network or ("") of all.
  Status set_fixed_ip_reserved(const std::string& network, const std::string& address,
                               bool reserved);
  Result<std::vector<std::pair<std::string, std::string>>> list_fixed_ip_reservations(
      const std::string& network = "");
  // When the host last booted, as its agent reports it; nullopt when it never said.
  Status record_host_boot(const std::string& name, TimePoint booted_at);
  Result<std::optional<TimePoint>> host_booted_at(const std::string& name);
  Status set_compute_host_enabled(const std::string& name, bool enabled, const std::string& reason);
  Status set_compute_host_forced_down(const std::string& name, bool forced_down);
  Status set_doctor_status(const std::string& name, const std::string& text);

  // PCI inventory: the agent reports what it sees on a host. New devices become `available`;
  // known ones keep their status; a vanished free device becomes `removed` (soft-deleted as nova
  // does), a vanished device in use stays until released and is then removed. Logged as events.
  // `extra_info`: JSON text per address (the device spec's tags, e.g. one_time_use), written to
  // new and known rows.
  Status sync_pci_devices(const std::string& host, const std::vector<PciDevice>& seen,
                          const std::map<PciAddress, std::string>& extra_info = {});
  Result<std::vector<PciDeviceRecord>> list_pci_devices(const PciDeviceFilter& filter);
  // Operator action: `unavailable` <-> `available` for a free device. Making it available
  // clears the reason it was unavailable.
  Status set_pci_device_available(int64_t device_id, bool available);
  // Why devices are unavailable (a failed cleaning, one_time_use), by device id.
  Result<std::map<int64_t, std::string>> pci_device_reasons();
  Result<std::vector<PciDeviceEvent>> list_pci_device_events(const std::string& instance_uuid);

  // Instances. delete_instance marks it DELETED (soft delete) and releases its claims.
  Status create_instance(const Instance& i);
  Result<Instance> get_instance(const std::string& uuid);                      // deleted ones too
  Result<std::vector<Instance>> list_instances(const std::string& project_id,  // "" == all
                                               bool include_deleted);
  // The live instances placed on `host` (an agent's view of its host, every few seconds: one
  // indexed read, not the fleet's).
  Result<std::vector<Instance>> list_host_instances(const std::string& host);
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
  // the instance's resources are returned and its devices freed (delete, boot failure);
  // idempotent. A device a guest may have used (`used`: the spawn was sent) goes to `cleaning`
  // with a "clean" agent task for its host in the same transaction; the task's answer
  // (finish_agent_task) makes it `available`, or `unavailable` with the reason. All transitions
  // are written to pci_device_events.
  Result<ClaimResult> claim(const ClaimRequest& request);
  Status allocate_claims(const std::string& instance_uuid);
  Status release_claims(const std::string& instance_uuid, bool used = true);
  // An agent's repair of leaked claims: release_claims (used), unless the instance, locked, is
  // building or has an action in flight (a rebuild or unshelve that claims anew): kConflict.
  Status release_idle_claims(const std::string& instance_uuid);

  // nova's server groups (server_groups.cc). A group's members are its live servers: a deleted
  // server leaves its group; deleting a group leaves its servers where they are.
  // kForbidden when the project's server_groups quota is reached (checked in the transaction).
  Status create_server_group(const ServerGroup& g);
  Result<ServerGroup> get_server_group(const std::string& uuid);                       // kNotFound
  Result<std::vector<ServerGroup>> list_server_groups(const std::string& project_id);  // "" == all
  Status delete_server_group(const std::string& uuid);                                 // kNotFound
  // The group an instance was booted into; nullopt when none (or the group is gone).
  Result<std::optional<ServerGroup>> server_group_of(const std::string& instance_uuid);
  // Where the group's servers hold claims, as host -> servers, leaving out `except` (the
  // instance being scheduled): what the affinity filters compare a host with.
  Result<std::map<std::string, int>> server_group_hosts(const std::string& group_uuid,
                                                        const std::string& except);

  // Security groups (security_groups.cc). Names are unique in a project (nova-network's rule);
  // kConflict on a taken name, kForbidden when the project's security_groups quota is reached.
  Status create_security_group(const SecurityGroup& g);
  Result<SecurityGroup> get_security_group(const std::string& id);  // kNotFound
  Result<std::vector<SecurityGroup>> list_security_groups(const std::string& project_id);  // "" all
  // The project's group named "default", made on first need with the id `id_if_new` (nova makes
  // it so); never counted against the quota.
  Result<SecurityGroup> default_security_group(const std::string& project_id,
                                               const std::string& id_if_new);
  // kNotFound, kConflict (the name is taken).
  Status update_security_group(const std::string& id, const std::string& name,
                               const std::string& description);
  // kNotFound; kConflict while a live server is in the group. The rules of other groups that
  // name it as their remote group go with it (nova deletes them too).
  Status delete_security_group(const std::string& id);
  // kNotFound (the group); kConflict when the same rule exists; kForbidden when the group has
  // as many rules as the project's security_group_rules quota (nova counts per group).
  Status add_security_group_rule(const SecurityGroupRule& r);
  Result<SecurityGroupRule> get_security_group_rule(const std::string& id);  // kNotFound
  Status delete_security_group_rule(const std::string& id);                  // kNotFound
  // A server's groups, oldest membership first.
  Result<std::vector<SecurityGroup>> instance_security_groups(const std::string& instance_uuid);
  // The names of each server's groups, for every server of the project ("" every project) that
  // is in one: what a server list shows, in one query.
  Result<std::map<std::string, std::vector<std::string>>> security_group_names(
      const std::string& project_id);
  // kNotFound (the group), kConflict (already in it / not in it).
  Status add_instance_security_group(const std::string& instance_uuid, const std::string& group_id);
  Status remove_instance_security_group(const std::string& instance_uuid,
                                        const std::string& group_id);
  // The servers whose guests a change to the group touches: its own members and the members of
  // every group with a rule naming it as remote group (live servers with a host), as
  // instance -> host.
  Result<std::map<std::string, std::string>> security_group_reach(const std::string& group_id);
  // The firewall of each live, managed server on `host` (or of the one server `instance_uuid`
  // when host is ""), remote groups resolved to their members' known addresses. A server
  // created before security groups existed is not managed and is absent from the map.
  Result<std::map<std::string, std::vector<IngressRule>>> ingress_rules(
      const std::string& host, const std::string& instance_uuid = "");
  // Records the address a guest report gave (remote-group rules match it); no-op when equal.
  Status set_instance_address(const std::string& instance_uuid, const std::string& ip);

  // GPU quotas per project and alias, checked inside claim().
  Status set_gpu_quota(const GpuQuota& q);
  Status delete_gpu_quota(const std::string& project_id, const std::string& alias);
  Result<std::vector<GpuQuota>> list_gpu_quotas(const std::string& project_id);  // "" == all
  // Devices the project holds (claimed or allocated) per alias.
  Result<std::map<std::string, int>> gpu_usage(const std::string& project_id);

  // nova's quotas. A limit comes from the first of: the user's row (per-user quotas, when a
  // user is named), the project's row, the 'default' quota class's row, nova's default.
  // quota_class(name): that class's rows over nova's defaults ('default' gives the defaults).
  Result<QuotaLimits> quota_class(const std::string& class_name);
  Status set_quota_class(const std::string& class_name, const QuotaLimits& limits);
  Result<QuotaLimits> project_quotas(const std::string& project_id, const std::string& user_id);
  Status set_project_quotas(const std::string& project_id, const std::string& user_id,
                            const QuotaLimits& limits);
  // user_id "": every row of the project, its users' included (nova's destroy_all_by_project).
  Status delete_project_quotas(const std::string& project_id, const std::string& user_id);
  Result<QuotaUsage> quota_usage(const std::string& project_id, const std::string& user_id);

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
  // For a "clean" task it also moves the task's devices out of `cleaning`: to `available` when
  // the result says the device is clean (and it is not one_time_use), else to `unavailable` with
  // the reason; in the same transaction.
  Status finish_agent_task(const std::string& id, const std::string& host, bool succeeded,
                           const std::string& message, const std::string& result_json);
  Result<std::vector<AgentTask>> list_agent_tasks(const std::string& host);  // "" == all
  // Hosts that have pending tasks: one query that wakes long polls for tasks another server
  // replica created (the API's periodic re-check).
  Result<std::vector<std::string>> hosts_with_pending_agent_tasks();
  Status put_agent_report(const AgentReport& r);  // replaces the host's report of that kind
  Result<std::vector<AgentReport>> list_agent_reports(const std::string& host);  // "" == all

  // ---- the conductor (lifecycle.cc) ----
  // A new instance and its boot task, in one transaction. With `quota`, the project's
  // instances, cores and ram quotas are checked in that transaction, after locking the
  // project's row, so that two concurrent creates count each other (kForbidden with nova's
  // "Quota exceeded for ..." message when one is exceeded).
  // With `server_group`, the instance joins that group in the same transaction (kNotFound when
  // it does not exist, kForbidden when its project's server_group_members quota is reached).
  // With `security_groups` (group ids; the system metadata key kSecurityGroupsManaged is then
  // set), the instance joins those in the same transaction (kNotFound when one is gone).
  Status create_instance_with_task(const Instance& i, const LifecycleTask& boot,
                                   const InstanceQuotaRequest* quota = nullptr,
                                   const std::string& server_group = "",
                                   const std::vector<std::string>& security_groups = {});
  // DELETE: in one transaction the instance becomes DELETED (kNotFound if it already is), the
  // record of its shelve snapshot (system metadata shelved_image_id) goes, and its cleanup is
  // arranged: a boot task still running, or a rebuild, undoes its own work; else, when the
  // instance has a host, a delete task (returned) destroys the guest and then releases the
  // claims; else the claims are released at once. Delete wins over everything in flight.
  Result<std::optional<LifecycleTask>> begin_delete(const std::string& instance_uuid);
  // stop/start/reboot/shelve/unshelve: applies `t` (the instance must be idle: task_state none)
  // and creates the task in one transaction, with `system_metadata` written beside (e.g. the
  // shelve's snapshot image); kConflict when the instance is not in a state `t` accepts. An
  // "unshelve" task starts at the boot's "schedule" step and has no host yet ("").
  // `snapshot` (shelve): the image record made in the same transaction, so that no crash leaves
  // a snapshot that no server names.
  Result<LifecycleTask> begin_action(const std::string& instance_uuid, const InstanceTransition& t,
                                     const std::string& kind, const std::string& host,
                                     const std::map<std::string, std::string>& system_metadata = {},
                                     const Image* snapshot = nullptr);
  // nova's instance_system_metadata: what gpucloud keeps about an instance that its user never
  // sees ("shelved_image_id"). Reading a key that is not there gives nullopt; writing nullopt
  // removes it.
  // nova's instance actions (instance_actions.cc): one row per request that acted on a server,
  // kept after the server is deleted. Recording the same request twice keeps the first.
  Status record_instance_action(const InstanceAction& a);
  Result<std::vector<InstanceAction>> list_instance_actions(const std::string& instance_uuid);
  Result<std::optional<std::string>> system_metadata(const std::string& instance_uuid,
                                                     const std::string& key);
  Status set_system_metadata(const std::string& instance_uuid, const std::string& key,
                             const std::optional<std::string>& value);
  // PUT /servers/{id}: the name (when given) and system metadata keys (nullopt removes one) in
  // one transaction, touching no other column (the conductor may be writing the state).
  // `expected` makes it a compare-and-set: each of its keys must still hold the value given
  // (nullopt: absent), else kConflict and nothing is written (a read-modify-write such as adding
  // one tag retries on it instead of losing a concurrent change).
  // kNotFound for an unknown or deleted instance.
  Status update_server_fields(
      const std::string& instance_uuid, const std::optional<std::string>& name,
      const std::map<std::string, std::optional<std::string>>& system_metadata,
      const std::map<std::string, std::optional<std::string>>& expected = {});
  Status transition_instance(const std::string& uuid, const InstanceTransition& t);
  // The server metadata API (nova's update_instance_metadata): sets the given keys (nullopt
  // deletes one), or with `replace_all` makes the metadata exactly the given keys. In one
  // transaction: kNotFound for an unknown or deleted instance, kConflict unless its vm_state is
  // one of `vm_states` and it has no task_state, kForbidden when the result would hold more than
  // `max_items` keys (negative: no limit). Returns the metadata as written.
  Result<std::map<std::string, std::string>> update_instance_metadata(
      const std::string& instance_uuid,
      const std::map<std::string, std::optional<std::string>>& changes, bool replace_all,
      int64_t max_items, const std::vector<std::string>& vm_states);

  // Tasks nobody holds (no owner, or a lease that ran out before `now`), oldest first.
  Result<std::vector<LifecycleTask>> list_takeable_tasks(TimePoint now, int max);
  Result<LifecycleTask> get_lifecycle_task(const std::string& id);
  Result<std::vector<LifecycleTask>> list_lifecycle_tasks();  // all, for tests and tools
  // Takes the task for `owner` until `lease_until` if nobody holds it (or `owner` does); false
  // when another replica holds a live lease. Counts an attempt.
  Result<bool> take_lifecycle_task(const std::string& id, const std::string& owner,
                                   TimePoint lease_until, TimePoint now);
  Status renew_leases(const std::string& owner, TimePoint lease_until);
  // Saves step/host/agent_task_id; kConflict when `owner` no longer holds the task.
  Status save_lifecycle_task(const LifecycleTask& t, const std::string& owner);
  Status finish_lifecycle_task(const std::string& id, const std::string& owner);
  // Creates the agent call and records it in the task in one transaction, so that a task
  // resumed after a crash waits for the call it made instead of making a second one.
  Result<AgentTask> start_agent_call(LifecycleTask& t, const std::string& owner,
                                     const AgentTask& call);
  // The finished ones among `ids` (succeeded or failed).
  Result<std::vector<AgentTask>> finished_agent_tasks(const std::vector<std::string>& ids);
  // Deletes agent tasks that finished before `before`; returns how many.
  Result<int> prune_agent_tasks(TimePoint before);

  // A counter of this process's committed changes to hosts (registration, PCI inventory,
  // enabled/forced down/doctor state, aggregates), claims and releases excepted: the fleet view
  // re-reads generations before scheduling when it moved, so that an admin's change through this
  // replica applies to the next boot. Other replicas' changes arrive by the periodic scan.
  uint64_t topology_version() const;

  // The fleet view's reads.
  Result<std::vector<HostGeneration>> list_host_generations();
  // Compute hosts by id with their live PCI devices and the ids of their aggregates.
  struct HostDetail {
    ComputeHost host;
    std::vector<PciDeviceRecord> devices;
    std::vector<int64_t> aggregate_ids;
  };
  Result<std::vector<HostDetail>> get_host_details(const std::vector<int64_t>& ids);
  // Every aggregate with its metadata, without host lists (cheap at any fleet size).
  Result<std::vector<Aggregate>> list_aggregates_without_hosts();

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
