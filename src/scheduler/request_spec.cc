// Building a RequestSpec the way nova's API does, and the host-independent checks nova makes
// before scheduling (compute API) or at spawn (libvirt driver).
#include <charconv>

#include "scheduler/scheduler.h"

namespace gpucloud::scheduler {
namespace {

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<NumaPolicy> parse_numa_policy(std::string_view text, const std::string& field) {
  for (auto p :
       {NumaPolicy::kLegacy, NumaPolicy::kRequired, NumaPolicy::kPreferred, NumaPolicy::kSocket}) {
    if (text == to_string(p)) return p;
  }
  return Error::invalid(field + ": '" + std::string(text) +
                        "' is not a NUMA affinity policy (legacy, required, preferred, socket)");
}

const std::string* find(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace

bool PciRequest::matches(const PciDevice& device) const {
  for (const auto& spec : specs) {
    if (spec.matches(device)) return true;
  }
  return false;
}

std::string PciRequest::describe(std::string_view adjective) const {
  std::string ids;
  for (const auto& spec : specs) {
    if (!ids.empty()) ids += "/";
    ids += (spec.vendor_id ? spec.vendor_id->str() : "*") + ":" +
           (spec.product_id ? spec.product_id->str() : "*");
  }
  std::string adj = adjective.empty() ? std::string() : std::string(adjective) + " ";
  return std::to_string(count) + " " + adj + alias + (ids.empty() ? "" : " (" + ids + ")");
}

Resources RequestSpec::requested() const {
  // Placement's DISK_GB for an image-backed instance: root + ephemeral + swap (MB, rounded up).
  return {flavor.vcpus, flavor.memory_mb,
          flavor.root_gb + flavor.ephemeral_gb + (flavor.swap_mb + 1023) / 1024};
}

Result<RequestSpec> make_request_spec(FlavorSpec flavor, ImageMeta image,
                                      std::string availability_zone, int num_instances,
                                      const AliasTable& aliases) {
  RequestSpec spec;
  auto extra = FlavorExtraSpecs::parse(flavor.extra_specs);
  if (!extra.ok()) return extra.error().with_context("flavor '" + flavor.name + "' extra_specs");
  spec.extra_specs = std::move(extra.value());
  if (num_instances < 1) {
    return Error::invalid("num_instances: " + std::to_string(num_instances) + " is less than 1");
  }

  // nova: the flavor's policy wins over the image's, and either wins over the alias's.
  std::optional<NumaPolicy> override_policy;
  if (const auto* p = find(flavor.extra_specs, "hw:pci_numa_affinity_policy")) {
    auto r = parse_numa_policy(*p, "hw:pci_numa_affinity_policy");
    if (!r.ok()) return r.error();
    override_policy = *r;
  } else if (const auto* p = find(image.properties, "hw_pci_numa_affinity_policy")) {
    auto r = parse_numa_policy(*p, "image property hw_pci_numa_affinity_policy");
    if (!r.ok()) return r.error();
    override_policy = *r;
  }
  for (const auto& item : spec.extra_specs.pci_requests) {
    auto entries = aliases.find(item.alias);
    if (entries.empty()) {
      // nova: PciRequestAliasNotDefined, a 400 at the API.
      return Error::invalid("pci_passthrough:alias: PCI alias '" + item.alias +
                            "' is not defined in the configuration");
    }
    PciRequest request;
    request.alias = item.alias;
    request.count = item.count;
    for (const auto* e : entries) request.specs.push_back(*e);
    request.numa_policy = override_policy.value_or(entries.front()->numa_policy);
    spec.pci_requests.push_back(std::move(request));
  }

  // A guest has a NUMA topology when it asks for NUMA nodes or for pinned CPUs (nova gives a
  // pinned guest one NUMA node); only then does nova apply a PCI NUMA affinity policy.
  const std::string* nodes = find(flavor.extra_specs, "hw:numa_nodes");
  std::string nodes_field = "hw:numa_nodes";
  if (nodes == nullptr) {
    nodes = find(image.properties, "hw_numa_nodes");
    nodes_field = "image property hw_numa_nodes";
  }
  if (nodes != nullptr) {
    auto n = parse_int(*nodes);
    if (!n || *n < 1) return Error::invalid(nodes_field + ": '" + *nodes + "' is not >= 1");
    spec.numa_nodes = static_cast<int>(*n);
  } else {
    const std::string* pin = find(flavor.extra_specs, "hw:cpu_policy");
    if (pin == nullptr) pin = find(image.properties, "hw_cpu_policy");
    if (pin != nullptr && *pin == "dedicated") spec.numa_nodes = 1;
  }

  // gpucloud's own: whether a multi-GPU request must stay in one partition, switch or NUMA node.
  if (const auto* t = find(flavor.extra_specs, "gpucloud:topology")) {
    if (*t != "strict" && *t != "preferred") {
      return Error::invalid("gpucloud:topology: '" + *t + "' is not 'strict' or 'preferred'");
    }
    spec.topology_strict = *t == "strict";
  }

  spec.flavor = std::move(flavor);
  spec.image = std::move(image);
  spec.availability_zone = std::move(availability_zone);
  spec.num_instances = num_instances;
  return spec;
}

Status check_request(const RequestSpec& request) {
  const auto& flavor = request.flavor;
  // nova compute API (_validate_flavor_image_nostatus): FlavorMemoryTooSmall.
  if (flavor.memory_mb < request.image.min_ram_mb) {
    return Error::invalid("flavor '" + flavor.name + "' has " + std::to_string(flavor.memory_mb) +
                          " MB RAM, less than the image's min_ram of " +
                          std::to_string(request.image.min_ram_mb) + " MB");
  }
  // FlavorDiskSmallerThanMinDisk. nova skips the check for a flavor with a 0 GB root disk: the
  // disk then takes the image's size (a policy may forbid such flavors; gpucloud allows them).
  if (flavor.root_gb > 0 && flavor.root_gb < request.image.min_disk_gb) {
    return Error::invalid("flavor '" + flavor.name + "' has a " + std::to_string(flavor.root_gb) +
                          " GB disk, smaller than the image's min_disk of " +
                          std::to_string(request.image.min_disk_gb) + " GB");
  }
  // libvirt driver (RequestedVRamTooHigh), checked at spawn in nova. Surprising but nova's: a
  // flavor without hw_video:ram_max_mb allows 0 MB, so an image asking for any video RAM fails.
  if (const auto* vram = find(request.image.properties, "hw_video_ram")) {
    auto mb = parse_int(*vram);
    if (!mb || *mb < 0) {
      return Error::invalid("image property hw_video_ram: '" + *vram +
                            "' is not a non-negative integer");
    }
    int64_t max_mb = request.extra_specs.video_ram_max_mb.value_or(0);
    if (*mb > max_mb) {
      return Error::invalid("image asks for " + std::to_string(*mb) +
                            " MB of video RAM (hw_video_ram), more than flavor '" + flavor.name +
                            "' allows (hw_video:ram_max_mb=" + std::to_string(max_mb) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace gpucloud::scheduler
