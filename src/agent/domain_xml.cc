// to_domain_xml: the one formatter of libvirt domain XML. Every value that comes from outside
// (names, paths) is escaped; numbers and fixed words are written as they are.
#include <fmt/format.h>

#include "agent/domain_spec.h"

namespace gpucloud::agent {
namespace {

std::string esc(const std::string& s) { return xml_escape(s); }

std::string pci_address(const PciAddress& a, bool multifunction = false) {
  return fmt::format(
      "<address type='pci' domain='0x{:04x}' bus='0x{:02x}' slot='0x{:02x}' function='0x{:x}'{}/>",
      a.domain, a.bus, a.slot, a.function, multifunction ? " multifunction='on'" : "");
}

void write_os(std::string& x, const DomainSpec& s) {
  x += "  <os>\n";
  x += fmt::format("    <type arch='x86_64' machine='{}'>hvm</type>\n", esc(s.machine_type));
  if (s.firmware == Firmware::kUefi) {
    x += fmt::format("    <loader readonly='yes' type='pflash'>{}</loader>\n", esc(s.uefi_loader));
    x += fmt::format("    <nvram template='{}'>{}</nvram>\n", esc(s.uefi_vars_template),
                     esc(s.uefi_nvram));
  }
  if (!s.kernel.empty()) {
    // Direct kernel boot: QEMU loads the kernel itself; the disks are not booted from.
    x += fmt::format("    <kernel>{}</kernel>\n", esc(s.kernel));
    if (!s.initrd.empty()) x += fmt::format("    <initrd>{}</initrd>\n", esc(s.initrd));
    if (!s.cmdline.empty()) x += fmt::format("    <cmdline>{}</cmdline>\n", esc(s.cmdline));
  } else {
    x += "    <boot dev='hd'/>\n";
  }
  x += "  </os>\n";
}

void write_controllers(std::string& x, const DomainSpec& s) {
  bool q35 = is_q35(s.machine_type);
  if (s.mmio64_mb > 0) {
    // QEMU's 64-bit PCI hole must hold the BARs; OVMF sizes its own aperture from fw_cfg (below).
    x += fmt::format(
        "    <controller type='pci' index='0' model='{}'>\n"
        "      <pcihole64 unit='KiB'>{}</pcihole64>\n"
        "    </controller>\n",
        q35 ? "pcie-root" : "pci-root", s.mmio64_mb * 1024);
  }
  if (!q35) return;
  uint32_t last_bus = 0;
  for (const auto& h : s.hostdevs) {
    if (h.guest.bus == last_bus) continue;
    last_bus = h.guest.bus;
    PciAddress port{0, 0, 0x10 + h.guest.bus - 1, 0};
    x += fmt::format(
        "    <controller type='pci' index='{}' model='pcie-root-port'>\n      {}\n"
        "    </controller>\n",
        h.guest.bus, pci_address(port));
  }
}

void write_disks(std::string& x, const DomainSpec& s) {
  for (const auto& d : s.disks) {
    x += fmt::format("    <disk type='file' device='{}'>\n", esc(d.device));
    x += fmt::format("      <driver name='qemu' type='{}'/>\n", esc(d.format));
    x += fmt::format("      <source file='{}'/>\n", esc(d.path));
    x += fmt::format("      <target dev='{}' bus='{}'/>\n", esc(d.target), esc(d.bus));
    if (d.read_only) x += "      <readonly/>\n";
    x += "    </disk>\n";
  }
}

void write_display(std::string& x, const DomainSpec& s) {
  const char* type = s.graphics == GraphicsType::kSpice ? "spice" : "vnc";
  const std::string port = s.graphics_port > 0
                               ? fmt::format("port='{}' autoport='no'", s.graphics_port)
                               : "autoport='yes'";
  x += fmt::format(
      "    <graphics type='{}' {}>\n"
      "      <listen type='address' address='{}'/>\n"
      "    </graphics>\n",
      type, port, esc(s.graphics_listen));
  if (s.graphics == GraphicsType::kSpice) {
    // The SPICE agent channel (clipboard, resolution); nova adds it too.
    x += "    <channel type='spicevmc'>\n"
         "      <target type='virtio' name='com.redhat.spice.0'/>\n"
         "    </channel>\n";
  }
  x += "    <video>\n";
  if (s.video_ram_mb && s.video != VideoModel::kNone) {
    // libvirt's vram is KiB; hw_video_ram is MiB.
    x += fmt::format("      <model type='{}' vram='{}' heads='1' primary='yes'/>\n",
                     to_string(s.video), *s.video_ram_mb * 1024);
  } else if (s.video == VideoModel::kNone) {
    x += "      <model type='none'/>\n";
  } else {
    x += fmt::format("      <model type='{}' heads='1' primary='yes'/>\n", to_string(s.video));
  }
  x += "    </video>\n";
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string to_domain_xml(const DomainSpec& s) {
  std::string x;
  bool ovmf_mmio = s.firmware == Firmware::kUefi && s.mmio64_mb > 0;
  x += fmt::format("<domain type='{}'{}>\n", esc(s.type),
                   ovmf_mmio ? " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" : "");
  x += fmt::format("  <name>{}</name>\n", esc(s.name));
  x += fmt::format("  <uuid>{}</uuid>\n", esc(s.uuid));
  x += fmt::format("  <memory unit='MiB'>{}</memory>\n", s.memory_mb);
  x += fmt::format("  <vcpu placement='static'>{}</vcpu>\n", s.vcpus);
  write_os(x, s);
  x += "  <features>\n    <acpi/>\n    <apic/>\n  </features>\n";
  if (!s.cpu_mode.empty()) x += fmt::format("  <cpu mode='{}' check='none'/>\n", esc(s.cpu_mode));
  x += "  <clock offset='utc'/>\n";
  x += "  <on_poweroff>destroy</on_poweroff>\n";
  x += "  <on_reboot>restart</on_reboot>\n";
  x += "  <on_crash>destroy</on_crash>\n";
  x += "  <devices>\n";
  write_controllers(x, s);
  write_disks(x, s);
  for (const auto& n : s.networks) {
    x += fmt::format(
        "    <interface type='network'>\n"
        "      <source network='{}'/>\n"
        "      <model type='{}'/>\n",
        esc(n.network), esc(n.model));
    if (!n.filter.empty()) x += fmt::format("      <filterref filter='{}'/>\n", esc(n.filter));
    x += "    </interface>\n";
  }
  for (const auto& h : s.hostdevs) {
    // managed='yes': libvirt binds the device to vfio-pci at start and gives it back at stop.
    x += "    <hostdev mode='subsystem' type='pci' managed='yes'>\n";
    x += fmt::format(
        "      <source>\n"
        "        <address domain='0x{:04x}' bus='0x{:02x}' slot='0x{:02x}' function='0x{:x}'/>\n"
        "      </source>\n",
        h.host.domain, h.host.bus, h.host.slot, h.host.function);
    x += "      " + pci_address(h.guest, h.multifunction) + "\n";
    x += "    </hostdev>\n";
  }
  if (s.guest_agent) {
    // libvirt picks the socket's path; the agent's addresses are read through it.
    x += "    <channel type='unix'>\n"
         "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
         "    </channel>\n";
  }
  x += "    <serial type='pty'>\n";
  if (!s.console_log.empty()) {
    x += fmt::format("      <log file='{}' append='off'/>\n", esc(s.console_log));
  }
  x += "      <target port='0'/>\n    </serial>\n";
  x += "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n";
  write_display(x, s);
  x += "  </devices>\n";
  if (ovmf_mmio) {
    // OVMF reads its 64-bit MMIO aperture (MiB) from this fw_cfg file; without it, BARs larger
    // than OVMF's default window stay unassigned and the GPU driver cannot map them. libvirt
    // reserves opt/ovmf/ names in <sysinfo type='fwcfg'>, so it goes to QEMU directly.
    x += fmt::format(
        "  <qemu:commandline>\n"
        "    <qemu:arg value='-fw_cfg'/>\n"
        "    <qemu:arg value='name=opt/ovmf/X-PciMmio64Mb,string={}'/>\n"
        "  </qemu:commandline>\n",
        s.mmio64_mb);
  }
  x += "</domain>\n";
  return x;
}

}  // namespace gpucloud::agent
