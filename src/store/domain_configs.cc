// keystone's domain configurations as rows (schema version 22): one row per option, its value as
// JSON text. The API (api/identity_domain_configs.cc) decides which groups and options exist;
// here a domain's options are replaced, merged, listed and deleted, each write with the domain's
// row locked so that it serializes with other writes to the same config and with deleting the
// domain. Nothing reads these rows to choose an identity driver: gpucloud has none per domain.
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

// kNotFound unless the domain exists; `lock` (the dialect's FOR UPDATE, or "") is appended.
void dc_require_domain(soci::session& sql, const std::string& domain_id, const std::string& lock) {
  std::string found;
  sql << "SELECT id FROM domains WHERE id = :i" + lock, soci::use(domain_id), soci::into(found);
  if (!sql.got_data()) throw Abort{Error::not_found("domain " + domain_id + " does not exist")};
}

// The WHERE clause for a domain, optionally one group and one option of it ("" for any), and
// the values its placeholders take, in order.
std::string dc_where(const std::string& group, const std::string& option) {
  std::string where = "WHERE domain_id = :d";
  if (!group.empty()) where += " AND config_group = :g";
  if (!option.empty()) where += " AND config_option = :o";
  return where;
}

std::vector<std::string> dc_params(const std::string& domain_id, const std::string& group,
                                   const std::string& option) {
  std::vector<std::string> params = {domain_id};
  if (!group.empty()) params.push_back(group);
  if (!option.empty()) params.push_back(option);
  return params;
}

struct DomainConfigRow {
  DomainConfigOption o;
  int sensitive = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(o.group));
    st.exchange(soci::into(o.option));
    st.exchange(soci::into(o.value));
    st.exchange(soci::into(sensitive));
  }
  DomainConfigOption get() const {
    DomainConfigOption out = o;
    out.sensitive = sensitive != 0;
    return out;
  }
};

std::vector<DomainConfigOption> dc_rows(soci::session& sql, const std::string& domain_id,
                                        const std::string& group, const std::string& option) {
  return select_rows<DomainConfigRow, DomainConfigOption>(
      sql,
      "SELECT config_group, config_option, config_value, is_sensitive FROM domain_configs " +
          dc_where(group, option) + " ORDER BY config_group, config_option",
      dc_params(domain_id, group, option));
}

int dc_delete(soci::session& sql, const std::string& domain_id, const std::string& group,
              const std::string& option) {
  const std::vector<std::string> params = dc_params(domain_id, group, option);
  soci::statement st(sql);
  st.alloc();
  st.prepare("DELETE FROM domain_configs " + dc_where(group, option));
  for (const auto& p : params) st.exchange(soci::use(p));
  st.define_and_bind();
  st.execute(true);
  return static_cast<int>(st.get_affected_rows());
}

void dc_insert(soci::session& sql, const std::string& domain_id, const DomainConfigOption& o) {
  int sensitive = o.sensitive ? 1 : 0;
  sql << "INSERT INTO domain_configs (domain_id, config_group, config_option, config_value, "
         "is_sensitive) VALUES (:d, :g, :o, :v, :s)",
      soci::use(domain_id), soci::use(o.group), soci::use(o.option), soci::use(o.value),
      soci::use(sensitive);
}

}  // namespace

Status Store::replace_domain_config(const std::string& domain_id,
                                    const std::vector<DomainConfigOption>& options) {
  return impl_->write(
      [&](soci::session& sql) {
        dc_require_domain(sql, domain_id, impl_->dialect.for_update);
        const std::string any;
        dc_delete(sql, domain_id, any, any);
        for (const auto& o : options) dc_insert(sql, domain_id, o);
      },
      "replacing the configuration of domain " + domain_id);
}

Status Store::update_domain_config(const std::string& domain_id,
                                   const std::vector<DomainConfigOption>& options,
                                   const std::string& existing_group,
                                   const std::string& existing_option) {
  return impl_->write(
      [&](soci::session& sql) {
        dc_require_domain(sql, domain_id, impl_->dialect.for_update);
        if (!existing_group.empty() &&
            dc_rows(sql, domain_id, existing_group, existing_option).empty()) {
          const std::string what =
              existing_option.empty() ? "group " + existing_group
                                      : "option " + existing_option + " in group " + existing_group;
          throw Abort{Error::not_found(what + " is not set for domain " + domain_id)};
        }
        for (const auto& o : options) {
          dc_delete(sql, domain_id, o.group, o.option);
          dc_insert(sql, domain_id, o);
        }
      },
      "updating the configuration of domain " + domain_id);
}

Result<std::vector<DomainConfigOption>> Store::list_domain_config(const std::string& domain_id,
                                                                  const std::string& group,
                                                                  const std::string& option) {
  return impl_->read<std::vector<DomainConfigOption>>(
      [&](soci::session& sql) {
        dc_require_domain(sql, domain_id, "");
        return dc_rows(sql, domain_id, group, option);
      },
      "reading the configuration of domain " + domain_id);
}

Result<int> Store::delete_domain_config(const std::string& domain_id, const std::string& group,
                                        const std::string& option) {
  return impl_->write_result<int>(
      [&](soci::session& sql) {
        dc_require_domain(sql, domain_id, impl_->dialect.for_update);
        return dc_delete(sql, domain_id, group, option);
      },
      "deleting the configuration of domain " + domain_id);
}

}  // namespace gpucloud::store
