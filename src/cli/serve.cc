#include "cli/serve.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace gpucloud::cli {

std::shared_ptr<const config::NovaConfig> load_nova_files(const std::vector<std::string>& files,
                                                          const char* embedded_text,
                                                          const std::string& embedded_name) {
  std::vector<config::IniFile> ini;
  if (files.empty()) {
    ini.push_back(config::IniFile::parse(embedded_text, embedded_name));
  }
  for (const auto& path : files) {
    auto f = config::IniFile::load(path);
    if (!f.ok()) {
      std::fprintf(stderr, "gpucloud: %s\n", f.error().message.c_str());
      return nullptr;
    }
    ini.push_back(std::move(*f));
  }
  auto cfg = std::make_shared<config::NovaConfig>(config::load_nova_config(ini));
  for (const auto& p : cfg->problems) std::fprintf(stderr, "%s\n", p.to_string().c_str());
  if (cfg->has_errors()) return nullptr;
  return cfg;
}

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

const char* wait_for_stop_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

namespace {

// Writes a file that only its owner can read, since it holds a password.
Status write_private_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::unavailable("cannot write " + path + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);  // an existing file keeps its old mode otherwise
  const ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return Error::unavailable("cannot write " + path);
  return {};
}

// Single-quotes a value for a POSIX shell.
std::string shell_quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A YAML double-quoted scalar: JSON's string escapes are valid YAML, so a password with '"' or
// '\' in it stays the password.
std::string yaml_quote(const std::string& v) {
  return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Status write_client_files(const std::string& dir, const CloudCredentials& c) {
  const std::string yaml =
      "# Written by gpucloud: use with `export OS_CLOUD=gpucloud` and\n"
      "# OS_CLIENT_CONFIG_FILE pointing here (or copy to ~/.config/openstack/clouds.yaml).\n"
      "clouds:\n"
      "  gpucloud:\n"
      "    auth:\n"
      "      auth_url: " +
      yaml_quote(c.auth_url) +
      "\n"
      "      username: " +
      yaml_quote(c.user) +
      "\n"
      "      password: " +
      yaml_quote(c.password) +
      "\n"
      "      project_name: " +
      yaml_quote(c.project) +
      "\n"
      "      user_domain_name: \"Default\"\n"
      "      project_domain_name: \"Default\"\n"
      "    identity_api_version: 3\n"
      "    region_name: \"RegionOne\"\n";
  if (auto s = write_private_file(dir + "/clouds.yaml", yaml); !s.ok()) return s;
  const std::string rc =
      "# Written by gpucloud: `. openrc`, then use openstack, nova and glance.\n"
      "export OS_AUTH_URL=" +
      shell_quote(c.auth_url) +
      "\n"
      "export OS_USERNAME=" +
      shell_quote(c.user) +
      "\n"
      "export OS_PASSWORD=" +
      shell_quote(c.password) +
      "\n"
      "export OS_PROJECT_NAME=" +
      shell_quote(c.project) +
      "\n"
      "export OS_USER_DOMAIN_NAME=Default\n"
      "export OS_PROJECT_DOMAIN_NAME=Default\n"
      "export OS_IDENTITY_API_VERSION=3\n"
      "export OS_REGION_NAME=RegionOne\n";
  return write_private_file(dir + "/openrc", rc);
}

std::string random_password() {
  unsigned char raw[18];
  randombytes_buf(raw, sizeof raw);
  char out[sodium_base64_ENCODED_LEN(18, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

}  // namespace gpucloud::cli
