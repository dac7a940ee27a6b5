// Identity bootstrap: what `keystone-manage bootstrap` does for a new cloud.
#include "api/bootstrap.h"

#include <chrono>

#include "api/identity_impl.h"

namespace gpucloud::api {
namespace {

Result<store::Project> ensure_project(store::Store& st, const std::string& name) {
  auto p = st.find_project_by_name(name, "default");
  if (p.ok()) return p;
  if (p.error().code != ErrorCode::kNotFound) return p.error();
  store::Project project;
  project.id = new_hex_id();
  project.name = name;
  project.description = "created by gpucloud bootstrap";
  project.created_at = std::chrono::system_clock::now();
  if (auto s = st.create_project(project); !s.ok()) return s.error();
  return project;
}

}  // namespace

Result<std::string> ensure_user(store::Store& st, const std::string& project_name,
                                const std::string& user_name, const std::string& password,
                                const std::string& role) {
  if (role != "admin" && role != "member" && role != "reader" && role != "service") {
    return Error::invalid("role '" + role + "' is not one of admin, member, reader, service");
  }
  auto project = ensure_project(st, project_name);
  if (!project.ok()) return project.error();
  auto user = st.find_user_by_name(user_name, "default");
  if (!user.ok()) {
    if (user.error().code != ErrorCode::kNotFound) return user.error();
    store::User u;
    u.id = new_hex_id();
    u.name = user_name;
    u.default_project_id = project->id;
    u.created_at = std::chrono::system_clock::now();
    auto h = hash_password(password);
    if (!h.ok()) return h.error();
    u.password_hash = *h;
    if (auto s = st.create_user(u); !s.ok()) return s.error();
    user = u;
  }
  if (auto s = st.assign_role({user->id, project->id, role}); !s.ok()) return s.error();
  return user->id;
}

Result<BootstrapResult> bootstrap_identity(store::Store& st, const std::string& project_name,
                                           const std::string& user_name,
                                           const std::string& password, bool reset_password) {
  auto project = ensure_project(st, project_name);
  if (!project.ok()) return project.error();
  auto existing = st.find_user_by_name(user_name, "default");
  auto user_id = ensure_user(st, project_name, user_name, password, "admin");
  if (!user_id.ok()) return user_id.error();
  if (existing.ok() && reset_password) {
    auto h = hash_password(password);
    if (!h.ok()) return h.error();
    existing->password_hash = *h;
    if (auto s = st.update_user(*existing); !s.ok()) return s.error();
  }
  return BootstrapResult{project->id, *user_id};
}

}  // namespace gpucloud::api

namespace gpucloud::api {

Result<IdentityOutcome> ensure_identity(store::Store& st, const IdentitySpec& spec,
                                        bool reset_password) {
  if (spec.role != "admin" && spec.role != "member" && spec.role != "reader" &&
      spec.role != "service") {
    return Error::invalid("role '" + spec.role + "' is not one of admin, member, reader, service");
  }
  IdentityOutcome out;
  auto note = [&out](std::string line, bool changed) {
    out.steps.push_back(std::move(line));
    out.changed = out.changed || changed;
  };

  auto project = st.find_project_by_name(spec.project, "default");
  if (project.ok()) {
    note("project " + spec.project + ": exists" + (project->enabled ? "" : " (disabled)"), false);
  } else if (project.error().code != ErrorCode::kNotFound) {
    return project.error();
  } else {
    project = ensure_project(st, spec.project);
    if (!project.ok()) return project.error();
    note("project " + spec.project + ": created", true);
  }

  auto user = st.find_user_by_name(spec.user, "default");
  if (!user.ok()) {
    if (user.error().code != ErrorCode::kNotFound) return user.error();
    if (!spec.password || spec.password->empty()) {
      return Error::invalid("user " + spec.user +
                            " does not exist and no password was given to create it");
    }
    store::User u;
    u.id = new_hex_id();
    u.name = spec.user;
    u.default_project_id = project->id;
    u.created_at = std::chrono::system_clock::now();
    auto h = hash_password(*spec.password);
    if (!h.ok()) return h.error();
    u.password_hash = *h;
    if (auto s = st.create_user(u); !s.ok()) return s.error();
    user = u;
    note("user " + spec.user + ": created", true);
  } else if (!spec.password) {
    note("user " + spec.user + ": exists; password unchanged", false);
  } else if (verify_password(user->password_hash, *spec.password)) {
    note("user " + spec.user + ": exists; password matches", false);
  } else if (reset_password) {
    auto h = hash_password(*spec.password);
    if (!h.ok()) return h.error();
    user->password_hash = *h;
    if (auto s = st.update_user(*user); !s.ok()) return s.error();
    note("user " + spec.user + ": exists; password reset", true);
  } else {
    out.password_matches = false;
    note("user " + spec.user +
             ": exists with another password; left unchanged (--reset-passwords sets it)",
         false);
  }

  auto roles = st.list_role_assignments(user->id, project->id);
  if (!roles.ok()) return roles.error();
  bool has_role = false;
  for (const auto& r : *roles) has_role = has_role || r.role == spec.role;
  if (has_role) {
    note("role " + spec.role + " of " + spec.user + " on " + spec.project + ": exists", false);
  } else {
    if (auto s = st.assign_role({user->id, project->id, spec.role}); !s.ok()) return s.error();
    note("role " + spec.role + " of " + spec.user + " on " + spec.project + ": granted", true);
  }
  return out;
}

}  // namespace gpucloud::api
