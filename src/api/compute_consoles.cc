// Remote consoles (nova's os-remote-consoles and the older os-getSPICEConsole action) and the
// relay that serves them: a console URL carries a token, the browser loads spice-html5 from
// /spice/ and opens a WebSocket to /websockify, and the HTTP server relays it to the guest's
// SPICE port on its host (docs/consoles.md). The token is checked again when the WebSocket
// opens: the server must still run on the host it ran on, with the same console port.
#include <fmt/format.h>

#include "api/agent_guests_impl.h"
#include "api/compute_impl.h"
#include "api/identity_impl.h"
#include "compute/compute.h"

namespace gpucloud::api {
namespace {

constexpr const char* kSpiceType = "spice-html5";
constexpr const char* kDefaultSpiceDir = "/usr/share/spice-html5";  // Debian's spice-html5

struct ConsoleTarget {
  std::string type;  // "spice", "vnc"
  std::string host;
  int port = 0;
};

// Where the guest's console is now: an in-process host's driver asks its hypervisor; an agent's
// host answers through its last guest report (the port is fixed for the guest's life).
std::optional<ConsoleTarget> console_target(ApiContext& ctx, const store::Instance& i) {
  const std::string host = i.host.value_or("");
  if (host.empty()) return std::nullopt;
  if (ctx.deps.driver) {
    if (auto g = ctx.deps.driver->guest(host, i.uuid); g.ok()) {
      if (g->console_port <= 0) return std::nullopt;
      return ConsoleTarget{g->console_type, g->console_host, g->console_port};
    }
  }
  const auto reported = reported_addresses(ctx, host);
  const auto it = reported.find(i.uuid);
  if (it == reported.end() || it->second.console_port <= 0) return std::nullopt;
  return ConsoleTarget{it->second.console_type, it->second.console_host, it->second.console_port};
}

std::string console_url(ApiContext& ctx, const std::string& token) {
  std::string base = ctx.nova_config()->spice_html5proxy_base_url;
  if (base.empty()) base = ctx.base_url + "/spice/spice_auto.html";
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "token=" + token;
}

// A SPICE console URL for the server: nova's checks, then a token for its console.
Result<std::string> spice_console(ApiContext& ctx, const store::Instance& i,
                                  const std::string& type) {
  using store::ServerStatus;
  if (i.task_state && *i.task_state == "deleting") {
    return Error::conflict(
        fmt::format("Cannot 'get_spice_console' instance {} while it is in "
                    "task_state deleting",
                    i.uuid));
  }
  if (i.status != ServerStatus::kActive || !i.host) {
    return Error::conflict("Instance " + i.uuid + " is not ready");
  }
  if (type != kSpiceType) return bad_request("Invalid console type " + type);
  const auto target = console_target(ctx, i);
  if (!target) {
    // Running, but its host reported no console the relay may use: a guest without SPICE, one
    // defined before consoles (libvirt autoport), or a report still to come after the boot.
    return Error::conflict("Instance " + i.uuid +
                           " has no console yet: its host has not reported one (a guest "
                           "booted before SPICE consoles were enabled has none)");
  }
  if (target->type != "spice") return bad_request("Unavailable console type " + type + ".");
  const std::string token = new_token();
  store::ConsoleToken t;
  t.token_hash = token_hash(token);
  t.instance_uuid = i.uuid;
  t.console_type = type;
  t.host = *i.host;
  t.console_host = target->host;
  t.console_port = target->port;
  t.expires_at =
      std::chrono::system_clock::now() + std::chrono::seconds(ctx.nova_config()->console_token_ttl);
  if (auto s = ctx.store().create_console_token(t); !s.ok()) return s.error();
  return console_url(ctx, token);
}

// Every console type nova knows, and what gpucloud does with it.
Result<std::string> remote_console(ApiContext& ctx, const store::Instance& i,
                                   const std::string& protocol, const std::string& type) {
  if (protocol == "spice") return spice_console(ctx, i, type);
  if (protocol == "vnc" || protocol == "serial") {
    return bad_request("Unavailable console type " + type +
                       ". gpucloud relays SPICE consoles only ([spice] enabled = True).");
  }
  // rdp (Hyper-V) and mks (VMware): libvirt has neither, as in nova.
  return Error{ErrorCode::kNotImplemented,
               "Action for request_id is not supported by this hypervisor: " + protocol};
}

std::optional<std::string> string_in(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return std::nullopt;
  return obj[key].get<std::string>();
}

// POST /servers/{id}/remote-consoles (2.6+).
Result<Reply> create_remote_console(ApiContext& ctx, Call& call) {
  auto i = owned_server(ctx, call);
  if (!i.ok()) return i.error();
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->contains("remote_console") || !(*body)["remote_console"].is_object()) {
    return bad_request(
        "Invalid input for field/attribute remote_console. 'remote_console' is a required "
        "property");
  }
  if (auto s = no_extra_fields(*body, "request body", {"remote_console"}); !s.ok()) {
    return s.error();
  }
  const json& rc = (*body)["remote_console"];
  if (auto s = no_extra_fields(rc, "remote_console", {"protocol", "type"}); !s.ok()) {
    return s.error();
  }
  std::vector<std::string> protocols = {"vnc", "spice", "rdp", "serial"};
  std::vector<std::string> types = {"novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial"};
  if (call.microversion.at_least(2, 8)) {
    protocols.push_back("mks");
    types.push_back("webmks");
  }
  const auto protocol = string_in(rc, "protocol");
  const auto type = string_in(rc, "type");
  for (auto [name, value, allowed] :
       {std::tuple{"protocol", &protocol, &protocols}, std::tuple{"type", &type, &types}}) {
    if (!*value || std::find(allowed->begin(), allowed->end(), **value) == allowed->end()) {
      const std::string shown_value = rc.contains(name) ? rc[name].dump() : "None";
      return bad_request(
          fmt::format("Invalid input for field/attribute {}. Value: {}. {} is not one of {}", name,
                      shown_value, shown_value, json(*allowed).dump()));
    }
  }
  auto url = remote_console(ctx, *i, *protocol, *type);
  if (!url.ok()) return url.error();
  return Reply::ok({{"remote_console", {{"protocol", *protocol}, {"type", *type}, {"url", *url}}}});
}

// A host name without its port ("a.example:8443" -> a.example, "[::1]:80" -> [::1]).
std::string without_port(const std::string& authority) {
  if (!authority.empty() && authority.front() == '[') {
    return authority.substr(0, authority.find(']') + 1);
  }
  return authority.substr(0, authority.find(':'));
}

// The origin a browser sent, reduced to its host name ("https://a.example:8443" -> a.example).
std::string origin_host(const std::string& origin) {
  const size_t scheme = origin.find("://");
  const std::string rest = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
  return without_port(rest.substr(0, rest.find('/')));
}

std::string cookie_value(const std::string& cookies, const std::string& name) {
  size_t pos = 0;
  while (pos < cookies.size()) {
    size_t end = cookies.find(';', pos);
    if (end == std::string::npos) end = cookies.size();
    std::string part = cookies.substr(pos, end - pos);
    part.erase(0, part.find_first_not_of(' '));
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

// GET /websockify (and /spice/websockify): the WebSocket of a console. The token comes in the
// query or, from spice-html5, in the `token` cookie that its page sets.
Result<Reply> relay_console(ApiContext& ctx, Call& call) {
  const HttpRequest& req = call.req;
  if (!req.websocket_upgrade) {
    return bad_request("This is the console relay; it takes a WebSocket. Open the console URL.");
  }
  // A page of another site must not open a console with the user's cookie (cross-site WebSocket
  // hijacking): the origin must be this server's own host or one the operator allowed.
  if (const std::string origin = req.header("Origin"); !origin.empty()) {
    const std::string host = origin_host(origin);
    const auto& allowed = ctx.nova_config()->console_allowed_origins;
    if (host != without_port(req.header("Host")) &&
        std::find(allowed.begin(), allowed.end(), host) == allowed.end()) {
      return forbidden("The console's origin " + host + " is not allowed.");
    }
  }
  std::string token = req.param("token");
  if (token.empty()) token = cookie_value(req.header("Cookie"), "token");
  if (token.empty()) return unauthorized("A console token is required.");
  const auto now = std::chrono::system_clock::now();
  auto t = ctx.store().get_console_token(token_hash(token), now);
  if (!t.ok()) {
    if (t.error().code == ErrorCode::kNotFound) return unauthorized(t.error().message);
    return t.error();
  }
  auto i = ctx.store().get_instance(t->instance_uuid);
  if (!i.ok() || i->status == store::ServerStatus::kDeleted) {
    return unauthorized("The console token is invalid or has expired.");
  }
  // Still the same guest behind that port: the server runs, on the same host, and its console
  // is where the token says (a fixed port is the guest's for its whole life).
  const auto target = console_target(ctx, *i);
  if (i->status != store::ServerStatus::kActive || i->host.value_or("") != t->host || !target ||
      target->host != t->console_host || target->port != t->console_port) {
    return Error::conflict("Instance " + i->uuid +
                           " is not running with this console now; ask for a new console URL.");
  }
  Reply r;
  r.status = 101;
  r.tunnel = std::make_shared<TunnelTarget>();
  r.tunnel->host = t->console_host;
  r.tunnel->port = t->console_port;
  r.tunnel->subprotocol = "binary";  // what spice-html5 (and websockify's clients) ask for
  return r;
}

// GET /os-console-auth-tokens/{token} (admin): where a token's console is, as nova's proxies
// ask. Below 2.31 nova shows only RDP tokens (401 for the others); gpucloud has none of those.
Result<Reply> show_console_token(ApiContext& ctx, Call& call) {
  const std::string& token = call.param("console_token");
  if (token.empty()) return bad_request("token not provided");
  auto t = ctx.store().get_console_token(token_hash(token), std::chrono::system_clock::now());
  if (!t.ok()) {
    return t.error().code == ErrorCode::kNotFound ? Error::not_found("Token not found") : t.error();
  }
  if (!call.microversion.at_least(2, 31)) {
    return unauthorized("The requested console type details are not accessible");
  }
  return Reply::ok({{"console",
                     {{"instance_uuid", t->instance_uuid},
                      {"host", t->console_host},
                      {"port", t->console_port},
                      {"internal_access_path", nullptr}}}});
}

}  // namespace

// os-getSPICEConsole and the other console actions (2.1 to 2.5; server_action dispatches here).
Result<Reply> legacy_console_action(ApiContext& ctx, Call& call, const store::Instance& i,
                                    const std::string& action, const json& args) {
  if (call.microversion.at_least(2, 6)) return bad_request("There is no such action: " + action);
  static const std::map<std::string, std::pair<std::string, std::string>> kActions = {
      {"os-getVNCConsole", {"vnc", "novnc"}},
      {"os-getSPICEConsole", {"spice", kSpiceType}},
      {"os-getRDPConsole", {"rdp", "rdp-html5"}},
      {"os-getSerialConsole", {"serial", "serial"}}};
  const auto& [protocol, only_type] = kActions.at(action);
  const auto type = string_in(args, "type");
  if (!type) {
    return bad_request("Invalid input for field/attribute " + action +
                       ". 'type' is a required property");
  }
  const bool vnc_pair = protocol == "vnc" && *type == "xvpvnc";
  if (*type != only_type && !vnc_pair) {
    return bad_request(
        fmt::format("Invalid input for field/attribute type. Value: {}. '{}' is "
                    "not one of ['{}']",
                    *type, *type, only_type));
  }
  auto url = remote_console(ctx, i, protocol, *type);
  if (!url.ok()) return url.error();
  return Reply::ok({{"console", {{"type", *type}, {"url", *url}}}});
}

bool is_console_action(const std::string& action) {
  return action == "os-getVNCConsole" || action == "os-getSPICEConsole" ||
         action == "os-getRDPConsole" || action == "os-getSerialConsole";
}

std::vector<Route> console_routes(ApiContext& ctx) {
  ApiContext* c = &ctx;
  std::vector<Route> r;
  Route create{"POST",
               kCompute + "/servers/{server_id}/remote-consoles",
               Service::kCompute,
               "compute:server:write",
               [c](Call& call) -> Result<Reply> {
                 if (!call.microversion.at_least(2, 6)) {
                   return Error::not_found("The resource could not be found.");
                 }
                 return create_remote_console(*c, call);
               },
               {}};
  r.push_back(std::move(create));
  r.push_back({"GET",
               kCompute + "/os-console-auth-tokens/{console_token}",
               Service::kCompute,
               "compute:admin",
               [c](Call& call) { return show_console_token(*c, call); },
               {}});
  for (const char* path : {"/websockify", "/spice/websockify"}) {
    r.push_back({"GET",
                 path,
                 Service::kPlain,
                 "public",
                 [c](Call& call) { return relay_console(*c, call); },
                 {}});
  }
  // spice-html5's page and scripts (Debian's package), public like any login page: the console
  // itself needs the token.
  r.push_back({"GET",
               "/spice/{file*}",
               Service::kPlain,
               "public",
               [](Call& call) -> Result<Reply> {
                 return static_file(kDefaultSpiceDir, call.param("file"), call.req,
                                    StaticPage::kConsole);
               },
               {}});
  return r;
}

}  // namespace gpucloud::api
