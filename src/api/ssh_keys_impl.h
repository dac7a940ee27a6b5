// Internal to api/: SSH public keys as the keypair API takes them (OpenSSH's one-line form), the
// RSA key pairs nova generates for a keypair created without a public key (below 2.92), and
// X.509 key pairs.
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

// X.509 key pairs (type "x509"): the public half is a PEM certificate (x509_keys.cc).
// Its fingerprint as nova shows it: SHA-1 of the DER form, "aa:bb:..." (kInvalidArgument when the
// text is not a PEM certificate).
Result<std::string> x509_fingerprint(const std::string& pem);
// A new RSA key with a self-signed certificate for the user, as nova makes one for WinRM.
Result<GeneratedKeyPair> generate_x509_key_pair(const std::string& user_id);

}  // namespace gpucloud::api
