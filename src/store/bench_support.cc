// The store's side of bench/store_claims: the raw commit rate of a one-row transaction through
// the same connection pool and transaction runner that claims use, and MariaDB's statement count.
#include <chrono>

#include "store/store_impl.h"

namespace gpucloud::store {

Result<double> time_one_row_commits(Store& store, const std::string& host, int n) {
  Store::Impl& impl = StoreTestAccess::impl(store);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    Status s = impl.write(
        [&](soci::session& sql) {
          std::string ts = format_time(now());
          sql << "UPDATE compute_hosts SET updated_at = :t WHERE name = :n", soci::use(ts),
              soci::use(host);
        },
        "one-row commit");
    if (!s) return s.error();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Result<long long> server_statement_count(Store& store) {
  Store::Impl& impl = StoreTestAccess::impl(store);
  if (impl.target.backend != Backend::kMysql) return Error::invalid("not a MariaDB store");
  auto lease = impl.borrow();
  if (!lease) return lease.error();
  try {
    std::string name;
    long long n = 0;
    **lease << "SHOW GLOBAL STATUS LIKE 'Questions'", soci::into(name), soci::into(n);
    return n;
  } catch (const std::exception& e) {
    return classify(e, "reading the statement count");
  }
}

}  // namespace gpucloud::store
