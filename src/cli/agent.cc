// `gpucloud agent`: runs on each KVM host (or, with --driver fake, simulates one). Registers the
// host with the server, reports its resources, allowed PCI devices and host doctor verdict,
// heartbeats, runs the server's tasks on the libvirt (or fake) driver and reports orphans.
// Credentials as the openstack clients take them: OS_* variables or --os-* options.
#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "cli/serve.h"

namespace gpucloud::cli {
namespace {

struct AgentArgs {
  std::vector<std::string> config_files;
  std::string host;
  std::string server_url;
  agent::AgentCredentials creds;
  std::string driver = "libvirt";
  std::string libvirt_uri = "qemu:///system";
  std::string instances_path = "/var/lib/gpucloud/instances";
  std::string libvirt_network = "default";  // the guests' NIC; "" for none
  std::string virt_type = "kvm";            // nova's [libvirt] virt_type: kvm, or qemu (TCG)
  double guest_interval = 5;
  std::string image_cache;  // default: <instances_path>/_base with libvirt, off with fake
  std::string fake_hosts;
  std::string sysfs_root = "/sys";
  std::string proc_root = "/proc";
  std::string dev_root = "/dev";
  int heartbeat_interval = 10;
  int orphan_interval = 60;
  int poll_wait = 10;
  bool repair_orphans = false;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// The doctor's verdict in one line; compute_boot.cc treats text starting "fail" as not ready.
std::string doctor_line(const agent::DoctorReport& report) {
  std::string first;
  for (const auto& f : report.findings) {
    if (f.severity == agent::Severity::kError && first.empty()) {
      first = f.subject + " " + f.check + ": " + f.what;
    }
  }
  switch (report.readiness()) {
    case agent::Readiness::kReady:
      return "ok: ready for passthrough";
    case agent::Readiness::kNotReady:
      return "fail: " + first;
    case agent::Readiness::kUnknown:
      return "unknown: " + first;
  }
  return "unknown";
}

Result<std::unique_ptr<compute::ComputeDriver>> make_driver(const AgentArgs& a,
                                                            const config::NovaConfig& cfg,
                                                            const std::string& host,
                                                            std::string& doctor) {
  if (a.driver == "fake") {
    if (a.fake_hosts.empty()) return Error::invalid("--driver fake needs --fake-hosts FILE");
    auto d = compute::load_fake_driver(a.fake_hosts);
    if (!d.ok()) return d.error();
    return d;
  }
  if (a.driver != "libvirt") return Error::invalid("--driver: libvirt or fake");
  std::vector<DeviceSpec> specs;
  for (const auto& s : cfg.device_specs) specs.push_back(s.value);
  const agent::HostRoots roots{a.sysfs_root, a.proc_root, a.dev_root};
  const auto snapshot = agent::take_host_snapshot(roots, specs, cfg.aliases);
  doctor = doctor_line(agent::run_host_doctor(snapshot));
  agent::LibvirtOptions o;
  o.uri = a.libvirt_uri;
  o.host_name = host;
  o.instances_path = a.instances_path;
  o.domain.spice_enabled = cfg.spice_enabled;
  if (cfg.spice_enabled) o.domain.graphics_listen = cfg.spice_server_listen;
  o.console_address = cfg.spice_server_proxyclient_address;
  o.domain.network = a.libvirt_network;
  o.domain.domain_type = a.virt_type;
  for (const auto& d : snapshot.devices) {
    if (!d.allowed) continue;
    o.pci_devices.push_back(d.device);
    for (const auto& spec : specs) {  // the first spec that admits it gives its tags, as in nova
      if (!spec.matches(d.device)) continue;
      if (!spec.tags().empty()) o.device_tags[d.device.address] = spec.tags();
      break;
    }
    // Where it sits, for multi-GPU placement (an NVLink partition comes from the spec's tags).
    if (!d.pcie_switch.empty()) o.device_tags[d.device.address]["pcie_switch"] = d.pcie_switch;
  }
  o.clean.sysfs_root = a.sysfs_root;
  o.clean.aliases = cfg.aliases;
  if (cfg.scrub_command) o.clean.scrub_command = cfg.scrub_command->value;
  o.clean.scrub_timeout = std::chrono::seconds(cfg.scrub_timeout);
  return agent::make_libvirt_driver(o);
}

int run_agent(AgentArgs a) {
  auto cfg = load_nova_files(a.config_files, "", "");
  if (!cfg) return 1;
  std::string host = a.host;
  if (host.empty() && cfg->host) host = cfg->host->value;
  if (host.empty()) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) host = buf;
  }
  if (a.creds.auth_url.empty() || a.creds.username.empty() || a.creds.password.empty() ||
      a.creds.project_name.empty()) {
    std::fprintf(stderr,
                 "gpucloud agent: credentials needed: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and "
                 "OS_PROJECT_NAME (or --os-auth-url, --os-username, ...)\n");
    return 1;
  }
  std::string doctor;
  auto driver = make_driver(a, *cfg, host, doctor);
  if (!driver.ok()) {
    std::fprintf(stderr, "gpucloud agent: %s\n", driver.error().message.c_str());
    return 1;
  }
  block_stop_signals();
  agent::AgentLoopOptions o;
  o.host = host;
  o.server_url = a.server_url;
  o.credentials = a.creds;
  o.heartbeat_interval = std::chrono::seconds(std::max(1, a.heartbeat_interval));
  o.orphan_interval = std::chrono::seconds(std::max(0, a.orphan_interval));
  o.poll_wait_seconds = std::max(0, a.poll_wait);
  o.repair_orphans = a.repair_orphans;
  // The libvirt driver's base-image directory: a downloaded image is its base as it is.
  o.image_cache = !a.image_cache.empty()  ? a.image_cache
                  : a.driver == "libvirt" ? a.instances_path + "/_base"
                                          : "";
  o.doctor_status = doctor;
  o.guest_interval = std::chrono::milliseconds(static_cast<int64_t>(a.guest_interval * 1000));
  agent::AgentLoop loop(o, **driver);
  // start() retries while the server is unreachable; it runs beside the signal wait so that
  // SIGTERM stops an agent that is still waiting for its server.
  std::atomic<bool> failed{false};
  std::thread tasks([&] {
    if (auto s = loop.start(); !s.ok()) {
      if (!loop.stopping()) {
        std::fprintf(stderr, "gpucloud agent: %s\n", s.error().message.c_str());
        failed = true;
        ::kill(::getpid(), SIGTERM);  // wakes the signal wait below
      }
      return;
    }
    std::printf("gpucloud agent serving host %s (driver %s)\n", host.c_str(),
                (*driver)->type().c_str());
    std::fflush(stdout);
    loop.run();
  });
  const char* sig = wait_for_stop_signal();
  if (!failed) {
    std::printf("gpucloud agent: %s, stopping\n", sig);
    std::fflush(stdout);
  }
  loop.stop();
  tasks.join();
  return failed ? 1 : 0;
}

}  // namespace

void register_agent(CLI::App& app) {
  auto a = std::make_shared<AgentArgs>();
  a->creds.auth_url = env_or("OS_AUTH_URL", "");
  a->creds.username = env_or("OS_USERNAME", "");
  a->creds.password = env_or("OS_PASSWORD", "");
  a->creds.project_name = env_or("OS_PROJECT_NAME", "");
  a->creds.user_domain_name = env_or("OS_USER_DOMAIN_NAME", "Default");
  a->creds.project_domain_name = env_or("OS_PROJECT_DOMAIN_NAME", "Default");
  auto* cmd =
      app.add_subcommand("agent", "serve this host to a gpucloud server (one per KVM host)");
  cmd->add_option("--config", a->config_files,
                  "nova.conf / nova-compute.conf, merged in order ([DEFAULT] host, device specs)");
  cmd->add_option("--host", a->host, "host name (default: [DEFAULT] host, else the hostname)");
  cmd->add_option("--server-url", a->server_url,
                  "the server's base URL (default: scheme://host:port of the auth URL)");
  cmd->add_option("--os-auth-url", a->creds.auth_url, "identity URL (env OS_AUTH_URL)");
  cmd->add_option("--os-username", a->creds.username, "user (env OS_USERNAME)");
  cmd->add_option("--os-password", a->creds.password, "password (env OS_PASSWORD; prefer it)");
  cmd->add_option("--os-project-name", a->creds.project_name, "project (env OS_PROJECT_NAME)");
  cmd->add_option("--os-user-domain-name", a->creds.user_domain_name,
                  "user's domain (env OS_USER_DOMAIN_NAME, default Default)");
  cmd->add_option("--os-project-domain-name", a->creds.project_domain_name,
                  "project's domain (env OS_PROJECT_DOMAIN_NAME, default Default)");
  cmd->add_option("--driver", a->driver, "libvirt or fake")
      ->check(CLI::IsMember({"libvirt", "fake"}))
      ->capture_default_str();
  cmd->add_option("--libvirt-uri", a->libvirt_uri, "libvirt connection")->capture_default_str();
  cmd->add_option("--instances-path", a->instances_path, "where guests' disks live (libvirt)")
      ->capture_default_str();
  cmd->add_option("--libvirt-network", a->libvirt_network,
                  "libvirt network of the guests' NIC, whose DHCP leases give their addresses "
                  "(\"\": no NIC)")
      ->capture_default_str();
  cmd->add_option("--virt-type", a->virt_type, "nova's [libvirt] virt_type: kvm, or qemu (TCG)")
      ->check(CLI::IsMember({"kvm", "qemu"}))
      ->capture_default_str();
  cmd->add_option("--guest-interval", a->guest_interval,
                  "seconds between reports of guest addresses and readiness probes (the "
                  "server's readiness_interval when shorter)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_option("--fake-hosts", a->fake_hosts,
                  "the fake driver's hosts JSON (docs/fake_driver.md); only --host is served");
  cmd->add_option("--sysfs-root", a->sysfs_root, "sysfs for discovery and the doctor")
      ->capture_default_str();
  cmd->add_option("--proc-root", a->proc_root, "procfs for the doctor")->capture_default_str();
  cmd->add_option("--dev-root", a->dev_root, "/dev for the doctor")->capture_default_str();
  cmd->add_option("--heartbeat-interval", a->heartbeat_interval, "seconds between heartbeats")
      ->capture_default_str();
  cmd->add_option("--orphan-interval", a->orphan_interval,
                  "seconds between orphan checks (0: only on start)")
      ->capture_default_str();
  cmd->add_option("--poll-wait", a->poll_wait, "seconds a task poll waits on the server")
      ->capture_default_str();
  cmd->add_option("--image-cache", a->image_cache,
                  "where images fetched from the server are kept (default with libvirt: "
                  "INSTANCES_PATH/_base)");
  cmd->add_flag("--repair-orphans", a->repair_orphans,
                "destroy orphan domains and release leaked device claims");
  cmd->callback([a] { set_exit_code(run_agent(*a)); });
}

}  // namespace gpucloud::cli
