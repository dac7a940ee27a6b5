// One password login (the throttle, the lockout, one Argon2id check, a log line for every
// failure) and the own password change, which is such a login. Tokens are in identity_tokens.cc.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "api/password_login_impl.h"
#include "api/policy_impl.h"

namespace gpucloud::api {

Result<std::string> keystone_domain_id(store::Store& st, const json& ref,
                                       const std::string& field) {
  if (!ref.contains("domain")) return std::string("default");
  const json& d = ref["domain"];
  if (!d.is_object()) return bad_request("Invalid input for field '" + field + ".domain'.");
  if (d.contains("id") && d["id"].is_string()) return d["id"].get<std::string>();
  if (d.contains("name") && d["name"].is_string()) {
    const std::string name = d["name"];
    auto ds = st.list_domains();
    if (!ds.ok()) return ds.error();
    for (const auto& x : *ds) {
      if (x.name == name) return x.id;
    }
    return Error::not_found("Could not find domain: " + name + ".");
  }
  return bad_request("Invalid input for field '" + field + ".domain'.");
}

PasswordLogin::PasswordLogin(ApiContext& ctx, Call& call)
    : ctx_(ctx), guard_(*ctx.login), address_(call.req.remote_address) {}

Result<std::optional<Reply>> PasswordLogin::check(const json& u) {
  if (!u.contains("password") || !u["password"].is_string()) {
    return bad_request("Invalid input for field 'identity.password.user.password'.");
  }
  const bool by_id = u.contains("id") && u["id"].is_string();
  if (!by_id && (!u.contains("name") || !u["name"].is_string())) {
    return bad_request("Invalid input for field 'identity.password.user': name or id is required.");
  }
  auto domain = keystone_domain_id(ctx_.store(), u, "identity.password.user");
  if (!domain.ok()) {
    if (domain.error().code != ErrorCode::kNotFound) return domain.error();
    domain = std::string("?");  // an unknown domain: an unknown user, at the same cost
  }
  named_ = by_id ? u["id"].get<std::string>() : u["name"].get<std::string>();
  key_ = by_id ? "id:" + named_ : "name:" + *domain + "/" + named_;
  const auto now = LoginThrottle::Clock::now();
  const int64_t wait =
      std::max(guard_.users.wait_seconds(key_, now), guard_.addresses.wait_seconds(address_, now));
  if (wait > 0) {
    spdlog::warn(
        "identity: login failed for user '{}' from {}: throttled for {} s after {} "
        "failures",
        loggable(named_), loggable(address_), wait, guard_.users.failures(key_));
    return std::optional<Reply>(too_many_requests(wait));
  }
  store::Store& st = ctx_.store();
  Result<store::User> user = Error::not_found("no such domain");
  if (by_id) {
    user = st.get_user(named_);
  } else if (*domain != "?") {
    user = st.find_user_by_name(named_, *domain);
  }
  if (!user.ok() && user.error().code != ErrorCode::kNotFound) return user.error();
  const auto cfg = ctx_.nova_config();
  bool locked = false;
  if (user.ok() && cfg->lockout_failure_attempts) {
    auto f = st.get_login_failures(user->id);
    if (!f.ok()) return f.error();
    had_failures_ = f->count > 0;
    locked = f->count >= *cfg->lockout_failure_attempts && f->last_at &&
             *f->last_at + std::chrono::seconds(cfg->lockout_duration) >
                 std::chrono::system_clock::now();
  }
  // Exactly one Argon2id run on every path: unknown, locked and disabled users included.
  const std::string& hash = user.ok() && !locked ? user->password_hash : std::string();
  const bool password_ok = guard_.passwords.verify(hash, u["password"].get<std::string>());
  const char* reason = !user.ok()       ? "unknown user"
                       : locked         ? "account locked"
                       : !password_ok   ? "wrong password"
                       : !user->enabled ? "user disabled"
                                        : nullptr;
  if (reason) {
    guard_.users.record_failure(key_, now);
    guard_.addresses.record_failure(address_, now);
    int count = guard_.users.failures(key_);
    if (user.ok() && !locked && !password_ok && cfg->lockout_failure_attempts) {
      auto f = st.record_login_failure(user->id, std::chrono::system_clock::now());
      if (!f.ok()) return f.error();
      count = f->count;
      if (f->count >= *cfg->lockout_failure_attempts) {
        spdlog::warn("identity: user '{}' ({}) locked out for {} s after {} failed logins",
                     loggable(named_), user->id, cfg->lockout_duration, f->count);
      }
    }
    spdlog::warn("identity: login failed for user '{}' from {}: {} ({} in a row)", loggable(named_),
                 loggable(address_), reason, count);
    return unauthorized(kBadCredentials);
  }
  user_id_ = user->id;
  return std::optional<Reply>();
}

void PasswordLogin::succeeded() {
  guard_.users.record_success(key_);
  if (had_failures_) (void)ctx_.store().clear_login_failures(user_id_);
}

Reply PasswordLogin::too_many_requests(int64_t wait) {
  Reply r = Reply::ok({{"error",
                        {{"code", 429},
                         {"title", "Too Many Requests"},
                         {"message", fmt::format("Too many failed logins; try again in {} "
                                                 "seconds.",
                                                 wait)}}}},
                      429);
  r.headers.emplace_back("Retry-After", std::to_string(wait));
  return r;
}

namespace {

// POST /users/{user_id}/password: a user changes its own password, proving the old one. Like
// keystone it needs no token (a user whose password no longer logs in can still change it), so
// it is a login in every respect: the same throttle, lockout and single Argon2id check. The new
// password revokes every token of the user (Store::update_user).
Result<Reply> change_password(ApiContext& ctx, Call& call) {
  auto body = call.json_body();
  if (!body.ok()) return body.error();
  if (!body->is_object() || !body->contains("user") || !(*body)["user"].is_object()) {
    return bad_request("Invalid input for field 'user': an object is required.");
  }
  const json& u = (*body)["user"];
  for (auto it = u.begin(); it != u.end(); ++it) {
    if (it.key() != "password" && it.key() != "original_password") {
      return bad_request("Invalid input for field 'user': '" + it.key() + "' was unexpected.");
    }
    if (!it->is_string()) {
      return bad_request("Invalid input for field 'user." + it.key() + "': a string is required.");
    }
  }
  if (!u.contains("password") || !u.contains("original_password")) {
    return bad_request(
        "Invalid input for field 'user': 'password' and 'original_password' are "
        "required.");
  }
  const std::string fresh = u["password"].get<std::string>();
  if (fresh.empty()) return bad_request("Invalid input for field 'user.password': it is empty.");
  PasswordLogin login(ctx, call);
  auto checked = login.check({{"id", call.param("user_id")}, {"password", u["original_password"]}});
  if (!checked.ok()) return checked.error();
  if (*checked) return **checked;
  auto user = ctx.store().get_user(login.user_id());
  if (!user.ok()) return user.error();
  auto hash = ctx.login->passwords.hash(fresh);
  if (!hash.ok()) return hash.error();
  user->password_hash = *hash;
  if (auto s = ctx.store().update_user(*user); !s.ok()) return s.error();
  login.succeeded();
  spdlog::info("identity: user {} changed its password; its tokens are revoked", user->id);
  return Reply::no_content();
}

}  // namespace

std::vector<Route> identity_password_routes(ApiContext& ctx) {
  if (!ctx.login) ctx.login = std::make_shared<LoginGuard>(ctx.options.login);
  return {{"POST",
           "/identity/v3/users/{user_id}/password",
           Service::kIdentity,
           "public",
           [&ctx](Call& call) { return change_password(ctx, call); },
           {}}};
}

}  // namespace gpucloud::api
