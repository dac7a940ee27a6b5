// clean_device: reset, checks and scrub of one GPU, all through sysfs files and one child
// process, so that a fake sysfs tree (tests, --sysfs-root) exercises every step.
#include "agent/device_clean.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/libvirt_command.h"
#include "agent/sysfs_read.h"

namespace gpucloud::agent {
namespace {

namespace fs = std::filesystem;

// An AER counter file ("TOTAL_ERR_FATAL 0" among per-error lines, Linux >= 4.17): the TOTAL_
// line, or the sum of the lines when there is none. nullopt: no file (no AER capability).
std::optional<uint64_t> aer_total(const fs::path& file) {
  auto text = read_sysfs_text(file);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  uint64_t sum = 0;
  std::optional<uint64_t> total;
  for (std::string name, value; in >> name >> value;) {
    auto v = parse_sysfs_u64(value);
    if (!v) continue;
    if (name.rfind("TOTAL_", 0) == 0) total = *v;
    sum += *v;
  }
  return total ? *total : sum;
}

// Writes 1 to the device's `reset` file: 0, or the errno of the open or the write.
int write_reset(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  while (::write(fd, "1\n", 2) < 0) {
    if (errno == EINTR) continue;
    err = errno;
    break;
  }
  ::close(fd);
  return err;
}

// The refusals that mean "not allowed to" rather than "the reset failed".
bool refused(int err) { return err == EACCES || err == EPERM || err == EROFS; }

// The first 64 bytes of config space (the standard header); kNotFound/kUnavailable otherwise.
Result<std::string> read_config_header(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error::unavailable("config space cannot be opened");
  std::string bytes(64, '\0');
  in.read(bytes.data(), 64);
  if (in.gcount() < 64) {
    return Error::unavailable(fmt::format("config space reads {} bytes, not 64", in.gcount()));
  }
  return bytes;
}

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  auto nl = text.rfind('\n');
  std::string line = nl == std::string::npos ? text : text.substr(nl + 1);
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

}  // namespace

compute::CleanOutcome clean_device(const CleanOptions& o, const compute::CleanDevice& d) {
  compute::CleanOutcome out{d.address, false, "", {}};
  const std::string addr = d.address.to_string();
  const fs::path dir = fs::path(o.sysfs_root) / "bus/pci/devices" / addr;
  auto fail = [&](std::string why) {
    out.clean = false;
    out.reason = std::move(why);
    return out;
  };
  std::error_code ec;
  if (!fs::exists(dir, ec)) return fail("the device is not in sysfs (" + dir.string() + ")");

  // 1. Before: what must not change.
  const auto group_before = read_link_name(dir / "iommu_group");
  const auto fatal_before = aer_total(dir / "aer_dev_fatal");
  const auto nonfatal_before = aer_total(dir / "aer_dev_nonfatal");

  // 2. Reset, as the kernel offers it.
  std::string method = "reset";
  if (auto methods = read_sysfs_text(dir / "reset_method")) {
    if (methods->empty())
      return fail(
          "reset: the kernel offers no reset method (no FLR, no bus "
          "reset); the device cannot be cleaned between tenants");
    method = methods->substr(0, methods->find(' '));
  }
  if (!fs::exists(dir / "reset", ec)) {
    return fail("reset: no reset file: the kernel found no way to reset this device");
  }
  if (const int err = write_reset(dir / "reset"); err == 0) {
    out.steps.push_back("reset (" + method + ")");
  } else if (refused(err) && o.privileged_reset) {
    if (auto s = o.privileged_reset(d.address); !s.ok()) {
      return fail("reset through libvirtd: " + s.error().message);
    }
    out.steps.push_back("reset (through libvirtd)");
  } else {
    return fail(
        std::string("reset: writing ") + (dir / "reset").string() +
        " failed: " + std::strerror(err) +
        (refused(err) ? " (the agent may not write sysfs, and no libvirt reset is set)" : ""));
  }

  // 3. Scrub: the operator's command, e.g. a VM that zeroes GPU memory.
  if (!o.scrub_command.empty()) {
    PciDevice dev;
    dev.address = d.address;
    dev.vendor_id = d.vendor_id;
    dev.product_id = d.product_id;
    std::string alias;
    for (const auto& name : o.aliases.names()) {
      if (alias.empty() && o.aliases.matches(name, dev)) alias = name;
    }
    const auto started = std::chrono::steady_clock::now();
    auto r = run_command({"/bin/sh", "-c", o.scrub_command, "gpucloud-scrub", addr, alias},
                         o.scrub_timeout,
                         {"GPUCLOUD_PCI_ADDRESS=" + addr, "GPUCLOUD_PCI_ALIAS=" + alias});
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!r.ok()) return fail("scrub: " + r.error().message);
    if (r->timed_out) {
      return fail(fmt::format("scrub: the command did not finish within {} s (killed)",
                              o.scrub_timeout.count()));
    }
    if (r->exit_code != 0) {
      const std::string line = last_line(r->output);
      return fail(fmt::format("scrub: the command exited with status {}{}", r->exit_code,
                              line.empty() ? "" : ": " + line));
    }
    out.steps.push_back(fmt::format("scrub {:.1f} s", took));
  }
  // 4. Checks, after everything that touched the device.
  const auto driver = read_link_name(dir / "driver");
  if (!driver) return fail("check: bound to no driver after cleaning (vfio-pci expected)");
  if (*driver != "vfio-pci") return fail("check: bound to " + *driver + ", not vfio-pci");
  auto header = read_config_header(dir / "config");
  if (!header.ok()) return fail("check: " + header.error().message);
  const unsigned vendor = static_cast<unsigned char>((*header)[0]) |
                          (static_cast<unsigned>(static_cast<unsigned char>((*header)[1])) << 8);
  if (vendor == 0xffff) {
    return fail("check: config space reads all ones: the device does not answer after cleaning");
  }
  if (vendor != d.vendor_id.value()) {
    return fail(fmt::format("check: config space vendor id {:04x}, expected {}", vendor,
                            d.vendor_id.str()));
  }
  const auto fatal_after = aer_total(dir / "aer_dev_fatal");
  const auto nonfatal_after = aer_total(dir / "aer_dev_nonfatal");
  if (fatal_before && fatal_after && *fatal_after > *fatal_before) {
    return fail(fmt::format("check: AER fatal errors {} -> {}", *fatal_before, *fatal_after));
  }
  if (nonfatal_before && nonfatal_after && *nonfatal_after > *nonfatal_before) {
    return fail(
        fmt::format("check: AER non-fatal errors {} -> {}", *nonfatal_before, *nonfatal_after));
  }
  const auto group_after = read_link_name(dir / "iommu_group");
  if (group_before != group_after) {
    return fail("check: IOMMU group changed from " + group_before.value_or("none") + " to " +
                group_after.value_or("none"));
  }
  out.steps.push_back("checks (vfio-pci, config space, AER, IOMMU group)");

  out.clean = true;
  return out;
}

}  // namespace gpucloud::agent
