// GPU quotas per project and alias: setting, listing and the usage figures. The quota itself is
// enforced inside claim() (claims.cc), in the claim's own transaction.
#include "store/store_impl.h"

namespace gpucloud::store {

Status Store::set_gpu_quota(const GpuQuota& q) {
  if (q.limit < 0) return Error::invalid("GPU quota for " + q.alias + " is negative");
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "UPDATE gpu_quotas SET quota_limit = :l, generation "
                            "= generation + 1 WHERE project_id = :p AND alias = :a",
             soci::use(q.limit), soci::use(q.project_id), soci::use(q.alias));
        st.execute(true);
        if (st.get_affected_rows() == 0) {
          sql << "INSERT INTO gpu_quotas (project_id, alias, quota_limit, generation) "
                 "VALUES (:p, :a, :l, 0)",
              soci::use(q.project_id), soci::use(q.alias), soci::use(q.limit);
        }
      },
      "setting GPU quota");
}

Status Store::delete_gpu_quota(const std::string& project_id, const std::string& alias) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM gpu_quotas WHERE project_id = :p AND alias = :a",
             soci::use(project_id), soci::use(alias));
        st.execute(true);
        require_row(st, "no GPU quota for " + alias + " in project " + project_id);
      },
      "deleting GPU quota");
}

Result<std::vector<GpuQuota>> Store::list_gpu_quotas(const std::string& project_id) {
  return impl_->read<std::vector<GpuQuota>>(
      [&](soci::session& sql) {
        std::vector<GpuQuota> out;
        GpuQuota q;
        soci::statement st =
            (sql.prepare << "SELECT project_id, alias, quota_limit FROM gpu_quotas "
                            "WHERE (:p1 = '' OR project_id = :p2) ORDER BY project_id, alias",
             soci::use(project_id, "p1"), soci::use(project_id, "p2"), soci::into(q.project_id),
             soci::into(q.alias), soci::into(q.limit));
        st.execute();
        while (st.fetch()) out.push_back(q);
        return out;
      },
      "listing GPU quotas");
}

Result<std::map<std::string, int>> Store::gpu_usage(const std::string& project_id) {
  return impl_->read<std::map<std::string, int>>(
      [&](soci::session& sql) {
        std::map<std::string, int> out;
        std::string alias;
        long long n = 0;
        soci::statement st =
            (sql.prepare << "SELECT alias, SUM(device_count) FROM instance_pci_requests "
                            "WHERE project_id = :p GROUP BY alias",
             soci::use(project_id), soci::into(alias), soci::into(n));
        st.execute();
        while (st.fetch()) out[alias] = static_cast<int>(n);
        return out;
      },
      "reading GPU usage");
}

}  // namespace gpucloud::store
