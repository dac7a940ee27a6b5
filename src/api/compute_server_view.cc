// Compute v2.1: a server as nova shows it, field by field as the requested microversion has it
// (nova's views/servers.py). What the view needs beyond the instance (flavors for 2.47, host
// states for 2.16, images for the kernel and ramdisk of 2.3) is read once per request.
#include <fmt/format.h>
#include <sodium.h>

#include "api/agent_guests_impl.h"
#include "api/compute_impl.h"
#include "compute/compute.h"

namespace gpucloud::api {
namespace {

// nova's hostId: an opaque hash of project and host, so users see co-location, not host names.
std::string host_id(const store::Instance& i) {
  if (!i.host) return "";
  const std::string in = i.project_id + *i.host;
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(in.data()), in.size());
  char hex[2 * sizeof h + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return std::string(hex).substr(0, 56);
}

std::optional<std::string> sys(const store::Instance& i, const char* key) {
  auto it = i.system_metadata.find(key);
  if (it == i.system_metadata.end()) return std::nullopt;
  return it->second;
}

json nullable(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

json addresses_json(const store::Instance& i, const ReportedAddress* reported,
                    const std::string& host_network) {
  json out = json::object();
  const bool have = reported && !reported->ip_address.empty();
  const std::string ip = have ? reported->ip_address : i.ip_address;
  if (ip.empty()) return out;
  const std::string network = have && !reported->network.empty() ? reported->network
                              : !host_network.empty()            ? host_network
                                                                 : "private";
  json a = {{"version", 4}, {"addr", ip}, {"OS-EXT-IPS:type", "fixed"}};
  if (have && !reported->mac_address.empty()) a["OS-EXT-IPS-MAC:mac_addr"] = reported->mac_address;
  out[network] = json::array({a});
  return out;
}

std::string server_hostname(const store::Instance& i) {
  if (auto h = sys(i, "hostname")) return *h;
  return sanitize_hostname(i.name, i.uuid);
}

// nova's sanitize_hostname: spaces, '_' and '.' become '-', other non-word characters go,
// lower case, no leading or trailing '-' or '.', at most 63 characters.
std::string sanitize_hostname(const std::string& name, const std::string& uuid) {
  std::string out;
  for (unsigned char c : name) {
    if (c == ' ' || c == '_' || c == '.') {
      out += '-';
    } else if (std::isalnum(c) || c == '-') {
      out += static_cast<char>(std::tolower(c));
    }
  }
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && (out.front() == '-' || out.front() == '.')) out.erase(0, 1);
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  return out.empty() ? "server-" + uuid : out;
}

ServerViews::ServerViews(ApiContext& ctx, const Call& call) : ctx_(ctx), call_(call) {}

const store::Flavor* ServerViews::flavor(const std::string& id) {
  if (!flavors_) {
    flavors_.emplace();
    if (auto all = ctx_.store().list_flavors(); all.ok()) {
      for (auto& f : *all) flavors_->emplace(f.id, std::move(f));
    }
  }
  auto it = flavors_->find(id);
  return it == flavors_->end() ? nullptr : &it->second;
}

std::string ServerViews::host_status(const std::string& host) {
  if (!host_states_) {
    host_states_.emplace();
    if (auto hosts = ctx_.store().list_compute_hosts(); hosts.ok()) {
      const auto managed = driver_host_names(ctx_);
      const std::chrono::seconds down_after(compute_config(ctx_)->service_down_time);
      for (const auto& h : *hosts) {
        // nova: MAINTENANCE for a disabled service, DOWN when it stopped reporting.
        const char* s = !h.enabled                                   ? "MAINTENANCE"
                        : conductor::host_up(h, managed, down_after) ? "UP"
                                                                     : "DOWN";
        host_states_->emplace(h.name, s);
      }
    }
  }
  auto it = host_states_->find(host);
  return it == host_states_->end() ? "UNKNOWN" : it->second;
}

// One read per host a request meets, not the fleet's: a list of a few servers on a large fleet
// stays cheap.
const std::string& ServerViews::host_network(const std::string& host) {
  auto it = host_networks_.find(host);
  if (it == host_networks_.end()) {
    std::string name;
    if (auto h = ctx_.store().get_compute_host(host); h.ok()) {
      if (auto n = compute::guest_network(*h)) name = n->name;
    }
    it = host_networks_.emplace(host, std::move(name)).first;
  }
  return it->second;
}

std::optional<std::string> ServerViews::image_property(const std::string& image_id,
                                                       const std::string& key) {
  auto it = images_.find(image_id);
  if (it == images_.end()) {
    std::map<std::string, std::string> props;
    if (auto im = ctx_.store().get_image(image_id); im.ok()) props = im->properties;
    it = images_.emplace(image_id, std::move(props)).first;
  }
  auto p = it->second.find(key);
  if (p == it->second.end()) return std::nullopt;
  return p->second;
}

json ServerViews::flavor_view(const store::Instance& i) {
  const std::string& base = ctx_.base_url;
  if (!call_.microversion.at_least(2, 47)) {
    return {
        {"id", i.flavor_id},
        {"links",
         json::array({{{"rel", "bookmark"}, {"href", base + "/compute/flavors/" + i.flavor_id}}})}};
  }
  // 2.47: the flavor as the server got it. A flavor deleted since shows its id as the name.
  json f = {{"original_name", i.flavor_id},
            {"vcpus", 0},
            {"ram", 0},
            {"disk", 0},
            {"ephemeral", 0},
            {"swap", 0}};
  if (const store::Flavor* fl = flavor(i.flavor_id)) {
    f = {{"original_name", fl->name},     {"vcpus", fl->vcpus},
         {"ram", fl->memory_mb},          {"disk", fl->root_gb},
         {"ephemeral", fl->ephemeral_gb}, {"swap", fl->swap_mb}};
    // nova shows the extra specs to whoever may read them (everyone, by default policy).
    f["extra_specs"] = fl->extra_specs.empty() ? json::object() : json(fl->extra_specs);
  }
  return f;
}

void ServerViews::prefetch_security_groups(const std::string& project_id) {
  auto names = ctx_.store().security_group_names(project_id);
  if (names.ok()) security_groups_ = std::move(*names);
}

json ServerViews::show(const store::Instance& i, ServerView view, const ReportedAddress* reported) {
  const std::string& base = ctx_.base_url;
  const Microversion& mv = call_.microversion;
  const Caller& who = call_.who();
  json j = {{"id", i.uuid}, {"name", i.name}, {"links", link_list(base, "/servers/" + i.uuid)}};
  if (view == ServerView::kBrief) return j;
  // Below 2.75 the answers of PUT and rebuild have only nova's core fields.
  const bool edit = view == ServerView::kUpdate || view == ServerView::kRebuild;
  const bool full = !edit || mv.at_least(2, 75);
  j["status"] = to_string(i.status);
  j["tenant_id"] = i.project_id;
  j["user_id"] = i.user_id;
  j["metadata"] = i.metadata.empty() ? json::object() : json(i.metadata);
  j["hostId"] = host_id(i);
  j["image"] = {
      {"id", i.image_id},
      {"links",
       json::array({{{"rel", "bookmark"}, {"href", base + "/compute/images/" + i.image_id}}})}};
  j["flavor"] = flavor_view(i);
  j["created"] = nova_time(i.created_at);
  j["updated"] = nova_time(i.updated_at == store::TimePoint{} ? i.created_at : i.updated_at);
  // The host's network names an address no agent reported (an in-process host's guest).
  const bool reported_ip = reported && !reported->ip_address.empty();
  const bool unnamed = reported_ip ? reported->network.empty() : !i.ip_address.empty();
  j["addresses"] =
      addresses_json(i, reported, unnamed && i.host ? host_network(*i.host) : std::string());
  if (!full) {
    for (auto& [network, list] : j["addresses"].items()) {
      for (auto& a : list) {
        a.erase("OS-EXT-IPS:type");
        a.erase("OS-EXT-IPS-MAC:mac_addr");
      }
    }
  }
  j["accessIPv4"] = sys(i, "access_ip_v4").value_or("");
  j["accessIPv6"] = sys(i, "access_ip_v6").value_or("");
  j["OS-DCF:diskConfig"] = "MANUAL";
  if (i.status == store::ServerStatus::kBuild || i.status == store::ServerStatus::kActive) {
    j["progress"] = i.status == store::ServerStatus::kActive ? 100 : 0;
  }
  if (view == ServerView::kRebuild) {  // (from 2.75 key_name is among the full view's fields)
    if (!full && mv.at_least(2, 54)) {
      j["key_name"] = i.key_name.empty() ? json(nullptr) : json(i.key_name);
    }
    if (mv.at_least(2, 57))
      j["user_data"] = i.user_data.empty() ? json(nullptr) : json(i.user_data);
  }
  if (full) {
    j["OS-EXT-AZ:availability_zone"] = i.availability_zone;
    j["config_drive"] = i.config_drive ? "True" : "";
    j["key_name"] = i.key_name.empty() ? json(nullptr) : json(i.key_name);
    j["OS-SRV-USG:launched_at"] =
        i.launched_at ? json(iso8601(*i.launched_at).substr(0, 26)) : json(nullptr);
    j["OS-SRV-USG:terminated_at"] =
        i.deleted_at ? json(iso8601(*i.deleted_at).substr(0, 26)) : json(nullptr);
    j["OS-EXT-STS:task_state"] = i.task_state ? json(*i.task_state) : json(nullptr);
    j["OS-EXT-STS:vm_state"] = i.vm_state;
    j["OS-EXT-STS:power_state"] = static_cast<int>(i.power_state);
    j["os-extended-volumes:volumes_attached"] = json::array();
    // nova leaves the field out for a server in no group.
    const std::vector<std::string>* names = nullptr;
    static const std::vector<std::string> kNone;
    if (security_groups_) {
      auto it = security_groups_->find(i.uuid);
      names = it == security_groups_->end() ? &kNone : &it->second;
    }
    if (json groups = server_security_groups_json(ctx_, i, names); !groups.empty()) {
      j["security_groups"] = std::move(groups);
    }
    if (who.is_admin()) {
      j["OS-EXT-SRV-ATTR:host"] = nullable(i.host);
      j["OS-EXT-SRV-ATTR:hypervisor_hostname"] = nullable(i.host);
      j["OS-EXT-SRV-ATTR:instance_name"] = "instance-" + i.uuid.substr(0, 8);
      if (mv.at_least(2, 3)) {
        j["OS-EXT-SRV-ATTR:reservation_id"] = i.reservation_id;
        j["OS-EXT-SRV-ATTR:launch_index"] = i.launch_index;
        j["OS-EXT-SRV-ATTR:hostname"] = server_hostname(i);
        j["OS-EXT-SRV-ATTR:kernel_id"] = image_property(i.image_id, "kernel_id").value_or("");
        j["OS-EXT-SRV-ATTR:ramdisk_id"] = image_property(i.image_id, "ramdisk_id").value_or("");
        j["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda";
        // 2.75 moved the rebuild answer's user data to "user_data" (above).
        if (!(edit && mv.at_least(2, 75))) {
          j["OS-EXT-SRV-ATTR:user_data"] = i.user_data.empty() ? json(nullptr) : json(i.user_data);
        }
      }
    } else if (mv.at_least(2, 90)) {
      j["OS-EXT-SRV-ATTR:hostname"] = server_hostname(i);
    }
    if (mv.at_least(2, 16) && who.is_admin()) j["host_status"] = i.host ? host_status(*i.host) : "";
  }
  if (mv.at_least(2, 9)) j["locked"] = sys(i, "locked_by").has_value();
  if (mv.at_least(2, 73)) j["locked_reason"] = nullable(sys(i, "locked_reason"));
  if (mv.at_least(2, 19)) j["description"] = nullable(sys(i, "description"));
  if (mv.at_least(2, 26)) j["tags"] = server_tags(i);
  if (mv.at_least(2, 63)) j["trusted_image_certificates"] = nullptr;
  // nova lists a server's groups on one server only, never in a list.
  if (mv.at_least(2, 71) && view != ServerView::kList) {
    json groups = json::array();
    auto g = ctx_.store().server_group_of(i.uuid);
    if (g.ok() && *g) groups.push_back((*g)->uuid);
    j["server_groups"] = groups;
  }
  if (mv.at_least(2, 96)) j["pinned_availability_zone"] = nullptr;
  // nova's response schemas refuse unknown fields: the extension appears only where it means
  // something (and never in PUT's and rebuild's reduced answers).
  if (ctx_.deps.controller && !edit) j["gpucloud:readiness"] = readiness_json(i);
  if (i.fault && (i.status == store::ServerStatus::kError)) {
    json f = {{"code", i.fault->code},
              {"message", i.fault->message},
              {"created", nova_time(i.fault->created_at)}};
    // nova shows a 500 fault's details to admins only.
    if (who.is_admin() || i.fault->code != 500) f["details"] = i.fault->details;
    j["fault"] = f;
  }
  return j;
}

json server_tags(const store::Instance& i) {
  auto t = sys(i, "tags");
  if (!t) return json::array();
  json parsed = json::parse(*t, nullptr, false);
  return parsed.is_array() ? parsed : json::array();
}

}  // namespace gpucloud::api
