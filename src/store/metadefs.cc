// glance's metadata definitions: namespaces, what they hold (objects, properties, tags: one
// table, keyed by kind) and their resource type associations. Every call names the namespace;
// its row is read first (locked for writes), so that a namespace deleted meanwhile is kNotFound
// rather than a row left behind under a namespace that is gone.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

const char* const kNamespaceColumns =
    "id, name, display_name, description, is_public, protected, owner, created_at, updated_at";

struct NamespaceRow {
  long long id = 0;
  MetadefNamespace ns;
  std::string display_name, description, created, updated;
  soci::indicator display_ind = soci::i_ok, description_ind = soci::i_ok;
  int is_public = 0, is_protected = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(ns.name));
    st.exchange(soci::into(display_name, display_ind));
    st.exchange(soci::into(description, description_ind));
    st.exchange(soci::into(is_public));
    st.exchange(soci::into(is_protected));
    st.exchange(soci::into(ns.owner));
    st.exchange(soci::into(created));
    st.exchange(soci::into(updated));
  }
  MetadefNamespace get() const {
    MetadefNamespace out = ns;
    out.display_name = opt(display_name, display_ind);
    out.description = opt(description, description_ind);
    out.is_public = is_public != 0;
    out.is_protected = is_protected != 0;
    out.created_at = parse_time(created);
    out.updated_at = parse_time(updated);
    return out;
  }
};

// Namespaces matching `where` (placeholders bound to `values`), oldest first, with their ids.
std::vector<std::pair<long long, MetadefNamespace>> select_namespaces(
    soci::session& sql, const std::string& where, const std::vector<std::string>& values,
    const std::string& lock = "") {
  NamespaceRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string("SELECT ") + kNamespaceColumns + " FROM metadef_namespaces" +
             (where.empty() ? "" : " WHERE " + where) + " ORDER BY id" + lock);
  row.bind(st);
  for (const auto& v : values) st.exchange(soci::use(v));
  st.define_and_bind();
  st.execute();
  std::vector<std::pair<long long, MetadefNamespace>> out;
  while (st.fetch()) out.emplace_back(row.id, row.get());
  return out;
}

Error namespace_missing(const std::string& name) {
  return Error::not_found("Metadata definition namespace=" + name + " was not found.");
}

// The namespace's row (locked when `lock` is the dialect's FOR UPDATE); Abort kNotFound.
std::pair<long long, MetadefNamespace> one_namespace(soci::session& sql, const std::string& name,
                                                     const std::string& lock = "") {
  auto rows = select_namespaces(sql, "name = :n", {name}, lock);
  if (rows.empty()) throw Abort{namespace_missing(name)};
  return rows.front();
}

bool namespace_taken(soci::session& sql, const std::string& name) {
  int n = 0;
  sql << "SELECT COUNT(*) FROM metadef_namespaces WHERE name = :n", soci::use(name), soci::into(n);
  return n > 0;
}

std::vector<MetadefItem> select_items(soci::session& sql, long long ns_id, MetadefKind kind,
                                      const std::string& name = "") {
  MetadefItem item;
  item.kind = kind;
  std::string created, updated;
  const std::string k = to_string(kind);
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string("SELECT name, definition, created_at, updated_at FROM metadef_items "
                         "WHERE namespace_id = :i AND kind = :k") +
             (name.empty() ? "" : " AND name = :n") + " ORDER BY created_at, name");
  st.exchange(soci::into(item.name));
  st.exchange(soci::into(item.definition));
  st.exchange(soci::into(created));
  st.exchange(soci::into(updated));
  st.exchange(soci::use(ns_id));
  st.exchange(soci::use(k));
  if (!name.empty()) st.exchange(soci::use(name));
  st.define_and_bind();
  st.execute();
  std::vector<MetadefItem> out;
  while (st.fetch()) {
    MetadefItem copy = item;
    copy.created_at = parse_time(created);
    copy.updated_at = parse_time(updated);
    out.push_back(std::move(copy));
  }
  return out;
}

Error item_missing(MetadefKind kind, const std::string& ns, const std::string& name) {
  return Error::not_found(std::string("Metadata definition ") + to_string(kind) + "=" + name +
                          " was not found in namespace=" + ns + ".");
}

Error item_taken(MetadefKind kind, const std::string& ns, const std::string& name) {
  return Error::conflict(std::string("A metadata definition ") + to_string(kind) +
                         " with name=" + name + " already exists in namespace=" + ns + ".");
}

void insert_item(soci::session& sql, long long ns_id, const std::string& ns_name,
                 const MetadefItem& item) {
  if (!select_items(sql, ns_id, item.kind, item.name).empty()) {
    throw Abort{item_taken(item.kind, ns_name, item.name)};
  }
  const std::string k = to_string(item.kind), at = format_time(now());
  sql << "INSERT INTO metadef_items (namespace_id, kind, name, definition, created_at, "
         "updated_at) VALUES (:i, :k, :n, :d, :c, :u)",
      soci::use(ns_id), soci::use(k), soci::use(item.name), soci::use(item.definition),
      soci::use(at), soci::use(at);
}

// Associates, creating the resource type when it is new (an operator's own type, as glance's
// metadefs loader creates the types its files name).
void insert_association(soci::session& sql, long long ns_id, const std::string& ns_name,
                        const MetadefAssociation& a) {
  int present = 0;
  sql << "SELECT COUNT(*) FROM metadef_associations WHERE namespace_id = :i AND "
         "resource_type = :r",
      soci::use(ns_id), soci::use(a.resource_type), soci::into(present);
  if (present > 0) {
    throw Abort{
        Error::conflict("The metadata definition resource-type association of "
                        "resource-type=" +
                        a.resource_type + " to namespace=" + ns_name + ", already exists.")};
  }
  const std::string at = format_time(now());
  int known = 0;
  sql << "SELECT COUNT(*) FROM metadef_resource_types WHERE name = :r", soci::use(a.resource_type),
      soci::into(known);
  if (known == 0) {
    sql << "INSERT INTO metadef_resource_types (name, protected, created_at, updated_at) "
           "VALUES (:r, 0, :c, :u)",
        soci::use(a.resource_type), soci::use(at), soci::use(at);
  }
  auto prefix = nullable(a.prefix), target = nullable(a.properties_target);
  sql << "INSERT INTO metadef_associations (namespace_id, resource_type, prefix, "
         "properties_target, created_at, updated_at) VALUES (:i, :r, :p, :t, :c, :u)",
      soci::use(ns_id), soci::use(a.resource_type), soci::use(prefix.value, prefix.ind),
      soci::use(target.value, target.ind), soci::use(at), soci::use(at);
}

}  // namespace

Status Store::create_metadef_namespace(const MetadefNamespace& ns,
                                       const std::vector<MetadefAssociation>& associations,
                                       const std::vector<MetadefItem>& items) {
  return impl_->write(
      [&](soci::session& sql) {
        if (namespace_taken(sql, ns.name)) {
          throw Abort{Error::conflict("A metadata definition namespace with namespace=" + ns.name +
                                      " already exists.")};
        }
        const std::string at = format_time(now());
        auto display = nullable(ns.display_name), description = nullable(ns.description);
        const int is_public = ns.is_public ? 1 : 0, is_protected = ns.is_protected ? 1 : 0;
        sql << "INSERT INTO metadef_namespaces (name, display_name, description, is_public, "
               "protected, owner, created_at, updated_at) "
               "VALUES (:n, :dn, :d, :v, :p, :o, :c, :u)",
            soci::use(ns.name), soci::use(display.value, display.ind),
            soci::use(description.value, description.ind), soci::use(is_public),
            soci::use(is_protected), soci::use(ns.owner), soci::use(at), soci::use(at);
        const long long id = one_namespace(sql, ns.name).first;
        for (const auto& a : associations) insert_association(sql, id, ns.name, a);
        for (const auto& item : items) insert_item(sql, id, ns.name, item);
      },
      "creating metadef namespace " + ns.name);
}

Result<MetadefNamespace> Store::get_metadef_namespace(const std::string& name) {
  return impl_->read<MetadefNamespace>(
      [&](soci::session& sql) { return one_namespace(sql, name).second; },
      "reading metadef namespace " + name);
}

Result<std::vector<MetadefNamespace>> Store::list_metadef_namespaces() {
  return impl_->read<std::vector<MetadefNamespace>>(
      [&](soci::session& sql) {
        std::vector<MetadefNamespace> out;
        for (auto& [id, ns] : select_namespaces(sql, "", {})) out.push_back(std::move(ns));
        return out;
      },
      "listing metadef namespaces");
}

Status Store::update_metadef_namespace(const std::string& name, const MetadefNamespace& ns) {
  return impl_->write(
      [&](soci::session& sql) {
        const long long id = one_namespace(sql, name, impl_->dialect.for_update).first;
        if (ns.name != name && namespace_taken(sql, ns.name)) {
          throw Abort{Error::conflict("A metadata definition namespace with namespace=" + ns.name +
                                      " already exists.")};
        }
        const std::string at = format_time(now());
        auto display = nullable(ns.display_name), description = nullable(ns.description);
        const int is_public = ns.is_public ? 1 : 0, is_protected = ns.is_protected ? 1 : 0;
        sql << "UPDATE metadef_namespaces SET name = :n, display_name = :dn, description = :d, "
               "is_public = :v, protected = :p, owner = :o, updated_at = :u WHERE id = :i",
            soci::use(ns.name), soci::use(display.value, display.ind),
            soci::use(description.value, description.ind), soci::use(is_public),
            soci::use(is_protected), soci::use(ns.owner), soci::use(at), soci::use(id);
      },
      "updating metadef namespace " + name);
}

Status Store::delete_metadef_namespace(const std::string& name) {
  return impl_->write(
      [&](soci::session& sql) {
        auto [id, ns] = one_namespace(sql, name, impl_->dialect.for_update);
        if (ns.is_protected) {
          throw Abort{Error{ErrorCode::kForbidden, "Metadata definition namespace=" + name +
                                                       " is protected and cannot be deleted."}};
        }
        sql << "DELETE FROM metadef_items WHERE namespace_id = :i", soci::use(id);
        sql << "DELETE FROM metadef_associations WHERE namespace_id = :i", soci::use(id);
        sql << "DELETE FROM metadef_namespaces WHERE id = :i", soci::use(id);
      },
      "deleting metadef namespace " + name);
}

Result<std::vector<MetadefItem>> Store::list_metadef_items(const std::string& ns,
                                                           MetadefKind kind) {
  return impl_->read<std::vector<MetadefItem>>(
      [&](soci::session& sql) { return select_items(sql, one_namespace(sql, ns).first, kind); },
      std::string("listing metadef ") + to_string(kind) + "s of " + ns);
}

Result<MetadefItem> Store::get_metadef_item(const std::string& ns, MetadefKind kind,
                                            const std::string& name) {
  return impl_->read<MetadefItem>(
      [&](soci::session& sql) {
        auto rows = select_items(sql, one_namespace(sql, ns).first, kind, name);
        if (rows.empty()) throw Abort{item_missing(kind, ns, name)};
        return rows.front();
      },
      std::string("reading metadef ") + to_string(kind) + " " + name + " of " + ns);
}

Status Store::add_metadef_items(const std::string& ns, MetadefKind kind,
                                const std::vector<MetadefItem>& items, bool replace) {
  return impl_->write(
      [&](soci::session& sql) {
        const long long id = one_namespace(sql, ns, impl_->dialect.for_update).first;
        if (replace) {
          const std::string k = to_string(kind);
          sql << "DELETE FROM metadef_items WHERE namespace_id = :i AND kind = :k", soci::use(id),
              soci::use(k);
        }
        for (MetadefItem item : items) {
          item.kind = kind;
          insert_item(sql, id, ns, item);
        }
      },
      std::string("adding metadef ") + to_string(kind) + "s to " + ns);
}

Status Store::update_metadef_item(const std::string& ns, const std::string& name,
                                  const MetadefItem& item) {
  return impl_->write(
      [&](soci::session& sql) {
        const long long id = one_namespace(sql, ns, impl_->dialect.for_update).first;
        if (select_items(sql, id, item.kind, name).empty()) {
          throw Abort{item_missing(item.kind, ns, name)};
        }
        if (item.name != name && !select_items(sql, id, item.kind, item.name).empty()) {
          throw Abort{item_taken(item.kind, ns, item.name)};
        }
        const std::string k = to_string(item.kind), at = format_time(now());
        sql << "UPDATE metadef_items SET name = :n, definition = :d, updated_at = :u "
               "WHERE namespace_id = :i AND kind = :k AND name = :o",
            soci::use(item.name), soci::use(item.definition), soci::use(at), soci::use(id),
            soci::use(k), soci::use(name);
      },
      std::string("updating metadef ") + to_string(item.kind) + " " + name + " of " + ns);
}

Status Store::delete_metadef_item(const std::string& ns, MetadefKind kind,
                                  const std::string& name) {
  return impl_->write(
      [&](soci::session& sql) {
        const long long id = one_namespace(sql, ns, impl_->dialect.for_update).first;
        const std::string k = to_string(kind);
        soci::statement st = (sql.prepare << "DELETE FROM metadef_items WHERE namespace_id = :i "
                                             "AND kind = :k AND name = :n",
                              soci::use(id), soci::use(k), soci::use(name));
        st.execute(true);
        if (st.get_affected_rows() == 0) throw Abort{item_missing(kind, ns, name)};
      },
      std::string("deleting metadef ") + to_string(kind) + " " + name + " of " + ns);
}

Status Store::delete_metadef_items(const std::string& ns, MetadefKind kind) {
  return impl_->write(
      [&](soci::session& sql) {
        auto [id, row] = one_namespace(sql, ns, impl_->dialect.for_update);
        if (row.is_protected) {
          throw Abort{Error{ErrorCode::kForbidden, "Metadata definition namespace=" + ns +
                                                       " is protected: its " + to_string(kind) +
                                                       "s cannot be deleted all at once."}};
        }
        const std::string k = to_string(kind);
        sql << "DELETE FROM metadef_items WHERE namespace_id = :i AND kind = :k", soci::use(id),
            soci::use(k);
      },
      std::string("deleting the metadef ") + to_string(kind) + "s of " + ns);
}

Result<std::vector<MetadefResourceType>> Store::list_metadef_resource_types() {
  return impl_->read<std::vector<MetadefResourceType>>(
      [&](soci::session& sql) {
        MetadefResourceType t;
        int is_protected = 0;
        std::string created, updated;
        soci::statement st = (sql.prepare << "SELECT name, protected, created_at, updated_at FROM "
                                             "metadef_resource_types ORDER BY name",
                              soci::into(t.name), soci::into(is_protected), soci::into(created),
                              soci::into(updated));
        st.execute();
        std::vector<MetadefResourceType> out;
        while (st.fetch()) {
          t.is_protected = is_protected != 0;
          t.created_at = parse_time(created);
          t.updated_at = parse_time(updated);
          out.push_back(t);
        }
        return out;
      },
      "listing metadef resource types");
}

Result<std::vector<MetadefAssociation>> Store::list_metadef_associations(const std::string& ns) {
  return impl_->read<std::vector<MetadefAssociation>>(
      [&](soci::session& sql) {
        const long long id = one_namespace(sql, ns).first;
        MetadefAssociation a;
        std::string prefix, target, created, updated;
        soci::indicator prefix_ind = soci::i_ok, target_ind = soci::i_ok;
        soci::statement st =
            (sql.prepare << "SELECT resource_type, prefix, properties_target, created_at, "
                            "updated_at FROM metadef_associations WHERE namespace_id = :i "
                            "ORDER BY created_at, resource_type",
             soci::into(a.resource_type), soci::into(prefix, prefix_ind),
             soci::into(target, target_ind), soci::into(created), soci::into(updated),
             soci::use(id));
        st.execute();
        std::vector<MetadefAssociation> out;
        while (st.fetch()) {
          a.prefix = opt(prefix, prefix_ind);
          a.properties_target = opt(target, target_ind);
          a.created_at = parse_time(created);
          a.updated_at = parse_time(updated);
          out.push_back(a);
        }
        return out;
      },
      "listing the resource types of metadef namespace " + ns);
}

Status Store::add_metadef_association(const std::string& ns, const MetadefAssociation& a) {
  return impl_->write(
      [&](soci::session& sql) {
        const long long id = one_namespace(sql, ns, impl_->dialect.for_update).first;
        insert_association(sql, id, ns, a);
      },
      "associating resource type " + a.resource_type + " with " + ns);
}

Status Store::delete_metadef_association(const std::string& ns, const std::string& resource_type) {
  return impl_->write(
      [&](soci::session& sql) {
        const long long id = one_namespace(sql, ns, impl_->dialect.for_update).first;
        soci::statement st = (sql.prepare << "DELETE FROM metadef_associations WHERE "
                                             "namespace_id = :i AND resource_type = :r",
                              soci::use(id), soci::use(resource_type));
        st.execute(true);
        if (st.get_affected_rows() == 0) {
          throw Abort{Error::not_found(
              "Resource type " + resource_type +
              " is not associated with metadata definition namespace=" + ns + ".")};
        }
      },
      "dissociating resource type " + resource_type + " from " + ns);
}

}  // namespace gpucloud::store
