#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>

#include "api/identity_impl.h"

namespace gpucloud::api {

namespace {
std::atomic<bool> cheap_hashes_for_tests{false};
}  // namespace

void use_cheap_password_hashes_for_tests(bool cheap) { cheap_hashes_for_tests = cheap; }

Result<std::string> hash_password(const std::string& password) {
  if (sodium_init() < 0) return Error::internal("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  // Argon2id with libsodium's interactive limits: keystone-like login cost on a small host.
  const bool cheap = cheap_hashes_for_tests.load();
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            cheap ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            cheap ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE,
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

std::vector<std::string> with_implied_roles(const std::vector<std::string>& roles) {
  std::set<std::string> all(roles.begin(), roles.end());
  if (all.count("admin")) all.insert("member");
  if (all.count("member")) all.insert("reader");
  std::vector<std::string> out;
  for (const char* r : {"admin", "member", "reader"}) {
    if (all.erase(r)) out.push_back(r);
  }
  out.insert(out.end(), all.begin(), all.end());
  return out;
}

Result<Caller> validate_token(store::Store& store, const std::string& token) {
  static const char* kInvalid = "The request you have made requires authentication.";
  if (token.empty() || token.size() > 256) return unauthorized(kInvalid);
  auto g = store.get_token_grant(token_hash(token));
  if (!g.ok()) {
    if (g.error().code == ErrorCode::kNotFound) return unauthorized(kInvalid);
    return g.error();
  }
  const store::Token& t = g->token;
  if (t.revoked || t.expires_at <= std::chrono::system_clock::now() || !g->user.enabled) {
    return unauthorized(kInvalid);
  }
  Caller c;
  c.token_hash = t.token_hash;
  c.user_id = g->user.id;
  c.user_name = g->user.name;
  c.domain_id = g->user.domain_id;
  c.issued_at = t.issued_at;
  c.expires_at = t.expires_at;
  if (!t.project_id.empty()) {
    // A project that is gone or disabled, or a user left without a role on it, ends the token
    // even where no revocation was written (a grant removed while this token was being issued).
    if (!g->project || !g->project->enabled || g->roles.empty()) return unauthorized(kInvalid);
    c.project_id = g->project->id;
    c.project_name = g->project->name;
    c.project_domain_id = g->project->domain_id;
    c.roles = with_implied_roles(g->roles);
    if (g->delegated_roles) {
      c.roles = delegated_roles_held(c.roles, *g->delegated_roles);
      if (c.roles.empty()) return unauthorized(kInvalid);
      c.oauth_access_token_id = g->token.oauth_access_token_id;
      c.oauth_consumer_id = g->oauth_consumer_id;
    }
  }
  return c;
}

std::vector<std::string> delegated_roles_held(const std::vector<std::string>& held,
                                              const std::vector<std::string>& delegated) {
  const auto granted = with_implied_roles(delegated);
  std::vector<std::string> out;
  for (const auto& r : held) {
    if (std::find(granted.begin(), granted.end(), r) != granted.end()) out.push_back(r);
  }
  return out;
}

}  // namespace gpucloud::api
