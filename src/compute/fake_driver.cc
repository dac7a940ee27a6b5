// The fake compute driver: hosts simulated in memory from a JSON description. Guests "run" as
// entries in a map; passing a device through checks it exists on the host and is not already
// used by another guest, which is what a real hypervisor would refuse.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "compute/compute.h"
#include "compute/fake_guest_services.h"

namespace gpucloud::compute {
namespace {

using nlohmann::json;

struct FakeHost {
  HostResources resources;
  bool fail_spawn = false;  // every spawn fails: for tests of the ERROR path
  uint32_t network = 0;     // guests' IPv4 network (host order) and its size
  int prefix = 24;
  std::string network_name = "private";       // what server addresses label the network
  std::set<std::string> reserved;             // addresses no new guest is given (reserve_addresses)
  std::map<std::string, DomainInfo> domains;  // by instance uuid
  std::map<std::string, std::string> console_logs;  // by instance uuid: what each boot "printed"
  // Each guest's firewall as last set (set before its spawn): kept, not enforced, since a
  // simulated guest has no network to filter.
  std::map<std::string, Firewall> firewalls;
  int clean_ms = 0;  // how long cleaning one task takes
  int spawn_ms = 0;  // how long a spawn takes (a slow image download, say) before the guest exists
  std::map<PciAddress, std::string> clean_fails;  // cleaning this device fails with this reason
};

Status check_keys(const json& obj, const std::string& where, std::set<std::string> known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!known.count(it.key())) return Error::invalid(where + ": unknown field '" + it.key() + "'");
  }
  return {};
}

Result<int64_t> get_int(const json& obj, const std::string& where, const char* key, bool required,
                        int64_t dflt = 0) {
  if (!obj.contains(key)) {
    if (required) return Error::invalid(where + "." + key + ": required");
    return dflt;
  }
  if (!obj[key].is_number_integer() || obj[key].get<int64_t>() < 0) {
    return Error::invalid(where + "." + key + ": a non-negative integer is required");
  }
  return obj[key].get<int64_t>();
}

Result<std::string> get_string(const json& obj, const std::string& where, const char* key,
                               bool required, std::string dflt = "") {
  if (!obj.contains(key)) {
    if (required) return Error::invalid(where + "." + key + ": required");
    return dflt;
  }
  if (!obj[key].is_string()) return Error::invalid(where + "." + key + ": a string is required");
  return obj[key].get<std::string>();
}

Result<PciDevice> parse_device(const json& d, const std::string& where) {
  if (!d.is_object()) return Error::invalid(where + ": an object is required");
  if (auto s = check_keys(d, where,
                          {"address", "vendor_id", "product_id", "numa_node", "dev_type",
                           "one_time_use", "clean_fails", "pcie_switch", "nvlink_partition"});
      !s.ok())
    return s.error();
  PciDevice dev;
  auto addr = get_string(d, where, "address", true);
  if (!addr.ok()) return addr.error();
  auto a = PciAddress::parse(*addr);
  if (!a.ok()) return Error::invalid(where + ".address: '" + *addr + "' is not a PCI address");
  dev.address = *a;
  for (const char* key : {"vendor_id", "product_id"}) {
    auto text = get_string(d, where, key, true);
    if (!text.ok()) return text.error();
    auto id = HexId::parse(*text, key);
    if (!id.ok()) return Error::invalid(where + "." + key + ": " + id.error().message);
    (std::string_view(key) == "vendor_id" ? dev.vendor_id : dev.product_id) = *id;
  }
  if (d.contains("numa_node") && !d["numa_node"].is_null()) {
    auto n = get_int(d, where, "numa_node", false);
    if (!n.ok()) return n.error();
    dev.numa_node = static_cast<int>(*n);
  }
  auto type = get_string(d, where, "dev_type", false, "type-PCI");
  if (!type.ok()) return type.error();
  auto t = parse_device_type(*type);
  if (!t.ok()) return Error::invalid(where + ".dev_type: " + t.error().message);
  dev.dev_type = *t;
  return dev;
}

std::string ipv4_text(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

// "a.b.c.d/n" with 8 <= n <= 30, the host part zero.
Status parse_network(const std::string& text, const std::string& where, FakeHost& host) {
  const std::string bad = where + ".guest_network: '" + text + "' ";
  unsigned a = 0, b = 0, c = 0, d = 0, n = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &n, &tail) != 5 || a > 255 ||
      b > 255 || c > 255 || d > 255)
    return Error::invalid(bad + "is not an IPv4 network like 127.0.1.0/24");
  if (n < 8 || n > 30) return Error::invalid(bad + "needs a prefix length from 8 to 30");
  const uint32_t addr = (a << 24) | (b << 16) | (c << 8) | d;
  if (addr & ((1u << (32 - n)) - 1)) return Error::invalid(bad + "has host bits set");
  host.network = addr;
  host.prefix = static_cast<int>(n);
  return {};
}

Result<FakeHost> parse_host(const json& h, const std::string& where) {
  if (!h.is_object()) return Error::invalid(where + ": an object is required");
  if (auto s = check_keys(
          h, where,
          {"name", "vcpus", "memory_mb", "disk_gb", "hypervisor_type", "cpu_arch", "pci_devices",
           "fail_spawn", "guest_network", "guest_network_name", "clean_ms", "spawn_ms"});
      !s.ok())
    return s.error();
  FakeHost host;
  HostResources& r = host.resources;
  auto name = get_string(h, where, "name", true);
  if (!name.ok()) return name.error();
  if (name->empty()) return Error::invalid(where + ".name: must not be empty");
  r.name = *name;
  auto vcpus = get_int(h, where, "vcpus", true);
  if (!vcpus.ok()) return vcpus.error();
  r.vcpus = static_cast<int>(*vcpus);
  auto ram = get_int(h, where, "memory_mb", true);
  if (!ram.ok()) return ram.error();
  r.memory_mb = *ram;
  auto disk = get_int(h, where, "disk_gb", true);
  if (!disk.ok()) return disk.error();
  r.disk_gb = *disk;
  auto hv = get_string(h, where, "hypervisor_type", false, "QEMU");
  if (!hv.ok()) return hv.error();
  r.hypervisor_type = *hv;
  auto arch = get_string(h, where, "cpu_arch", false, "x86_64");
  if (!arch.ok()) return arch.error();
  r.cpu_arch = *arch;
  if (h.contains("fail_spawn")) {
    if (!h["fail_spawn"].is_boolean())
      return Error::invalid(where + ".fail_spawn: a boolean is required");
    host.fail_spawn = h["fail_spawn"].get<bool>();
  }
  auto clean_ms = get_int(h, where, "clean_ms", false);
  if (!clean_ms.ok()) return clean_ms.error();
  host.clean_ms = static_cast<int>(*clean_ms);
  auto spawn_ms = get_int(h, where, "spawn_ms", false);
  if (!spawn_ms.ok()) return spawn_ms.error();
  host.spawn_ms = static_cast<int>(*spawn_ms);
  auto network = get_string(h, where, "guest_network", false);
  if (!network.ok()) return network.error();
  if (!network->empty()) {
    if (auto s = parse_network(*network, where, host); !s.ok()) return s.error();
  }
  auto network_name = get_string(h, where, "guest_network_name", false, "private");
  if (!network_name.ok()) return network_name.error();
  if (network_name->empty())
    return Error::invalid(where + ".guest_network_name: must not be empty");
  host.network_name = *network_name;
  if (h.contains("pci_devices")) {
    if (!h["pci_devices"].is_array())
      return Error::invalid(where + ".pci_devices: a list is required");
    std::set<PciAddress> seen;
    for (size_t i = 0; i < h["pci_devices"].size(); ++i) {
      const std::string w = where + ".pci_devices[" + std::to_string(i) + "]";
      auto dev = parse_device(h["pci_devices"][i], w);
      if (!dev.ok()) return dev.error();
      if (!seen.insert(dev->address).second) {
        return Error::invalid(w + ".address: " + dev->address.to_string() + " is listed twice");
      }
      const json& d = h["pci_devices"][i];
      if (d.contains("one_time_use")) {
        if (!d["one_time_use"].is_boolean())
          return Error::invalid(w + ".one_time_use: a boolean is required");
        if (d["one_time_use"].get<bool>()) r.device_tags[dev->address]["one_time_use"] = "true";
      }
      // Topology, as the agent reports it: the switch from sysfs, the partition from the spec.
      for (const char* key : {"pcie_switch", "nvlink_partition"}) {
        auto v = get_string(d, w, key, false);
        if (!v.ok()) return v.error();
        if (!v->empty()) r.device_tags[dev->address][key] = *v;
      }
      auto fails = get_string(d, w, "clean_fails", false);
      if (!fails.ok()) return fails.error();
      if (!fails->empty()) host.clean_fails[dev->address] = *fails;
      r.pci_devices.push_back(*dev);
    }
  }
  return host;
}

class FakeDriver : public ComputeDriver {
 public:
  // The simulated hosts boot with the driver, to the second, as a host's boot time is reported.
  explicit FakeDriver(std::vector<FakeHost> hosts) {
    const auto booted = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    for (auto& h : hosts) {
      h.resources.booted_at = booted;
      hosts_.emplace(h.resources.name, std::move(h));
    }
  }
  std::string type() const override { return "fake"; }

  Result<std::vector<HostResources>> hosts() override {
    std::lock_guard lock(mu_);
    std::vector<HostResources> out;
    for (const auto& [name, h] : hosts_) {
      out.push_back(h.resources);
      out.back().guest_network = h.network_name;
      out.back().guest_cidr = ipv4_text(h.network) + "/" + std::to_string(h.prefix);
    }
    return out;
  }

  Status spawn(const store::Instance& instance, const store::Flavor&, const store::Image& image,
               const std::vector<store::PciDeviceRecord>& devices) override {
    if (!instance.host) return Error::invalid("instance " + instance.uuid + " has no host");
    take_time(*instance.host, &FakeHost::spawn_ms);
    std::lock_guard lock(mu_);
    auto* h = find(*instance.host);
    if (!h) return Error::not_found("fake driver: no host named " + *instance.host);
    if (h->fail_spawn) {
      return Error::unavailable("fake driver: host " + *instance.host +
                                " is configured to fail every spawn");
    }
    DomainInfo d;
    d.instance_uuid = instance.uuid;
    // Named as the libvirt driver names its domains (agent/domain_spec.cc), so that the agent's
    // orphan check meets under the fake driver exactly what it meets on a real host.
    d.name = "instance-" + instance.uuid;
    d.power = store::PowerState::kRunning;
    for (const auto& dev : devices) {
      bool present = false;
      for (const auto& p : h->resources.pci_devices) present = present || p.address == dev.address;
      if (!present) {
        return Error::not_found("fake driver: host " + *instance.host + " has no PCI device " +
                                dev.address.to_string());
      }
      for (const auto& [uuid, other] : h->domains) {
        if (uuid == instance.uuid) continue;
        for (const auto& a : other.pci_devices) {
          if (a == dev.address) {
            return Error::conflict("fake driver: PCI device " + a.to_string() + " on " +
                                   *instance.host + " is already passed through to " + uuid);
          }
        }
      }
      d.pci_devices.push_back(dev.address);
    }
    if (!without_network(instance)) {
      d.ip_address = free_address(*h, instance.uuid);
      d.network = h->network_name;
    }
    start_stand_in(instance, image, d);
    h->domains[instance.uuid] = std::move(d);
    h->console_logs[instance.uuid].clear();
    log_boot(*h, instance.uuid);
    return {};
  }

  Status reserve_addresses(const std::string& host,
                           const std::vector<std::string>& addresses) override {
    std::lock_guard lock(mu_);
    auto* h = find(host);
    if (!h) return Error::not_found("fake driver: no host named " + host);
    h->reserved = std::set<std::string>(addresses.begin(), addresses.end());
    return {};
  }

  Status destroy(const std::string& host, const std::string& uuid) override {
    std::lock_guard lock(mu_);
    auto* h = find(host);
    if (!h) return Error::not_found("fake driver: no host named " + host);
    h->domains.erase(uuid);
    h->console_logs.erase(uuid);
    h->firewalls.erase(uuid);
    services_.stop(uuid);
    return {};
  }
  Status apply_firewall(const std::string& host, const std::string& uuid,
                        const Firewall& firewall) override {
    std::lock_guard lock(mu_);
    auto* h = find(host);
    if (!h) return Error::not_found("fake driver: no host named " + host);
    h->firewalls[uuid] = firewall;
    return {};
  }
  Result<std::optional<Firewall>> firewall(const std::string& host,
                                           const std::string& uuid) override {
    std::lock_guard lock(mu_);
    auto* h = find(host);
    if (!h) return Error::not_found("fake driver: no host named " + host);
    auto it = h->firewalls.find(uuid);
    if (it == h->firewalls.end()) return std::optional<Firewall>();
    return std::optional<Firewall>(it->second);
  }
  // A fake guest has no disk: its snapshot is a small file that names it, enough for the image
  // upload, the checksum and unshelve to be exercised end to end.
  Status snapshot(const std::string& host, const std::string& uuid,
                  const std::string& to) override {
    {
      std::lock_guard lock(mu_);
      auto* h = find(host);
      if (!h) return Error::not_found("fake driver: no host named " + host);
      if (!h->domains.count(uuid)) {
        return Error::not_found("fake driver: no guest " + uuid + " on " + host);
      }
    }
    std::ofstream out(to, std::ios::binary | std::ios::trunc);
    out << "gpucloud fake driver: the disk of instance " << uuid << " on " << host << "\n";
    out.close();
    if (!out) return Error::unavailable("fake driver: cannot write the snapshot " + to);
    return {};
  }
  // A device is clean unless a guest still has it (a real host would find it bound to a running
  // QEMU) or the hosts file says its cleaning fails.
  Result<std::vector<CleanOutcome>> clean(const std::string& host,
                                          const std::vector<CleanDevice>& devices) override {
    take_time(host, &FakeHost::clean_ms);
    std::lock_guard lock(mu_);
    auto* h = find(host);
    if (!h) return Error::not_found("fake driver: no host named " + host);
    std::vector<CleanOutcome> out;
    for (const auto& d : devices) {
      CleanOutcome o{d.address, true, "", {"reset (fake)"}};
      bool present = false;
      for (const auto& p : h->resources.pci_devices) present = present || p.address == d.address;
      if (!present)
        o = {d.address, false, "the host has no PCI device " + d.address.to_string(), {}};
      for (const auto& [uuid, guest] : h->domains) {
        for (const auto& a : guest.pci_devices) {
          if (a == d.address) o = {d.address, false, "still passed through to guest " + uuid, {}};
        }
      }
      if (auto f = h->clean_fails.find(d.address); o.clean && f != h->clean_fails.end()) {
        o = {d.address, false, f->second, {"reset (fake)"}};
      }
      out.push_back(std::move(o));
    }
    return out;
  }

  Status power_on(const std::string& host, const std::string& uuid) override {
    return set_power(host, uuid, store::PowerState::kRunning);
  }
  Status power_off(const std::string& host, const std::string& uuid) override {
    return set_power(host, uuid, store::PowerState::kShutdown);
  }
  Status reboot(const std::string& host, const std::string& uuid, bool) override {
    return set_power(host, uuid, store::PowerState::kRunning);
  }
  // A simulated guest's serial console: a few lines per boot, kept while the guest exists (as
  // libvirt's console log is, across a power off).
  Result<std::string> console_output(const std::string& host, const std::string& uuid) override {
    std::lock_guard lock(mu_);
    auto* h = find(host);
    if (!h) return Error::not_found("fake driver: no host named " + host);
    auto it = h->console_logs.find(uuid);
    if (it == h->console_logs.end()) {
      return Error::not_found("fake driver: no guest " + uuid + " on " + host);
    }
    const std::string& log = it->second;
    return log.size() > kMaxConsoleBytes ? log.substr(log.size() - kMaxConsoleBytes) : log;
  }
  Result<std::vector<DomainInfo>> list_domains(const std::string& host) override {
    std::lock_guard lock(mu_);
    auto* h = find(host);
    if (!h) return Error::not_found("fake driver: no host named " + host);
    std::vector<DomainInfo> out;
    for (const auto& [uuid, d] : h->domains) out.push_back(d);
    return out;
  }

 private:
  // The lowest address of the host's guest network that no other guest has (.1 is the
  // "gateway"); a guest spawned again keeps its address. "" when the network is full.
  static std::string free_address(const FakeHost& h, const std::string& uuid) {
    if (auto it = h.domains.find(uuid); it != h.domains.end()) return it->second.ip_address;
    std::set<std::string> used;
    for (const auto& [other, d] : h.domains) used.insert(d.ip_address);
    used.insert(h.reserved.begin(), h.reserved.end());
    const uint32_t size = 1u << (32 - h.prefix);
    for (uint32_t k = 2; k + 1 < size; ++k) {
      std::string ip = ipv4_text(h.network + k);
      if (!used.count(ip)) return ip;
    }
    return "";
  }

  static void log_boot(FakeHost& h, const std::string& uuid) {
    auto d = h.domains.find(uuid);
    if (d == h.domains.end()) return;
    std::string& log = h.console_logs[uuid];
    const std::string name = d->second.name;
    log += "SeaBIOS (version gpucloud-fake)\r\n";
    log += "Booting from Hard Disk...\r\n";
    log += "[    0.000000] Linux version 6.1.0 (gpucloud fake guest " + name + ")\r\n";
    log += "[    0.000000] Command line: console=ttyS0\r\n";
    for (const auto& a : d->second.pci_devices) {
      log += "[    1.000000] pci " + a.to_string() + ": passed through by the host\r\n";
    }
    if (!d->second.ip_address.empty()) {
      log += "[    2.000000] eth0: leased " + d->second.ip_address + "\r\n";
    }
    log += name + " login: \r\n";
    if (log.size() > 2 * kMaxConsoleBytes) log.erase(0, log.size() - kMaxConsoleBytes);
  }

  FakeHost* find(const std::string& name) {
    auto it = hosts_.find(name);
    return it == hosts_.end() ? nullptr : &it->second;
  }
  // Sleeps the host's configured duration (spawn_ms, clean_ms), not under mu_; an unknown host
  // takes none (the caller's own lookup then reports it).
  void take_time(const std::string& host, int FakeHost::*ms_field) {
    int ms = 0;
    {
      std::lock_guard lock(mu_);
      if (auto* h = find(host)) ms = h->*ms_field;
    }
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  Status set_power(const std::string& host, const std::string& uuid, store::PowerState p) {
    std::lock_guard lock(mu_);
    auto* h = find(host);
    if (!h) return Error::not_found("fake driver: no host named " + host);
    auto it = h->domains.find(uuid);
    if (it == h->domains.end()) {
      return Error::not_found("fake driver: no guest " + uuid + " on " + host);
    }
    it->second.power = p;
    if (p == store::PowerState::kRunning) {
      log_boot(*h, uuid);
    } else {
      h->console_logs[uuid] += "reboot: Power down\r\n";
    }
    return {};
  }

  // The guest's stand-in services on its address (fake_guest_services.h), reported as its
  // forwarded ports. The image property (or server metadata) gpucloud_fake_service=down makes a
  // guest whose service never starts. Without a local address (a guest_network that is not
  // loopback) the guest has none, and probes of it fail.
  void start_stand_in(const store::Instance& instance, const store::Image& image, DomainInfo& d) {
    d.address_source = "fake";
    if (d.ip_address.empty()) return;
    auto flag = [&](const std::map<std::string, std::string>& m) {
      auto it = m.find("gpucloud_fake_service");
      return it == m.end() ? std::string() : it->second;
    };
    FakeGuestServices::Guest g;
    g.uuid = instance.uuid;
    g.name = instance.name.empty() ? d.name : instance.name;
    g.ip = d.ip_address;
    g.up = flag(instance.metadata) != "down" && flag(image.properties) != "down";
    if (auto it = image.properties.find("service_url"); it != image.properties.end()) {
      g.http_guest_port = url_port(it->second);
    }
    g.console = true;
    auto ports = services_.start(g);
    if (ports.ok()) {
      // The seed's cloud runs SPICE guests; a simulated guest's console is a stand-in.
      if (auto c = ports->find(kConsolePortKey); c != ports->end()) {
        d.console_type = "spice";
        d.console_host = d.ip_address;
        d.console_port = c->second;
        ports->erase(c);
      }
      d.forwarded_ports = *ports;
    } else {
      spdlog::debug("fake driver: {}", ports.error().message);
    }
  }

  std::mutex mu_;
  std::map<std::string, FakeHost> hosts_;
  FakeGuestServices services_;
};

}  // namespace

Result<std::unique_ptr<ComputeDriver>> make_fake_driver(std::string_view json_text) {
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error::invalid("fake hosts: not valid JSON");
  if (!doc.is_object()) return Error::invalid("fake hosts: a JSON object is required");
  if (auto s = check_keys(doc, "fake hosts", {"hosts"}); !s.ok()) return s.error();
  if (!doc.contains("hosts") || !doc["hosts"].is_array()) {
    return Error::invalid("hosts: a list is required");
  }
  std::vector<FakeHost> hosts;
  std::set<std::string> names;
  for (size_t i = 0; i < doc["hosts"].size(); ++i) {
    const std::string where = "hosts[" + std::to_string(i) + "]";
    auto h = parse_host(doc["hosts"][i], where);
    if (!h.ok()) return h.error();
    if (!names.insert(h->resources.name).second) {
      return Error::invalid(where + ".name: '" + h->resources.name + "' is listed twice");
    }
    // Without guest_network: host i of the file gets 127.0.<i+1>.0/24, so guests of `gpucloud
    // up` have distinct loopback addresses that readiness probes (and test services) can reach.
    if (h->network == 0) h->network = (127u << 24) + (static_cast<uint32_t>(i) + 1) * 256;
    hosts.push_back(std::move(*h));
  }
  return std::unique_ptr<ComputeDriver>(new FakeDriver(std::move(hosts)));
}

Result<std::unique_ptr<ComputeDriver>> load_fake_driver(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::not_found("cannot read fake hosts file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  auto d = make_fake_driver(ss.str());
  if (!d.ok()) return d.error().with_context(path);
  return d;
}

}  // namespace gpucloud::compute
