// The agent: what runs on each KVM host. It discovers the host's PCI devices from sysfs, applies
// the device specs and aliases to them, and checks (host doctor) whether passthrough can work.
// This is the only header other modules include from agent/.
#pragma once

#include "agent/host_doctor.h"
#include "agent/pci_config.h"
#include "agent/pci_discovery.h"
#include "agent/pci_ids.h"
// Running instances: the libvirt driver, domain definitions and XML, the config drive.
#include "agent/config_drive.h"
#include "agent/domain_orphans.h"
#include "agent/domain_spec.h"
#include "agent/libvirt_driver.h"
// `gpucloud agent`: registration, heartbeats, tasks and orphan reports against the server.
#include "agent/agent_loop.h"
