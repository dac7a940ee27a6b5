// Private to compute/: stand-ins for the services of the fake driver's simulated guests, so that
// the server's readiness probes have something real to reach under `gpucloud up`. Each guest
// gets two listeners on its own loopback address (127.0.<host>.<n>), on ports of their own: one
// sends an SSH banner, one answers HTTP GETs. The fake driver reports them as the guest's
// forwarded ports 22 and service_url's port, so a probe never reaches a port the host itself
// serves (the host's sshd listens on every address's port 22).
//
// Thread-safe. One thread serves every listener (poll); it starts with the first guest and stops
// with the object.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/core.h"

namespace gpucloud::compute {

// The key of the console stand-in's port in start()'s answer (SPICE's first autoport).
inline constexpr int kConsolePortKey = 5900;
// spice-protocol's SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE, the stand-in console's answer.
inline constexpr uint32_t kSpiceChannelNotAvailable = 9;

class FakeGuestServices {
 public:
  FakeGuestServices();
  ~FakeGuestServices();

  // What a guest's stand-in does: `up` answers ssh and HTTP (200); `down` is a guest whose
  // service has not started: ssh closes without a banner, HTTP answers 503.
  struct Guest {
    std::string uuid;
    std::string name;
    std::string ip;           // the guest's address; must be local (loopback)
    int http_guest_port = 0;  // service_url's port; 0: no HTTP listener
    bool up = true;
    bool console = false;  // a SPICE stand-in too (its port under kConsolePortKey)
  };
  // Starts the stand-in (again, when the guest had one). Returns guest port -> listening port
  // ({22: p1, http_guest_port: p2}); kUnavailable when the address cannot be bound.
  Result<std::map<int, int>> start(const Guest& guest);
  void stop(const std::string& uuid);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The port of an http(s) URL (given, or the scheme's 80/443); 0 when it is not one.
int url_port(const std::string& url);

}  // namespace gpucloud::compute
