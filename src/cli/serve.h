// What `gpucloud server` and `gpucloud up` share: loading nova.conf, opening the store,
// running the API until SIGINT/SIGTERM, and writing clouds.yaml / openrc for the clients.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/api.h"
#include "config/config.h"
#include "store/store.h"

namespace gpucloud::cli {

// Loads and merges nova.conf-style files; `embedded_text` is used when `files` is empty.
// Prints every problem; returns nullptr when there are errors.
std::shared_ptr<const config::NovaConfig> load_nova_files(const std::vector<std::string>& files,
                                                          const char* embedded_text,
                                                          const std::string& embedded_name);

// Blocks SIGINT/SIGTERM for every thread started afterwards; call before starting the server.
void block_stop_signals();
// Waits for SIGINT or SIGTERM (blocked beforehand) and returns its name.
const char* wait_for_stop_signal();

struct CloudCredentials {
  std::string auth_url;  // .../identity/v3
  std::string user;
  std::string password;
  std::string project;
};
// Writes clouds.yaml (cloud name "gpucloud") and an openrc, both mode 0600, into `dir`.
Status write_client_files(const std::string& dir, const CloudCredentials& c);

// A fresh random password (24 url-safe characters).
std::string random_password();

}  // namespace gpucloud::cli
