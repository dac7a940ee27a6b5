// The rows the store keeps, as plain value types. Included by store/store.h; other modules include
// store/store.h only. Times are UTC system_clock points; ids are strings where OpenStack's are
// (UUIDs, flavor ids) and 64-bit integers where nova's are (compute nodes, aggregates, devices).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/core.h"

namespace gpucloud::store {

using TimePoint = std::chrono::system_clock::time_point;

// ---- identity ----

struct Project {
  std::string id;  // uuid without dashes, as keystone
  std::string name;
  std::string domain_id = "default";
  std::string description;
  bool enabled = true;
  TimePoint created_at{};
  // keystone's hierarchy (schema version 15): the parent project in the same domain; nullopt
  // for a project at the top of its domain (keystone then shows the domain as its parent).
  std::optional<std::string> parent_id;
  std::vector<std::string> tags;  // keystone's project tags, unique, in the order given
};

struct User {
  std::string id;
  std::string name;
  std::string domain_id = "default";
  std::string password_hash;  // libsodium crypto_pwhash_str; never a clear password
  std::string email;
  std::optional<std::string> default_project_id;
  bool enabled = true;
  TimePoint created_at{};
  // keystone's other properties (description, and whatever a client added), a JSON object as
  // text; "" when none.
  std::string extra;
};

// A keystone domain: projects and users live in one. "default" is seeded and cannot be deleted.
struct Domain {
  std::string id;  // "default", or a uuid without dashes
  std::string name;
  std::string description;
  bool enabled = true;
};

// A keystone role. The built-ins (admin, member, reader, service) have their name as id, so
// that policy can name them; others get a uuid without dashes. A domain-specific role (schema
// version 18) belongs to one domain, where its name is unique; it never reaches a token itself,
// it only conveys the global roles it implies.
struct Role {
  std::string id;
  std::string name;
  std::string description;
  std::optional<std::string> domain_id{};  // set for a domain-specific role
  // What assignments hold for this role: a global role's name (tokens and policy speak names),
  // a domain-specific role's id. So a domain role named "admin" is never held as "admin".
  const std::string& held_as() const { return domain_id ? id : name; }
};

// A role inference rule (schema version 18): whoever holds the prior role also holds the
// implied one, on the same project.
struct RoleInference {
  std::string prior_role_id;
  std::string implied_role_id;
  bool operator==(const RoleInference&) const = default;
};

// A keystone group (schema version 13): users of any domain gathered under a name unique in
// the group's domain. Groups hold no roles in gpucloud: a token's roles come from its user's own
// assignments only (docs/identity.md).
struct Group {
  std::string id;  // uuid without dashes, as keystone
  std::string domain_id = "default";
  std::string name;
  std::optional<std::string> description;  // keystone answers null when none was given
  std::string extra{};  // JSON object text of the client's own properties ("" when none)
};

// keystone's catalog as its API manages it (schema version 13): services, the regions they are
// offered in and their endpoints. The catalog in tokens stays gpucloud's built-in one
// (api/identity_tokens.cc), so these rows never change where clients send their requests.
struct CatalogService {
  std::string id;
  std::string type;                 // "compute", "image", ...
  std::optional<std::string> name;  // keystone keeps both only when given
  std::optional<std::string> description;
  bool enabled = true;
};

struct Region {
  std::string id;  // chosen by the client, or a uuid without dashes
  std::string description;
  std::optional<std::string> parent_region_id;
};

struct Endpoint {
  std::string id;
  std::string service_id;
  std::string interface;  // "public", "internal" or "admin"
  std::string url;
  std::optional<std::string> region_id;
  bool enabled = true;
};

// keystone's endpoint groups (OS-EP-FILTER, schema version 21): a filter on endpoints by service,
// region and interface (absent: any), which projects are associated with. Projects may also be
// associated with single endpoints. Rows like the rest of the catalog: tokens keep the built-in
// catalog (api/identity_tokens.cc).
struct EndpointGroup {
  std::string id;
  std::string name;
  std::optional<std::string> description;
  std::optional<std::string> service_id, region_id, interface;
  bool matches(const Endpoint& e) const {
    return (!service_id || *service_id == e.service_id) &&
           (!region_id || (e.region_id && *region_id == *e.region_id)) &&
           (!interface || *interface == e.interface);
  }
};

// One option of a domain's configuration (keystone's domain configuration API, schema version
// 22): `group` is "identity" or "ldap", `value` the option's JSON value as text. Stored only: no
// identity driver reads it (docs/identity.md).
struct DomainConfigOption {
  std::string group;
  std::string option;
  std::string value;       // JSON text
  bool sensitive = false;  // ldap.password: kept, never answered
};

// One user's role on one project, held by name ("admin", "member", "reader"; a domain-specific
// role by its id): tokens and policy speak names, and renaming a role renames its assignments.
struct RoleAssignment {
  std::string user_id;
  std::string project_id;
  std::string role;
  bool operator==(const RoleAssignment&) const = default;
};

// A role on a whole domain (schema version 15), held by a user or by a group (exactly one of
// user_id and group_id is set). It grants no token: gpucloud issues no domain-scoped tokens, so
// these only answer which domains a user may see (`GET /auth/domains`) and keystone's listing
// of them (docs/identity.md).
// A role a group holds on a project (schema version 17): each member of the group holds it there.
struct GroupRoleAssignment {
  std::string group_id;
  std::string project_id;
  std::string role;  // by name, as RoleAssignment
  bool operator==(const GroupRoleAssignment&) const = default;
};

// A role on the system (schema version 17), held by a user or a group: stored and listed, never
// granting anything (no system-scoped token is issued).
struct SystemRoleAssignment {
  std::string user_id;  // one of user_id and group_id
  std::string group_id;
  std::string role;  // by name, as RoleAssignment
  bool operator==(const SystemRoleAssignment&) const = default;
};

struct DomainRoleAssignment {
  std::string domain_id;
  std::string user_id;
  std::string group_id;
  std::string role;  // by name, as RoleAssignment
  bool operator==(const DomainRoleAssignment&) const = default;
};

// A keystone credential (schema version 15): a blob the user stores (an EC2 key pair, a TOTP
// seed) with its type. The blob is a secret: never logged; it is stored as given (keystone
// encrypts it at rest; docs/identity.md says why gpucloud does not yet).
struct Credential {
  std::string id;
  std::string user_id;
  std::optional<std::string> project_id;
  std::string type;
  std::string blob;
};

// A keystone policy (schema version 15): an opaque blob with its type, stored and returned.
// gpucloud's own policy is in api/policy.cc; these blobs never change it (as in keystone, where
// the policy API is deprecated and enforcement reads policy files).
struct IdentityPolicy {
  std::string id;
  std::string type;
  std::string blob;
};

// A keystone token. Only the hash of the token is stored; the token itself goes to the client.
struct Token {
  std::string token_hash;  // e.g. hex SHA-256 of the token
  std::string user_id;
  std::string project_id;          // scope; empty for an unscoped token
  std::vector<std::string> roles;  // role names at issue time
  TimePoint issued_at{};
  TimePoint expires_at{};
  bool revoked = false;
  // A token made with an OAuth1 access token: it grants that access token's roles only, and
  // only while the access token lives (oauth1.cc).
  std::optional<std::string> oauth_access_token_id;
};

// keystone's OAuth1 delegation (OS-OAUTH1, schema version 23). A consumer signs with its secret
// (HMAC-SHA1 needs it, so it is kept as issued, like keystone); a request token names the project
// and, once a user authorizes it, that user, the roles it delegates and the verifier; exchanged,
// it becomes an access token, from which the consumer gets keystone tokens.
struct OAuthConsumer {
  std::string id;
  std::string secret;
  std::optional<std::string> description;
};

struct OAuthRequestToken {
  std::string id;
  std::string secret;
  std::string consumer_id;
  std::string project_id;
  std::vector<std::string> roles;  // by name, set when authorized
  std::optional<std::string> user_id, verifier;
  TimePoint expires_at{};
};

struct OAuthAccessToken {
  std::string id;
  std::string secret;
  std::string consumer_id;
  std::string user_id;  // who authorized it
  std::string project_id;
  std::vector<std::string> roles;  // by name
  TimePoint expires_at{};
};

struct KeyPair {
  std::string user_id;
  std::string name;
  std::string public_key;
  std::string fingerprint;
  std::string type = "ssh";
  TimePoint created_at{};
};

// ---- compute catalogue ----

struct Flavor {
  std::string id;  // nova flavor ids are strings ("1".."5" in the seed)
  std::string name;
  int vcpus = 1;
  int64_t memory_mb = 512;
  int64_t root_gb = 0;
  int64_t ephemeral_gb = 0;
  int64_t swap_mb = 0;
  double rxtx_factor = 1.0;
  bool is_public = true;
  bool disabled = false;
  std::string description;
  std::map<std::string, std::string> extra_specs;  // filled by get/list
  TimePoint created_at{};
};

enum class ImageStatus {
  kQueued,
  kSaving,
  kActive,
  kKilled,
  kDeleted,
  kPendingDelete,
  kImporting,
  kDeactivated  // glance's deactivate action: data download refused to non-admins
};
enum class ImageVisibility { kPublic, kPrivate, kShared, kCommunity };
const char* to_string(ImageStatus s);      // glance spelling: "queued", "pending_delete", ...
const char* to_string(ImageVisibility v);  // "public", "private", "shared", "community"
Result<ImageStatus> parse_image_status(std::string_view text);
Result<ImageVisibility> parse_image_visibility(std::string_view text);

struct Image {
  std::string id;  // uuid
  std::string name;
  std::string owner;  // project id
  ImageStatus status = ImageStatus::kQueued;
  ImageVisibility visibility = ImageVisibility::kShared;
  std::string disk_format;       // "raw", "qcow2", ... empty until set
  std::string container_format;  // "bare", ...
  std::optional<int64_t> size;
  std::optional<int64_t> virtual_size;
  std::string checksum;      // md5 hex, glance's legacy checksum
  std::string os_hash_algo;  // "sha512"
  std::string os_hash_value;
  std::string location;  // where the data lives, e.g. a file path under the data directory
  int64_t min_disk = 0;  // GB
  int64_t min_ram = 0;   // MB
  bool is_protected = false;
  bool os_hidden = false;
  std::map<std::string, std::string> properties;  // custom properties (image_type, service_url...)
  std::vector<std::string> tags;
  TimePoint created_at{};
  TimePoint updated_at{};
};

// A project an image is shared with (glance's image member): the image's owner adds it
// (pending), the member accepts or rejects it. Only `shared` images have members.
enum class ImageMemberStatus { kPending, kAccepted, kRejected };
const char* to_string(ImageMemberStatus s);  // "pending", "accepted", "rejected"
Result<ImageMemberStatus> parse_image_member_status(std::string_view text);

struct ImageMember {
  std::string image_id;
  std::string member_id;  // project id
  ImageMemberStatus status = ImageMemberStatus::kPending;
  TimePoint created_at{};
  TimePoint updated_at{};
};

// glance's metadata definitions (metadefs): a catalogue of the properties images, flavors and
// volumes may carry, grouped in namespaces. A namespace's name is unique; public namespaces are
// seen by every project, private ones by their owner's project (and admins).
struct MetadefNamespace {
  std::string name;  // glance's `namespace`
  std::optional<std::string> display_name;
  std::optional<std::string> description;
  bool is_public = false;     // visibility: public or private
  bool is_protected = false;  // may not be deleted
  std::string owner;          // project id
  TimePoint created_at{};
  TimePoint updated_at{};
};

// What a namespace holds besides its resource types. Objects and properties carry a JSON
// definition (glance's property schema: title, type, enum...; an object's description, required
// and properties); tags have only a name. A name is unique within its namespace and kind.
enum class MetadefKind { kObject, kProperty, kTag };
const char* to_string(MetadefKind k);  // "object", "property", "tag"

struct MetadefItem {
  MetadefKind kind = MetadefKind::kObject;
  std::string name;
  std::string definition = "{}";  // a JSON object, as the API validated it
  TimePoint created_at{};
  TimePoint updated_at{};
};

// A kind of resource metadefs describe (OS::Glance::Image, OS::Nova::Flavor...). The ones glance
// seeds are protected.
struct MetadefResourceType {
  std::string name;
  bool is_protected = false;
  TimePoint created_at{};
  TimePoint updated_at{};
};

// A namespace applies to a resource type; `prefix` goes before the namespace's property names
// on that resource (hw_ on images), properties_target names the part of it they land in.
struct MetadefAssociation {
  std::string resource_type;
  std::optional<std::string> prefix;
  std::optional<std::string> properties_target;
  TimePoint created_at{};
  TimePoint updated_at{};
};

// nova's server group: the servers booted into it (the `group` scheduler hint) are placed by its
// policy. affinity: all on one host; anti-affinity: at most max_server_per_host on any host (1
// unless the 2.64 rule says more); the soft- policies are preferences the weighers apply.
struct ServerGroup {
  std::string uuid;
  std::string name;
  std::string project_id;
  std::string user_id;
  std::string policy;  // "affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"
  std::optional<int> max_server_per_host;  // the 2.64 rule; anti-affinity only
  std::vector<std::string> members;        // instance uuids of live servers, oldest first
  TimePoint created_at{};
};

// nova's security groups (nova-network's API, enforced by the agents' firewalls:
// docs/security_groups.md). A rule lets traffic in to the group's servers: from a network (cidr)
// or from the servers of another group (remote_group_id). Everything else in is dropped.
struct SecurityGroupRule {
  std::string id;
  std::string group_id;             // the parent group
  std::string protocol;             // "tcp", "udp", "icmp"; "" (a remote-group rule only) every one
  std::optional<int> from_port;     // tcp/udp first port, icmp type (-1 any); none with ""
  std::optional<int> to_port;       // tcp/udp last port, icmp code (-1 any)
  std::optional<std::string> cidr;  // as given ("10.2.3.124/24")
  std::optional<std::string> remote_group_id;  // the group whose servers may reach
};
struct SecurityGroup {
  std::string id;
  std::string project_id;
  std::string name;
  std::string description;
  std::vector<SecurityGroupRule> rules;  // oldest first
  TimePoint created_at{};
};
// The instance_system_metadata key ("true") of a server whose guest is firewalled by its security
// groups: every server created since they exist. Older servers have none and stay open.
inline constexpr const char* kSecurityGroupsManaged = "security_groups_managed";
// One rule of a guest's firewall with remote groups resolved: what compute::FirewallRule holds.
struct IngressRule {
  std::string protocol;
  int from_port = -1;
  int to_port = -1;
  std::string cidr;
};

struct Aggregate {
  int64_t id = 0;
  std::string uuid;
  std::string name;
  std::optional<std::string> availability_zone;
  std::map<std::string, std::string> metadata;  // without availability_zone (kept above)
  std::vector<std::string> hosts;               // compute host names
  TimePoint created_at{};
  TimePoint updated_at{};
};

// One hypervisor: nova's compute node and compute service in one row.
struct ComputeHost {
  int64_t id = 0;  // pci_devices.compute_node_id
  std::string uuid;
  std::string name;  // host name == hypervisor_hostname
  std::string hypervisor_type = "QEMU";
  int vcpus = 0;
  int64_t memory_mb = 0;
  int64_t disk_gb = 0;
  int vcpus_used = 0;  // maintained by claims; never set by callers of upsert
  int64_t memory_mb_used = 0;
  int64_t disk_gb_used = 0;
  int reserved_host_cpus = 0;
  int64_t reserved_host_memory_mb = 0;
  int64_t reserved_host_disk_mb = 0;
  double cpu_allocation_ratio = 16.0;  // nova's historic defaults
  double ram_allocation_ratio = 1.5;
  double disk_allocation_ratio = 1.0;
  std::optional<TimePoint> heartbeat_at;  // last agent report; scheduler decides "up" from it
  bool enabled = true;
  std::string disabled_reason;
  bool forced_down = false;
  std::string doctor_status;             // last `host doctor` summary text from the agent
  std::string capabilities_json = "{}";  // for ComputeCapabilitiesFilter (cpu_info etc.)
  TimePoint created_at{};
  TimePoint updated_at{};
};

// ---- instances ----

// The server status nova shows; the finer vm_state/task_state are kept beside it.
// kShelvedOffloaded: nova's shelve with shelved_offload_time = 0 (its default): the guest's disk is
// a snapshot image, the guest is gone and its host's resources and GPUs are released.
enum class ServerStatus { kBuild, kActive, kError, kShutoff, kDeleted, kShelvedOffloaded };
// "BUILD", "ACTIVE", "ERROR", "SHUTOFF", "DELETED", "SHELVED_OFFLOADED"
const char* to_string(ServerStatus s);
Result<ServerStatus> parse_server_status(std::string_view text);

enum class Readiness { kWaiting, kReady, kTimedOut };
const char* to_string(Readiness r);  // "waiting", "ready", "timed_out"
Result<Readiness> parse_readiness(std::string_view text);

// nova's power_state integers.
enum class PowerState { kNoState = 0, kRunning = 1, kPaused = 3, kShutdown = 4, kCrashed = 6 };

struct InstanceFault {
  int code = 500;
  std::string message;  // shown by `nova show`
  std::string details;
  TimePoint created_at{};
};

// nova's instance action: who asked for what on a server, by request id (os-instance-actions).
struct InstanceAction {
  std::string instance_uuid;
  std::string request_id;  // the API request's id, "req-<uuid>"
  std::string action;      // nova's names: create, delete, stop, start, reboot, lock, ...
  std::string user_id;
  std::string project_id;
  std::optional<std::string> message;
  TimePoint start_time{};
  TimePoint updated_at{};
};

struct Instance {
  std::string uuid;
  std::string name;
  std::string project_id;
  std::string user_id;
  std::string flavor_id;
  std::string image_id;
  std::string availability_zone;
  std::optional<std::string> host;  // set once scheduled
  ServerStatus status = ServerStatus::kBuild;
  std::string vm_state = "building";                     // nova vm_states
  std::optional<std::string> task_state = "scheduling";  // nova task_states; nullopt == None
  PowerState power_state = PowerState::kNoState;
  std::optional<InstanceFault> fault;
  std::string request_spec_json = "{}";  // flavor snapshot, image props, alias requests...
  Readiness readiness = Readiness::kWaiting;
  std::string readiness_error;  // last probe error
  std::optional<TimePoint> readiness_at;
  std::string ip_address;  // probed by readiness checks; empty until known
  std::map<std::string, std::string> metadata;
  // nova's instance_system_metadata (description, tags, hostname, lock...): read with the
  // instance, written only key by key (Store::set_system_metadata, update_server_fields), never by
  // a whole-instance write, so that an API edit and the conductor's writes do not overwrite
  // each other.
  std::map<std::string, std::string> system_metadata;
  std::string user_data;  // base64 as the API received it
  bool config_drive = false;
  std::string key_name;
  std::string reservation_id;  // shared by one multi-create request
  int launch_index = 0;
  TimePoint created_at{};
  TimePoint updated_at{};
  std::optional<TimePoint> launched_at;
  std::optional<TimePoint> deleted_at;
};

// ---- PCI devices (nova's pci_devices table) ----

// kUnclaimable and kDeleted occur in nova's databases (a PF whose VFs are in use; a removed VF)
// and are never written by gpucloud. kCleaning is gpucloud's: a GPU a guest gave back, being
// reset and checked (and scrubbed) by its host's agent before it is free again (docs/cleaning.md).
enum class PciDeviceStatus {
  kAvailable,
  kClaimed,
  kAllocated,
  kRemoved,
  kUnavailable,
  kUnclaimable,
  kDeleted,
  kCleaning
};
const char* to_string(PciDeviceStatus s);  // nova's spelling: "available", "claimed", ...
Result<PciDeviceStatus> parse_pci_device_status(std::string_view text);

struct PciDeviceRecord {
  int64_t id = 0;
  int64_t compute_node_id = 0;
  PciAddress address;
  VendorId vendor_id;
  ProductId product_id;
  PciDeviceType dev_type = PciDeviceType::kPci;
  std::string dev_id;  // "pci_0000_0a_00_1"
  PciDeviceStatus status = PciDeviceStatus::kAvailable;
  std::optional<std::string> instance_uuid;
  std::optional<std::string> request_id;
  std::optional<int> numa_node;
  std::string label;  // "label_10de_11bf"
  std::optional<PciAddress> parent_addr;
  std::string extra_info = "{}";  // JSON text
  std::string uuid;
  TimePoint created_at{};
  std::optional<TimePoint> updated_at;
  std::optional<TimePoint> deleted_at;
  int64_t deleted = 0;  // nova: 0 while live, the row id once soft-deleted
};

// One status transition of one device, written in the same transaction as the transition.
struct PciDeviceEvent {
  int64_t id = 0;
  int64_t device_id = 0;
  int64_t compute_node_id = 0;
  PciAddress address;
  std::optional<PciDeviceStatus> from_status;  // nullopt: the device appeared
  PciDeviceStatus to_status = PciDeviceStatus::kAvailable;
  std::optional<std::string> instance_uuid;
  std::optional<std::string> request_id;
  TimePoint at{};
};

}  // namespace gpucloud::store
