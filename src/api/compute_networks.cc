// Compute v2.1: nova's network proxy APIs over the guest networks gpucloud's hosts report
// (docs/networks.md): os-networks and os-tenant-networks list and show them, os-fixed-ips shows
// who has an address and reserves it. A network is a name that hosts give their guests ("default",
// the libvirt network); each host is its own gateway (nova-network's multi_host), so the same
// network may have another IPv4 network on each host. Like nova's, these routes end at 2.35, but
// for os-networks (below).
#include <arpa/inet.h>
#include <sodium.h>

#include <mutex>
#include <set>

#include "api/agent_guests_impl.h"
#include "api/compute_impl.h"
#include "compute/compute.h"
#include "core/cidr.h"

namespace gpucloud::api {
namespace {

const std::string net_kNetworks = kCompute + "/os-networks";
const std::string net_kTenantNetworks = kCompute + "/os-tenant-networks";
const std::string net_kFixedIps = kCompute + "/os-fixed-ips";

// One host's guest network, as compute::guest_network reads it from the host's row.
struct HostNetwork {
  std::string host;
  std::string name;
  std::string cidr;  // "" when the host did not say
};

std::vector<HostNetwork> host_networks(const std::vector<store::ComputeHost>& hosts) {
  std::vector<HostNetwork> out;
  for (const auto& h : hosts) {
    if (auto n = compute::guest_network(h)) out.push_back({h.name, n->name, n->cidr});
  }
  return out;
}

// A network's id: a name-based UUID (SHA-256 of the name, version and variant bits set as for a
// v5 UUID), so that every replica and every restart gives the same network the same id.
std::string network_id(const std::string& name) {
  const std::string in = "gpucloud-guest-network:" + name;
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(in.data()), in.size());
  h[6] = static_cast<unsigned char>((h[6] & 0x0f) | 0x50);
  h[8] = static_cast<unsigned char>((h[8] & 0x3f) | 0x80);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, h, 16);
  const std::string x = hex;
  return x.substr(0, 8) + "-" + x.substr(8, 4) + "-" + x.substr(12, 4) + "-" + x.substr(16, 4) +
         "-" + x.substr(20, 12);
}

struct Network {
  std::string id, name;
  std::optional<std::string> cidr;  // when every host of it agrees
};

std::vector<Network> networks_of(const std::vector<HostNetwork>& per_host) {
  std::map<std::string, std::set<std::string>> cidrs;
  // A host row is read as stored: a range that is not one counts as none.
  for (const auto& h : per_host) cidrs[h.name].insert(ipv4_range(h.cidr) ? h.cidr : "");
  std::vector<Network> out;
  for (const auto& [name, set] : cidrs) {
    Network n{network_id(name), name, std::nullopt};
    if (set.size() == 1 && !set.begin()->empty()) n.cidr = *set.begin();
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace

// Every network id → name any request has seen: ids are derived from names, so an entry is never
// wrong, only possibly a network whose hosts are gone (the scheduler then finds no host for it).
struct NetworkIds {
  std::mutex mu;
  std::map<std::string, std::string> names;
};

namespace {

// Reads every host (O(fleet): about 45 ms at 10,000 hosts) and remembers the ids.
Result<std::vector<Network>> all_networks(ApiContext& ctx) {
  auto hosts = ctx.store().list_compute_hosts();
  if (!hosts.ok()) return hosts.error();
  auto out = networks_of(host_networks(*hosts));
  if (ctx.network_ids) {
    std::lock_guard lock(ctx.network_ids->mu);
    for (const auto& n : out) ctx.network_ids->names[n.id] = n.name;
  }
  return out;
}

json nullable(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

// nova's network_dict: its fields for everyone, the admin's beside them. What gpucloud does not
// have (VLANs, VPN, DNS servers it hands out) is null; a network whose hosts differ in their
// IPv4 networks has none of its own (cidr null), as each host is its gateway (multi_host).
json network_json(const Network& n, bool admin) {
  std::optional<std::string> mask;
  if (n.cidr) {
    if (auto r = ipv4_range(*n.cidr)) mask = r->netmask();
  }
  json j = {{"id", n.id},
            {"label", n.name},
            {"cidr", nullable(n.cidr)},
            {"netmask", nullable(mask)},
            {"gateway", nullptr},
            {"broadcast", nullptr},
            {"dns1", nullptr},
            {"dns2", nullptr},
            {"cidr_v6", nullptr},
            {"gateway_v6", nullptr},
            {"netmask_v6", nullptr}};
  if (admin) {
    for (const char* k :
         {"created_at", "updated_at", "deleted_at", "bridge", "vlan", "vpn_public_address",
          "vpn_public_port", "vpn_private_address", "dhcp_start", "project_id", "host",
          "bridge_interface", "priority", "rxtx_base", "mtu", "dhcp_server"}) {
      j[k] = nullptr;
    }
    j["deleted"] = false;
    j["injected"] = false;
    j["multi_host"] = true;
    j["enable_dhcp"] = true;
    j["share_address"] = false;
  }
  return j;
}

Result<Network> find_network(ApiContext& ctx, const std::string& id) {
  auto all = all_networks(ctx);
  if (!all.ok()) return all.error();
  for (auto& n : *all) {
    if (n.id == id) return std::move(n);
  }
  return Error::not_found("Network " + id + " could not be found.");
}

Result<Reply> list_networks(ApiContext& ctx, Call& call) {
  auto all = all_networks(ctx);
  if (!all.ok()) return all.error();
  json list = json::array();
  for (const auto& n : *all) list.push_back(network_json(n, call.who().is_admin()));
  return Reply::ok({{"networks", list}});
}

Result<Reply> show_network(ApiContext& ctx, Call& call) {
  auto n = find_network(ctx, call.param("network_id"));
  if (!n.ok()) return n.error();
  return Reply::ok({{"network", network_json(*n, call.who().is_admin())}});
}

// os-tenant-networks: the networks a project's servers can be given; every guest network is
// shared, so every project sees them all.
json tenant_network_json(const Network& n) {
  return {{"id", n.id}, {"label", n.name}, {"cidr", nullable(n.cidr)}};
}

Result<Reply> list_tenant_networks(ApiContext& ctx, Call&) {
  auto all = all_networks(ctx);
  if (!all.ok()) return all.error();
  json list = json::array();
  for (const auto& n : *all) list.push_back(tenant_network_json(n));
  return Reply::ok({{"networks", list}});
}

Result<Reply> show_tenant_network(ApiContext& ctx, Call& call) {
  auto n = find_network(ctx, call.param("network_id"));
  if (!n.ok()) return n.error();
  return Reply::ok({{"network", tenant_network_json(*n)}});
}

// An address as os-fixed-ips finds it: the hosts whose guest network holds it and the live
// server that has it, if one does.
struct FixedIp {
  std::string address;
  std::vector<HostNetwork> networks;        // hosts whose guest IPv4 network holds the address
  std::optional<store::Instance> instance;  // the server given the address
};

Result<FixedIp> find_fixed_ip(ApiContext& ctx, const std::string& address) {
  in_addr a{};
  if (inet_pton(AF_INET, address.c_str(), &a) != 1) {
    return Error::invalid("Fixed IP address " + address + " is invalid.");
  }
  auto fleet = ctx.store().list_compute_hosts();
  if (!fleet.ok()) return fleet.error();
  FixedIp out{address, {}, std::nullopt};
  for (auto& n : host_networks(*fleet)) {
    auto range = ipv4_range(n.cidr);
    if (range && range->contains(address)) out.networks.push_back(std::move(n));
  }
  if (out.networks.empty())
    return Error::not_found("Fixed IP not found for address " + address + ".");
  // Only the hosts of those networks can have a guest with the address. A few hosts: their
  // instances and their agents' reports, two indexed reads each. Many (libvirt's NAT range on
  // every host of a large fleet): the fleet's, in two reads, not two per host.
  std::set<std::string> hosts;
  for (const auto& n : out.networks) hosts.insert(n.host);
  std::vector<store::Instance> holders;
  auto collect = [&](std::vector<store::Instance>& instances,
                     const std::map<std::string, ReportedAddress>& reported) {
    for (auto& i : instances) {
      if (!i.host || !hosts.count(*i.host)) continue;
      auto r = reported.find(i.uuid);
      const std::string& ip = r != reported.end() && !r->second.ip_address.empty()
                                  ? r->second.ip_address
                                  : i.ip_address;
      if (ip == address) holders.push_back(std::move(i));
    }
  };
  constexpr size_t kPerHostReads = 8;
  if (hosts.size() <= kPerHostReads) {
    for (const auto& host : hosts) {
      auto instances = ctx.store().list_host_instances(host);
      if (!instances.ok()) return instances.error();
      collect(*instances, reported_addresses(ctx, host));
    }
  } else {
    auto instances = ctx.store().list_instances("", false);
    if (!instances.ok()) return instances.error();
    collect(*instances, reported_addresses(ctx));
  }
  if (holders.size() > 1) {
    // Hosts with separate networks of one range (libvirt's NAT network on each) reuse addresses.
    return Error::conflict("Fixed IP " + address + " is held by " + std::to_string(holders.size()) +
                           " servers, on hosts whose guest networks share its range; look the "
                           "server up by its id instead.");
  }
  if (!holders.empty()) out.instance = std::move(holders.front());
  return out;
}

std::set<std::string> network_names(const FixedIp& ip) {
  std::set<std::string> names;
  for (const auto& n : ip.networks) names.insert(n.name);
  return names;
}

Result<Reply> show_fixed_ip(ApiContext& ctx, Call& call) {
  auto ip = find_fixed_ip(ctx, call.param("address"));
  if (!ip.ok()) return ip.error();
  const HostNetwork* net = &ip->networks.front();
  for (const auto& n : ip->networks) {
    if (ip->instance && ip->instance->host == n.host) net = &n;
  }
  json j = {
      {"address", ip->address}, {"cidr", net->cidr}, {"hostname", nullptr}, {"host", nullptr}};
  if (ip->instance) {
    j["hostname"] = server_hostname(*ip->instance);
    j["host"] = ip->instance->host ? json(*ip->instance->host) : json(nullptr);
  }
  if (call.microversion.at_least(2, 4)) {
    auto reserved = ctx.store().list_fixed_ip_reservations(net->name);
    if (!reserved.ok()) return reserved.error();
    bool on = false;
    for (const auto& [network, address] : *reserved) on = on || address == ip->address;
    j["reserved"] = on;
  }
  return Reply::ok({{"fixed_ip", j}});
}

// POST {address}/action: {"reserve": null} or {"unreserve": null}. The address is reserved on
// every network that holds it; a server that has it keeps it, no new guest is given it.
Result<Reply> fixed_ip_action(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  const bool reserve = body->contains("reserve");
  if (body->size() != 1 || (!reserve && !body->contains("unreserve"))) {
    return bad_request("Invalid request body: one action, 'reserve' or 'unreserve', is required");
  }
  auto ip = find_fixed_ip(ctx, call.param("address"));
  if (!ip.ok()) return ip.error();
  for (const auto& name : network_names(*ip)) {
    if (auto s = ctx.store().set_fixed_ip_reserved(name, ip->address, reserve); !s.ok()) {
      return s.error();
    }
  }
  return Reply::ok(nullptr, 202);
}

}  // namespace

Result<std::string> network_for_id(ApiContext& ctx, const std::string& id) {
  // A boot: the ids seen before answer without reading the fleet. An id not seen yet (a host
  // registered a new network, or another replica listed it) reads the hosts once.
  if (ctx.network_ids) {
    std::lock_guard lock(ctx.network_ids->mu);
    auto it = ctx.network_ids->names.find(id);
    if (it != ctx.network_ids->names.end()) return it->second;
  }
  auto n = find_network(ctx, id);
  if (!n.ok()) return n.error();
  return n->name;
}

std::vector<Route> compute_network_routes(ApiContext& ctx) {
  ctx.network_ids = std::make_shared<NetworkIds>();
  ApiContext* c = &ctx;
  auto bind = [c](Result<Reply> (*f)(ApiContext&, Call&)) {
    return [c, f](Call& call) { return f(*c, call); };
  };
  std::vector<Route> r = {
      {"GET",
       net_kTenantNetworks,
       Service::kCompute,
       "compute:read",
       bind(list_tenant_networks),
       {}},
      {"GET",
       net_kTenantNetworks + "/{network_id}",
       Service::kCompute,
       "compute:read",
       bind(show_tenant_network),
       {}},
      {"GET",
       net_kFixedIps + "/{address}",
       Service::kCompute,
       "compute:admin",
       bind(show_fixed_ip),
       {}},
      {"POST",
       net_kFixedIps + "/{address}/action",
       Service::kCompute,
       "compute:admin",
       bind(fixed_ip_action),
       {}},
  };
  end_at_2_35(r);
  // os-networks stays at every microversion, unlike nova's (404 from 2.36, where neutron lists
  // networks): without neutron it is the only place a client finds a network's id for
  // `networks: [{"uuid"}]`, and Tempest looks networks up there at any microversion.
  r.push_back({"GET", net_kNetworks, Service::kCompute, "compute:read", bind(list_networks), {}});
  r.push_back({"GET",
               net_kNetworks + "/{network_id}",
               Service::kCompute,
               "compute:read",
               bind(show_network),
               {}});
  return r;
}

}  // namespace gpucloud::api
