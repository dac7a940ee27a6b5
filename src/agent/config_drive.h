// The config drive gpucloud gives every guest: a cloud-init NoCloud ISO (volume label "cidata")
// with meta-data, user-data and network-config. With the image property configure_x=true the
// user data also makes cloud-init write /etc/X11/xorg.conf naming the passed-through GPU by its
// guest PCI address.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "store/store.h"

namespace gpucloud::agent {

// A GPU as the guest sees it.
struct GuestGpu {
  PciAddress guest;
  VendorId vendor_id;
};

// Xorg's BusID for a PCI address: decimal "PCI:bus:device:function" ("PCI:1:0:0").
std::string xorg_bus_id(const PciAddress& guest);
// xorg.conf with one Device section per GPU (and a Screen using the first).
std::string xorg_conf(const std::vector<GuestGpu>& gpus);

Result<std::string> decode_base64(std::string_view text);

struct ConfigDriveFiles {
  std::string meta_data;       // YAML: instance-id, local-hostname
  std::string user_data;       // the instance's user data, possibly wrapped (see config_drive.cc)
  std::string network_config;  // netplan v2: DHCP on every ethernet NIC
  // The cloud-config part gpucloud added (configure_x), empty when none: for validation.
  std::string gpucloud_cloud_config;
};

// Errors (kInvalidArgument): user_data that is not base64.
Result<ConfigDriveFiles> make_config_drive_files(const store::Instance& instance,
                                                 const store::Image& image,
                                                 const std::vector<GuestGpu>& gpus);

// Writes the three files into `work_dir` and builds `iso_path` with genisoimage (run directly,
// no shell). kUnavailable when genisoimage cannot be run, kInternal when it fails.
Status write_config_drive_iso(const ConfigDriveFiles& files, const std::string& work_dir,
                              const std::string& iso_path);

}  // namespace gpucloud::agent
