#include "agent/pci_discovery.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <system_error>

#include "agent/sysfs_read.h"

namespace gpucloud::agent {
namespace fs = std::filesystem;

std::string pcie_switch_of(const fs::path& device_dir) {
  // /sys/bus/pci/devices/X links to /sys/devices/pci0000:00/<root port>/<switch upstream
  // port>/<switch downstream port>/X. Behind a switch the device's grandparent is the switch's
  // upstream port; directly under a root port it is the host bridge (pci0000:00), not a switch.
  std::error_code ec;
  const fs::path real = fs::canonical(device_dir, ec);
  if (ec) return "";
  const std::string name = real.parent_path().parent_path().filename().string();
  return PciAddress::parse(name).ok() ? name : "";
}

namespace {

// Linux IORESOURCE_* flags in the third column of `resource`.
constexpr uint64_t kResourceIo = 0x100;
constexpr uint64_t kResourceMem = 0x200;
constexpr uint64_t kResourcePrefetch = 0x2000;
constexpr uint64_t kResourceMem64 = 0x100000;

Result<HexId> read_id(const fs::path& file, std::string_view what) {
  auto text = read_sysfs_text(file);
  if (!text) return Error::invalid(fmt::format("{}: cannot read", file.string()));
  std::string_view v = *text;
  if (v.starts_with("0x")) v.remove_prefix(2);
  auto id = HexId::parse(v, what);
  if (!id) return id.error().with_context(file.string());
  return id;
}

std::optional<HexId> read_optional_id(const fs::path& file, std::string_view what) {
  auto id = read_id(file, what);
  if (!id) return std::nullopt;
  return *id;
}

std::vector<PciBar> parse_resource(const std::string& text) {
  std::vector<PciBar> bars;
  std::istringstream in(text);
  std::string line;
  // Lines 0..5 are the BARs; 6 is the expansion ROM, later ones bridge windows.
  for (int index = 0; index < 6 && std::getline(in, line); ++index) {
    std::istringstream fields(line);
    std::string s, e, f;
    if (!(fields >> s >> e >> f)) continue;
    auto start = parse_sysfs_u64(s), end = parse_sysfs_u64(e), flags = parse_sysfs_u64(f);
    if (!start || !end || !flags || *end == 0 || *end < *start) continue;
    if (!(*flags & (kResourceIo | kResourceMem))) continue;
    bars.push_back(PciBar{.index = index,
                          .start = *start,
                          .size = *end - *start + 1,
                          .io = (*flags & kResourceIo) != 0,
                          .is_64bit = (*flags & kResourceMem64) != 0,
                          .prefetchable = (*flags & kResourcePrefetch) != 0});
  }
  return bars;
}

// Function Level Reset from config space: the PCI Express capability's Device Capabilities bit
// 28, or the Advanced Features capability. Unprivileged readers see only 64 bytes of config
// space and so never find it; that is why `reset_method` and `reset` are read first.
bool config_space_has_flr(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string cfg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto byte = [&](size_t off) -> unsigned { return static_cast<unsigned char>(cfg[off]); };
  if (cfg.size() < 0x40 || !(byte(0x06) & 0x10)) return false;  // no capability list
  unsigned ptr = byte(0x34) & 0xfc;
  for (int hops = 0; ptr >= 0x40 && ptr + 8 <= cfg.size() && hops < 48; ++hops) {
    const unsigned id = byte(ptr);
    if (id == 0x10) {  // PCI Express
      uint32_t devcap = byte(ptr + 4) | byte(ptr + 5) << 8 | byte(ptr + 6) << 16 |
                        static_cast<uint32_t>(byte(ptr + 7)) << 24;
      if (devcap & (1u << 28)) return true;
    } else if (id == 0x13) {  // Advanced Features: TP and FLR capable
      if ((byte(ptr + 3) & 0x03) == 0x03) return true;
    }
    ptr = byte(ptr + 1) & 0xfc;
  }
  return false;
}

// The address at the end of a symlink such as physfn -> ../0000:81:00.0.
std::optional<PciAddress> link_address(const fs::path& link) {
  auto name = read_link_name(link);
  if (!name) return std::nullopt;
  auto addr = PciAddress::parse(*name);
  if (!addr) return std::nullopt;
  return *addr;
}

Result<DiscoveredDevice> read_device(const fs::path& dir, const PciAddress& address,
                                     const PciIds& ids) {
  DiscoveredDevice d;
  d.device.address = address;
  auto vendor = read_id(dir / "vendor", "vendor");
  if (!vendor) return vendor.error();
  auto product = read_id(dir / "device", "device");
  if (!product) return product.error();
  d.device.vendor_id = *vendor;
  d.device.product_id = *product;
  if (auto cls = read_sysfs_text(dir / "class")) {
    d.class_code = static_cast<uint32_t>(parse_sysfs_u64(*cls).value_or(0) & 0xffffff);
  }
  d.subsystem_vendor_id = read_optional_id(dir / "subsystem_vendor", "subsystem_vendor");
  d.subsystem_device_id = read_optional_id(dir / "subsystem_device", "subsystem_device");
  d.vendor_name = ids.vendor_name(*vendor);
  d.product_name = ids.device_name(*vendor, *product);

  if (auto numa = read_sysfs_int(dir / "numa_node"); numa && *numa >= 0) d.device.numa_node = numa;
  if (auto group = read_link_name(dir / "iommu_group")) {
    int n = 0;
    auto [p, ec] = std::from_chars(group->data(), group->data() + group->size(), n);
    if (ec == std::errc() && p == group->data() + group->size()) d.iommu_group = n;
  }
  d.driver = read_link_name(dir / "driver").value_or("");
  d.pcie_switch = pcie_switch_of(dir);

  if (auto text = read_sysfs_text(dir / "reset_method")) {
    d.reset_method_reported = true;
    std::istringstream words(*text);
    for (std::string w; words >> w;) d.reset_methods.push_back(w);
  }
  std::error_code ec;
  d.has_reset_file = fs::exists(dir / "reset", ec);
  d.has_flr = config_space_has_flr(dir / "config");
  if (auto res = read_sysfs_text(dir / "resource")) d.bars = parse_resource(*res);

  // SR-IOV, as nova's libvirt driver decides dev_type: a `physfn` link makes a VF; a device that
  // can have VFs (sriov_totalvfs > 0, or VFs present) is a PF, even when none are enabled.
  d.sriov_totalvfs = read_sysfs_int(dir / "sriov_totalvfs");
  std::vector<std::pair<int, PciAddress>> vfs;
  for (const auto& name : list_dir(dir).value_or(std::vector<std::string>{})) {
    if (!name.starts_with("virtfn")) continue;
    int index = 0;
    auto [p, e] = std::from_chars(name.data() + 6, name.data() + name.size(), index);
    if (e != std::errc() || p != name.data() + name.size()) continue;
    if (auto vf = link_address(dir / name)) vfs.emplace_back(index, *vf);
  }
  std::sort(vfs.begin(), vfs.end());
  for (auto& [i, vf] : vfs) d.virtfns.push_back(vf);
  if (auto pf = link_address(dir / "physfn")) {
    d.device.dev_type = PciDeviceType::kVf;
    d.device.parent_addr = *pf;
  } else if (d.sriov_totalvfs.value_or(0) > 0 || !d.virtfns.empty()) {
    d.device.dev_type = PciDeviceType::kPf;
  }

  // A network function's interface name: nova's devname, which device specs may match.
  if (auto names = list_dir(dir / "net"); names && !names->empty())
    d.device.devname = names->front();
  return d;
}

}  // namespace

std::string DiscoveredDevice::class_string() const { return fmt::format("{:#08x}", class_code); }

bool DiscoveredDevice::can_reset() const {
  if (reset_method_reported) return !reset_methods.empty();
  return has_reset_file || has_flr;
}

uint64_t DiscoveredDevice::largest_bar() const {
  uint64_t largest = 0;
  for (const auto& bar : bars) largest = std::max(largest, bar.size);
  return largest;
}

Result<std::vector<DiscoveredDevice>> read_pci_devices(const fs::path& sysfs_root,
                                                       const PciIds& ids) {
  const fs::path devices_dir = sysfs_root / "bus" / "pci" / "devices";
  auto names = list_dir(devices_dir);
  if (!names) return Error::unavailable(fmt::format("{}: cannot list", devices_dir.string()));
  std::vector<DiscoveredDevice> devices;
  for (const auto& name : *names) {
    // Entries are named by address; anything else is not a PCI function.
    auto address = PciAddress::parse(name);
    if (!address) continue;
    auto device = read_device(devices_dir / name, *address, ids);
    if (!device) return device.error();
    devices.push_back(std::move(*device));
  }
  std::sort(devices.begin(), devices.end(),
            [](const auto& a, const auto& b) { return a.device.address < b.device.address; });
  return devices;
}

void apply_device_specs(std::vector<DiscoveredDevice>& devices,
                        const std::vector<DeviceSpec>& specs, const AliasTable& aliases) {
  const std::vector<std::string> names = aliases.names();
  for (auto& d : devices) {
    d.allowed = std::any_of(specs.begin(), specs.end(),
                            [&](const DeviceSpec& spec) { return spec.matches(d.device); });
    d.aliases.clear();
    for (const auto& name : names) {
      if (aliases.matches(name, d.device)) d.aliases.push_back(name);
    }
  }
}

}  // namespace gpucloud::agent
