// Readiness probes: does a guest's service answer? An `SSH-2.0-` banner on a TCP port, or an
// HTTP(S) GET of the image's service_url with `{}` replaced by the guest's address (the seed's
// Scyld Cloud Manager waits for one of the two). Shared by the two probers: the server's, for
// guests it can reach itself (`gpucloud up`'s simulated ones), and the agent's, for libvirt guests
// that only their own host can reach (docs/controller.md, "Who probes").
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "core/core.h"

namespace gpucloud::probe {

// Where a guest answers: its address, and guest ports that are reached through another port at
// that address (user-mode networking's forwarded ports; the stand-in services of the fake
// driver). A port not in `ports` is reached as it is.
struct Endpoint {
  std::string ip;            // IPv4; "" while unknown
  std::map<int, int> ports;  // guest port -> port to connect to at `ip`
  int port_for(int guest_port) const;
};

// What to probe and how long to wait.
struct Spec {
  std::string service_url;  // the image's; empty: the ssh banner
  int ssh_port = 22;
  std::chrono::milliseconds timeout{3000};  // connect + answer of one probe
  bool verify_tls = false;                  // VMs usually have self-signed certificates
};

// TCP connect to ip:port and an `SSH-2.0-` banner within the timeout.
Status probe_ssh(const std::string& ip, int port, std::chrono::milliseconds timeout);
// GET of `url` (http or https); 2xx and 3xx count; redirects are not followed.
Status probe_http(const std::string& url, bool verify_tls, std::chrono::milliseconds timeout);
// The image's service_url with `{}` replaced by the instance's address.
std::string expand_service_url(const std::string& pattern, const std::string& ip);
// service_url expanded for `endpoint`: `{}` becomes its address, and when the URL's port (given,
// or the scheme's 80/443) is forwarded, the forwarded port. kInvalidArgument for a URL that is
// not http(s).
Result<std::string> service_url_for(const std::string& pattern, const Endpoint& endpoint);

// One probe of the guest at `endpoint` as `spec` says; the error says what did not answer
// ("no address known yet", "GET http://10.0.0.5/: Connection refused", "ssh 10.0.0.5:22: ...").
Status probe_guest(const Endpoint& endpoint, const Spec& spec);

}  // namespace gpucloud::probe
