// LibvirtDriver: ComputeDriver over libvirt's C API. One connection, serialised by a mutex (the
// agent's work arrives one task at a time; libvirt connections are thread-safe, but the
// check-then-define of spawn must not interleave).
#include "agent/libvirt_driver.h"

#include <arpa/inet.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/statvfs.h>

#include <ctime>
#include <filesystem>
#include <mutex>
#include <regex>
#include <set>

#include "agent/config_drive.h"
#include "agent/console_log.h"
#include "agent/domain_graphics.h"
#include "agent/guest_addresses.h"
#include "agent/libvirt_command.h"
#include "agent/network_xml.h"
#include "agent/nwfilter_read.h"
#include "agent/nwfilter_xml.h"

namespace gpucloud::agent {
namespace {

void quiet_errors(void*, virErrorPtr) {}  // errors are read with virGetLastErrorMessage

std::string last_error() {
  const char* m = virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

struct DomainRef {
  virDomainPtr ptr = nullptr;
  explicit DomainRef(virDomainPtr p) : ptr(p) {}
  DomainRef(const DomainRef&) = delete;
  DomainRef& operator=(const DomainRef&) = delete;
  ~DomainRef() {
    if (ptr) virDomainFree(ptr);
  }
};

store::PowerState power_of(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
      return store::PowerState::kRunning;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
      return store::PowerState::kPaused;
    case VIR_DOMAIN_SHUTDOWN:
    case VIR_DOMAIN_SHUTOFF:
      return store::PowerState::kShutdown;
    case VIR_DOMAIN_CRASHED:
      return store::PowerState::kCrashed;
    default:
      return store::PowerState::kNoState;
  }
}

class LibvirtDriver : public compute::ComputeDriver {
 public:
  LibvirtDriver(LibvirtOptions options, virConnectPtr conn)
      : options_(std::move(options)), conn_(conn) {
    if (!options_.clean.privileged_reset) {
      options_.clean.privileged_reset = [this](const PciAddress& a) { return node_reset(a); };
    }
  }
  ~LibvirtDriver() override { virConnectClose(conn_); }

  std::string type() const override { return "libvirt"; }

  Result<std::vector<compute::HostResources>> hosts() override {
    std::lock_guard lock(mu_);
    virNodeInfo info;
    if (virNodeGetInfo(conn_, &info) != 0) return Error::unavailable("libvirt: " + last_error());
    compute::HostResources h;
    h.name = options_.host_name;
    h.vcpus = static_cast<int>(info.cpus);
    h.memory_mb = static_cast<int64_t>(info.memory / 1024);
    struct statvfs fs;
    if (statvfs(options_.instances_path.c_str(), &fs) == 0) {
      h.disk_gb = static_cast<int64_t>(fs.f_blocks * fs.f_frsize / (1024ull * 1024 * 1024));
    }
    h.pci_devices = options_.pci_devices;
    h.device_tags = options_.device_tags;
    h.guest_network = options_.domain.network;
    if (!h.guest_network.empty()) h.guest_cidr = network_ipv4_cidr(network_xml());
    // The agent runs on the host: its boot is now less the time since boot (CLOCK_BOOTTIME counts
    // suspended time too, as `uptime` does).
    struct timespec since_boot;
    if (clock_gettime(CLOCK_BOOTTIME, &since_boot) == 0) {
      h.booted_at = std::chrono::floor<std::chrono::seconds>(
          std::chrono::system_clock::now() - std::chrono::seconds(since_boot.tv_sec));
    }
    return std::vector<compute::HostResources>{h};
  }

  Result<std::vector<compute::CleanOutcome>> clean(
      const std::string& host, const std::vector<compute::CleanDevice>& devices) override {
    if (auto s = check_host(host); !s.ok()) return s.error();
    auto domains = list_domains(host);
    if (!domains.ok()) return domains.error();
    std::vector<compute::CleanOutcome> out;
    for (const auto& d : devices) {
      // Never reset a device under a running guest (one whose destroy failed keeps it).
      std::string user;
      for (const auto& dom : *domains) {
        for (const auto& a : dom.pci_devices) {
          if (a == d.address) user = dom.name;
        }
      }
      if (!user.empty()) {
        out.push_back({d.address, false, "still passed through to domain " + user, {}});
        continue;
      }
      out.push_back(clean_device(options_.clean, d));
    }
    return out;
  }

  Status spawn(const store::Instance& instance, const store::Flavor& flavor,
               const store::Image& image,
               const std::vector<store::PciDeviceRecord>& devices) override {
    if (auto s = check_host(instance.host.value_or("")); !s.ok()) return s;
    std::lock_guard lock(mu_);
    if (auto s = check_devices_free(instance.uuid, devices); !s.ok()) return s;
    DomainOptions opts = options_.domain;
    opts.instance_dir = options_.instances_path + "/" + instance.uuid;
    opts.disk_path = opts.instance_dir + "/disk";
    opts.config_drive_path = opts.instance_dir + "/disk.config";
    opts.kernel_path = opts.instance_dir + "/kernel";
    opts.ramdisk_path = opts.instance_dir + "/ramdisk";
    if (opts.spice_enabled) {
      auto port = free_graphics_port(opts.graphics_listen);
      if (!port.ok()) return port.error();
      opts.graphics_port = *port;
    }
    auto spec = make_domain_spec(instance, flavor, image, devices, opts);
    if (!spec.ok()) return spec.error();
    // A failed spawn leaves nothing behind: the server retries elsewhere or marks ERROR.
    auto cleanup = [&] {
      if (!options_.prepare_storage) return;
      std::error_code ec;
      std::filesystem::remove_all(opts.instance_dir, ec);
    };
    if (options_.prepare_storage) {
      if (auto s = prepare_storage(instance, image, devices, *spec, opts); !s.ok()) {
        cleanup();
        return s;
      }
    }
    // The guest's firewall was set before this (run_task): its NIC references it, so that the
    // guest never runs unfiltered. No filter (a server from before security groups, or a
    // libvirt without nwfilter): an open NIC, as before.
    if (has_filter(instance.uuid)) {
      for (auto& n : spec->networks) n.filter = nwfilter_name(instance.uuid);
    }
    std::string xml = to_domain_xml(*spec);
    DomainRef dom(virDomainDefineXML(conn_, xml.c_str()));
    if (!dom.ptr) {
      std::string err = last_error();
      cleanup();
      return Error::internal("libvirt: defining " + spec->name + ": " + err);
    }
    if (virDomainCreate(dom.ptr) != 0) {
      std::string err = last_error();
      virDomainUndefineFlags(dom.ptr, VIR_DOMAIN_UNDEFINE_NVRAM);
      cleanup();
      return Error::internal("libvirt: starting " + spec->name + ": " + err);
    }
    return {};
  }

  Status destroy(const std::string& host, const std::string& uuid) override {
    if (auto s = check_host(host); !s.ok()) return s;
    std::lock_guard lock(mu_);
    DomainRef dom(virDomainLookupByUUIDString(conn_, uuid.c_str()));
    if (dom.ptr) {
      if (virDomainIsActive(dom.ptr) == 1 && virDomainDestroy(dom.ptr) != 0) {
        return Error::internal("libvirt: stopping " + uuid + ": " + last_error());
      }
      if (virDomainUndefineFlags(dom.ptr, VIR_DOMAIN_UNDEFINE_NVRAM) != 0 &&
          virDomainUndefine(dom.ptr) != 0) {
        return Error::internal("libvirt: undefining " + uuid + ": " + last_error());
      }
    }
    // After the domain: libvirt refuses to remove a filter that a guest still uses.
    if (virNWFilterPtr f = virNWFilterLookupByName(conn_, nwfilter_name(uuid).c_str())) {
      const bool gone = virNWFilterUndefine(f) == 0;
      virNWFilterFree(f);
      if (!gone)
        return Error::internal("libvirt: removing the firewall of " + uuid + ": " + last_error());
    }
    if (options_.prepare_storage && !uuid.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(options_.instances_path + "/" + uuid, ec);
    }
    return {};
  }

  // Reserved fixed IPs as DHCP host entries of the guests' network (agent/network_xml.h), changed
  // live and in its persistent definition, so that a network restart keeps them.
  Status reserve_addresses(const std::string& host,
                           const std::vector<std::string>& addresses) override {
    if (auto s = check_host(host); !s.ok()) return s;
    std::lock_guard lock(mu_);
    if (options_.domain.network.empty()) return {};  // no network: nothing hands addresses out
    virNetworkPtr net = virNetworkLookupByName(conn_, options_.domain.network.c_str());
    if (!net) {
      return Error::unavailable("libvirt: network " + options_.domain.network + ": " +
                                last_error());
    }
    const auto changes = reservation_changes(network_xml(), addresses);
    unsigned flags = VIR_NETWORK_UPDATE_AFFECT_CONFIG;
    if (virNetworkIsActive(net) == 1) flags |= VIR_NETWORK_UPDATE_AFFECT_LIVE;
    Status out;
    auto update = [&](unsigned command, const std::string& xml) {
      if (!out.ok()) return;
      if (virNetworkUpdate(net, command, VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, xml.c_str(),
                           flags) != 0) {
        out = Error::internal("libvirt: network " + options_.domain.network + ": " + xml + ": " +
                              last_error());
      }
    };
    for (const auto& xml : changes.remove) update(VIR_NETWORK_UPDATE_COMMAND_DELETE, xml);
    for (const auto& xml : changes.add) update(VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, xml);
    virNetworkFree(net);
    return out;
  }

  // The guest's firewall as nwfilter gpucloud-<uuid>. Redefining the filter of a running guest
  // makes libvirt apply the new rules to its NIC at once. A libvirt without the nwfilter driver
  // (test:///default) answers kNotImplemented: the guest then runs unfiltered, as the log says.
  Status apply_firewall(const std::string& host, const std::string& uuid,
                        const compute::Firewall& firewall) override {
    if (auto s = check_host(host); !s.ok()) return s;
    std::lock_guard lock(mu_);
    return define_filter(uuid, firewall);
  }
  // Under the lock destroy holds: a domain that is gone (or not there yet) gets no filter.
  Status update_firewall(const std::string& host, const std::string& uuid,
                         const compute::Firewall& firewall) override {
    if (auto s = check_host(host); !s.ok()) return s;
    std::lock_guard lock(mu_);
    DomainRef dom(virDomainLookupByUUIDString(conn_, uuid.c_str()));
    if (!dom.ptr) return Error::not_found("no guest " + uuid + " on this host");
    return define_filter(uuid, firewall);
  }
  // Defines gpucloud-<uuid> (the caller holds mu_). A redefinition keeps the filter's UUID:
  // libvirt refuses the name under a new one.
  Status define_filter(const std::string& uuid, const compute::Firewall& firewall) {
    std::string filter_uuid;
    if (virNWFilterPtr old = virNWFilterLookupByName(conn_, nwfilter_name(uuid).c_str())) {
      char buf[VIR_UUID_STRING_BUFLEN];
      if (virNWFilterGetUUIDString(old, buf) == 0) filter_uuid = buf;
      virNWFilterFree(old);
    }
    const std::string xml = nwfilter_xml(uuid, firewall, filter_uuid, network_addresses());
    virNWFilterPtr f = virNWFilterDefineXML(conn_, xml.c_str());
    if (!f) {
      virErrorPtr e = virGetLastError();
      if (e && e->code == VIR_ERR_NO_SUPPORT) {
        return Error{ErrorCode::kNotImplemented, "libvirt " + options_.uri + " has no nwfilter"};
      }
      return Error::internal("libvirt: defining the firewall of " + uuid + ": " + last_error());
    }
    virNWFilterFree(f);
    return {};
  }
  // What the host enforces now: the ingress rules read back from gpucloud-<uuid>; nullopt when
  // the guest has no filter (or this libvirt has no nwfilter driver, like test:///default).
  Result<std::optional<compute::Firewall>> firewall(const std::string& host,
                                                    const std::string& uuid) override {
    if (auto s = check_host(host); !s.ok()) return s.error();
    std::lock_guard lock(mu_);
    virNWFilterPtr f = virNWFilterLookupByName(conn_, nwfilter_name(uuid).c_str());
    if (!f) {
      virErrorPtr e = virGetLastError();
      if (!e || e->code == VIR_ERR_NO_NWFILTER || e->code == VIR_ERR_NO_SUPPORT) {
        return std::optional<compute::Firewall>{};
      }
      return Error::unavailable("libvirt: looking up the firewall of " + uuid + ": " +
                                last_error());
    }
    char* xml = virNWFilterGetXMLDesc(f, 0);
    virNWFilterFree(f);
    if (!xml)
      return Error::internal("libvirt: reading the firewall of " + uuid + ": " + last_error());
    const std::string text = xml;
    free(xml);
    auto fw = firewall_from_nwfilter_xml(text);
    if (!fw.ok()) return fw.error().with_context("the firewall of " + uuid);
    return std::optional<compute::Firewall>{std::move(*fw)};
  }

  // The guest's overlay and its base flattened into one qcow2 file (qemu-img reads the backing
  // chain); the caller powered the guest off.
  Status snapshot(const std::string& host, const std::string& uuid,
                  const std::string& to) override {
    if (auto s = check_host(host); !s.ok()) return s;
    const std::string disk = options_.instances_path + "/" + uuid + "/disk";
    std::error_code ec;
    if (!std::filesystem::exists(disk, ec)) {
      return Error::not_found("instance " + uuid + " has no disk on this host (" + disk + ")");
    }
    return run_checked({"qemu-img", "convert", "-q", "-O", compute::kSnapshotDiskFormat, disk, to});
  }

  // libvirtd (root) resets the device: its node device name is pci_DDDD_BB_SS_F.
  Status node_reset(const PciAddress& a) {
    std::string name = "pci_" + a.to_string();
    for (char& c : name) {
      if (c == ':' || c == '.') c = '_';
    }
    virNodeDevicePtr dev = virNodeDeviceLookupByName(conn_, name.c_str());
    if (!dev) return Error::unavailable("libvirt: node device " + name + ": " + last_error());
    const int rc = virNodeDeviceReset(dev);
    std::string err = rc != 0 ? last_error() : "";
    virNodeDeviceFree(dev);
    if (rc != 0) return Error::unavailable("libvirt: resetting " + name + ": " + err);
    return {};
  }

  Status power_on(const std::string& host, const std::string& uuid) override {
    return with_domain(host, uuid, [&](virDomainPtr d) -> Status {
      if (virDomainIsActive(d) == 1) return {};
      if (virDomainCreate(d) != 0) return Error::internal("libvirt: starting: " + last_error());
      return {};
    });
  }

  // Hard stop, like nova's power_off with a zero timeout; a clean guest shutdown needs the
  // guest's cooperation and a timeout, which the agent's task layer decides.
  Status power_off(const std::string& host, const std::string& uuid) override {
    return with_domain(host, uuid, [&](virDomainPtr d) -> Status {
      if (virDomainIsActive(d) != 1) return {};
      if (virDomainDestroy(d) != 0) return Error::internal("libvirt: stopping: " + last_error());
      return {};
    });
  }

  Status reboot(const std::string& host, const std::string& uuid, bool hard) override {
    return with_domain(host, uuid, [&](virDomainPtr d) -> Status {
      if (!hard) {
        if (virDomainReboot(d, 0) != 0) return Error::internal("libvirt: reboot: " + last_error());
        return {};
      }
      if (virDomainIsActive(d) == 1 && virDomainDestroy(d) != 0) {
        return Error::internal("libvirt: stopping: " + last_error());
      }
      if (virDomainCreate(d) != 0) return Error::internal("libvirt: starting: " + last_error());
      return {};
    });
  }

  Result<std::vector<compute::DomainInfo>> list_domains(const std::string& host) override {
    if (auto s = check_host(host); !s.ok()) return s.error();
    std::lock_guard lock(mu_);
    return list_locked();
  }

  // With the address: lease, guest agent, ARP (guest_addresses.h). The lookup holds the lock;
  // the address queries do not (a guest agent may take its timeout to answer, and libvirt's
  // connection is thread-safe).
  Result<compute::DomainInfo> guest(const std::string& host, const std::string& uuid) override {
    if (auto s = check_host(host); !s.ok()) return s.error();
    virDomainPtr raw = nullptr;
    {
      std::lock_guard lock(mu_);
      raw = virDomainLookupByUUIDString(conn_, uuid.c_str());
    }
    if (!raw) return Error::not_found("no libvirt domain for instance " + uuid);
    DomainRef dom(raw);
    std::string xml;
    compute::DomainInfo info = describe(dom.ptr, &xml);
    if (info.power != store::PowerState::kRunning) return info;
    // Only a fixed port is reported: an autoport guest (defined before gpucloud fixed them) may
    // come back on another port, and the relay must never reach another guest.
    if (auto g = domain_graphics(xml); g && !g->autoport && g->port > 0) {
      info.console_type = g->type;
      info.console_host = options_.console_address;
      info.console_port = g->port;
    }
    auto found = find_guest_address(xml, libvirt_address_query(dom.ptr));
    if (found.ok()) {
      info.ip_address = found->ip;
      info.mac_address = found->mac;
      info.network = found->network;
      info.address_source = to_string(found->source);
    }
    return info;
  }

  Result<std::string> console_output(const std::string& host, const std::string& uuid) override {
    if (auto s = check_host(host); !s.ok()) return s.error();
    std::string xml;
    {
      std::lock_guard lock(mu_);
      DomainRef dom(virDomainLookupByUUIDString(conn_, uuid.c_str()));
      if (!dom.ptr) return Error::not_found("no libvirt domain for instance " + uuid);
      char* text = virDomainGetXMLDesc(dom.ptr, 0);
      if (!text)
        return Error::unavailable("libvirt: reading the XML of " + uuid + ": " + last_error());
      xml = text;
      free(text);
    }
    const std::string path = serial_log_path(xml);
    if (path.empty()) {
      return Error::not_found("Guest does not have a console available: domain " +
                              domain_name(uuid) + " logs no serial console");
    }
    return read_tail(path, compute::kMaxConsoleBytes);
  }

 private:
  Status check_host(const std::string& host) const {
    if (host != options_.host_name) {
      return Error::not_found("host '" + host + "' is not this agent's host '" +
                              options_.host_name + "'");
    }
    return {};
  }

  template <typename F>
  Status with_domain(const std::string& host, const std::string& uuid, F f) {
    if (auto s = check_host(host); !s.ok()) return s;
    std::lock_guard lock(mu_);
    DomainRef dom(virDomainLookupByUUIDString(conn_, uuid.c_str()));
    if (!dom.ptr) return Error::not_found("no libvirt domain for instance " + uuid);
    Status s = f(dom.ptr);
    if (!s.ok()) return s.error().with_context(domain_name(uuid));
    return s;
  }

  // A SPICE port that no domain of this host holds, live or defined, and that nothing else
  // listens on (spawns run one at a time under mu_, so two cannot pick the same one).
  Result<int> free_graphics_port(const std::string& listen) {
    virDomainPtr* doms = nullptr;
    const int n = virConnectListAllDomains(conn_, &doms, 0);
    if (n < 0) return Error::unavailable("libvirt: listing domains: " + last_error());
    std::set<int> used;
    for (int i = 0; i < n; ++i) {
      DomainRef dom(doms[i]);
      for (unsigned flags : {0u, static_cast<unsigned>(VIR_DOMAIN_XML_INACTIVE)}) {
        if (char* xml = virDomainGetXMLDesc(dom.ptr, flags)) {
          add_graphics_ports(xml, used);
          free(xml);
        }
      }
    }
    free(doms);
    auto port = pick_graphics_port(used, [&](int p) { return tcp_port_bindable(listen, p); });
    if (!port) return Error::unavailable("no free SPICE port on " + listen);
    return *port;
  }

  Result<std::vector<compute::DomainInfo>> list_locked() {
    virDomainPtr* doms = nullptr;
    int n = virConnectListAllDomains(conn_, &doms, 0);
    if (n < 0) return Error::unavailable("libvirt: listing domains: " + last_error());
    std::vector<compute::DomainInfo> out;
    for (int i = 0; i < n; ++i) {
      DomainRef dom(doms[i]);
      out.push_back(describe(dom.ptr, nullptr));
    }
    free(doms);
    return out;
  }

  // Name, uuid, power state and passed-through devices; the live XML into `xml` when asked.
  static compute::DomainInfo describe(virDomainPtr dom, std::string* xml_out) {
    compute::DomainInfo info;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) == 0) info.instance_uuid = uuid;
    if (const char* name = virDomainGetName(dom)) info.name = name;
    int state = 0;
    int reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) == 0) info.power = power_of(state);
    if (char* xml = virDomainGetXMLDesc(dom, 0)) {
      info.pci_devices = hostdev_addresses(xml);
      if (xml_out) *xml_out = xml;
      free(xml);
    }
    return info;
  }

  Status check_devices_free(const std::string& uuid,
                            const std::vector<store::PciDeviceRecord>& devices) {
    auto doms = list_locked();
    if (!doms.ok()) return doms.error();
    for (const auto& d : *doms) {
      if (d.instance_uuid == uuid) {
        return Error::conflict("a libvirt domain for instance " + uuid + " exists already");
      }
      for (const auto& used : d.pci_devices) {
        for (const auto& want : devices) {
          if (want.address == used) {
            return Error::conflict("PCI device " + used.to_string() + " is used by domain " +
                                   d.name);
          }
        }
      }
    }
    return {};
  }

  Status prepare_storage(const store::Instance& instance, const store::Image& image,
                         const std::vector<store::PciDeviceRecord>& devices, const DomainSpec& spec,
                         const DomainOptions& opts) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(opts.instance_dir, ec);
    if (ec) return Error::internal(opts.instance_dir + ": " + ec.message());
    // The base image is copied once per host and shared read-only by every overlay.
    std::string base_dir = options_.instances_path + "/_base";
    std::string base = base_dir + "/" + image.id;
    fs::create_directories(base_dir, ec);
    if (!fs::exists(base)) {
      if (image.location.empty() || !fs::exists(image.location)) {
        return Error::not_found("image " + image.id + ": no local data at '" + image.location +
                                "'");
      }
      std::string tmp = base + ".part";
      fs::copy_file(image.location, tmp, fs::copy_options::overwrite_existing, ec);
      if (!ec) fs::rename(tmp, base, ec);
      if (ec) return Error::internal("caching image " + image.id + ": " + ec.message());
    }
    // kernel_id / ramdisk_id: base images too (the agent caches them with the image); each
    // guest gets its own copy, as in nova, so that libvirt may relabel it.
    for (const auto& [key, path] :
         {std::pair{"kernel_id", opts.kernel_path}, std::pair{"ramdisk_id", opts.ramdisk_path}}) {
      auto it = image.properties.find(key);
      if (it == image.properties.end() || it->second.empty()) continue;
      const std::string from = base_dir + "/" + it->second;
      if (it->second.find('/') != std::string::npos || !fs::exists(from)) {
        return Error::not_found("image " + image.id + ": its " + key + " " + it->second +
                                " is not on this host (" + from + ")");
      }
      fs::copy_file(from, path, fs::copy_options::overwrite_existing, ec);
      if (ec) return Error::internal("copying " + from + ": " + ec.message());
    }
    std::string format = image.disk_format.empty() ? "raw" : image.disk_format;
    std::vector<std::string> argv = {"qemu-img", "create", "-q", "-f", "qcow2",
                                     "-F",       format,   "-b", base, opts.disk_path};
    if (auto s = run_checked(argv); !s.ok()) return s;

    std::vector<GuestGpu> gpus;
    for (const auto& h : spec.hostdevs) {
      if (h.guest.function != 0) continue;
      for (const auto& d : devices) {
        if (d.address == h.host) gpus.push_back({h.guest, d.vendor_id});
      }
    }
    auto files = make_config_drive_files(instance, image, gpus);
    if (!files.ok()) return files.error();
    return write_config_drive_iso(*files, opts.instance_dir + "/config-drive",
                                  opts.config_drive_path);
  }

  LibvirtOptions options_;
  // The host's own addresses on the guests' libvirt network (its <ip address=...>): the
  // firewall lets them in (the agent probes guests from there). None without a network.
  std::vector<std::string> network_addresses() {
    std::vector<std::string> out;
    static const std::regex kIp(R"(<ip\b[^>]*\baddress=['"]([0-9A-Fa-f:.]+)['"])");
    const std::string text = network_xml();
    for (std::sregex_iterator it(text.begin(), text.end(), kIp), end; it != end; ++it) {
      out.push_back((*it)[1].str());
    }
    return out;
  }

  // The guests' libvirt network's XML; "" without one (none configured, or libvirt lacks it).
  std::string network_xml() {
    if (options_.domain.network.empty()) return "";
    virNetworkPtr net = virNetworkLookupByName(conn_, options_.domain.network.c_str());
    if (!net) return "";
    char* xml = virNetworkGetXMLDesc(net, 0);
    virNetworkFree(net);
    if (!xml) return "";
    std::string text = xml;
    free(xml);
    return text;
  }

  // Whether the guest's firewall filter exists (set by apply_firewall before the spawn).
  bool has_filter(const std::string& uuid) {
    virNWFilterPtr f = virNWFilterLookupByName(conn_, nwfilter_name(uuid).c_str());
    if (!f) return false;
    virNWFilterFree(f);
    return true;
  }

  virConnectPtr conn_;
  std::mutex mu_;
};

}  // namespace

std::vector<PciAddress> hostdev_addresses(const std::string& xml) {
  static const std::regex kHostdev(R"(<hostdev\b[^>]*type=['"]pci['"][^>]*>([\s\S]*?)</hostdev>)");
  static const std::regex kSource(R"(<source>[\s\S]*?<address\b([^>]*)/>)");
  static const std::regex kAttr(R"((domain|bus|slot|function)=['"]0x([0-9a-fA-F]+)['"])");
  std::vector<PciAddress> out;
  for (std::sregex_iterator it(xml.begin(), xml.end(), kHostdev), end; it != end; ++it) {
    std::string body = (*it)[1];
    std::smatch src;
    if (!std::regex_search(body, src, kSource)) continue;
    std::string attrs = src[1];
    PciAddress a;
    for (std::sregex_iterator at(attrs.begin(), attrs.end(), kAttr); at != end; ++at) {
      uint32_t v = static_cast<uint32_t>(std::stoul((*at)[2], nullptr, 16));
      std::string k = (*at)[1];
      if (k == "domain") a.domain = v;
      if (k == "bus") a.bus = v;
      if (k == "slot") a.slot = v;
      if (k == "function") a.function = v;
    }
    out.push_back(a);
  }
  return out;
}

Result<std::unique_ptr<compute::ComputeDriver>> make_libvirt_driver(const LibvirtOptions& options) {
  virSetErrorFunc(nullptr, quiet_errors);
  virConnectPtr conn = virConnectOpen(options.uri.c_str());
  if (!conn) {
    return Error::unavailable("libvirt: cannot connect to '" + options.uri + "': " + last_error());
  }
  return std::unique_ptr<compute::ComputeDriver>(new LibvirtDriver(options, conn));
}

}  // namespace gpucloud::agent
