// Reserved fixed IPs (os-fixed-ips): one row per guest network and address. The hosts of that
// network keep the address from their guests (docs/networks.md).
#include <string>
#include <utility>
#include <vector>

#include "store/store_impl.h"

namespace gpucloud::store {

Status Store::set_fixed_ip_reserved(const std::string& network, const std::string& address,
                                    bool reserved) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "DELETE FROM fixed_ip_reservations WHERE network = :n AND address = :a",
            soci::use(network), soci::use(address);
        if (!reserved) return;
        const std::string now = format_time(std::chrono::system_clock::now());
        sql << "INSERT INTO fixed_ip_reservations (network, address, created_at) "
               "VALUES (:n, :a, :t)",
            soci::use(network), soci::use(address), soci::use(now);
      },
      (reserved ? "reserving fixed IP " : "unreserving fixed IP ") + address);
}

Result<std::vector<std::pair<std::string, std::string>>> Store::list_fixed_ip_reservations(
    const std::string& network) {
  using Rows = std::vector<std::pair<std::string, std::string>>;
  return impl_->read<Rows>(
      [&](soci::session& sql) {
        Rows out;
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT network, address FROM fixed_ip_reservations "
                            "WHERE :n = '' OR network = :n2 ORDER BY network, address",
             soci::use(network), soci::use(network));
        for (const auto& r : rows) out.emplace_back(r.get<std::string>(0), r.get<std::string>(1));
        return out;
      },
      "reading the reserved fixed IPs");
}

}  // namespace gpucloud::store
