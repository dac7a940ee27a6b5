// nova.conf as gpucloud understands it: PCI aliases and device specs (legacy [DEFAULT] names as
// the seed uses them, and [pci]), SPICE, scheduler filters, allocation ratios, host, database.
// Several files merge in order (nova.conf, then nova-compute.conf) with oslo.config's rules.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/ini.h"
#include "core/core.h"

namespace gpucloud::config {

// A value together with the place it was set ("file:line"; empty file = nova's default).
template <typename T>
struct Located {
  T value;
  Location where;
};

struct NovaConfig {
  AliasTable aliases;                             // [pci] alias, [DEFAULT] pci_alias
  std::vector<Located<DeviceSpec>> device_specs;  // [pci] device_spec and its old names
  std::vector<Located<std::string>> enabled_filters;
  std::vector<Located<std::string>> available_filters;
  bool spice_enabled = false;  // [spice] enabled, nova's default False
  // Consoles (docs/consoles.md). [spice] html5proxy_base_url: the page a console URL points at,
  // "" = the server's own /spice/spice_auto.html. server_listen: where guests' SPICE servers
  // listen on their host; server_proxyclient_address: where the server's relay reaches them.
  std::string spice_html5proxy_base_url;
  std::string spice_server_listen = "127.0.0.1";
  std::string spice_server_proxyclient_address = "127.0.0.1";
  int console_token_ttl = 600;                       // [consoleauth] token_ttl, seconds
  std::vector<std::string> console_allowed_origins;  // [console] allowed_origins (host names)
  // Effective ratios: the option if set and non-zero, else initial_*_allocation_ratio (nova's
  // current defaults 4.0, 1.0, 1.0; Zed, Debian 12's python3-nova, still had 16.0, 1.5, 1.0).
  double cpu_allocation_ratio = 4.0;
  double ram_allocation_ratio = 1.0;
  double disk_allocation_ratio = 1.0;
  std::optional<Located<std::string>> host;  // unset: nova uses the machine's hostname
  std::optional<Located<DatabaseUrl>> database;
  int max_attempts = 3;
  // [filter_scheduler] ram_weight_multiplier (any sign: negative stacks) and
  // pci_weight_multiplier (nova's minimum 0.0); [DEFAULT] held them in the seed's era.
  double ram_weight_multiplier = 1.0;
  double pci_weight_multiplier = 1.0;
  // [filter_scheduler] soft_affinity_weight_multiplier and soft_anti_affinity_weight_multiplier
  // (nova's minimum 0.0): how much a server group's soft policy weighs.
  double soft_affinity_weight_multiplier = 1.0;
  double soft_anti_affinity_weight_multiplier = 1.0;
  // [DEFAULT] default_availability_zone: the zone of hosts in no aggregate with a zone.
  Located<std::string> default_availability_zone{"nova", {}};
  // [filter_scheduler] weight_classes (ListOpt; [DEFAULT] scheduler_weight_classes before):
  // the weighers by class name. nova's default, all_weighers, is every weigher gpucloud has.
  std::vector<std::string> weighers = {"RAMWeigher", "PCIWeigher", "ServerGroupSoftAffinityWeigher",
                                       "ServerGroupSoftAntiAffinityWeigher"};
  // [DEFAULT] service_down_time: seconds without a heartbeat after which a host is down.
  int service_down_time = 60;
  // keystone.conf's [security_compliance] lockout, read from the same files: after this many
  // failed password logins in a row a user is locked out for lockout_duration seconds
  // (keystone's defaults: no lockout, 1800 s).
  std::optional<int> lockout_failure_attempts;
  int lockout_duration = 1800;
  // [gpucloud] scrub_command: what the agent runs on a released GPU after its reset and checks
  // (docs/cleaning.md), e.g. a scrub VM that zeroes GPU memory; scrub_timeout in seconds.
  std::optional<Located<std::string>> scrub_command;
  int scrub_timeout = 600;
  // Every problem found, in file order per option; an empty list (or only warnings) = usable.
  std::vector<Problem> problems;

  bool has_errors() const;
};

// Reads the files (already parsed, in order); the IniFiles' own problems are included.
NovaConfig load_nova_config(const std::vector<IniFile>& files);

// nova's filter class names (current and the seed era's, e.g. RetryFilter, RamFilter).
const std::vector<std::string_view>& nova_filter_names();
bool is_nova_filter(std::string_view name);
// Filters removed from nova (still accepted, since the seed's configuration names them).
bool is_legacy_nova_filter(std::string_view name);

}  // namespace gpucloud::config
