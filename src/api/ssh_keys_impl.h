// Internal to api/: SSH public keys as the keypair API takes them (OpenSSH's one-line form), and
// the RSA key pairs nova generates for a keypair created without a public key (below 2.92).
#pragma once

#include <string>

#include "core/result.h"

namespace gpucloud::api {

// Checks an OpenSSH public key line: a known type, base64 that decodes, and a blob whose first
// field names the same type (what `ssh-keygen -l` reads). The message says what is wrong.
Status check_public_key(const std::string& line);

// The key's fingerprint as `ssh-keygen -l` prints it today: "SHA256:" and base64 without padding.
Result<std::string> public_key_fingerprint(const std::string& line);

struct GeneratedKeyPair {
  std::string public_key;   // "ssh-rsa AAAA... Generated-by-gpucloud"
  std::string private_key;  // PEM, "-----BEGIN RSA PRIVATE KEY-----" (nova's format)
};
// A fresh 2048-bit RSA key pair, as nova makes one.
Result<GeneratedKeyPair> generate_rsa_key_pair();

}  // namespace gpucloud::api
