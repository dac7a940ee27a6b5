// Internal to api/: one keystone password login, shared by POST /auth/tokens
// (identity_tokens.cc) and the own password change (identity_password_login.cc).
#pragma once

#include <optional>
#include <string>

#include "api/identity_impl.h"
#include "api/login_guard_impl.h"

namespace gpucloud::api {

// The one answer to every failed login, whatever failed, so that it tells nothing.
inline constexpr const char* kBadCredentials = "The request you have made requires authentication.";

// The domain id of a user's or project's {"domain": {"id"|"name"}} (the default domain when
// absent); kNotFound for a name no domain has.
Result<std::string> keystone_domain_id(store::Store& st, const json& ref, const std::string& field);

// One password login: the throttle, the lockout ([security_compliance]), exactly one Argon2id
// check whether or not the user exists, and a log line for every failure (user and address,
// never the password). One per request; not shared between threads.
class PasswordLogin {
 public:
  PasswordLogin(ApiContext& ctx, Call& call);

  // Passes (nullopt; user_id() is then known), or the answer: an error, or 429 when the name
  // or the address must wait before its next try.
  Result<std::optional<Reply>> check(const json& u);

  const std::string& user_id() const { return user_id_; }

  // The token was issued: the user's failures are forgotten (the address's are kept).
  void succeeded();

 private:
  static Reply too_many_requests(int64_t wait);

  ApiContext& ctx_;
  LoginGuard& guard_;
  std::string address_, named_, key_, user_id_;
  bool had_failures_ = false;
};

}  // namespace gpucloud::api
