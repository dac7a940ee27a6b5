// The libvirt compute driver: the agent's ComputeDriver for the one host it runs on. Guests are
// libvirt domains named instance-<uuid> with the instance uuid as the domain uuid; their disks
// and config drive live under <instances_path>/<uuid>/.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/device_clean.h"
#include "agent/domain_spec.h"
#include "compute/compute.h"

namespace gpucloud::agent {

struct LibvirtOptions {
  std::string uri = "qemu:///system";  // --libvirt-uri
  std::string host_name;               // [DEFAULT] host or the hostname
  std::string instances_path = "/var/lib/gpucloud/instances";
  DomainOptions domain;  // domain_type, default machine type, spice, network, OVMF paths, MMIO
  // Create the qcow2 overlay (qemu-img) over the cached base image and the config drive ISO.
  // Off for libvirt's test:///default driver, which never opens a disk.
  bool prepare_storage = true;
  std::vector<PciDevice> pci_devices;  // the allowed devices (discovery), reported by hosts()
  // Their device specs' tags (one_time_use, ...), reported with them.
  std::map<PciAddress, std::map<std::string, std::string>> device_tags;
  CleanOptions clean;  // how clean() resets, checks and scrubs a released GPU
  // [spice] server_proxyclient_address: where the server's console relay reaches this host's
  // SPICE guests (reported with each guest).
  std::string console_address = "127.0.0.1";
};

// Opens the connection. kUnavailable naming the URI when libvirt cannot be reached.
Result<std::unique_ptr<compute::ComputeDriver>> make_libvirt_driver(const LibvirtOptions& options);

// The host PCI addresses of a domain XML's <hostdev type='pci'> sources, in document order.
std::vector<PciAddress> hostdev_addresses(const std::string& domain_xml);

}  // namespace gpucloud::agent
