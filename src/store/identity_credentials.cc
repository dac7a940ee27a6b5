// keystone's credentials and policies (schema version 15): blobs stored for the API to return.
// A credential's blob is a secret: no message written here carries it.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

struct CredentialRow {
  Credential c;
  std::string project;
  soci::indicator i_project{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(c.id));
    st.exchange(soci::into(c.user_id));
    st.exchange(soci::into(project, i_project));
    st.exchange(soci::into(c.type));
    st.exchange(soci::into(c.blob));
  }
  Credential get() const {
    Credential out = c;
    out.project_id = opt(project, i_project);
    return out;
  }
};

struct IdentityPolicyRow {
  IdentityPolicy p;
  void bind(soci::statement& st) {
    st.exchange(soci::into(p.id));
    st.exchange(soci::into(p.type));
    st.exchange(soci::into(p.blob));
  }
  IdentityPolicy get() const { return p; }
};

const char* kCredentialSelect =
    "SELECT id, user_id, project_id, type, blob_text FROM identity_credentials ";
const char* kIdentityPolicySelect = "SELECT id, type, blob_text FROM identity_policies ";

// The credential's user and project must exist; read in the writing transaction.
void require_credential_owner(soci::session& sql, const Credential& c) {
  require_user(sql, c.user_id);
  if (c.project_id) {
    std::string found;
    sql << "SELECT id FROM projects WHERE id = :p", soci::use(*c.project_id), soci::into(found);
    if (!sql.got_data()) {
      throw Abort{Error::not_found("project " + *c.project_id + " does not exist")};
    }
  }
}

}  // namespace

Status Store::create_credential(const Credential& c) {
  return impl_->write(
      [&](soci::session& sql) {
        require_credential_owner(sql, c);
        NullableString project = nullable(c.project_id);
        sql << "INSERT INTO identity_credentials (id, user_id, project_id, type, blob_text) "
               "VALUES (:i, :u, :p, :t, :b)",
            soci::use(c.id), soci::use(c.user_id), soci::use(project.value, project.ind),
            soci::use(c.type), soci::use(c.blob);
      },
      "creating credential " + c.id);
}

Result<Credential> Store::get_credential(const std::string& id) {
  return impl_->read<Credential>(
      [&](soci::session& sql) {
        auto out = select_rows<CredentialRow, Credential>(
            sql, std::string(kCredentialSelect) + "WHERE id = :i", {id});
        if (out.empty()) throw Abort{Error::not_found("credential " + id + " does not exist")};
        return out.front();
      },
      "reading credential " + id);
}

Result<std::vector<Credential>> Store::list_credentials(const std::string& user_id,
                                                        const std::string& type) {
  return impl_->read<std::vector<Credential>>(
      [&](soci::session& sql) {
        return select_rows<CredentialRow, Credential>(
            sql,
            std::string(kCredentialSelect) +
                "WHERE (:u1 = '' OR user_id = :u2) AND (:t1 = '' OR type = :t2) ORDER BY id",
            {user_id, user_id, type, type});
      },
      "listing credentials");
}

Status Store::update_credential(const Credential& c) {
  return impl_->write(
      [&](soci::session& sql) {
        int n = 0;
        sql << "SELECT COUNT(*) FROM identity_credentials WHERE id = :i", soci::use(c.id),
            soci::into(n);
        if (n == 0) throw Abort{Error::not_found("credential " + c.id + " does not exist")};
        require_credential_owner(sql, c);
        NullableString project = nullable(c.project_id);
        sql << "UPDATE identity_credentials SET user_id = :u, project_id = :p, type = :t, "
               "blob_text = :b WHERE id = :i",
            soci::use(c.user_id), soci::use(project.value, project.ind), soci::use(c.type),
            soci::use(c.blob), soci::use(c.id);
      },
      "updating credential " + c.id);
}

Status Store::delete_credential(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM identity_credentials WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "credential " + id + " does not exist");
      },
      "deleting credential " + id);
}

Status Store::create_identity_policy(const IdentityPolicy& p) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "INSERT INTO identity_policies (id, type, blob_text) VALUES (:i, :t, :b)",
            soci::use(p.id), soci::use(p.type), soci::use(p.blob);
      },
      "creating policy " + p.id);
}

Result<IdentityPolicy> Store::get_identity_policy(const std::string& id) {
  return impl_->read<IdentityPolicy>(
      [&](soci::session& sql) {
        auto out = select_rows<IdentityPolicyRow, IdentityPolicy>(
            sql, std::string(kIdentityPolicySelect) + "WHERE id = :i", {id});
        if (out.empty()) throw Abort{Error::not_found("policy " + id + " does not exist")};
        return out.front();
      },
      "reading policy " + id);
}

Result<std::vector<IdentityPolicy>> Store::list_identity_policies() {
  return impl_->read<std::vector<IdentityPolicy>>(
      [&](soci::session& sql) {
        return select_rows<IdentityPolicyRow, IdentityPolicy>(
            sql, std::string(kIdentityPolicySelect) + "ORDER BY id", {});
      },
      "listing policies");
}

Status Store::update_identity_policy(const IdentityPolicy& p) {
  return impl_->write(
      [&](soci::session& sql) {
        int n = 0;
        sql << "SELECT COUNT(*) FROM identity_policies WHERE id = :i", soci::use(p.id),
            soci::into(n);
        if (n == 0) throw Abort{Error::not_found("policy " + p.id + " does not exist")};
        sql << "UPDATE identity_policies SET type = :t, blob_text = :b WHERE id = :i",
            soci::use(p.type), soci::use(p.blob), soci::use(p.id);
      },
      "updating policy " + p.id);
}

Status Store::delete_identity_policy(const std::string& id) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM identity_policies WHERE id = :i", soci::use(id));
        st.execute(true);
        require_row(st, "policy " + id + " does not exist");
      },
      "deleting policy " + id);
}

}  // namespace gpucloud::store
