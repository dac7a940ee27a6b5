// A libvirt guest as a typed value (DomainSpec), how one is made from an instance, its flavor,
// its image and its claimed GPUs (make_domain_spec, nova's image-property semantics), and the one
// formatter that turns it into libvirt domain XML (to_domain_xml). Nothing here talks to libvirt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/core.h"
#include "store/store.h"

namespace gpucloud::agent {

enum class Firmware { kBios, kUefi };
enum class GraphicsType { kVnc, kSpice };
enum class VideoModel { kNone, kVga, kQxl, kVirtio, kCirrus };
const char* to_string(VideoModel m);  // libvirt's spelling: "none", "vga", "qxl", ...

struct DiskSpec {
  std::string device = "disk";   // "disk" or "cdrom"
  std::string path;              // file on the host
  std::string format = "qcow2";  // "qcow2" or "raw"
  std::string target = "vda";    // guest device name
  std::string bus = "virtio";    // "virtio", "sata", "ide"
  bool read_only = false;
};

// One host PCI function and where the guest sees it.
struct HostdevSpec {
  PciAddress host;
  PciAddress guest;
  bool multifunction = false;  // function 0 of a device whose other functions also pass through
};

struct NetworkSpec {
  std::string network = "default";  // a libvirt network name
  std::string model = "virtio";
  std::string filter;  // the nwfilter the NIC references (the guest's firewall); "" none
};

struct DomainSpec {
  std::string type = "kvm";  // "kvm" on real hosts; "test" or "qemu" elsewhere
  std::string name;
  std::string uuid;
  int vcpus = 1;
  int64_t memory_mb = 512;
  std::string machine_type = "pc";  // "pc", "q35", "pc-q35-7.2", ...
  std::string cpu_mode;             // "host-model", "host-passthrough"; empty: the hypervisor's
  Firmware firmware = Firmware::kBios;
  std::string uefi_loader;         // OVMF code, read-only pflash
  std::string uefi_vars_template;  // OVMF variables copied per guest by libvirt
  std::string uefi_nvram;          // this guest's variables file
  // The guest's 64-bit PCI MMIO window (MiB) for GPUs with large BARs; 0 leaves QEMU's default.
  int64_t mmio64_mb = 0;
  std::vector<DiskSpec> disks;
  std::vector<HostdevSpec> hostdevs;
  std::vector<NetworkSpec> networks;
  GraphicsType graphics = GraphicsType::kVnc;
  std::string graphics_listen = "127.0.0.1";
  int graphics_port = 0;  // 0: libvirt's autoport
  // The serial console's log (virtlogd writes it, truncated at each start, as nova's console.log);
  // "" for none. `openstack console log show` reads it.
  std::string console_log;
  VideoModel video = VideoModel::kVirtio;
  std::optional<int64_t> video_ram_mb;  // hw_video_ram; libvirt's vram (KiB) when set
  // hw_qemu_guest_agent=yes: the guest agent's virtio channel (its addresses, nova's quiesce).
  bool guest_agent = false;
  // Direct kernel boot (the image's kernel_id / ramdisk_id / os_command_line, as nova's).
  std::string kernel;
  std::string initrd;
  std::string cmdline;
};

bool is_q35(const std::string& machine_type);

// What the host decides, not the instance: paths, defaults from nova.conf.
struct DomainOptions {
  std::string domain_type = "kvm";
  std::string default_machine_type = "pc";  // nova's default for x86_64 ([libvirt] hw_machine_type)
  // nova's [libvirt] cpu_mode and its default for KVM. host-passthrough is faster but fails on
  // some nested hosts (MSRs the outer hypervisor refuses); empty leaves QEMU's default CPU.
  std::string cpu_mode = "host-model";
  bool spice_enabled = false;                 // [spice] enabled
  std::string graphics_listen = "127.0.0.1";  // [spice] server_listen with SPICE
  int graphics_port = 0;          // a fixed port the driver chose (domain_graphics.h); 0: autoport
  std::string instance_dir;       // <instances_path>/<uuid>
  std::string disk_path;          // the qcow2 overlay
  std::string config_drive_path;  // empty: no config drive
  std::string network;            // libvirt network for one NIC; empty: no NIC
  // Where an image with kernel_id / ramdisk_id gets its kernel and ramdisk (copied there from the
  // base images by the driver, as nova copies them into the instance's directory).
  std::string kernel_path;
  std::string ramdisk_path;
  std::string uefi_loader = "/usr/share/OVMF/OVMF_CODE_4M.fd";
  std::string uefi_vars_template = "/usr/share/OVMF/OVMF_VARS_4M.fd";
  int64_t mmio64_mb = 0;  // from the claimed GPUs' BAR sizes (discovery); 0: QEMU's default
};

// The domain name gpucloud gives an instance's guest.
std::string domain_name(const std::string& instance_uuid);

// Guest PCI addresses for the claimed devices, in a fixed layout: functions of one host device
// stay together in one guest slot. pc: bus 0, slots 0x10, 0x11, ... q35: one pcie-root-port per
// device (index 1, 2, ... at bus 0 slot 0x10, 0x11, ...), the device on bus 1, 2, ... slot 0.
std::vector<HostdevSpec> guest_layout(const std::vector<PciAddress>& host_devices, bool q35);

// Errors (kInvalidArgument) name the property: "image property hw_video_model: 'foo' is not one
// of none, vga, qxl, virtio, cirrus"; "image property hw_qemu_guest_agent: 'maybe' is not yes or
// no"; "image property hw_video_ram: 64 MiB is above the flavor's
// hw_video:ram_max_mb (16)".
Result<DomainSpec> make_domain_spec(const store::Instance& instance, const store::Flavor& flavor,
                                    const store::Image& image,
                                    const std::vector<store::PciDeviceRecord>& devices,
                                    const DomainOptions& options);

// The libvirt domain XML of `spec`; the one place gpucloud writes it.
std::string to_domain_xml(const DomainSpec& spec);
// A value for an XML attribute or text (& < > ' " escaped): domain_xml.cc and nwfilter_xml.cc.
std::string xml_escape(const std::string& s);

}  // namespace gpucloud::agent
