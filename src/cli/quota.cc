// `gpucloud quota set|show|delete`: per-project GPU quotas per alias (`K2_Grid: 2`), written
// straight into the database (--database, as `gpucloud db` does): the operator on the controller
// host needs no token, and the store's claim enforces the quota in the same transaction as the
// GPU claim. The API's /compute/v2.1/os-gpu-quotas does the same for admins over HTTP.
#include <cstdio>

#include "cli/commands.h"
#include "store/store.h"

namespace gpucloud::cli {
namespace {

struct QuotaArgs {
  std::string database;
  std::string project;
  std::string alias;
  int limit = 0;
};

int quota_fail(const std::string& message) {
  std::fprintf(stderr, "gpucloud quota: %s\n", message.c_str());
  return 1;
}

// A project by id, else by name in the default domain.
Result<store::Project> find_project(store::Store& s, const std::string& id_or_name) {
  auto p = s.get_project(id_or_name);
  if (p.ok()) return p;
  auto byname = s.find_project_by_name(id_or_name, "default");
  if (byname.ok()) return byname;
  return Error::not_found("no project with id or name '" + id_or_name + "'");
}

Result<std::unique_ptr<store::Store>> open(const std::string& url) {
  store::OpenOptions o;
  o.migrate = false;  // an operator tool: never change the schema behind the server's back
  o.pool_size = 1;
  return store::open_store(url, o);
}

int run_set(const QuotaArgs& a) {
  auto s = open(a.database);
  if (!s.ok()) return quota_fail(s.error().message);
  auto p = find_project(**s, a.project);
  if (!p.ok()) return quota_fail(p.error().message);
  if (auto st = (*s)->set_gpu_quota({p->id, a.alias, a.limit}); !st.ok()) {
    return quota_fail(st.error().message);
  }
  std::printf("project %s (%s): %s: %d\n", p->name.c_str(), p->id.c_str(), a.alias.c_str(),
              a.limit);
  return 0;
}

int run_delete(const QuotaArgs& a) {
  auto s = open(a.database);
  if (!s.ok()) return quota_fail(s.error().message);
  auto p = find_project(**s, a.project);
  if (!p.ok()) return quota_fail(p.error().message);
  if (auto st = (*s)->delete_gpu_quota(p->id, a.alias); !st.ok())
    return quota_fail(st.error().message);
  std::printf("project %s (%s): %s: no quota\n", p->name.c_str(), p->id.c_str(), a.alias.c_str());
  return 0;
}

int run_show(const QuotaArgs& a) {
  auto s = open(a.database);
  if (!s.ok()) return quota_fail(s.error().message);
  std::string project_id;
  if (!a.project.empty()) {
    auto p = find_project(**s, a.project);
    if (!p.ok()) return quota_fail(p.error().message);
    project_id = p->id;
  }
  auto quotas = (*s)->list_gpu_quotas(project_id);
  if (!quotas.ok()) return quota_fail(quotas.error().message);
  std::printf("%-34s %-20s %6s %6s\n", "project", "alias", "limit", "in-use");
  std::map<std::string, std::map<std::string, int>> usage;
  for (const auto& q : *quotas) {
    if (!usage.contains(q.project_id)) {
      auto u = (*s)->gpu_usage(q.project_id);
      if (!u.ok()) return quota_fail(u.error().message);
      usage[q.project_id] = *u;
    }
    auto& u = usage[q.project_id];
    std::printf("%-34s %-20s %6d %6d\n", q.project_id.c_str(), q.alias.c_str(), q.limit,
                u.contains(q.alias) ? u[q.alias] : 0);
  }
  return 0;
}

}  // namespace

void register_quota(CLI::App& app) {
  auto* group = subcommand_group(app, "quota", "per-project GPU quotas per PCI alias");
  auto args = std::make_shared<QuotaArgs>();
  auto common = [&](CLI::App* c, bool alias) {
    c->add_option("--database", args->database, "database URL (as gpucloud server's)")->required();
    c->add_option("--project", args->project, "project id or name")->required(alias);
    if (alias) c->add_option("--alias", args->alias, "PCI alias, e.g. K2_Grid")->required();
  };
  auto* set = group->add_subcommand("set", "set a project's GPU quota for an alias");
  common(set, true);
  set->add_option("--limit", args->limit, "GPUs the project may hold")
      ->required()
      ->check(CLI::Range(0, 1000000));
  set->callback([args] { set_exit_code(run_set(*args)); });
  auto* show = group->add_subcommand("show", "GPU quotas and use (of one project or all)");
  common(show, false);
  show->callback([args] { set_exit_code(run_show(*args)); });
  auto* del = group->add_subcommand("delete", "remove a project's GPU quota for an alias");
  common(del, true);
  del->callback([args] { set_exit_code(run_delete(*args)); });
}

}  // namespace gpucloud::cli
