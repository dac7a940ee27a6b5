// The POST /servers fields that gpucloud has little use for (no neutron: one network) are still
// validated as nova does at 2.1, so that a client's mistake is a 400 naming the field rather
// than silently ignored. security_groups' shape is checked here; the names are resolved in
// compute_security_groups.cc.
#include <arpa/inet.h>
#include <sodium.h>

#include <regex>

#include "api/compute_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

bool is_ip(const std::string& s, int family) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(family, s.c_str(), buf) == 1;
}

Error invalid_field(const std::string& field, const json& value, const std::string& why) {
  return Error::invalid("Invalid input for field/attribute " + field + ". Value: " +
                        (value.is_string() ? value.get<std::string>() : value.dump()) + ". " + why);
}

// `networks`: "auto" or "none" from 2.37, else a list of networks, which gpucloud cannot honour
// (there is no neutron to find them in).
Status check_networks(const json& nets, const Microversion& mv) {
  if (mv.at_least(2, 37) && nets.is_string()) {
    const std::string v = nets.get<std::string>();
    if (v == "auto" || v == "none") return {};
    return invalid_field("networks", nets, "'" + v + "' is not one of ['none', 'auto']");
  }
  if (!nets.is_array()) return invalid_field("networks", nets, "It is not of type 'array'");
  // Device tags: 2.32 to 2.36, and again from 2.42.
  const bool tags = (mv.at_least(2, 32) && !mv.at_least(2, 37)) || mv.at_least(2, 42);
  for (size_t i = 0; i < nets.size(); ++i) {
    const json& n = nets[i];
    const std::string where = "networks[" + std::to_string(i) + "]";
    if (!n.is_object()) return invalid_field(where, n, "It is not of type 'object'");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string& k = it.key();
      if (k != "uuid" && k != "port" && k != "fixed_ip" && !(tags && k == "tag")) {
        return Error::invalid(
            "Invalid input for field/attribute networks. Additional "
            "properties are not allowed ('" +
            k + "' was unexpected)");
      }
      if (!it->is_string())
        return invalid_field(where + "." + k, *it, "It is not of type 'string'");
      const std::string v = it->get<std::string>();
      if (k == "tag") {
        if (v.empty() || v.size() > 60 || v.find_first_of(",/") != std::string::npos) {
          return invalid_field(where + ".tag", *it, "'" + v + "' does not match '^[^,/]*$'");
        }
        continue;
      }
      if (k == "fixed_ip" ? !(is_ip(v, AF_INET) || is_ip(v, AF_INET6)) : !is_nova_uuid(v)) {
        return invalid_field(where + "." + k, *it,
                             "'" + v + "' is not a '" + (k == "fixed_ip" ? "ip" : "uuid") + "'");
      }
    }
  }
  // Well formed. A guest has one NIC, on its host's guest network: one network, asked for by
  // uuid (the API resolves it, compute_servers.cc); there are no ports to attach.
  if (nets.size() > 1) {
    return Error::invalid(
        "Invalid input for field/attribute networks: gpucloud gives a guest one "
        "NIC, on its host's guest network; ask for one network");
  }
  if (!nets.empty()) {
    const json& n = nets.front();
    if (n.contains("port")) {
      return Error::invalid("Port " + n["port"].get<std::string>() +
                            " could not be found: gpucloud has no ports (no networking service); "
                            "ask for a network by uuid");
    }
    if (n.contains("fixed_ip")) {
      return Error::invalid(
          "Invalid input for field/attribute networks[0].fixed_ip: gpucloud's "
          "hosts give guests their addresses; a fixed IP cannot be asked for");
    }
    if (!n.contains("uuid")) {
      return Error::invalid("Invalid input for field/attribute networks[0]: 'uuid' is required");
    }
  }
  return {};
}

}  // namespace

bool is_nova_uuid(const std::string& s) {
  // nova's uuid format: 32 hex digits, dashes optional where a UUID has them.
  static const std::regex kUuid(
      "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$");
  return std::regex_match(s, kUuid);
}

std::string canonical_ip(const std::string& address) {
  unsigned char buf[sizeof(struct in6_addr)];
  char out[INET6_ADDRSTRLEN];
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, address.c_str(), buf) == 1 &&
        inet_ntop(family, buf, out, sizeof out) != nullptr) {
      return out;
    }
  }
  return address;
}

Status check_unused_server_fields(const json& server, const Microversion& mv) {
  for (auto [field, family, name] :
       {std::tuple{"accessIPv4", AF_INET, "ipv4"}, std::tuple{"accessIPv6", AF_INET6, "ipv6"}}) {
    if (!server.contains(field)) continue;
    const json& v = server[field];
    if (!v.is_string() || !is_ip(v.get<std::string>(), family)) {
      return invalid_field(
          field, v,
          "'" + (v.is_string() ? v.get<std::string>() : v.dump()) + "' is not a '" + name + "'");
    }
  }
  // 2.37: networks is required, and may be "auto" or "none" (gpucloud's one guest network is
  // what "auto" gives; "none" boots a guest without a NIC: create_server keeps it).
  if (mv.at_least(2, 37) && !server.contains("networks")) {
    return Error::invalid(
        "Invalid input for field/attribute server. 'networks' is a required property");
  }
  if (server.contains("networks")) {
    if (auto s = check_networks(server["networks"], mv); !s.ok()) return s;
  }
  if (server.contains("security_groups")) {
    const json& groups = server["security_groups"];
    if (!groups.is_array()) {
      return invalid_field("security_groups", groups, "It is not of type 'array'");
    }
    for (const auto& g : groups) {
      if (!g.is_object() || !g.contains("name") || !g["name"].is_string()) {
        return invalid_field("security_groups", g, "'name' is a required property");
      }
    }
  }
  return {};
}

Result<std::map<std::string, std::string>> metadata_field(const json& m) {
  if (!m.is_object()) {
    return bad_request("Invalid input for field/attribute metadata. Value: " + shown(m) + ". " +
                       shown(m) + " is not of type 'object'");
  }
  std::map<std::string, std::string> out;
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (!it->is_string() || it.key().empty() || it.key().size() > 255 ||
        !check_text(it.key(), "metadata", 255).ok() ||
        !check_text(it->get<std::string>(), "metadata", 255).ok()) {
      return bad_request("Invalid input for field/attribute metadata. Value: " + shown(m) +
                         ". Keys must be 1 to 255 and values 0 to 255 printable characters "
                         "(strings)");
    }
    out[it.key()] = it->get<std::string>();
  }
  return out;
}

Status check_user_data(const std::string& user_data) {
  std::vector<unsigned char> buf(user_data.size() + 1);
  size_t len = 0;
  if (user_data.size() > 65535 ||
      sodium_base642bin(buf.data(), buf.size(), user_data.data(), user_data.size(), "\n\r", &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return bad_request("User data needs to be valid base 64.");
  }
  return {};
}

}  // namespace gpucloud::api
