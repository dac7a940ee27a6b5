// Compute drivers: what gpucloud asks of a hypervisor host (spawn, destroy, power, inventory),
// behind one interface. The libvirt driver lives with the agent; the `fake` driver here simulates
// hosts in-process from a JSON file (docs/fake_driver.md), like nova's fake driver.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "store/store.h"

namespace gpucloud::compute {

// What a host offers: totals as the agent would report them, and its PCI inventory.
struct HostResources {
  std::string name;
  std::string hypervisor_type = "QEMU";
  int vcpus = 0;
  int64_t memory_mb = 0;
  int64_t disk_gb = 0;
  std::string cpu_arch = "x86_64";
  std::vector<PciDevice> pci_devices;
  // Per device: the tags of the device spec that admits it (e.g. one_time_use: "true"), stored
  // in pci_devices.extra_info.
  std::map<PciAddress, std::map<std::string, std::string>> device_tags;
  // When the host booted (os-hypervisors' uptime); the fake driver's hosts boot with it.
  std::optional<store::TimePoint> booted_at;
  // The network every guest of the host gets (docs/networks.md): its name, as server addresses
  // label it ("default", the libvirt network), and its IPv4 network ("192.168.122.0/24"; "" when
  // unknown). An empty name: the host reports none (an agent older than networks).
  std::string guest_network;
  std::string guest_cidr;
};

// Cleaning a GPU a guest gave back (docs/cleaning.md): reset it, check it, scrub it.
struct CleanDevice {
  int64_t id = 0;  // pci_devices.id
  PciAddress address;
  VendorId vendor_id;
  ProductId product_id;
};
struct CleanOutcome {
  PciAddress address;
  bool clean = false;
  std::string reason;  // why not, for the operator: "reset: ...", "AER fatal errors 0 -> 2"
  std::vector<std::string> steps;  // what was done, in order: "reset (flr)", "scrub 3.2 s"
};

// One guest on a host as the hypervisor sees it.
struct DomainInfo {
  std::string instance_uuid;
  std::string name;  // hypervisor's domain name: "instance-<uuid>" (libvirt and fake drivers)
  store::PowerState power = store::PowerState::kNoState;
  std::vector<PciAddress> pci_devices;
  std::string ip_address;      // the guest's IPv4 address as the hypervisor knows it; "" if unknown
  std::string mac_address;     // the NIC that has ip_address
  std::string network;         // that NIC's network, as `addresses` in server show names it
  std::string address_source;  // how it was learnt: "lease", "agent", "arp" (libvirt), "fake"
  // Guest ports reached at ip_address through another port (user-mode networking's forwards, the
  // fake driver's stand-in services): guest port -> port to connect to.
  std::map<int, int> forwarded_ports;
  // The guest's graphical console where the server's relay reaches it (docs/consoles.md):
  // "spice" or "vnc", the host's proxy-client address and the port. console_port is 0 when the
  // guest has none the relay may use (not running, or a port that can change under it).
  std::string console_type;
  std::string console_host;
  int console_port = 0;
};

// A guest's firewall from its server's security groups (docs/security_groups.md): the traffic
// that may reach the guest. Everything else that comes in is dropped, except replies to the
// guest's own connections (connection tracking); everything the guest sends is allowed. Remote
// group rules arrive here already resolved to the members' addresses (one /32 or /128 each).
struct FirewallRule {
  std::string protocol;  // "tcp", "udp", "icmp"; "" is every IP protocol
  int from_port = -1;    // tcp/udp: first port (-1 with protocol ""); icmp: type, -1 any
  int to_port = -1;      // tcp/udp: last port; icmp: code, -1 any
  std::string cidr;      // the source: "0.0.0.0/0", "10.2.3.0/24", "2001:db8::/64"
  bool operator==(const FirewallRule&) const = default;
};
struct Firewall {
  std::vector<FirewallRule> ingress;
  bool operator==(const Firewall&) const = default;
};
// {"ingress": [{"protocol", "from_port", "to_port", "cidr"}]}, and back; errors name the field
// ("firewall.ingress[2].cidr: ...").
std::string firewall_to_json(const Firewall& f);
Result<Firewall> firewall_from_json(std::string_view json_text);

// The firewall of the server's guest from its security groups, as the store resolves them now;
// nullopt for a server created before security groups (its guest stays open).
Result<std::optional<Firewall>> guest_firewall(store::Store& store,
                                               const std::string& instance_uuid);
// The guest network a host row's capabilities carry (register_host writes them:
// docs/networks.md); nullopt when the host reports none or the row holds something else. `cidr`
// is as stored ("" when the host did not say).
struct GuestNetwork {
  std::string name;
  std::string cidr;
};
std::optional<GuestNetwork> guest_network(const store::ComputeHost& host);
// The fixed IPs reserved on `host`'s guest network (os-fixed-ips), which no new guest there may
// be given; none when the host reports no network (registered before networks).
Result<std::vector<std::string>> reserved_guest_addresses(store::Store& store,
                                                          const std::string& host);
// The same for every managed server on `host`, by instance uuid (the agent's view).
Result<std::map<std::string, Firewall>> host_firewalls(store::Store& store,
                                                       const std::string& host);

// Everything the driver calls take a host name: one driver object may serve several hosts (the
// fake driver simulates all of them; a libvirt driver serves the one it runs on).
class ComputeDriver {
 public:
  virtual ~ComputeDriver() = default;
  virtual std::string type() const = 0;  // "fake", "libvirt"

  // The hosts this driver manages and their resources and PCI devices.
  virtual Result<std::vector<HostResources>> hosts() = 0;

  // Creates and starts the guest on instance.host with exactly `devices` passed through (the
  // store's claimed rows). Errors: kNotFound (unknown host), kConflict (a device is already used
  // by another guest), kUnavailable (hypervisor unreachable).
  virtual Status spawn(const store::Instance& instance, const store::Flavor& flavor,
                       const store::Image& image,
                       const std::vector<store::PciDeviceRecord>& devices) = 0;
  // Removes the guest; a guest that does not exist is not an error (delete is idempotent).
  virtual Status destroy(const std::string& host, const std::string& instance_uuid) = 0;
  virtual Status power_on(const std::string& host, const std::string& instance_uuid) = 0;
  virtual Status power_off(const std::string& host, const std::string& instance_uuid) = 0;
  virtual Status reboot(const std::string& host, const std::string& instance_uuid, bool hard) = 0;
  virtual Result<std::vector<DomainInfo>> list_domains(const std::string& host) = 0;
  // Where the guest answers (the readiness probes' target); "" while unknown. By default the
  // address guest() reports for it.
  virtual Result<std::string> guest_address(const std::string& host,
                                            const std::string& instance_uuid);
  // One guest as the hypervisor sees it now, its address included (list_domains may leave
  // addresses out: reading them can cost a guest-agent round trip per domain). kNotFound when
  // the host has no guest of the instance. By default list_domains' entry.
  virtual Result<DomainInfo> guest(const std::string& host, const std::string& instance_uuid);
  // Writes the guest's disk, as it is now, into the new file `to` as a standalone image in
  // snapshot_disk_format() (shelve; the guest is powered off first, see snapshot_guest).
  // kNotFound when the host has no guest of the instance.
  virtual Status snapshot(const std::string& host, const std::string& instance_uuid,
                          const std::string& to) = 0;
  // The guest's serial console log as the hypervisor kept it: its last kMaxConsoleBytes, raw.
  // kNotFound when the guest has none (no guest, or one defined without a console log); "" when
  // it has one that is still empty. By default kNotImplemented.
  virtual Result<std::string> console_output(const std::string& host,
                                             const std::string& instance_uuid);
  // Sets the guest's firewall, creating or replacing it; a running guest gets the new rules at
  // once. The libvirt driver keeps it as the nwfilter `gpucloud-<uuid>`, which spawn then
  // references from the guest's NIC, so it is called before spawn and again on every change;
  // destroy removes it. By default kNotImplemented (no firewall on this driver: the caller
  // logs it and goes on).
  virtual Status apply_firewall(const std::string& host, const std::string& instance_uuid,
                                const Firewall& firewall);
  // Changes the firewall of a guest that exists on the host, and only then: kNotFound when it
  // has no guest (not spawned yet, or destroyed), and nothing is set. The agent's guest watch
  // uses it, so that a pass racing the guest's destroy never leaves a filter behind. By default
  // apply_firewall (a driver whose firewalls go with nothing else).
  virtual Status update_firewall(const std::string& host, const std::string& instance_uuid,
                                 const Firewall& firewall) {
    return apply_firewall(host, instance_uuid, firewall);
  }
  // The firewall the driver holds for the guest now; nullopt when it has none. By default
  // kNotImplemented.
  virtual Result<std::optional<Firewall>> firewall(const std::string& host,
                                                   const std::string& instance_uuid);
  // Resets, checks and scrubs GPUs that guests released; one outcome per device, in order.
  // By default every device is clean (a driver with nothing to reset).
  virtual Result<std::vector<CleanOutcome>> clean(const std::string& host,
                                                  const std::vector<CleanDevice>& devices);
  // Sets the addresses of the host's guest network that no new guest may be given (os-fixed-ips
  // reserve), replacing the last set; a guest that has one keeps it. Called before each spawn,
  // like apply_firewall. By default kNotImplemented (the caller goes on without).
  virtual Status reserve_addresses(const std::string& host,
                                   const std::vector<std::string>& addresses);
};

// The most of a console log a driver reads (nova's libvirt driver reads 100 KiB).
inline constexpr size_t kMaxConsoleBytes = 100 * 1024;
// os-getConsoleOutput's text from a raw log, as nova makes it: the last `lines` lines (all when
// nullopt; none for 0), bytes outside ASCII as U+FFFD, control characters other than tab and
// newline removed (the result is always valid UTF-8, whatever the guest wrote). Applying it again
// changes nothing but the lines kept: a U+FFFD already there stays one.
std::string console_text(std::string_view raw, std::optional<int64_t> lines);

// A server booted with `networks: "none"` (2.37+): its guest gets no NIC (system metadata
// networks=none, written by the API).
bool without_network(const store::Instance& instance);

// A shelve's snapshot: the guest is powered off when it runs (a disk is only consistent when
// nothing writes it) and its disk written to `to`; a failed snapshot powers a guest that ran back
// on, so that the server is as it was.
Status snapshot_guest(ComputeDriver& driver, const std::string& host,
                      const std::string& instance_uuid, const std::string& to);
// The disk format of every snapshot (the image record is made before a driver is asked).
inline constexpr const char* kSnapshotDiskFormat = "qcow2";

// The fake driver from the JSON text of docs/fake_driver.md. Errors name the field:
// "hosts[2].pci_devices[0].address: '0000:zz:00.0' is not a PCI address".
Result<std::unique_ptr<ComputeDriver>> make_fake_driver(std::string_view json_text);
Result<std::unique_ptr<ComputeDriver>> load_fake_driver(const std::string& path);

// Writes the driver's hosts into the store as an agent's report would: compute host rows
// (totals, hypervisor type, capabilities; ratios from `ratios`) and the PCI inventory, plus a
// heartbeat. Idempotent.
struct HostRatios {
  double cpu = 4.0;
  double ram = 1.0;
  double disk = 1.0;
};
Status register_hosts(ComputeDriver& driver, store::Store& store, const HostRatios& ratios);
// One host's report (what register_hosts writes per host; the agent API calls it too).
Status register_host(const HostResources& host, store::Store& store, const HostRatios& ratios);

// ---- hosts served by agents (`gpucloud agent`, docs/agent.md) ----

// The agent's report of its host as JSON text, and back. Errors name the field:
// "pci_devices[0].address: '0000:zz:00.0' is not a PCI address".
std::string host_resources_to_json(const HostResources& host);
Result<HostResources> host_resources_from_json(std::string_view json_text);

// A spawn task's payload: everything the agent's driver needs, since the agent has no database.
struct SpawnArgs {
  store::Instance instance;
  store::Flavor flavor;
  store::Image image;
  std::vector<store::PciDeviceRecord> devices;
  // The guest's firewall, set before the guest starts; none for a server that has no security
  // groups managed (one created before them).
  std::optional<Firewall> firewall;
  // The host's reserved guest addresses (reserved_guest_addresses), set before the guest starts.
  std::vector<std::string> reserved_addresses;
};
std::string spawn_payload(const store::Instance& instance, const store::Flavor& flavor,
                          const store::Image& image,
                          const std::vector<store::PciDeviceRecord>& devices,
                          const std::optional<Firewall>& firewall = std::nullopt,
                          const std::vector<std::string>& reserved_addresses = {});
Result<SpawnArgs> parse_spawn_payload(std::string_view json_text);
// A spawn as every host runs it, an agent's or an in-process one: the guest's firewall, then the
// host network's reserved addresses, then the guest, on args.instance.host. A driver without
// firewalls or reservations (kNotImplemented) is no error.
Status spawn_guest(ComputeDriver& driver, const SpawnArgs& args);

// Runs one task taken from the queue on the agent's own driver (kinds "spawn", "destroy",
// "power_on", "power_off", "reboot"; an unknown kind is kInvalidArgument).
Status run_task(ComputeDriver& driver, const store::AgentTask& task);

// A "clean" task (the store writes it when it releases devices): its payload
// {"devices": [{"id", "address", "vendor_id", "product_id"}]}, and the result the store reads back
// {"devices": [{"id", "address", "clean", "reason", "steps"}]}.
Result<std::vector<CleanDevice>> parse_clean_payload(std::string_view json_text);
// Runs a clean task on the driver; the result JSON text, or why the payload was refused.
Result<std::string> run_clean(ComputeDriver& driver, const store::AgentTask& task);

}  // namespace gpucloud::compute
