// Reading a scheduling scenario (hosts, aggregates, one request) from JSON, for `gpucloud
// scheduler explain` and the tests. Every error names the field by its JSON path.
#include <nlohmann/json.hpp>

#include "scheduler/scheduler.h"

namespace gpucloud::scheduler {
namespace {

using nlohmann::json;

// Reads fields of one JSON object; the first problem is kept and later reads become no-ops.
class Fields {
 public:
  Fields(const json& object, std::string path, std::optional<Error>* error)
      : obj_(object), path_(std::move(path)), error_(error) {
    if (!obj_.is_object()) fail(path_, "is not an object");
  }

  std::string at(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const json* get(const std::string& key) const {
    if (*error_ || !obj_.is_object()) return nullptr;
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }
  void fail(const std::string& where, const std::string& what) const {
    if (!*error_) *error_ = Error::invalid(where + ": " + what);
  }

  std::string str(const std::string& key, bool required, std::string fallback = "") const {
    const json* v = get(key);
    if (v == nullptr) {
      if (required && !*error_) fail(at(key), "is required");
      return fallback;
    }
    if (!v->is_string()) {
      fail(at(key), "is not a string");
      return fallback;
    }
    return v->get<std::string>();
  }
  int64_t integer(const std::string& key, bool required, int64_t fallback = 0,
                  int64_t min = 0) const {
    const json* v = get(key);
    if (v == nullptr) {
      if (required && !*error_) fail(at(key), "is required");
      return fallback;
    }
    if (!v->is_number_integer()) {
      fail(at(key), "is not an integer");
      return fallback;
    }
    int64_t n = v->get<int64_t>();
    if (n < min) fail(at(key), std::to_string(n) + " is less than " + std::to_string(min));
    return n;
  }
  double number(const std::string& key, double fallback) const {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_number() || v->get<double>() < 0) {
      fail(at(key), "is not a non-negative number");
      return fallback;
    }
    return v->get<double>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) {
      fail(at(key), "is not true or false");
      return fallback;
    }
    return v->get<bool>();
  }
  // nova keeps metadata, extra specs and image properties as strings; numbers and booleans are
  // accepted and written as nova's CLI would send them ("true", "8").
  std::map<std::string, std::string> string_map(const std::string& key) const {
    std::map<std::string, std::string> out;
    const json* v = get(key);
    if (v == nullptr) return out;
    if (!v->is_object()) {
      fail(at(key), "is not an object");
      return out;
    }
    for (const auto& [k, val] : v->items()) {
      if (val.is_string()) {
        out[k] = val.get<std::string>();
      } else if (val.is_boolean()) {
        out[k] = val.get<bool>() ? "true" : "false";
      } else if (val.is_number()) {
        out[k] = val.dump();
      } else {
        fail(at(key) + "." + k, "is not a string, number or boolean");
      }
    }
    return out;
  }
  const json* array(const std::string& key) const {
    const json* v = get(key);
    if (v != nullptr && !v->is_array()) {
      fail(at(key), "is not an array");
      return nullptr;
    }
    return v;
  }

 private:
  const json& obj_;
  std::string path_;
  std::optional<Error>* error_;
};

// Nested capabilities ({"cpu_info": {"arch": "x86_64"}}) flatten to "cpu_info:arch", the key
// ComputeCapabilitiesFilter's `capabilities:cpu_info:arch` scope walks to.
void flatten(const json& v, const std::string& prefix, HostState& host) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.items())
      flatten(child, prefix.empty() ? k : prefix + ":" + k, host);
  } else if (v.is_string()) {
    host.capabilities[prefix] = v.get<std::string>();
  } else if (v.is_boolean()) {
    host.capabilities[prefix] = v.get<bool>() ? "True" : "False";  // Python's str(bool)
  } else {
    host.capabilities[prefix] = v.dump();
  }
}

void parse_pci_device(const json& j, const std::string& path, HostState& host,
                      std::optional<Error>* error) {
  Fields f(j, path, error);
  PciDevice dev;
  auto address = PciAddress::parse(f.str("address", true));
  if (!*error && !address.ok()) f.fail(f.at("address"), address.error().message);
  auto vendor = VendorId::parse(f.str("vendor_id", true), "vendor_id");
  if (!*error && !vendor.ok()) f.fail(f.at("vendor_id"), vendor.error().message);
  auto product = ProductId::parse(f.str("product_id", true), "product_id");
  if (!*error && !product.ok()) f.fail(f.at("product_id"), product.error().message);
  if (const json* n = f.get("numa_node")) {
    if (!n->is_number_integer() || n->get<int>() < 0) {
      f.fail(f.at("numa_node"), "is not a non-negative integer or null");
    } else {
      dev.numa_node = n->get<int>();
    }
  }
  auto type = parse_device_type(f.str("dev_type", false, "type-PCI"));
  if (!*error && !type.ok()) f.fail(f.at("dev_type"), type.error().message);
  auto status = parse_pci_device_status(f.str("status", false, "available"));
  if (!*error && !status.ok()) f.fail(f.at("status"), status.error().message);
  DeviceTopology topology;
  topology.pcie_switch = f.str("pcie_switch", false, "");
  topology.nvlink_partition = f.str("nvlink_partition", false, "");
  if (*error) return;
  dev.address = *address;
  dev.vendor_id = *vendor;
  dev.product_id = *product;
  dev.dev_type = *type;
  host.add_pci_device(dev, *status, std::move(topology));
}

HostState parse_host(const json& j, const std::string& path, const SchedulerOptions& options,
                     std::optional<Error>* error) {
  Fields f(j, path, error);
  HostState h;
  h.name = f.str("name", true);
  h.total = {f.integer("vcpus", true), f.integer("memory_mb", true), f.integer("disk_gb", true)};
  h.used = {f.integer("vcpus_used", false), f.integer("memory_mb_used", false),
            f.integer("disk_gb_used", false)};
  h.cpu_allocation_ratio = f.number("cpu_allocation_ratio", options.cpu_allocation_ratio);
  h.ram_allocation_ratio = f.number("ram_allocation_ratio", options.ram_allocation_ratio);
  h.disk_allocation_ratio = f.number("disk_allocation_ratio", options.disk_allocation_ratio);
  h.enabled = f.boolean("enabled", true);
  h.disabled_reason = f.str("disabled_reason", false);
  h.heartbeat_fresh = f.boolean("up", true);
  h.doctor_ok = f.boolean("doctor_ok", true);
  if (const json* caps = f.get("capabilities")) {
    if (!caps->is_object())
      f.fail(f.at("capabilities"), "is not an object");
    else
      flatten(*caps, "", h);
  }
  if (const json* v = f.get("hypervisor_version")) {
    if (!v->is_number_integer())
      f.fail(f.at("hypervisor_version"), "is not an integer");
    else
      h.hypervisor_version = v->get<int64_t>();
  }
  // A KVM host on x86_64 (what gpucloud's agent runs on) unless the scenario says otherwise.
  h.supported_instances = {{"x86_64", "kvm", "hvm"}, {"x86_64", "qemu", "hvm"}};
  if (const json* si = f.array("supported_instances")) {
    h.supported_instances.clear();
    for (size_t i = 0; i < si->size(); ++i) {
      const json& t = (*si)[i];
      if (!t.is_array() || t.size() != 3 || !t[0].is_string() || !t[1].is_string() ||
          !t[2].is_string()) {
        f.fail(f.at("supported_instances") + "[" + std::to_string(i) + "]",
               "is not [architecture, hypervisor type, vm mode]");
        break;
      }
      h.supported_instances.push_back(
          {t[0].get<std::string>(), t[1].get<std::string>(), t[2].get<std::string>()});
    }
  }
  if (const json* devs = f.array("pci_devices")) {
    for (size_t i = 0; i < devs->size() && !*error; ++i) {
      parse_pci_device((*devs)[i], f.at("pci_devices") + "[" + std::to_string(i) + "]", h, error);
    }
  }
  return h;
}

}  // namespace

Result<Scenario> parse_scenario(std::string_view text, const SchedulerOptions& options) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error::invalid("scenario: not valid JSON");
  std::optional<Error> error;
  Fields top(doc, "", &error);
  Scenario s;

  const json* hosts = top.array("hosts");
  if (hosts == nullptr && !error) top.fail("hosts", "is required");
  for (size_t i = 0; hosts && i < hosts->size() && !error; ++i) {
    std::string path = "hosts[" + std::to_string(i) + "]";
    s.hosts.push_back(parse_host((*hosts)[i], path, options, &error));
    for (size_t k = 0; k + 1 < s.hosts.size() && !error; ++k) {
      if (s.hosts[k].name == s.hosts.back().name)
        top.fail(path + ".name", "'" + s.hosts[k].name + "' appears twice");
    }
  }

  const json* aggregates = top.array("aggregates");
  for (size_t i = 0; aggregates && i < aggregates->size() && !error; ++i) {
    std::string path = "aggregates[" + std::to_string(i) + "]";
    Fields a((*aggregates)[i], path, &error);
    std::string name = a.str("name", true);
    auto metadata = a.string_map("metadata");
    std::string az = a.str("availability_zone", false);
    if (!az.empty()) metadata["availability_zone"] = az;  // nova stores the AZ as metadata
    const json* members = a.array("hosts");
    for (size_t k = 0; members && k < members->size() && !error; ++k) {
      std::string hpath = a.at("hosts") + "[" + std::to_string(k) + "]";
      if (!(*members)[k].is_string()) {
        a.fail(hpath, "is not a string");
        break;
      }
      std::string member = (*members)[k].get<std::string>();
      HostState* host = nullptr;
      for (auto& h : s.hosts) {
        if (h.name == member) host = &h;
      }
      if (host == nullptr) {
        a.fail(hpath, "no host named '" + member + "' in hosts");
        break;
      }
      host->aggregates.push_back(name);
      for (const auto& [k2, v] : metadata) host->add_aggregate_metadata(k2, v);
    }
  }

  const json* request = top.get("request");
  if (request == nullptr && !error) top.fail("request", "is required");
  if (error) return *error;
  Fields r(*request, "request", &error);
  const json* flavor_json = r.get("flavor");
  if (flavor_json == nullptr && !error) r.fail("request.flavor", "is required");
  if (error) return *error;
  Fields fl(*flavor_json, "request.flavor", &error);
  FlavorSpec flavor;
  flavor.name = fl.str("name", false, "unnamed");
  flavor.vcpus = fl.integer("vcpus", true, 1, 1);
  flavor.memory_mb = fl.integer("ram", true, 512, 1);
  flavor.root_gb = fl.integer("disk", true);
  flavor.ephemeral_gb = fl.integer("ephemeral", false);
  flavor.swap_mb = fl.integer("swap", false);
  flavor.extra_specs = fl.string_map("extra_specs");
  ImageMeta image;
  if (const json* image_json = r.get("image")) {
    Fields im(*image_json, "request.image", &error);
    image.min_disk_gb = im.integer("min_disk", false);
    image.min_ram_mb = im.integer("min_ram", false);
    image.properties = im.string_map("properties");
  }
  std::string az = r.str("availability_zone", false);
  int64_t count = r.integer("num_instances", false, 1, 1);
  if (error) return *error;
  auto spec = make_request_spec(std::move(flavor), std::move(image), az, static_cast<int>(count),
                                options.aliases);
  if (!spec.ok()) return spec.error().with_context("request");
  s.request = std::move(spec.value());
  return s;
}

}  // namespace gpucloud::scheduler
