// Private to agent/: a guest's graphical console as the server's console relay reaches it. SPICE
// guests get a fixed port, chosen at spawn from those no other domain of the host holds, so that
// the port a console token names stays this guest's for the domain's whole life: with libvirt's
// autoport a guest that restarts may get another port, and a stale report would then relay a
// user to another guest's screen (docs/consoles.md).
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>

namespace gpucloud::agent {

// The first <graphics> of a domain XML.
struct DomainGraphics {
  std::string type;  // "spice", "vnc"
  int port = -1;     // -1 while a stopped autoport domain has none
  bool autoport = true;
  std::string listen;  // <listen address=...> or the listen attribute; "" when absent
};
std::optional<DomainGraphics> domain_graphics(const std::string& domain_xml);

// The ports the domains' XML (live or inactive) hold, autoport ones included while they run.
void add_graphics_ports(const std::string& domain_xml, std::set<int>& used);

// The lowest port in [first, last] that is not in `used` and that `bindable` accepts (a port
// another program listens on is not), or nullopt when none is left.
std::optional<int> pick_graphics_port(const std::set<int>& used,
                                      const std::function<bool(int)>& bindable, int first = 5900,
                                      int last = 65535);

// Whether a TCP port can be bound on `address` now (the check pick_graphics_port uses live).
bool tcp_port_bindable(const std::string& address, int port);

}  // namespace gpucloud::agent
