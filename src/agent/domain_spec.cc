// make_domain_spec: nova's libvirt driver semantics for the image properties gpucloud honours
// (hw_machine_type, hw_firmware_type, hw_video_model, hw_video_ram, hw_qemu_guest_agent,
// kernel_id / ramdisk_id / os_command_line) and a fixed guest PCI layout
// for the claimed devices, so that the guest address (and the Xorg BusID) is known before boot.
#include "agent/domain_spec.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>

#include "compute/compute.h"

namespace gpucloud::agent {
namespace {

constexpr uint32_t kFirstGuestSlot = 0x10;  // clear of the slots libvirt gives its own devices

const std::string* property(const store::Image& image, const std::string& key) {
  auto it = image.properties.find(key);
  if (it == image.properties.end() || it->second.empty()) return nullptr;
  return &it->second;
}

Result<int64_t> parse_mib(const std::string& text, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < 0) {
    return Error::invalid(what + ": '" + text + "' is not a non-negative integer (MiB)");
  }
  return static_cast<int64_t>(v);
}

Result<VideoModel> parse_video_model(const std::string& text) {
  static const std::map<std::string, VideoModel> kModels = {{"none", VideoModel::kNone},
                                                            {"vga", VideoModel::kVga},
                                                            {"qxl", VideoModel::kQxl},
                                                            {"virtio", VideoModel::kVirtio},
                                                            {"cirrus", VideoModel::kCirrus}};
  auto it = kModels.find(text);
  if (it == kModels.end()) {
    return Error::invalid("image property hw_video_model: '" + text +
                          "' is not one of none, vga, qxl, virtio, cirrus");
  }
  return it->second;
}

}  // namespace

const char* to_string(VideoModel m) {
  switch (m) {
    case VideoModel::kNone:
      return "none";
    case VideoModel::kVga:
      return "vga";
    case VideoModel::kQxl:
      return "qxl";
    case VideoModel::kVirtio:
      return "virtio";
    case VideoModel::kCirrus:
      return "cirrus";
  }
  return "none";
}

bool is_q35(const std::string& machine_type) {
  return machine_type == "q35" || machine_type.find("-q35") != std::string::npos;
}

std::string domain_name(const std::string& instance_uuid) { return "instance-" + instance_uuid; }

std::vector<HostdevSpec> guest_layout(const std::vector<PciAddress>& host_devices, bool q35) {
  std::vector<PciAddress> sorted = host_devices;
  std::sort(sorted.begin(), sorted.end());
  std::vector<HostdevSpec> out;
  int group = -1;
  std::optional<PciAddress> last;
  for (const auto& host : sorted) {
    bool same_device =
        last && last->domain == host.domain && last->bus == host.bus && last->slot == host.slot;
    if (!same_device) ++group;
    last = host;
    HostdevSpec h;
    h.host = host;
    h.guest.domain = 0;
    h.guest.bus = q35 ? static_cast<uint32_t>(group + 1) : 0;
    h.guest.slot = q35 ? 0 : kFirstGuestSlot + static_cast<uint32_t>(group);
    h.guest.function = host.function;
    out.push_back(h);
  }
  // A multifunction guest device needs the flag on its function 0.
  for (auto& h : out) {
    if (h.guest.function != 0) continue;
    h.multifunction = std::count_if(out.begin(), out.end(), [&](const HostdevSpec& o) {
                        return o.guest.bus == h.guest.bus && o.guest.slot == h.guest.slot;
                      }) > 1;
  }
  return out;
}

Result<DomainSpec> make_domain_spec(const store::Instance& instance, const store::Flavor& flavor,
                                    const store::Image& image,
                                    const std::vector<store::PciDeviceRecord>& devices,
                                    const DomainOptions& options) {
  DomainSpec spec;
  spec.type = options.domain_type;
  spec.name = domain_name(instance.uuid);
  spec.uuid = instance.uuid;
  spec.vcpus = flavor.vcpus;
  spec.memory_mb = flavor.memory_mb;

  const std::string* machine = property(image, "hw_machine_type");
  spec.machine_type = machine ? *machine : options.default_machine_type;
  if (spec.type == "kvm") spec.cpu_mode = options.cpu_mode;  // other types emulate their own

  if (const std::string* fw = property(image, "hw_firmware_type")) {
    if (*fw == "uefi") {
      spec.firmware = Firmware::kUefi;
    } else if (*fw != "bios") {
      return Error::invalid("image property hw_firmware_type: '" + *fw +
                            "' is not one of bios, uefi");
    }
  }
  if (spec.firmware == Firmware::kUefi) {
    spec.uefi_loader = options.uefi_loader;
    spec.uefi_vars_template = options.uefi_vars_template;
    spec.uefi_nvram = options.instance_dir + "/nvram.fd";
  }

  // nova: the image's model if given; otherwise qxl with SPICE, virtio without (x86).
  spec.graphics = options.spice_enabled ? GraphicsType::kSpice : GraphicsType::kVnc;
  spec.graphics_listen = options.graphics_listen;
  spec.graphics_port = options.graphics_port;
  if (!options.instance_dir.empty()) spec.console_log = options.instance_dir + "/console.log";
  if (const std::string* model = property(image, "hw_video_model")) {
    auto m = parse_video_model(*model);
    if (!m.ok()) return m.error();
    spec.video = *m;
  } else {
    spec.video = options.spice_enabled ? VideoModel::kQxl : VideoModel::kVirtio;
  }
  if (const std::string* ram = property(image, "hw_video_ram")) {
    auto mib = parse_mib(*ram, "image property hw_video_ram");
    if (!mib.ok()) return mib.error();
    // nova: a flavor without hw_video:ram_max_mb allows no video RAM request at all.
    int64_t max_mb = 0;
    if (auto it = flavor.extra_specs.find("hw_video:ram_max_mb"); it != flavor.extra_specs.end()) {
      auto m = parse_mib(it->second, "flavor extra spec hw_video:ram_max_mb");
      if (!m.ok()) return m.error();
      max_mb = *m;
    }
    if (*mib > max_mb) {
      return Error::invalid("image property hw_video_ram: " + std::to_string(*mib) +
                            " MiB is above the flavor's hw_video:ram_max_mb (" +
                            std::to_string(max_mb) + ")");
    }
    if (*mib > 0 && spec.video != VideoModel::kNone) spec.video_ram_mb = *mib;
  }

  if (const std::string* agent = property(image, "hw_qemu_guest_agent")) {
    // nova reads it with oslo's bool_from_string: yes/no, true/false, 1/0, on/off.
    static const std::map<std::string, bool> kBool = {
        {"yes", true}, {"no", false}, {"true", true}, {"false", false},
        {"1", true},   {"0", false},  {"on", true},   {"off", false}};
    std::string v = *agent;
    for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto it = kBool.find(v);
    if (it == kBool.end()) {
      return Error::invalid("image property hw_qemu_guest_agent: '" + *agent +
                            "' is not yes or no");
    }
    spec.guest_agent = it->second;
  }
  if (property(image, "kernel_id")) {
    spec.kernel = options.kernel_path;
    if (property(image, "ramdisk_id")) spec.initrd = options.ramdisk_path;
    if (const std::string* cmdline = property(image, "os_command_line")) spec.cmdline = *cmdline;
  }

  DiskSpec root;
  root.path = options.disk_path;
  spec.disks.push_back(root);
  if (!options.config_drive_path.empty()) {
    DiskSpec cd;
    cd.device = "cdrom";
    cd.path = options.config_drive_path;
    cd.format = "raw";
    cd.target = "sda";
    cd.bus = "sata";  // q35 has no IDE; i440fx has SATA through libvirt's ich9-ahci controller
    cd.read_only = true;
    spec.disks.push_back(cd);
  }
  if (!options.network.empty() && !compute::without_network(instance)) {
    spec.networks.push_back({options.network, "virtio", ""});
  }

  std::vector<PciAddress> host;
  for (const auto& d : devices) host.push_back(d.address);
  spec.hostdevs = guest_layout(host, is_q35(spec.machine_type));
  if (!spec.hostdevs.empty()) spec.mmio64_mb = options.mmio64_mb;
  return spec;
}

}  // namespace gpucloud::agent
