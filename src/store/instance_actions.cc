// nova's instance actions: the API records each request that acts on a server (create, delete,
// stop, start, reboot, lock, unlock, shelve, unshelve) for os-instance-actions to list.
#include "store/store_impl.h"

namespace gpucloud::store {

Status Store::record_instance_action(const InstanceAction& a) {
  return impl_->write(
      [&](soci::session& sql) {
        int seen = 0;
        sql << "SELECT COUNT(*) FROM instance_actions WHERE instance_uuid = :u AND "
               "request_id = :r",
            soci::use(a.instance_uuid), soci::use(a.request_id), soci::into(seen);
        if (seen > 0) return;
        const std::string start = format_time(a.start_time);
        const std::string updated = format_time(a.updated_at);
        NullableString message = nullable(a.message);
        sql << "INSERT INTO instance_actions (instance_uuid, request_id, action, user_id, "
               "project_id, message, start_time, updated_at) "
               "VALUES (:u, :r, :a, :us, :p, :m, :s, :t)",
            soci::use(a.instance_uuid), soci::use(a.request_id), soci::use(a.action),
            soci::use(a.user_id), soci::use(a.project_id), soci::use(message.value, message.ind),
            soci::use(start), soci::use(updated);
      },
      "recording action " + a.action + " of instance " + a.instance_uuid);
}

Result<std::vector<InstanceAction>> Store::list_instance_actions(const std::string& uuid) {
  return impl_->read<std::vector<InstanceAction>>(
      [&](soci::session& sql) {
        std::vector<InstanceAction> out;
        InstanceAction a;
        std::string message, start, updated;
        soci::indicator i_message{};
        soci::statement st =
            (sql.prepare << "SELECT instance_uuid, request_id, action, user_id, project_id, "
                            "message, start_time, updated_at FROM instance_actions "
                            "WHERE instance_uuid = :u ORDER BY start_time DESC, request_id DESC",
             soci::use(uuid), soci::into(a.instance_uuid), soci::into(a.request_id),
             soci::into(a.action), soci::into(a.user_id), soci::into(a.project_id),
             soci::into(message, i_message), soci::into(start), soci::into(updated));
        st.execute();
        while (st.fetch()) {
          a.message = opt(message, i_message);
          a.start_time = parse_time(start);
          a.updated_at = parse_time(updated);
          out.push_back(a);
        }
        return out;
      },
      "listing actions of instance " + uuid);
}

}  // namespace gpucloud::store
