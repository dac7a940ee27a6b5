// keystone's endpoint groups and project-endpoint associations (OS-EP-FILTER, schema version 21).
// Rows like the rest of the catalog (identity_catalog.cc): the catalog in tokens is the built-in
// one. The foreign keys keep an association from outliving its group, endpoint or project.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct EndpointGroupRow {
  EndpointGroup g;
  std::string desc, service, region, interface;
  soci::indicator i_desc{}, i_service{}, i_region{}, i_interface{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(g.id));
    st.exchange(soci::into(g.name));
    st.exchange(soci::into(desc, i_desc));
    st.exchange(soci::into(service, i_service));
    st.exchange(soci::into(region, i_region));
    st.exchange(soci::into(interface, i_interface));
  }
  EndpointGroup get() const {
    EndpointGroup out = g;
    out.description = opt(desc, i_desc);
    out.service_id = opt(service, i_service);
    out.region_id = opt(region, i_region);
    out.interface = opt(interface, i_interface);
    return out;
  }
};

struct IdRow {
  std::string id;
  void bind(soci::statement& st) { st.exchange(soci::into(id)); }
  std::string get() const { return id; }
};

const char* const kEndpointGroupSelect =
    "SELECT endpoint_groups.id, name, description, service_id, region_id, interface "
    "FROM endpoint_groups ";

// Throws kNotFound naming the row unless `table` has `id` (locked with `lock`).
void require_catalog_row(soci::session& sql, const char* table, const char* what,
                         const std::string& id, const std::string& lock = "") {
  std::string found;
  sql << std::string("SELECT id FROM ") + table + " WHERE id = :i" + lock, soci::use(id),
      soci::into(found);
  if (!sql.got_data())
    throw Abort{Error::not_found(std::string(what) + " " + id + " does not exist")};
}

void write_endpoint_group(soci::session& sql, const EndpointGroup& g, bool insert) {
  NullableString desc = nullable(g.description), service = nullable(g.service_id),
                 region = nullable(g.region_id), interface = nullable(g.interface);
  const char* text = insert ? "INSERT INTO endpoint_groups (name, description, service_id, "
                              "region_id, interface, id) VALUES (:n, :d, :s, :r, :f, :i)"
                            : "UPDATE endpoint_groups SET name = :n, description = :d, "
                              "service_id = :s, region_id = :r, interface = :f WHERE id = :i";
  sql << text, soci::use(g.name), soci::use(desc.value, desc.ind),
      soci::use(service.value, service.ind), soci::use(region.value, region.ind),
      soci::use(interface.value, interface.ind), soci::use(g.id);
}

// Adds (idempotently) the row (a, b) to `table`, whose key is the two columns.
void add_association(soci::session& sql, const std::string& table, const std::string& col_a,
                     const std::string& a, const std::string& b) {
  int present = 0;
  sql << "SELECT COUNT(*) FROM " + table + " WHERE " + col_a + " = :a AND project_id = :b",
      soci::use(a), soci::use(b), soci::into(present);
  if (present > 0) return;
  sql << "INSERT INTO " + table + " (" + col_a + ", project_id) VALUES (:a, :b)", soci::use(a),
      soci::use(b);
}

void remove_association(soci::session& sql, const std::string& table, const std::string& col_a,
                        const std::string& a, const std::string& b, const std::string& what) {
  soci::statement st =
      (sql.prepare << "DELETE FROM " + table + " WHERE " + col_a + " = :a AND project_id = :b",
       soci::use(a), soci::use(b));
  st.execute(true);
  require_row(st, what);
}

}  // namespace

Status Store::create_endpoint_group(const EndpointGroup& g) {
  return impl_->write([&](soci::session& sql) { write_endpoint_group(sql, g, true); },
                      "creating endpoint group " + g.id);
}

Result<EndpointGroup> Store::get_endpoint_group(const std::string& id) {
  return impl_->read<EndpointGroup>(
      [&](soci::session& sql) {
        auto rows = select_rows<EndpointGroupRow, EndpointGroup>(
            sql, std::string(kEndpointGroupSelect) + "WHERE id = :i", {id});
        if (rows.empty()) throw Abort{Error::not_found("endpoint group " + id + " does not exist")};
        return rows.front();
      },
      "reading endpoint group " + id);
}

Result<std::vector<EndpointGroup>> Store::list_endpoint_groups() {
  return impl_->read<std::vector<EndpointGroup>>(
      [&](soci::session& sql) {
        return select_rows<EndpointGroupRow, EndpointGroup>(
            sql, std::string(kEndpointGroupSelect) + "ORDER BY name, id", {});
      },
      "listing endpoint groups");
}

Status Store::update_endpoint_group(const EndpointGroup& g) {
  return impl_->write(
      [&](soci::session& sql) {
        require_catalog_row(sql, "endpoint_groups", "endpoint group", g.id,
                            impl_->dialect.for_update);
        write_endpoint_group(sql, g, false);
      },
      "updating endpoint group " + g.id);
}

Status Store::delete_endpoint_group(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM endpoint_groups WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "endpoint group " + id + " does not exist");
      },
      "deleting endpoint group " + id);
}

// The group and the project rows are locked, so that a delete of either waits for the insert
// (and the foreign key holds on SQLite as on MariaDB).
Status Store::add_endpoint_group_to_project(const std::string& group_id,
                                            const std::string& project_id) {
  return impl_->write(
      [&](soci::session& sql) {
        require_catalog_row(sql, "endpoint_groups", "endpoint group", group_id,
                            impl_->dialect.for_update);
        require_catalog_row(sql, "projects", "project", project_id, impl_->dialect.for_update);
        add_association(sql, "project_endpoint_groups", "endpoint_group_id", group_id, project_id);
      },
      "associating endpoint group " + group_id + " with project " + project_id);
}

Status Store::remove_endpoint_group_from_project(const std::string& group_id,
                                                 const std::string& project_id) {
  return impl_->write(
      [&](soci::session& sql) {
        remove_association(
            sql, "project_endpoint_groups", "endpoint_group_id", group_id, project_id,
            "endpoint group " + group_id + " is not associated with project " + project_id);
      },
      "removing endpoint group " + group_id + " from project " + project_id);
}

Result<bool> Store::endpoint_group_in_project(const std::string& group_id,
                                              const std::string& project_id) {
  return impl_->read<bool>(
      [&](soci::session& sql) {
        int n = 0;
        sql << "SELECT COUNT(*) FROM project_endpoint_groups WHERE endpoint_group_id = :g AND "
               "project_id = :p",
            soci::use(group_id), soci::use(project_id), soci::into(n);
        return n > 0;
      },
      "reading endpoint group " + group_id + " in project " + project_id);
}

Result<std::vector<std::string>> Store::endpoint_group_project_ids(const std::string& group_id) {
  return impl_->read<std::vector<std::string>>(
      [&](soci::session& sql) {
        return select_rows<IdRow, std::string>(
            sql,
            "SELECT project_id FROM project_endpoint_groups WHERE endpoint_group_id = :g "
            "ORDER BY project_id",
            {group_id});
      },
      "listing the projects of endpoint group " + group_id);
}

Result<std::vector<EndpointGroup>> Store::project_endpoint_groups(const std::string& project_id) {
  return impl_->read<std::vector<EndpointGroup>>(
      [&](soci::session& sql) {
        return select_rows<EndpointGroupRow, EndpointGroup>(
            sql,
            std::string(kEndpointGroupSelect) +
                "JOIN project_endpoint_groups a ON a.endpoint_group_id = endpoint_groups.id "
                "WHERE a.project_id = :p ORDER BY name, endpoint_groups.id",
            {project_id});
      },
      "listing the endpoint groups of project " + project_id);
}

Status Store::add_endpoint_to_project(const std::string& endpoint_id,
                                      const std::string& project_id) {
  return impl_->write(
      [&](soci::session& sql) {
        require_catalog_row(sql, "catalog_endpoints", "endpoint", endpoint_id,
                            impl_->dialect.for_update);
        require_catalog_row(sql, "projects", "project", project_id, impl_->dialect.for_update);
        add_association(sql, "project_endpoints", "endpoint_id", endpoint_id, project_id);
      },
      "associating endpoint " + endpoint_id + " with project " + project_id);
}

Status Store::remove_endpoint_from_project(const std::string& endpoint_id,
                                           const std::string& project_id) {
  return impl_->write(
      [&](soci::session& sql) {
        remove_association(
            sql, "project_endpoints", "endpoint_id", endpoint_id, project_id,
            "endpoint " + endpoint_id + " is not associated with project " + project_id);
      },
      "removing endpoint " + endpoint_id + " from project " + project_id);
}

Result<bool> Store::endpoint_in_project(const std::string& endpoint_id,
                                        const std::string& project_id) {
  return impl_->read<bool>(
      [&](soci::session& sql) {
        int n = 0;
        sql << "SELECT COUNT(*) FROM project_endpoints WHERE endpoint_id = :e AND project_id = :p",
            soci::use(endpoint_id), soci::use(project_id), soci::into(n);
        return n > 0;
      },
      "reading endpoint " + endpoint_id + " in project " + project_id);
}

Result<std::vector<std::string>> Store::endpoint_project_ids(const std::string& endpoint_id) {
  return impl_->read<std::vector<std::string>>(
      [&](soci::session& sql) {
        return select_rows<IdRow, std::string>(
            sql,
            "SELECT project_id FROM project_endpoints WHERE endpoint_id = :e ORDER BY project_id",
            {endpoint_id});
      },
      "listing the projects of endpoint " + endpoint_id);
}

Result<std::vector<std::string>> Store::project_endpoint_ids(const std::string& project_id) {
  return impl_->read<std::vector<std::string>>(
      [&](soci::session& sql) {
        return select_rows<IdRow, std::string>(
            sql,
            "SELECT endpoint_id FROM project_endpoints WHERE project_id = :p ORDER BY endpoint_id",
            {project_id});
      },
      "listing the endpoints of project " + project_id);
}

}  // namespace gpucloud::store
