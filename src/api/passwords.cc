#include <sodium.h>

#include <chrono>

#include "api/identity_impl.h"

namespace gpucloud::api {

Result<std::string> hash_password(const std::string& password) {
  if (sodium_init() < 0) return Error::internal("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  // Argon2id with libsodium's interactive limits: keystone-like login cost on a small host.
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Error::internal("out of memory while hashing a password");
  }
  return std::string(out);
}

bool verify_password(const std::string& stored_hash, const std::string& password) {
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(stored_hash.c_str(), password.data(), password.size()) == 0;
}

std::string new_token() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

std::string token_hash(const std::string& token) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

Result<Caller> validate_token(store::Store& store, const std::string& token) {
  static const char* kInvalid = "The request you have made requires authentication.";
  if (token.empty() || token.size() > 256) return unauthorized(kInvalid);
  auto t = store.get_token(token_hash(token));
  if (!t.ok()) {
    if (t.error().code == ErrorCode::kNotFound) return unauthorized(kInvalid);
    return t.error();
  }
  if (t->revoked || t->expires_at <= std::chrono::system_clock::now()) {
    return unauthorized(kInvalid);
  }
  auto user = store.get_user(t->user_id);
  if (!user.ok() || !user->enabled) return unauthorized(kInvalid);
  Caller c;
  c.token_hash = t->token_hash;
  c.user_id = user->id;
  c.user_name = user->name;
  c.domain_id = user->domain_id;
  c.roles = t->roles;
  c.issued_at = t->issued_at;
  c.expires_at = t->expires_at;
  if (!t->project_id.empty()) {
    auto project = store.get_project(t->project_id);
    if (!project.ok() || !project->enabled) return unauthorized(kInvalid);
    c.project_id = project->id;
    c.project_name = project->name;
  }
  return c;
}

}  // namespace gpucloud::api
