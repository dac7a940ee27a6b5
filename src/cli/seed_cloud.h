// The seed document's cloud, built through the public API exactly as a user would with the nova
// and glance commands of gpu-passthrough-for-kvm.txt: flavors 1-5, aggregates with the Denver
// availability zone and gpu=true/false, and a login-node image with the seed's properties.
#pragma once

#include <string>

#include "core/core.h"

namespace gpucloud::cli {

struct SeedOptions {
  std::string base_url;  // http://127.0.0.1:PORT
  std::string user;      // an admin
  std::string password;
  std::string project;
  // false: only flavors 1-5 without extra specs (what a fresh nova has), so that the seed's own
  // commands can be run against the cloud; true: the whole seed applied.
  bool full = true;
  size_t image_size_mib = 16;  // the generated raw image
};

// Idempotent: what already exists (by flavor id, aggregate name, image name) is left alone.
Status seed_cloud(const SeedOptions& options);

}  // namespace gpucloud::cli
