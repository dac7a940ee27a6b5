// `gpucloud server init`'s identity step. Part of the api module's public interface beside
// api.h (which has bootstrap_identity and ensure_user, for `gpucloud up` and tests): this one
// reports what it found and changed, for an operator's command.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/core.h"
#include "store/store.h"

namespace gpucloud::api {

// A user with a role on a project, each created when missing. An existing user's password
// changes only with `reset_password`; a given password that does not match the stored one is
// reported (password_matches), never applied silently. Disabled users and projects stay
// disabled: enabling them is an operator's decision.
struct IdentitySpec {
  std::string project;
  std::string user;
  std::string role;                     // admin, member, reader or service
  std::optional<std::string> password;  // needed to create the user; never logged
};
struct IdentityOutcome {
  std::vector<std::string> steps;  // what was done or found, one line each, for the operator
  bool changed = false;
  bool password_matches = true;
};
Result<IdentityOutcome> ensure_identity(store::Store& store, const IdentitySpec& spec,
                                        bool reset_password);

}  // namespace gpucloud::api
