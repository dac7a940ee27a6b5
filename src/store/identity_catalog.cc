// keystone's catalog as its API manages it (schema version 13): services, regions (a tree) and
// endpoints. Rows only: the catalog in tokens is the built-in one (api/identity_tokens.cc).
#include <algorithm>
#include <set>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct ServiceRow {
  CatalogService s;
  std::string name, desc;
  soci::indicator i_name{}, i_desc{};
  int enabled = 1;
  void bind(soci::statement& st) {
    st.exchange(soci::into(s.id));
    st.exchange(soci::into(s.type));
    st.exchange(soci::into(name, i_name));
    st.exchange(soci::into(desc, i_desc));
    st.exchange(soci::into(enabled));
  }
  CatalogService get() const {
    CatalogService out = s;
    out.name = opt(name, i_name);
    out.description = opt(desc, i_desc);
    out.enabled = enabled != 0;
    return out;
  }
};

struct RegionRow {
  Region r;
  std::string parent;
  soci::indicator i_parent{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(r.id));
    st.exchange(soci::into(r.description));
    st.exchange(soci::into(parent, i_parent));
  }
  Region get() const {
    Region out = r;
    out.parent_region_id = opt(parent, i_parent);
    return out;
  }
};

struct EndpointRow {
  Endpoint e;
  std::string region;
  soci::indicator i_region{};
  int enabled = 1;
  void bind(soci::statement& st) {
    st.exchange(soci::into(e.id));
    st.exchange(soci::into(e.service_id));
    st.exchange(soci::into(e.interface));
    st.exchange(soci::into(e.url));
    st.exchange(soci::into(region, i_region));
    st.exchange(soci::into(enabled));
  }
  Endpoint get() const {
    Endpoint out = e;
    out.region_id = opt(region, i_region);
    out.enabled = enabled != 0;
    return out;
  }
};

const char* const kServiceSelect =
    "SELECT id, type, name, description, enabled FROM catalog_services ";
const char* const kRegionSelect = "SELECT id, description, parent_region_id FROM catalog_regions ";
const char* const kEndpointSelect =
    "SELECT id, service_id, interface, url, region_id, enabled FROM catalog_endpoints ";

template <typename Row, typename T>
T one_row(soci::session& sql, const char* select, const std::string& id, const char* what) {
  auto rows = select_rows<Row, T>(sql, std::string(select) + "WHERE id = :i", {id});
  if (rows.empty()) throw Abort{Error::not_found(std::string(what) + " " + id + " does not exist")};
  return rows.front();
}

bool region_exists(soci::session& sql, const std::string& id, const std::string& lock = "") {
  std::string found;
  sql << "SELECT id FROM catalog_regions WHERE id = :i" + lock, soci::use(id), soci::into(found);
  return sql.got_data();
}

// The parent must exist, and (for an existing region) must not be the region or one below it:
// keystone refuses a cycle with 400.
void check_parent(soci::session& sql, const Region& r) {
  if (!r.parent_region_id) return;
  if (!region_exists(sql, *r.parent_region_id)) {
    throw Abort{Error::not_found("region " + *r.parent_region_id + " does not exist")};
  }
  std::optional<std::string> at = r.parent_region_id;
  std::set<std::string> seen;
  while (at) {
    if (*at == r.id) {
      throw Abort{Error::invalid("region " + r.id + " cannot have region " + *r.parent_region_id +
                                 " as its parent: it is below it")};
    }
    if (!seen.insert(*at).second) break;  // a cycle already there: not this write's doing
    at = one_row<RegionRow, Region>(sql, kRegionSelect, *at, "region").parent_region_id;
  }
}

// The service and the region of an endpoint exist; a missing region is created when asked.
void check_endpoint(soci::session& sql, const Endpoint& e, bool create_region) {
  std::string found;
  sql << "SELECT id FROM catalog_services WHERE id = :i", soci::use(e.service_id),
      soci::into(found);
  if (!sql.got_data()) throw Abort{Error::invalid("service " + e.service_id + " does not exist")};
  if (!e.region_id || region_exists(sql, *e.region_id)) return;
  if (!create_region) throw Abort{Error::invalid("region " + *e.region_id + " does not exist")};
  sql << "INSERT INTO catalog_regions (id, description) VALUES (:i, '')", soci::use(*e.region_id);
}

void write_endpoint(soci::session& sql, const Endpoint& e, bool insert) {
  int en = e.enabled ? 1 : 0;
  NullableString region = nullable(e.region_id);
  if (insert) {
    sql << "INSERT INTO catalog_endpoints (id, service_id, interface, url, region_id, enabled) "
           "VALUES (:i, :s, :f, :u, :r, :e)",
        soci::use(e.id), soci::use(e.service_id), soci::use(e.interface), soci::use(e.url),
        soci::use(region.value, region.ind), soci::use(en);
  } else {
    sql << "UPDATE catalog_endpoints SET service_id = :s, interface = :f, url = :u, "
           "region_id = :r, enabled = :e WHERE id = :i",
        soci::use(e.service_id), soci::use(e.interface), soci::use(e.url),
        soci::use(region.value, region.ind), soci::use(en), soci::use(e.id);
  }
}

}  // namespace

Status Store::create_service(const CatalogService& s) {
  return impl_->write(
      [&](soci::session& sql) {
        int en = s.enabled ? 1 : 0;
        NullableString name = nullable(s.name), desc = nullable(s.description);
        sql << "INSERT INTO catalog_services (id, type, name, description, enabled) "
               "VALUES (:i, :t, :n, :d, :e)",
            soci::use(s.id), soci::use(s.type), soci::use(name.value, name.ind),
            soci::use(desc.value, desc.ind), soci::use(en);
      },
      "creating service " + s.id);
}

Result<CatalogService> Store::get_service(const std::string& id) {
  return impl_->read<CatalogService>(
      [&](soci::session& sql) {
        return one_row<ServiceRow, CatalogService>(sql, kServiceSelect, id, "service");
      },
      "reading service " + id);
}

Result<std::vector<CatalogService>> Store::list_services() {
  return impl_->read<std::vector<CatalogService>>(
      [&](soci::session& sql) {
        return select_rows<ServiceRow, CatalogService>(
            sql, std::string(kServiceSelect) + "ORDER BY type, id", {});
      },
      "listing services");
}

Status Store::update_service(const CatalogService& s) {
  return impl_->write(
      [&](soci::session& sql) {
        one_row<ServiceRow, CatalogService>(sql, kServiceSelect, s.id, "service");
        int en = s.enabled ? 1 : 0;
        NullableString name = nullable(s.name), desc = nullable(s.description);
        sql << "UPDATE catalog_services SET type = :t, name = :n, description = :d, "
               "enabled = :e WHERE id = :i",
            soci::use(s.type), soci::use(name.value, name.ind), soci::use(desc.value, desc.ind),
            soci::use(en), soci::use(s.id);
      },
      "updating service " + s.id);
}

Status Store::delete_service(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        // Its endpoints go by foreign key (keystone deletes them with it).
        soci::statement st =
            (sql.prepare << "DELETE FROM catalog_services WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "service " + id + " does not exist");
      },
      "deleting service " + id);
}

Status Store::create_region(const Region& r) {
  return impl_->write(
      [&](soci::session& sql) {
        if (region_exists(sql, r.id)) {
          throw Abort{Error::conflict("region " + r.id + " exists already")};
        }
        check_parent(sql, r);
        NullableString parent = nullable(r.parent_region_id);
        sql << "INSERT INTO catalog_regions (id, description, parent_region_id) "
               "VALUES (:i, :d, :p)",
            soci::use(r.id), soci::use(r.description), soci::use(parent.value, parent.ind);
      },
      "creating region " + r.id);
}

Result<Region> Store::get_region(const std::string& id) {
  return impl_->read<Region>(
      [&](soci::session& sql) {
        return one_row<RegionRow, Region>(sql, kRegionSelect, id, "region");
      },
      "reading region " + id);
}

Result<std::vector<Region>> Store::list_regions() {
  return impl_->read<std::vector<Region>>(
      [&](soci::session& sql) {
        return select_rows<RegionRow, Region>(sql, std::string(kRegionSelect) + "ORDER BY id", {});
      },
      "listing regions");
}

Status Store::update_region(const Region& r) {
  return impl_->write(
      [&](soci::session& sql) {
        if (!region_exists(sql, r.id, impl_->dialect.for_update)) {
          throw Abort{Error::not_found("region " + r.id + " does not exist")};
        }
        check_parent(sql, r);
        NullableString parent = nullable(r.parent_region_id);
        sql << "UPDATE catalog_regions SET description = :d, parent_region_id = :p WHERE id = :i",
            soci::use(r.description), soci::use(parent.value, parent.ind), soci::use(r.id);
      },
      "updating region " + r.id);
}

Status Store::delete_region(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        if (!region_exists(sql, id, impl_->dialect.for_update)) {
          throw Abort{Error::not_found("region " + id + " does not exist")};
        }
        // The region and every region below it, parents before children.
        std::vector<std::string> tree = {id};
        for (size_t i = 0; i < tree.size(); ++i) {
          for (const auto& child : select_rows<RegionRow, Region>(
                   sql, std::string(kRegionSelect) + "WHERE parent_region_id = :p", {tree[i]})) {
            if (std::find(tree.begin(), tree.end(), child.id) == tree.end()) {
              tree.push_back(child.id);
            }
          }
        }
        for (const auto& r : tree) {
          int endpoints = 0;
          sql << "SELECT COUNT(*) FROM catalog_endpoints WHERE region_id = :r", soci::use(r),
              soci::into(endpoints);
          if (endpoints > 0) {
            throw Abort{{ErrorCode::kForbidden, "Unable to delete region " + id +
                                                    " because it or its child regions have "
                                                    "associated endpoints."}};
          }
        }
        // Children first: the parent's foreign key holds at every statement on MariaDB.
        for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
          sql << "DELETE FROM catalog_regions WHERE id = :i", soci::use(*it);
        }
      },
      "deleting region " + id);
}

Status Store::create_endpoint(const Endpoint& e, bool create_region) {
  return impl_->write(
      [&](soci::session& sql) {
        check_endpoint(sql, e, create_region);
        write_endpoint(sql, e, true);
      },
      "creating endpoint " + e.id);
}

Result<Endpoint> Store::get_endpoint(const std::string& id) {
  return impl_->read<Endpoint>(
      [&](soci::session& sql) {
        return one_row<EndpointRow, Endpoint>(sql, kEndpointSelect, id, "endpoint");
      },
      "reading endpoint " + id);
}

Result<std::vector<Endpoint>> Store::list_endpoints() {
  return impl_->read<std::vector<Endpoint>>(
      [&](soci::session& sql) {
        return select_rows<EndpointRow, Endpoint>(sql, std::string(kEndpointSelect) + "ORDER BY id",
                                                  {});
      },
      "listing endpoints");
}

Status Store::update_endpoint(const Endpoint& e, bool create_region) {
  return impl_->write(
      [&](soci::session& sql) {
        one_row<EndpointRow, Endpoint>(sql, kEndpointSelect, e.id, "endpoint");
        check_endpoint(sql, e, create_region);
        write_endpoint(sql, e, false);
      },
      "updating endpoint " + e.id);
}

Status Store::delete_endpoint(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM catalog_endpoints WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "endpoint " + id + " does not exist");
      },
      "deleting endpoint " + id);
}

}  // namespace gpucloud::store
