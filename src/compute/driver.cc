// What every compute driver shares: the default way to find a guest and its address.
#include <spdlog/spdlog.h>

#include "compute/compute.h"

namespace gpucloud::compute {

Result<std::string> ComputeDriver::guest_address(const std::string& host,
                                                 const std::string& instance_uuid) {
  auto g = guest(host, instance_uuid);
  if (!g.ok()) return g.error();
  return g->ip_address;
}

Result<std::string> ComputeDriver::console_output(const std::string& host,
                                                  const std::string& instance_uuid) {
  (void)host;
  (void)instance_uuid;
  return Error{ErrorCode::kNotImplemented, "this driver keeps no console log"};
}

Status ComputeDriver::reserve_addresses(const std::string& host,
                                        const std::vector<std::string>& addresses) {
  (void)host;
  (void)addresses;
  return Error{ErrorCode::kNotImplemented, "this driver cannot reserve guest addresses"};
}

Status ComputeDriver::apply_firewall(const std::string& host, const std::string& instance_uuid,
                                     const Firewall& firewall) {
  (void)host;
  (void)instance_uuid;
  (void)firewall;
  return Error{ErrorCode::kNotImplemented, "this driver has no firewall"};
}

Result<std::optional<Firewall>> ComputeDriver::firewall(const std::string& host,
                                                        const std::string& instance_uuid) {
  (void)host;
  (void)instance_uuid;
  return Error{ErrorCode::kNotImplemented, "this driver has no firewall"};
}

std::string console_text(std::string_view raw, std::optional<int64_t> lines) {
  if (lines) {
    if (*lines <= 0) return "";
    // The last `lines` pieces between newlines (a trailing newline ends an empty last piece,
    // as nova's split counts it).
    size_t start = 0;
    size_t pos = raw.size();
    for (int64_t found = 0; pos > 0;) {
      const size_t nl = raw.rfind('\n', pos - 1);
      if (nl == std::string_view::npos) break;
      if (++found == *lines) {
        start = nl + 1;
        break;
      }
      pos = nl;
    }
    raw = raw.substr(start);
  }
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(raw.size());
  for (size_t k = 0; k < raw.size(); ++k) {
    const auto c = static_cast<unsigned char>(raw[k]);
    if (raw.substr(k, kReplacement.size()) == kReplacement) {
      // Already replaced (the agent shapes the text before it goes into JSON): kept as one.
      out += kReplacement;
      k += kReplacement.size() - 1;
    } else if (c >= 0x80) {
      out += kReplacement;  // as nova's decode('ascii', 'replace')
    } else if (c >= 0x20 || c == '\t' || c == '\n') {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Result<DomainInfo> ComputeDriver::guest(const std::string& host, const std::string& instance_uuid) {
  auto domains = list_domains(host);
  if (!domains.ok()) return domains.error();
  for (auto& d : *domains) {
    if (d.instance_uuid == instance_uuid) return std::move(d);
  }
  return Error::not_found("no guest of instance " + instance_uuid + " on host " + host);
}

bool without_network(const store::Instance& instance) {
  auto it = instance.system_metadata.find("networks");
  return it != instance.system_metadata.end() && it->second == "none";
}

Status snapshot_guest(ComputeDriver& driver, const std::string& host,
                      const std::string& instance_uuid, const std::string& to) {
  auto g = driver.guest(host, instance_uuid);
  if (!g.ok()) return g.error();
  const bool running = g->power == store::PowerState::kRunning;
  if (running) {
    if (auto s = driver.power_off(host, instance_uuid); !s.ok()) return s;
  }
  Status s = driver.snapshot(host, instance_uuid, to);
  if (!s.ok() && running) {
    if (auto on = driver.power_on(host, instance_uuid); !on.ok()) {
      spdlog::warn("snapshot of {} failed and its guest stays off: {}", instance_uuid,
                   on.error().message);
    }
  }
  return s;
}

Result<std::vector<CleanOutcome>> ComputeDriver::clean(const std::string&,
                                                       const std::vector<CleanDevice>& devices) {
  std::vector<CleanOutcome> out;
  for (const auto& d : devices) out.push_back({d.address, true, "", {"nothing to reset"}});
  return out;
}

}  // namespace gpucloud::compute
