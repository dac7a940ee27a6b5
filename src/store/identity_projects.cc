// Keystone's projects with their hierarchy and tags (the side tables project_parents and
// project_tags, schema version 15). A project's row, its parent link and its tags are written in
// one transaction; the parent link's foreign key keeps a parent from being deleted under a child
// that a concurrent request just created.
#include <map>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct ProjectRow {
  Project p;
  int enabled = 1;
  std::string created, desc, parent;
  soci::indicator i_desc{}, i_created{}, i_parent{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(p.id));
    st.exchange(soci::into(p.name));
    st.exchange(soci::into(p.domain_id));
    st.exchange(soci::into(desc, i_desc));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(created, i_created));
    st.exchange(soci::into(parent, i_parent));
  }
  Project get() const {
    Project out = p;
    out.description = i_desc == soci::i_null ? "" : desc;
    out.enabled = enabled != 0;
    if (i_created != soci::i_null) out.created_at = parse_time(created);
    out.parent_id = opt(parent, i_parent);
    return out;
  }
};

const char* kProjectRowSelect =
    "SELECT projects.id, projects.name, projects.domain_id, projects.description, "
    "projects.enabled, projects.created_at, project_parents.parent_id FROM projects "
    "LEFT JOIN project_parents ON project_parents.project_id = projects.id ";

// Runs `query` with its string parameters, collects the projects and gives them their tags.
std::vector<Project> select_projects(soci::session& sql, const std::string& query,
                                     const std::vector<std::string>& params) {
  std::vector<Project> out = select_rows<ProjectRow, Project>(sql, query, params);
  if (out.empty()) return out;

  std::map<std::string, std::vector<std::string>> tags;
  std::string project_id, tag;
  // One project (a get): its own tags; a list: every project's, in one query.
  const bool one = out.size() == 1;
  soci::statement ts(sql);
  ts.alloc();
  ts.prepare(one ? "SELECT project_id, tag FROM project_tags WHERE project_id = :p ORDER BY "
                   "tag_order"
                 : "SELECT project_id, tag FROM project_tags ORDER BY project_id, tag_order");
  ts.exchange(soci::into(project_id));
  ts.exchange(soci::into(tag));
  if (one) ts.exchange(soci::use(out.front().id));
  ts.define_and_bind();
  ts.execute();
  while (ts.fetch()) tags[project_id].push_back(tag);
  for (auto& p : out) {
    if (auto it = tags.find(p.id); it != tags.end()) p.tags = it->second;
  }
  return out;
}

Project one_project(std::vector<Project> rows, const std::string& what) {
  if (rows.empty()) throw Abort{Error::not_found(what)};
  return std::move(rows.front());
}

void write_project_tags(soci::session& sql, const Project& p) {
  sql << "DELETE FROM project_tags WHERE project_id = :p", soci::use(p.id);
  for (size_t i = 0; i < p.tags.size(); ++i) {
    int order = static_cast<int>(i);
    sql << "INSERT INTO project_tags (project_id, tag, tag_order) VALUES (:p, :t, :o)",
        soci::use(p.id), soci::use(p.tags[i]), soci::use(order);
  }
}

}  // namespace

Status Store::create_project(const Project& p) {
  const std::string lock = impl_->dialect.for_update;
  return impl_->write(
      [&](soci::session& sql) {
        if (p.parent_id) {
          // Read under a lock so that the parent cannot move domains or go meanwhile.
          std::string parent_domain;
          sql << "SELECT domain_id FROM projects WHERE id = :p" + lock, soci::use(*p.parent_id),
              soci::into(parent_domain);
          if (!sql.got_data()) {
            throw Abort{Error::not_found("parent project " + *p.parent_id + " does not exist")};
          }
          if (parent_domain != p.domain_id) {
            throw Abort{{ErrorCode::kInvalidArgument,
                         "the parent project " + *p.parent_id + " is in another domain"}};
          }
        }
        int en = p.enabled ? 1 : 0;
        std::string ts = format_time(p.created_at == TimePoint{} ? now() : p.created_at);
        sql << "INSERT INTO projects (id, name, domain_id, description, enabled, created_at) "
               "VALUES (:i, :n, :d, :ds, :e, :c)",
            soci::use(p.id), soci::use(p.name), soci::use(p.domain_id), soci::use(p.description),
            soci::use(en), soci::use(ts);
        if (p.parent_id) {
          sql << "INSERT INTO project_parents (project_id, parent_id) VALUES (:i, :p)",
              soci::use(p.id), soci::use(*p.parent_id);
        }
        write_project_tags(sql, p);
      },
      "creating project '" + p.name + "'");
}

Result<Project> Store::get_project(const std::string& id) {
  return impl_->read<Project>(
      [&](soci::session& sql) {
        return one_project(
            select_projects(sql, std::string(kProjectRowSelect) + "WHERE projects.id = :i", {id}),
            "project " + id + " does not exist");
      },
      "reading project " + id);
}

Result<Project> Store::find_project_by_name(const std::string& name, const std::string& domain) {
  return impl_->read<Project>(
      [&](soci::session& sql) {
        return one_project(
            select_projects(sql,
                            std::string(kProjectRowSelect) +
                                "WHERE projects.name = :n AND projects.domain_id = :d",
                            {name, domain}),
            "project '" + name + "' does not exist");
      },
      "reading project '" + name + "'");
}

Result<std::vector<Project>> Store::list_projects() {
  return impl_->read<std::vector<Project>>(
      [&](soci::session& sql) {
        return select_projects(sql, std::string(kProjectRowSelect) + "ORDER BY projects.name", {});
      },
      "listing projects");
}

Result<std::vector<std::string>> Store::list_child_projects(const std::string& id) {
  return impl_->read<std::vector<std::string>>(
      [&](soci::session& sql) {
        std::vector<std::string> out;
        std::string child;
        soci::statement st = (sql.prepare << "SELECT project_id FROM project_parents WHERE "
                                             "parent_id = :p ORDER BY project_id",
                              soci::use(id), soci::into(child));
        st.execute();
        while (st.fetch()) out.push_back(child);
        return out;
      },
      "listing the children of project " + id);
}

Status Store::update_project(const Project& p) {
  const std::string lock = impl_->dialect.for_update;
  return impl_->write(
      [&](soci::session& sql) {
        int old_enabled = 0;
        sql << "SELECT enabled FROM projects WHERE id = :i" + lock, soci::use(p.id),
            soci::into(old_enabled);
        if (!sql.got_data()) throw Abort{Error::not_found("project " + p.id + " does not exist")};
        int en = p.enabled ? 1 : 0;
        soci::statement st = (sql.prepare << "UPDATE projects SET name = :n, domain_id = :d, "
                                             "description = :ds, enabled = :e WHERE id = :i",
                              soci::use(p.name), soci::use(p.domain_id), soci::use(p.description),
                              soci::use(en), soci::use(p.id));
        st.execute(true);
        write_project_tags(sql, p);
        // keystone: disabling a project revokes the tokens scoped to it.
        if (old_enabled != 0 && !p.enabled) {
          sql << "UPDATE tokens SET revoked = 1 WHERE project_id = :p AND revoked = 0",
              soci::use(p.id);
        }
      },
      "updating project " + p.id);
}

Status Store::delete_project(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        int children = 0;
        sql << "SELECT COUNT(*) FROM project_parents WHERE parent_id = :i", soci::use(id),
            soci::into(children);
        if (children > 0) {
          throw Abort{{ErrorCode::kForbidden,
                       "Cannot delete the project " + id +
                           " since it is not a leaf in the hierarchy. Delete its children "
                           "first."}};
        }
        soci::statement st = (sql.prepare << "DELETE FROM projects WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "project " + id + " does not exist");
        sql << "DELETE FROM tokens WHERE project_id = :i", soci::use(id);
      },
      "deleting project " + id);
}

}  // namespace gpucloud::store
