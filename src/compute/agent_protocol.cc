// What the server and an agent exchange as JSON: the agent's host report and the payload of a
// spawn task, and how the agent runs a task on its own driver. Both sides use these functions,
// so the two ends of the wire cannot drift apart.
#include <spdlog/spdlog.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>

#include "compute/compute.h"
#include "core/cidr.h"

namespace gpucloud::compute {
namespace {

using nlohmann::json;

// A field reader that names the field in every error ("pci_devices[2].address: ...").
struct Fields {
  const json& obj;
  std::string where;

  std::string path(const char* key) const { return where.empty() ? key : where + "." + key; }

  Result<std::string> str(const char* key, bool required, std::string dflt = "") const {
    if (!obj.contains(key) || obj[key].is_null()) {
      if (required) return Error::invalid(path(key) + ": required");
      return dflt;
    }
    if (!obj[key].is_string()) return Error::invalid(path(key) + ": a string is required");
    return obj[key].get<std::string>();
  }
  Result<int64_t> integer(const char* key, bool required, int64_t dflt = 0) const {
    if (!obj.contains(key) || obj[key].is_null()) {
      if (required) return Error::invalid(path(key) + ": required");
      return dflt;
    }
    if (!obj[key].is_number_integer() || obj[key].get<int64_t>() < 0) {
      return Error::invalid(path(key) + ": a non-negative integer is required");
    }
    return obj[key].get<int64_t>();
  }
  Result<bool> boolean(const char* key, bool dflt) const {
    if (!obj.contains(key) || obj[key].is_null()) return dflt;
    if (!obj[key].is_boolean()) return Error::invalid(path(key) + ": a boolean is required");
    return obj[key].get<bool>();
  }
  Result<std::map<std::string, std::string>> string_map(const char* key) const {
    std::map<std::string, std::string> out;
    if (!obj.contains(key) || obj[key].is_null()) return out;
    if (!obj[key].is_object()) return Error::invalid(path(key) + ": an object is required");
    for (auto it = obj[key].begin(); it != obj[key].end(); ++it) {
      if (!it->is_string()) {
        return Error::invalid(path(key) + "." + it.key() + ": a string is required");
      }
      out[it.key()] = it->get<std::string>();
    }
    return out;
  }
};

#define GC_TRY(var, expr)                    \
  auto var##_r = (expr);                     \
  if (!var##_r.ok()) return var##_r.error(); \
  auto var = std::move(*var##_r)

json device_json(const PciDevice& d) {
  json j = {{"address", d.address.to_string()},
            {"vendor_id", d.vendor_id.str()},
            {"product_id", d.product_id.str()},
            {"dev_type", to_string(d.dev_type)}};
  j["numa_node"] = d.numa_node ? json(*d.numa_node) : json(nullptr);
  j["parent_addr"] = d.parent_addr ? json(d.parent_addr->to_string()) : json(nullptr);
  return j;
}

Result<PciAddress> address_field(const Fields& f, const char* key) {
  GC_TRY(text, f.str(key, true));
  auto a = PciAddress::parse(text);
  if (!a.ok()) return Error::invalid(f.path(key) + ": '" + text + "' is not a PCI address");
  return *a;
}

Result<PciDevice> device_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) return Error::invalid(where + ": an object is required");
  Fields f{j, where};
  PciDevice d;
  GC_TRY(addr, address_field(f, "address"));
  d.address = addr;
  for (const char* key : {"vendor_id", "product_id"}) {
    GC_TRY(text, f.str(key, true));
    auto id = HexId::parse(text, key);
    if (!id.ok()) return Error::invalid(f.path(key) + ": " + id.error().message);
    (std::string_view(key) == "vendor_id" ? d.vendor_id : d.product_id) = *id;
  }
  GC_TRY(type, f.str("dev_type", false, "type-PCI"));
  auto t = parse_device_type(type);
  if (!t.ok()) return Error::invalid(f.path("dev_type") + ": " + t.error().message);
  d.dev_type = *t;
  if (j.contains("numa_node") && !j["numa_node"].is_null()) {
    GC_TRY(n, f.integer("numa_node", false));
    d.numa_node = static_cast<int>(n);
  }
  if (j.contains("parent_addr") && !j["parent_addr"].is_null()) {
    GC_TRY(p, address_field(f, "parent_addr"));
    d.parent_addr = p;
  }
  return d;
}

json record_json(const store::PciDeviceRecord& d) {
  json j = {{"id", d.id},
            {"address", d.address.to_string()},
            {"vendor_id", d.vendor_id.str()},
            {"product_id", d.product_id.str()},
            {"dev_type", to_string(d.dev_type)},
            {"dev_id", d.dev_id},
            {"status", store::to_string(d.status)},
            {"label", d.label},
            {"instance_uuid", d.instance_uuid ? json(*d.instance_uuid) : json(nullptr)},
            {"request_id", d.request_id ? json(*d.request_id) : json(nullptr)},
            {"numa_node", d.numa_node ? json(*d.numa_node) : json(nullptr)},
            {"parent_addr", d.parent_addr ? json(d.parent_addr->to_string()) : json(nullptr)}};
  return j;
}

Result<store::PciDeviceRecord> record_from_json(const json& j, const std::string& where) {
  GC_TRY(dev, device_from_json(j, where));
  Fields f{j, where};
  store::PciDeviceRecord r;
  r.address = dev.address;
  r.vendor_id = dev.vendor_id;
  r.product_id = dev.product_id;
  r.dev_type = dev.dev_type;
  r.numa_node = dev.numa_node;
  r.parent_addr = dev.parent_addr;
  GC_TRY(id, f.integer("id", false));
  r.id = id;
  GC_TRY(dev_id, f.str("dev_id", false));
  r.dev_id = dev_id;
  GC_TRY(label, f.str("label", false));
  r.label = label;
  GC_TRY(status, f.str("status", false, "claimed"));
  auto st = store::parse_pci_device_status(status);
  if (!st.ok()) return Error::invalid(f.path("status") + ": " + st.error().message);
  r.status = *st;
  if (j.contains("instance_uuid") && j["instance_uuid"].is_string())
    r.instance_uuid = j["instance_uuid"].get<std::string>();
  if (j.contains("request_id") && j["request_id"].is_string())
    r.request_id = j["request_id"].get<std::string>();
  return r;
}

// The system metadata the guest's config drive is made from: the public key as it was at boot
// (nova's key_data) and 2.90's hostname. Nothing else of it leaves the control plane.
json guest_system_metadata(const store::Instance& i) {
  json out = json::object();
  for (const char* key : {"key_data", "hostname"}) {
    auto it = i.system_metadata.find(key);
    if (it != i.system_metadata.end()) out[key] = it->second;
  }
  return out;
}

}  // namespace

std::string host_resources_to_json(const HostResources& h) {
  json devices = json::array();
  for (const auto& d : h.pci_devices) {
    devices.push_back(device_json(d));
    if (auto t = h.device_tags.find(d.address); t != h.device_tags.end() && !t->second.empty()) {
      devices.back()["tags"] = t->second;
    }
  }
  json out = {{"name", h.name},        {"hypervisor_type", h.hypervisor_type},
              {"vcpus", h.vcpus},      {"memory_mb", h.memory_mb},
              {"disk_gb", h.disk_gb},  {"cpu_arch", h.cpu_arch},
              {"pci_devices", devices}};
  if (!h.guest_network.empty()) {
    out["guest_network"] = {{"name", h.guest_network}, {"cidr", h.guest_cidr}};
  }
  if (h.booted_at) {
    out["booted_at"] =
        std::chrono::duration_cast<std::chrono::seconds>(h.booted_at->time_since_epoch()).count();
  }
  return out.dump();
}

Result<HostResources> host_resources_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error::invalid("host: a JSON object is required");
  static const std::set<std::string> kKnown = {"name",        "hypervisor_type", "vcpus",
                                               "memory_mb",   "disk_gb",         "cpu_arch",
                                               "pci_devices", "booted_at",       "guest_network"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!kKnown.count(it.key())) return Error::invalid(it.key() + ": unknown field");
  }
  Fields f{j, ""};
  HostResources h;
  GC_TRY(name, f.str("name", false));
  h.name = name;
  GC_TRY(hv, f.str("hypervisor_type", false, "QEMU"));
  h.hypervisor_type = hv;
  GC_TRY(vcpus, f.integer("vcpus", true));
  h.vcpus = static_cast<int>(vcpus);
  GC_TRY(mem, f.integer("memory_mb", true));
  h.memory_mb = mem;
  GC_TRY(disk, f.integer("disk_gb", true));
  h.disk_gb = disk;
  GC_TRY(arch, f.str("cpu_arch", false, "x86_64"));
  h.cpu_arch = arch;
  if (j.contains("booted_at") && !j["booted_at"].is_null()) {  // seconds since the epoch
    GC_TRY(booted, f.integer("booted_at", false));
    h.booted_at = store::TimePoint(std::chrono::seconds(booted));
  }
  if (j.contains("guest_network") && !j["guest_network"].is_null()) {
    if (!j["guest_network"].is_object()) {
      return Error::invalid("guest_network: an object is required");
    }
    Fields net{j["guest_network"], "guest_network"};
    GC_TRY(net_name, net.str("name", true));
    if (net_name.empty() || net_name.size() > 255) {
      return Error::invalid("guest_network.name: 1 to 255 characters are required");
    }
    GC_TRY(net_cidr, net.str("cidr", false));
    if (!net_cidr.empty()) {
      auto c = parse_cidr(net_cidr);
      if (!c.ok() || c->ipv6) {
        return Error::invalid("guest_network.cidr: '" + net_cidr + "' is not an IPv4 network");
      }
    }
    h.guest_network = net_name;
    h.guest_cidr = net_cidr;
  }
  if (j.contains("pci_devices") && !j["pci_devices"].is_null()) {
    if (!j["pci_devices"].is_array()) return Error::invalid("pci_devices: a list is required");
    for (size_t i = 0; i < j["pci_devices"].size(); ++i) {
      const std::string where = "pci_devices[" + std::to_string(i) + "]";
      GC_TRY(d, device_from_json(j["pci_devices"][i], where));
      GC_TRY(tags, (Fields{j["pci_devices"][i], where}.string_map("tags")));
      if (!tags.empty()) h.device_tags[d.address] = std::move(tags);
      h.pci_devices.push_back(d);
    }
  }
  return h;
}

namespace {

json firewall_json(const Firewall& f) {
  json rules = json::array();
  for (const auto& r : f.ingress) {
    rules.push_back({{"protocol", r.protocol},
                     {"from_port", r.from_port},
                     {"to_port", r.to_port},
                     {"cidr", r.cidr}});
  }
  return {{"ingress", rules}};
}

// The checks the API made already, again: the agent turns these values into firewall rules
// and must never get a rule that means something else than it says.
Result<Firewall> firewall_from(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("ingress") || !j["ingress"].is_array()) {
    return Error::invalid(where + ".ingress: a list is required");
  }
  Firewall f;
  for (size_t k = 0; k < j["ingress"].size(); ++k) {
    Fields fr{j["ingress"][k], where + ".ingress[" + std::to_string(k) + "]"};
    if (!fr.obj.is_object()) return Error::invalid(fr.where + ": an object is required");
    FirewallRule r;
    GC_TRY(protocol, fr.str("protocol", false));
    if (protocol != "" && protocol != "tcp" && protocol != "udp" && protocol != "icmp") {
      return Error::invalid(fr.path("protocol") + ": '" + protocol +
                            "' is not tcp, udp, icmp or empty");
    }
    r.protocol = protocol;
    for (auto [key, out] :
         {std::pair{"from_port", &r.from_port}, std::pair{"to_port", &r.to_port}}) {
      const json& v = fr.obj.contains(key) ? fr.obj[key] : json(-1);
      if (!v.is_number_integer() || v.get<int64_t>() < -1 || v.get<int64_t>() > 65535) {
        return Error::invalid(fr.path(key) + ": an integer from -1 to 65535 is required");
      }
      *out = v.get<int>();
    }
    GC_TRY(cidr, fr.str("cidr", true));
    auto net = parse_cidr(cidr);
    if (!net.ok()) return Error::invalid(fr.path("cidr") + ": " + net.error().message);
    r.cidr = cidr;
    f.ingress.push_back(std::move(r));
  }
  return f;
}

}  // namespace

std::string firewall_to_json(const Firewall& f) { return firewall_json(f).dump(); }

Result<Firewall> firewall_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return Error::invalid("firewall: not JSON");
  return firewall_from(j, "firewall");
}

std::string spawn_payload(const store::Instance& i, const store::Flavor& f, const store::Image& im,
                          const std::vector<store::PciDeviceRecord>& devices,
                          const std::optional<Firewall>& firewall,
                          const std::vector<std::string>& reserved_addresses) {
  json inst = {{"uuid", i.uuid},
               {"name", i.name},
               {"project_id", i.project_id},
               {"user_id", i.user_id},
               {"flavor_id", i.flavor_id},
               {"image_id", i.image_id},
               {"availability_zone", i.availability_zone},
               {"host", i.host.value_or("")},
               {"metadata", i.metadata},
               {"user_data", i.user_data},
               {"config_drive", i.config_drive},
               {"key_name", i.key_name},
               {"system_metadata", guest_system_metadata(i)},
               {"reservation_id", i.reservation_id},
               {"launch_index", i.launch_index}};
  json flavor = {{"id", f.id},           {"name", f.name},
                 {"vcpus", f.vcpus},     {"memory_mb", f.memory_mb},
                 {"root_gb", f.root_gb}, {"ephemeral_gb", f.ephemeral_gb},
                 {"swap_mb", f.swap_mb}, {"extra_specs", f.extra_specs}};
  json image = {{"id", im.id},
                {"name", im.name},
                {"owner", im.owner},
                {"disk_format", im.disk_format},
                {"container_format", im.container_format},
                {"size", im.size ? json(*im.size) : json(nullptr)},
                {"virtual_size", im.virtual_size ? json(*im.virtual_size) : json(nullptr)},
                {"checksum", im.checksum},
                {"location", im.location},
                {"min_disk", im.min_disk},
                {"min_ram", im.min_ram},
                {"properties", im.properties}};
  json devs = json::array();
  for (const auto& d : devices) devs.push_back(record_json(d));
  json out = {{"instance", inst}, {"flavor", flavor}, {"image", image}, {"devices", devs}};
  if (firewall) out["firewall"] = firewall_json(*firewall);
  if (!reserved_addresses.empty()) out["reserved_addresses"] = reserved_addresses;
  return out.dump();
}

Result<SpawnArgs> parse_spawn_payload(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error::invalid("payload: a JSON object required");
  for (const char* key : {"instance", "flavor", "image"}) {
    if (!j.contains(key) || !j[key].is_object()) {
      return Error::invalid(std::string("payload.") + key + ": an object is required");
    }
  }
  SpawnArgs a;
  Fields fi{j["instance"], "payload.instance"};
  GC_TRY(uuid, fi.str("uuid", true));
  a.instance.uuid = uuid;
  GC_TRY(name, fi.str("name", false));
  a.instance.name = name;
  GC_TRY(project, fi.str("project_id", false));
  a.instance.project_id = project;
  GC_TRY(user, fi.str("user_id", false));
  a.instance.user_id = user;
  GC_TRY(flavor_id, fi.str("flavor_id", false));
  a.instance.flavor_id = flavor_id;
  GC_TRY(image_id, fi.str("image_id", false));
  a.instance.image_id = image_id;
  GC_TRY(az, fi.str("availability_zone", false));
  a.instance.availability_zone = az;
  GC_TRY(host, fi.str("host", true));
  a.instance.host = host;
  GC_TRY(meta, fi.string_map("metadata"));
  a.instance.metadata = meta;
  GC_TRY(user_data, fi.str("user_data", false));
  a.instance.user_data = user_data;
  GC_TRY(config_drive, fi.boolean("config_drive", false));
  a.instance.config_drive = config_drive;
  GC_TRY(key_name, fi.str("key_name", false));
  a.instance.key_name = key_name;
  GC_TRY(sysmeta, fi.string_map("system_metadata"));
  a.instance.system_metadata = sysmeta;
  GC_TRY(reservation, fi.str("reservation_id", false));
  a.instance.reservation_id = reservation;
  GC_TRY(index, fi.integer("launch_index", false));
  a.instance.launch_index = static_cast<int>(index);

  Fields ff{j["flavor"], "payload.flavor"};
  GC_TRY(fid, ff.str("id", true));
  a.flavor.id = fid;
  GC_TRY(fname, ff.str("name", false));
  a.flavor.name = fname;
  GC_TRY(vcpus, ff.integer("vcpus", true));
  a.flavor.vcpus = static_cast<int>(vcpus);
  GC_TRY(ram, ff.integer("memory_mb", true));
  a.flavor.memory_mb = ram;
  GC_TRY(root, ff.integer("root_gb", false));
  a.flavor.root_gb = root;
  GC_TRY(eph, ff.integer("ephemeral_gb", false));
  a.flavor.ephemeral_gb = eph;
  GC_TRY(swap, ff.integer("swap_mb", false));
  a.flavor.swap_mb = swap;
  GC_TRY(specs, ff.string_map("extra_specs"));
  a.flavor.extra_specs = specs;

  Fields fm{j["image"], "payload.image"};
  GC_TRY(iid, fm.str("id", true));
  a.image.id = iid;
  GC_TRY(iname, fm.str("name", false));
  a.image.name = iname;
  GC_TRY(owner, fm.str("owner", false));
  a.image.owner = owner;
  GC_TRY(disk_format, fm.str("disk_format", false));
  a.image.disk_format = disk_format;
  GC_TRY(container_format, fm.str("container_format", false));
  a.image.container_format = container_format;
  if (j["image"].contains("size") && !j["image"]["size"].is_null()) {
    GC_TRY(size, fm.integer("size", false));
    a.image.size = size;
  }
  if (j["image"].contains("virtual_size") && !j["image"]["virtual_size"].is_null()) {
    GC_TRY(vsize, fm.integer("virtual_size", false));
    a.image.virtual_size = vsize;
  }
  GC_TRY(checksum, fm.str("checksum", false));
  a.image.checksum = checksum;
  GC_TRY(location, fm.str("location", false));
  a.image.location = location;
  GC_TRY(min_disk, fm.integer("min_disk", false));
  a.image.min_disk = min_disk;
  GC_TRY(min_ram, fm.integer("min_ram", false));
  a.image.min_ram = min_ram;
  GC_TRY(props, fm.string_map("properties"));
  a.image.properties = props;
  a.image.status = store::ImageStatus::kActive;

  if (j.contains("devices")) {
    if (!j["devices"].is_array()) return Error::invalid("payload.devices: a list is required");
    for (size_t i = 0; i < j["devices"].size(); ++i) {
      GC_TRY(d, record_from_json(j["devices"][i], "payload.devices[" + std::to_string(i) + "]"));
      a.devices.push_back(d);
    }
  }
  if (j.contains("firewall") && !j["firewall"].is_null()) {
    GC_TRY(fw, firewall_from(j["firewall"], "payload.firewall"));
    a.firewall = fw;
  }
  if (j.contains("reserved_addresses") && !j["reserved_addresses"].is_null()) {
    const json& r = j["reserved_addresses"];
    if (!r.is_array()) return Error::invalid("payload.reserved_addresses: a list is required");
    for (size_t i = 0; i < r.size(); ++i) {
      if (!r[i].is_string()) {
        return Error::invalid("payload.reserved_addresses[" + std::to_string(i) +
                              "]: a string is required");
      }
      a.reserved_addresses.push_back(r[i].get<std::string>());
    }
  }
  return a;
}

Status spawn_guest(ComputeDriver& driver, const SpawnArgs& args) {
  const std::string host = args.instance.host.value_or("");
  // The firewall is set first: the guest must never run without it. A driver without
  // firewalls answers kNotImplemented: the guest boots unfiltered, which the operator is told
  // once per process (not on every spawn).
  if (args.firewall) {
    Status s = driver.apply_firewall(host, args.instance.uuid, *args.firewall);
    if (!s.ok() && s.error().code != ErrorCode::kNotImplemented) {
      return s.error().with_context("setting the guest's firewall");
    }
    static std::atomic<bool> told{false};
    if (!s.ok() && !told.exchange(true)) {
      spdlog::warn("spawn: the {} driver has no firewall; guests boot unfiltered ({})",
                   driver.type(), s.error().message);
    }
  }
  // The reserved addresses too (an empty list lifts earlier reservations): the guest's
  // address is handed out as it starts.
  Status r = driver.reserve_addresses(host, args.reserved_addresses);
  if (!r.ok() && r.error().code != ErrorCode::kNotImplemented) {
    return r.error().with_context("reserving the guest network's fixed IPs");
  }
  return driver.spawn(args.instance, args.flavor, args.image, args.devices);
}

Status run_task(ComputeDriver& driver, const store::AgentTask& task) {
  if (task.kind == "spawn") {
    auto args = parse_spawn_payload(task.payload);
    if (!args.ok()) return args.error();
    if (args->instance.host.value_or("") != task.host) {
      return Error::invalid("spawn task " + task.id + " names host " +
                            args->instance.host.value_or("") + ", not " + task.host);
    }
    return spawn_guest(driver, *args);
  }
  if (task.kind == "destroy") return driver.destroy(task.host, task.instance_uuid);
  if (task.kind == "power_on") return driver.power_on(task.host, task.instance_uuid);
  if (task.kind == "power_off") return driver.power_off(task.host, task.instance_uuid);
  if (task.kind == "reboot" || task.kind == "reboot_hard") {
    return driver.reboot(task.host, task.instance_uuid, task.kind == "reboot_hard");
  }
  return Error::invalid("task " + task.id + ": unknown kind '" + task.kind + "'");
}

Result<std::vector<CleanDevice>> parse_clean_payload(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("devices") || !j["devices"].is_array()) {
    return Error::invalid("clean task: payload.devices: a list is required");
  }
  std::vector<CleanDevice> out;
  for (size_t i = 0; i < j["devices"].size(); ++i) {
    const std::string where = "payload.devices[" + std::to_string(i) + "]";
    const json& d = j["devices"][i];
    if (!d.is_object()) return Error::invalid(where + ": an object is required");
    Fields f{d, where};
    CleanDevice c;
    GC_TRY(id, f.integer("id", true));
    c.id = id;
    GC_TRY(addr, address_field(f, "address"));
    c.address = addr;
    GC_TRY(vendor, f.str("vendor_id", true));
    GC_TRY(product, f.str("product_id", true));
    auto v = HexId::parse(vendor, "vendor_id");
    auto p = HexId::parse(product, "product_id");
    if (!v.ok()) return Error::invalid(f.path("vendor_id") + ": " + v.error().message);
    if (!p.ok()) return Error::invalid(f.path("product_id") + ": " + p.error().message);
    c.vendor_id = *v;
    c.product_id = *p;
    out.push_back(c);
  }
  return out;
}

Result<std::string> run_clean(ComputeDriver& driver, const store::AgentTask& task) {
  GC_TRY(devices, parse_clean_payload(task.payload));
  GC_TRY(outcomes, driver.clean(task.host, devices));
  json list = json::array();
  for (const auto& d : devices) {
    json entry = {{"id", d.id}, {"address", d.address.to_string()}, {"clean", false}};
    entry["reason"] = "the driver gave no outcome for this device";
    for (const auto& o : outcomes) {
      if (o.address != d.address) continue;
      entry["clean"] = o.clean;
      entry["reason"] = o.reason;
      entry["steps"] = o.steps;
    }
    list.push_back(std::move(entry));
  }
  return json{{"devices", list}}.dump();
}

}  // namespace gpucloud::compute
