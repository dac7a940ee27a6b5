// Keystone's groups and their members (schema version 13), with their extra properties (17). A
// group lives in one domain, where its name is unique; its members may be users of any domain.
// Memberships go with their group or user by foreign key, so a deleted user leaves every group on
// both backends.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct IdentityGroupRow {
  Group g;
  std::string desc, extra;
  soci::indicator i_desc{}, i_extra{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(g.id));
    st.exchange(soci::into(g.domain_id));
    st.exchange(soci::into(g.name));
    st.exchange(soci::into(desc, i_desc));
    st.exchange(soci::into(extra, i_extra));
  }
  Group get() const {
    Group out = g;
    out.description = opt(desc, i_desc);
    out.extra = i_extra == soci::i_null ? "" : extra;
    return out;
  }
};

// `SELECT <group columns> FROM identity_groups g` + `tail`, its placeholders bound to `values`.
std::vector<Group> select_identity_groups(soci::session& sql, const std::string& tail,
                                          const std::vector<std::string>& values) {
  IdentityGroupRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(
      "SELECT g.id, g.domain_id, g.name, g.description, x.extra FROM identity_groups g LEFT JOIN "
      "group_extra x ON x.group_id = g.id " +
      tail);
  row.bind(st);
  for (const auto& v : values) st.exchange(soci::use(v));
  st.define_and_bind();
  st.execute();
  std::vector<Group> out;
  while (st.fetch()) out.push_back(row.get());
  return out;
}

}  // namespace

void require_group(soci::session& sql, const std::string& id, const std::string& lock) {
  std::string found;
  sql << "SELECT id FROM identity_groups WHERE id = :i" + lock, soci::use(id), soci::into(found);
  if (!sql.got_data()) throw Abort{Error::not_found("group " + id + " does not exist")};
}

void require_user(soci::session& sql, const std::string& id) {
  std::string found;
  sql << "SELECT id FROM users WHERE id = :i", soci::use(id), soci::into(found);
  if (!sql.got_data()) throw Abort{Error::not_found("user " + id + " does not exist")};
}

Status Store::create_group(const Group& g) {
  return impl_->write(
      [&](soci::session& sql) {
        // Locked: a domain deleted by another replica meanwhile would leave the group in no
        // domain (identity_groups has no foreign key to domains).
        std::string domain;
        sql << "SELECT id FROM domains WHERE id = :d" + impl_->dialect.for_update,
            soci::use(g.domain_id), soci::into(domain);
        if (!sql.got_data()) {
          throw Abort{Error::not_found("domain " + g.domain_id + " does not exist")};
        }
        NullableString desc = nullable(g.description);
        sql << "INSERT INTO identity_groups (id, domain_id, name, description) "
               "VALUES (:i, :d, :n, :ds)",
            soci::use(g.id), soci::use(g.domain_id), soci::use(g.name),
            soci::use(desc.value, desc.ind);
        if (!g.extra.empty()) {
          sql << "INSERT INTO group_extra (group_id, extra) VALUES (:i, :x)", soci::use(g.id),
              soci::use(g.extra);
        }
      },
      "creating group '" + g.name + "'");
}

Result<Group> Store::get_group(const std::string& id) {
  return impl_->read<Group>(
      [&](soci::session& sql) {
        auto out = select_identity_groups(sql, "WHERE g.id = :i", {id});
        if (out.empty()) throw Abort{Error::not_found("group " + id + " does not exist")};
        return out.front();
      },
      "reading group " + id);
}

Result<std::vector<Group>> Store::list_groups() {
  return impl_->read<std::vector<Group>>(
      [&](soci::session& sql) { return select_identity_groups(sql, "ORDER BY g.name, g.id", {}); },
      "listing groups");
}

Status Store::update_group(const Group& g) {
  return impl_->write(
      [&](soci::session& sql) {
        // Looked up first: MariaDB counts changed rows, so an unchanged update matches none.
        require_group(sql, g.id, impl_->dialect.for_update);
        NullableString desc = nullable(g.description);
        sql << "UPDATE identity_groups SET name = :n, description = :ds WHERE id = :i",
            soci::use(g.name), soci::use(desc.value, desc.ind), soci::use(g.id);
        sql << "DELETE FROM group_extra WHERE group_id = :i", soci::use(g.id);
        if (!g.extra.empty()) {
          sql << "INSERT INTO group_extra (group_id, extra) VALUES (:i, :x)", soci::use(g.id),
              soci::use(g.extra);
        }
      },
      "updating group " + g.id);
}

Status Store::delete_group(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        // Its members lose its roles (the rows follow the group by foreign key): their tokens
        // on its projects are revoked, as keystone does.
        sql << "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND user_id IN (SELECT user_id "
               "FROM identity_group_members WHERE group_id = :g1) AND project_id IN (SELECT "
               "project_id FROM project_group_roles WHERE group_id = :g2)",
            soci::use(id, "g1"), soci::use(id, "g2");
        soci::statement st =
            (sql.prepare << "DELETE FROM identity_groups WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "group " + id + " does not exist");
      },
      "deleting group " + id);
}

Status Store::add_group_member(const std::string& group_id, const std::string& user_id) {
  return impl_->write(
      [&](soci::session& sql) {
        require_group(sql, group_id, impl_->dialect.for_update);
        require_user(sql, user_id);
        int present = 0;
        sql << "SELECT COUNT(*) FROM identity_group_members WHERE group_id = :g AND user_id = :u",
            soci::use(group_id), soci::use(user_id), soci::into(present);
        if (present > 0) return;
        sql << "INSERT INTO identity_group_members (group_id, user_id) VALUES (:g, :u)",
            soci::use(group_id), soci::use(user_id);
      },
      "adding user " + user_id + " to group " + group_id);
}

Status Store::remove_group_member(const std::string& group_id, const std::string& user_id) {
  return impl_->write(
      [&](soci::session& sql) {
        require_group(sql, group_id, "");
        require_user(sql, user_id);
        soci::statement st = (sql.prepare << "DELETE FROM identity_group_members "
                                             "WHERE group_id = :g AND user_id = :u",
                              soci::use(group_id), soci::use(user_id));
        st.execute(true);
        require_row(st, "user " + user_id + " is not a member of group " + group_id);
        // The user loses the group's roles: its tokens on the group's projects are revoked
        // (keystone revokes a user's tokens when it leaves a group).
        sql << "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND user_id = :u AND project_id "
               "IN (SELECT project_id FROM project_group_roles WHERE group_id = :g)",
            soci::use(user_id), soci::use(group_id);
      },
      "removing user " + user_id + " from group " + group_id);
}

Result<bool> Store::is_group_member(const std::string& group_id, const std::string& user_id) {
  return impl_->read<bool>(
      [&](soci::session& sql) {
        require_group(sql, group_id, "");
        require_user(sql, user_id);
        int present = 0;
        sql << "SELECT COUNT(*) FROM identity_group_members WHERE group_id = :g AND user_id = :u",
            soci::use(group_id), soci::use(user_id), soci::into(present);
        return present > 0;
      },
      "reading membership of user " + user_id + " in group " + group_id);
}

Result<std::vector<Group>> Store::list_user_groups(const std::string& user_id) {
  return impl_->read<std::vector<Group>>(
      [&](soci::session& sql) {
        require_user(sql, user_id);
        return select_identity_groups(sql,
                                      "JOIN identity_group_members m ON m.group_id = g.id "
                                      "WHERE m.user_id = :u ORDER BY g.name, g.id",
                                      {user_id});
      },
      "listing the groups of user " + user_id);
}

}  // namespace gpucloud::store
