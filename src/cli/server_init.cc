// `gpucloud server init`: makes a database ready for `gpucloud server`, as `keystone-manage
// bootstrap` plus `nova-manage db sync` do for OpenStack: the schema, the admin user with the
// admin role on the admin project, and a service user for the agents (keystone's `service` role
// on the `service` project). Passwords come from files or the environment, never from the command
// line (where `ps` and shell history show them). Idempotent: on an existing cloud it changes
// nothing unless told to (--reset-passwords), and says what it found. Exit status: 0 ready,
// 1 an error (nothing half-done is left that a second run would not finish).
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "api/bootstrap.h"
#include "cli/commands.h"
#include "cli/serve.h"

namespace gpucloud::cli {
namespace {

struct InitArgs {
  std::vector<std::string> config_files;
  std::string database;
  std::string admin_user = "admin";
  std::string admin_project = "admin";
  std::string admin_password_file;
  std::string service_user = "gpucloud-agent";
  std::string service_project = "service";
  std::string service_password_file;
  bool no_service_user = false;
  bool reset_passwords = false;
  std::string client_files_dir;
  std::string auth_url = "http://127.0.0.1:5000/identity/v3";
};

constexpr const char* kAdminPasswordEnv = "GPUCLOUD_ADMIN_PASSWORD";
constexpr const char* kServicePasswordEnv = "GPUCLOUD_SERVICE_PASSWORD";

// A password from FILE (its first line), else from the environment variable; nullopt when
// neither is given. A file that others may read is used, with a warning.
Result<std::optional<std::string>> read_password(const std::string& file, const char* env) {
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Error::not_found("cannot read password file " + file);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) return Error::invalid("password file " + file + " is empty");
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
      std::fprintf(stderr, "gpucloud server init: warning: %s may be read by others (mode %03o)\n",
                   file.c_str(), st.st_mode & 0777);
    }
    return std::optional<std::string>(line);
  }
  const char* v = std::getenv(env);
  if (v && *v) return std::optional<std::string>(v);
  return std::optional<std::string>();
}

int init_fail(const std::string& message) {
  std::fprintf(stderr, "gpucloud server init: %s\n", message.c_str());
  return 1;
}

// Creates the schema on an empty database; an older schema is left to `gpucloud db upgrade`, so
// that init never changes an existing cloud's schema behind the operator's back.
Result<std::unique_ptr<store::Store>> open_for_init(const std::string& url) {
  store::OpenOptions o;
  o.migrate = false;
  o.allow_old_schema = true;
  o.pool_size = 1;
  auto s = store::open_store(url, o);
  if (!s) return s.error();
  // open_store refused another application's tables; no schema_version table here means an
  // empty database (as `gpucloud db version` reads it).
  auto info = (*s)->schema_info();
  const int current = info ? info->current : 0;
  const int latest = store::Store::latest_schema_version();
  if (current == 0) {
    if (Status m = (*s)->migrate(); !m) return m.error();
    std::printf("schema: created (version %d)\n", latest);
  } else if (current < latest) {
    return Error::invalid("schema at version " + std::to_string(current) +
                          ", this gpucloud needs " + std::to_string(latest) +
                          ": run `gpucloud db upgrade` first");
  } else {
    std::printf("schema: version %d, up to date\n", current);
  }
  return s;
}

int run_init(const InitArgs& a) {
  std::string url = a.database;
  if (url.empty() && !a.config_files.empty()) {
    auto cfg = load_nova_files(a.config_files, "", "");
    if (!cfg) return 1;
    if (cfg->database) url = cfg->database->value.text();
  }
  if (url.empty()) return init_fail("no database: give --database URL or [database] connection");

  auto admin_pw = read_password(a.admin_password_file, kAdminPasswordEnv);
  if (!admin_pw) return init_fail(admin_pw.error().message);
  std::optional<std::string> service_pw;
  if (!a.no_service_user) {
    auto pw = read_password(a.service_password_file, kServicePasswordEnv);
    if (!pw) return init_fail(pw.error().message);
    service_pw = *pw;
  }
  if (!a.client_files_dir.empty() && !*admin_pw) {
    return init_fail(
        std::string("--write-client-files needs the admin password (--admin-password-file "
                    "or ") +
        kAdminPasswordEnv + ")");
  }

  auto store = open_for_init(url);
  if (!store) return init_fail(store.error().message);
  std::printf("database: %s\n", (*store)->redacted_url().c_str());

  bool changed = false, mismatch = false;
  auto apply = [&](const api::IdentitySpec& spec, const char* env, const char* file_option) {
    auto out = api::ensure_identity(**store, spec, a.reset_passwords);
    if (!out) {
      std::string msg = out.error().message;
      if (!spec.password) msg += std::string(" (") + file_option + " FILE or " + env + ")";
      return init_fail(msg);
    }
    for (const auto& line : out->steps) std::printf("%s\n", line.c_str());
    changed = changed || out->changed;
    mismatch = mismatch || !out->password_matches;
    return 0;
  };
  if (int rc = apply({a.admin_project, a.admin_user, "admin", *admin_pw}, kAdminPasswordEnv,
                     "--admin-password-file");
      rc != 0) {
    return rc;
  }
  if (!a.no_service_user) {
    if (int rc = apply({a.service_project, a.service_user, "service", service_pw},
                       kServicePasswordEnv, "--service-password-file");
        rc != 0) {
      return rc;
    }
  }
  if (!a.client_files_dir.empty()) {
    if (mismatch && !a.reset_passwords) {
      return init_fail("not writing client files: the admin password given is not the stored one");
    }
    const CloudCredentials creds{a.auth_url, a.admin_user, **admin_pw, a.admin_project};
    if (auto s = write_client_files(a.client_files_dir, creds); !s.ok()) {
      return init_fail(s.error().message);
    }
    std::printf("client files: %s/openrc and %s/clouds.yaml (mode 0600)\n",
                a.client_files_dir.c_str(), a.client_files_dir.c_str());
  }
  std::printf("%s\n", changed ? "gpucloud server init: done"
                              : "gpucloud server init: nothing to "
                                "change");
  return 0;
}

}  // namespace

void register_server_init(CLI::App& server) {
  auto a = std::make_shared<InitArgs>();
  auto* cmd = server.add_subcommand(
      "init",
      "create the schema, the admin user/project and the agents' service user (idempotent). "
      "Passwords: --*-password-file or the environment (GPUCLOUD_ADMIN_PASSWORD, "
      "GPUCLOUD_SERVICE_PASSWORD)");
  cmd->add_option("--config", a->config_files, "nova.conf-style files ([database] connection)");
  cmd->add_option("--database", a->database,
                  "database URL (default: [database] connection of --config)");
  cmd->add_option("--admin-user", a->admin_user, "the admin user")->capture_default_str();
  cmd->add_option("--admin-project", a->admin_project, "the admin project")->capture_default_str();
  cmd->add_option("--admin-password-file", a->admin_password_file,
                  "file whose first line is the admin password (else $GPUCLOUD_ADMIN_PASSWORD)");
  cmd->add_option("--service-user", a->service_user, "the agents' user (role service)")
      ->capture_default_str();
  cmd->add_option("--service-project", a->service_project, "the agents' project")
      ->capture_default_str();
  cmd->add_option("--service-password-file", a->service_password_file,
                  "file whose first line is the agents' password (else "
                  "$GPUCLOUD_SERVICE_PASSWORD)");
  cmd->add_flag("--no-service-user", a->no_service_user, "do not create the agents' user");
  cmd->add_flag("--reset-passwords", a->reset_passwords,
                "set the given passwords on users that already exist");
  cmd->add_option("--write-client-files", a->client_files_dir,
                  "write openrc and clouds.yaml for the admin (mode 0600) into DIR");
  cmd->add_option("--auth-url", a->auth_url, "identity URL written into the client files")
      ->capture_default_str();
  cmd->callback([a] { set_exit_code(run_init(*a)); });
}

}  // namespace gpucloud::cli
