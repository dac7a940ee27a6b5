// The conductor's durable tasks (lifecycle_tasks) and the compare-and-set on an instance's state.
// Every change here is conditional on the state the caller expects, with the row count checked:
// a write never puts back a row read earlier, so a DELETE that commits while a boot runs is never
// overwritten (the boot's next compare-and-set fails and the boot undoes its own work).
#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

// What a spawn failed for its server's delete says (begin_delete, start_agent_call).
const char* const kSpawnCancelled = "cancelled: the server was deleted";

struct LifecycleRow {
  LifecycleTask t;
  std::string host, agent, owner, lease, created, updated;
  soci::indicator i_host{}, i_agent{}, i_owner{}, i_lease{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(t.id));
    st.exchange(soci::into(t.instance_uuid));
    st.exchange(soci::into(t.kind));
    st.exchange(soci::into(t.step));
    st.exchange(soci::into(host, i_host));
    st.exchange(soci::into(agent, i_agent));
    st.exchange(soci::into(owner, i_owner));
    st.exchange(soci::into(lease, i_lease));
    st.exchange(soci::into(t.attempts));
    st.exchange(soci::into(created));
    st.exchange(soci::into(updated));
  }
  LifecycleTask get() const {
    LifecycleTask out = t;
    out.host = opt(host, i_host);
    out.agent_task_id = opt(agent, i_agent);
    out.owner = opt(owner, i_owner);
    out.lease_until.reset();
    if (i_lease != soci::i_null) out.lease_until = parse_time(lease);
    out.created_at = parse_time(created);
    out.updated_at = parse_time(updated);
    return out;
  }
};

constexpr const char* kLifecycleColumns =
    "SELECT id, instance_uuid, kind, step, host, agent_task_id, owner, lease_until, attempts, "
    "created_at, updated_at FROM lifecycle_tasks ";

std::vector<LifecycleTask> select_lifecycle(soci::session& sql, const std::string& tail,
                                            Binder& b) {
  LifecycleRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string(kLifecycleColumns) + tail);
  row.bind(st);
  b.bind(st);
  st.define_and_bind();
  st.execute();
  std::vector<LifecycleTask> out;
  while (st.fetch()) out.push_back(row.get());
  return out;
}

}  // namespace

// Portable upsert (SQLite and MariaDB spell it differently): the key's old row goes first.
void write_system_metadata(soci::session& sql, const std::string& uuid, const std::string& key,
                           const std::optional<std::string>& value) {
  sql << "DELETE FROM instance_system_metadata WHERE instance_uuid = :u AND meta_key = :k",
      soci::use(uuid), soci::use(key);
  if (!value) return;
  sql << "INSERT INTO instance_system_metadata (instance_uuid, meta_key, meta_value) "
         "VALUES (:u, :k, :v)",
      soci::use(uuid), soci::use(key), soci::use(*value);
}

namespace {

void insert_lifecycle(soci::session& sql, LifecycleTask& t) {
  if (t.id.empty()) t.id = generate_uuid();
  const std::string ts = format_time(now());
  NullableString host = nullable(t.host), agent = nullable(t.agent_task_id),
                 owner = nullable(t.owner), lease = nullable_time(t.lease_until);
  sql << "INSERT INTO lifecycle_tasks (id, instance_uuid, kind, step, host, agent_task_id, owner, "
         "lease_until, attempts, created_at, updated_at) VALUES (:i, :u, :k, :s, :h, :a, :o, :l, "
         ":n, :c, :up)",
      soci::use(t.id), soci::use(t.instance_uuid), soci::use(t.kind), soci::use(t.step),
      soci::use(host.value, host.ind), soci::use(agent.value, agent.ind),
      soci::use(owner.value, owner.ind), soci::use(lease.value, lease.ind), soci::use(t.attempts),
      soci::use(ts), soci::use(ts);
  t.created_at = t.updated_at = parse_time(ts);
}

// The UPDATE of one instance's state columns, applied only in an expected state; returns the
// matched row count (MariaDB counts changed rows: updated_at changes, so a match is a change).
long long apply_transition(soci::session& sql, const std::string& uuid,
                           const InstanceTransition& t) {
  Binder b;
  const std::string ts = format_time(now());
  std::string set = "updated_at = " + b.text(ts);
  if (t.status) set += ", status = " + b.text(to_string(*t.status));
  if (t.vm_state) set += ", vm_state = " + b.text(*t.vm_state);
  if (t.power) set += ", power_state = " + b.number(static_cast<long long>(*t.power));
  set += t.task_state ? ", task_state = " + b.text(*t.task_state) : ", task_state = NULL";
  if (t.host) set += ", host = " + b.text(*t.host);
  if (t.clear_host) set += ", host = NULL";
  if (t.ip_address) set += ", ip_address = " + b.text(*t.ip_address);
  if (t.image_id) set += ", image_id = " + b.text(*t.image_id);
  if (t.name) set += ", name = " + b.text(*t.name);
  if (t.key_name) set += ", key_name = " + b.text(*t.key_name);
  if (t.user_data) set += ", user_data = " + b.text(*t.user_data);
  if (t.fault) {
    set += ", fault_code = " + b.number(t.fault->code) +
           ", fault_message = " + b.text(t.fault->message) +
           ", fault_details = " + b.text(t.fault->details) + ", fault_created_at = " +
           b.text(format_time(t.fault->created_at == TimePoint{} ? now() : t.fault->created_at));
  }
  if (t.stamp_launched) set += ", launched_at = " + b.text(ts);
  std::string where = "uuid = " + b.text(uuid);
  if (!t.from.empty()) {
    std::string in;
    for (ServerStatus s : t.from) in += (in.empty() ? "" : ", ") + b.text(to_string(s));
    where += " AND status IN (" + in + ")";
  }
  if (t.from_task) {
    where += t.from_task->empty() ? " AND task_state IS NULL"
                                  : " AND task_state = " + b.text(*t.from_task);
  }
  const long long matched =
      execute_bound(sql, "UPDATE instances SET " + set + " WHERE " + where, b);
  if (matched == 1 && t.metadata) write_instance_metadata(sql, uuid, *t.metadata);
  return matched;
}

std::string describe(const InstanceTransition& t) {
  std::string from;
  for (ServerStatus s : t.from) from += (from.empty() ? "" : "/") + std::string(to_string(s));
  return from.empty() ? "any state" : from;
}

}  // namespace

uint64_t Store::topology_version() const { return impl_->topology.load(); }

Status Store::create_instance_with_task(const Instance& i, const LifecycleTask& boot,
                                        const InstanceQuotaRequest* quota,
                                        const std::string& server_group,
                                        const std::vector<std::string>& security_groups) {
  return impl_->write(
      [&](soci::session& sql) {
        if (quota) check_instance_quota(sql, impl_->dialect, i, *quota);
        write_instance(sql, i, true);
        if (!server_group.empty()) join_server_group(sql, impl_->dialect, i, server_group);
        join_security_groups(sql, impl_->dialect, i.uuid, security_groups);
        LifecycleTask t = boot;
        t.instance_uuid = i.uuid;
        insert_lifecycle(sql, t);
      },
      "creating instance " + i.uuid);
}

Result<std::optional<LifecycleTask>> Store::begin_delete(const std::string& uuid) {
  return impl_->write_result<std::optional<LifecycleTask>>(
      [&](soci::session& sql) -> std::optional<LifecycleTask> {
        // Locked: whether a boot still building undoes itself or a delete task is needed is
        // decided on this state, and a boot's activation committing between a plain read and the
        // UPDATE below left a DELETED server holding its GPUs with nobody to release them.
        Instance i = locked_instance(sql, impl_->dialect, uuid);
        if (i.status == ServerStatus::kDeleted) {
          throw Abort{Error::not_found("Instance " + uuid + " could not be found.")};
        }
        InstanceTransition del;
        del.from = {ServerStatus::kBuild, ServerStatus::kActive, ServerStatus::kError,
                    ServerStatus::kShutoff, ServerStatus::kShelvedOffloaded};
        del.status = ServerStatus::kDeleted;
        del.vm_state = "deleted";
        del.power = PowerState::kNoState;
        if (apply_transition(sql, uuid, del) != 1) {
          throw Abort{Error::conflict("Instance " + uuid + " changed while being deleted")};
        }
        const std::string ts = format_time(now());
        sql << "UPDATE instances SET deleted_at = :t WHERE uuid = :u AND deleted_at IS NULL",
            soci::use(ts), soci::use(uuid);
        // A shelved server's snapshot goes with it (nova deletes it too); the caller removes its
        // data. A shelve or unshelve in flight then finds no image and stops.
        std::string snapshot;
        soci::indicator ind = soci::i_null;
        sql << "SELECT meta_value FROM instance_system_metadata WHERE instance_uuid = :u AND "
               "meta_key = 'shelved_image_id'",
            soci::use(uuid), soci::into(snapshot, ind);
        if (sql.got_data() && ind == soci::i_ok && !snapshot.empty()) {
          sql << "DELETE FROM image_properties WHERE image_id = :i", soci::use(snapshot);
          sql << "DELETE FROM image_tags WHERE image_id = :i", soci::use(snapshot);
          sql << "DELETE FROM image_members WHERE image_id = :i", soci::use(snapshot);
          sql << "DELETE FROM images WHERE id = :i", soci::use(snapshot);
        }
        // A spawn the boot, unshelve or rebuild asked for and no agent has answered is failed:
        // its task wakes at once (even with the host's agent dead) and undoes itself, and an
        // agent that comes back later never builds a guest for a deleted server.
        const std::string cancelled = kSpawnCancelled;
        sql << "UPDATE agent_tasks SET state = 'failed', message = :m, finished_at = :f "
               "WHERE id IN (SELECT agent_task_id FROM lifecycle_tasks WHERE instance_uuid = :u "
               "AND agent_task_id IS NOT NULL) AND kind = 'spawn' AND state IN ('pending', "
               "'running')",
            soci::use(cancelled), soci::use(ts), soci::use(uuid);
        int booting = 0, rebuilding = 0;
        sql << "SELECT COUNT(*) FROM lifecycle_tasks WHERE instance_uuid = :u "
               "AND kind IN ('boot', 'unshelve')",
            soci::use(uuid), soci::into(booting);
        sql << "SELECT COUNT(*) FROM lifecycle_tasks WHERE instance_uuid = :u AND kind = 'rebuild'",
            soci::use(uuid), soci::into(rebuilding);
        // A rebuild in flight (task_state still rebuilding) undoes itself the same way: it
        // destroys the guest it may be making and then releases the claims.
        if (rebuilding > 0 && i.task_state == "rebuilding") return std::nullopt;
        // A boot (or unshelve) still building sees DELETED at its next compare-and-set and undoes
        // its work. One whose activation already succeeded (its row not yet removed) will not
        // look again: then the delete task below does the cleanup.
        const bool building = i.status == ServerStatus::kBuild ||
                              (i.status == ServerStatus::kShelvedOffloaded && i.task_state);
        if (booting > 0 && building) return std::nullopt;
        if (!i.host) {
          release_in_transaction(sql, impl_->dialect, uuid, false);  // never on a host
          return std::nullopt;
        }
        LifecycleTask t;
        t.instance_uuid = uuid;
        t.kind = "delete";
        t.step = "destroy";
        t.host = i.host;
        insert_lifecycle(sql, t);
        return t;
      },
      "deleting instance " + uuid);
}

Result<LifecycleTask> Store::begin_action(const std::string& uuid, const InstanceTransition& tr,
                                          const std::string& kind, const std::string& host,
                                          const std::map<std::string, std::string>& system_metadata,
                                          const Image* snapshot) {
  return impl_->write_result<LifecycleTask>(
      [&](soci::session& sql) {
        InstanceTransition idle = tr;
        idle.from_task = "";
        if (apply_transition(sql, uuid, idle) != 1) {
          Instance i = one_instance(sql, uuid);  // kNotFound when it is gone
          throw Abort{Error::conflict("Cannot '" + kind + "' instance " + uuid +
                                      " while it is in vm_state " + i.vm_state +
                                      (i.task_state ? " and task_state " + *i.task_state : ""))};
        }
        for (const auto& [key, value] : system_metadata) {
          write_system_metadata(sql, uuid, key, value);
        }
        if (snapshot) write_image(sql, *snapshot, true);
        LifecycleTask t;
        t.instance_uuid = uuid;
        t.kind = kind;
        t.step = kind == "unshelve" ? "schedule" : "call";
        if (!host.empty()) t.host = host;
        insert_lifecycle(sql, t);
        return t;
      },
      kind + " of instance " + uuid);
}

Result<std::optional<std::string>> Store::system_metadata(const std::string& uuid,
                                                          const std::string& key) {
  return impl_->read<std::optional<std::string>>(
      [&](soci::session& sql) -> std::optional<std::string> {
        std::string value;
        soci::indicator ind = soci::i_null;
        sql << "SELECT meta_value FROM instance_system_metadata WHERE instance_uuid = :u AND "
               "meta_key = :k",
            soci::use(uuid), soci::use(key), soci::into(value, ind);
        if (!sql.got_data()) return std::nullopt;
        return ind == soci::i_null ? std::string() : value;
      },
      "reading system metadata of instance " + uuid);
}

Status Store::set_system_metadata(const std::string& uuid, const std::string& key,
                                  const std::optional<std::string>& value) {
  return impl_->write([&](soci::session& sql) { write_system_metadata(sql, uuid, key, value); },
                      "writing system metadata of instance " + uuid);
}

Result<std::map<std::string, std::string>> Store::update_instance_metadata(
    const std::string& uuid, const std::map<std::string, std::optional<std::string>>& changes,
    bool replace_all, int64_t max_items, const std::vector<std::string>& vm_states) {
  return impl_->write_result<std::map<std::string, std::string>>(
      [&](soci::session& sql) {
        // The UPDATE takes the instance's row first: two edits of one server, or an edit and
        // the conductor's state change, serialize there.
        const std::string updated = format_time(now());
        soci::statement st = (sql.prepare << "UPDATE instances SET updated_at = :t WHERE uuid = "
                                             ":u AND status <> 'DELETED'",
                              soci::use(updated), soci::use(uuid));
        st.execute(true);
        if (st.get_affected_rows() == 0) {
          throw Abort{Error::not_found("instance " + uuid + " does not exist")};
        }
        std::string vm_state, task;
        soci::indicator task_ind = soci::i_null;
        sql << "SELECT vm_state, task_state FROM instances WHERE uuid = :u", soci::use(uuid),
            soci::into(vm_state), soci::into(task, task_ind);
        if (task_ind != soci::i_null) {
          throw Abort{Error::conflict("Cannot 'update metadata' instance " + uuid +
                                      " while it is in task_state " + task)};
        }
        if (std::find(vm_states.begin(), vm_states.end(), vm_state) == vm_states.end()) {
          throw Abort{Error::conflict("Cannot 'update metadata' instance " + uuid +
                                      " while it is in vm_state " + vm_state)};
        }
        std::map<std::string, std::string> metadata;
        if (!replace_all) {
          std::string k, v;
          soci::indicator v_ind = soci::i_null;
          soci::statement rd =
              (sql.prepare << "SELECT meta_key, meta_value FROM instance_metadata WHERE "
                              "instance_uuid = :u",
               soci::use(uuid), soci::into(k), soci::into(v, v_ind));
          rd.execute();
          while (rd.fetch()) metadata[k] = v_ind == soci::i_null ? "" : v;
        }
        for (const auto& [key, value] : changes) {
          if (value) {
            metadata[key] = *value;
          } else {
            metadata.erase(key);
          }
        }
        if (max_items >= 0 && static_cast<int64_t>(metadata.size()) > max_items) {
          throw Abort{Error{ErrorCode::kForbidden, "Maximum number of metadata items exceeds " +
                                                       std::to_string(max_items)}};
        }
        write_instance_metadata(sql, uuid, metadata);
        return metadata;
      },
      "updating the metadata of instance " + uuid);
}

Status Store::update_server_fields(
    const std::string& uuid, const std::optional<std::string>& name,
    const std::map<std::string, std::optional<std::string>>& system_metadata,
    const std::map<std::string, std::optional<std::string>>& expected) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string updated = format_time(now());
        soci::statement st(sql);
        st.alloc();
        if (name) {
          st.prepare(
              "UPDATE instances SET name = :n, updated_at = :t WHERE uuid = :u AND status <> "
              "'DELETED'");
          st.exchange(soci::use(*name));
        } else {
          st.prepare(
              "UPDATE instances SET updated_at = :t WHERE uuid = :u AND status <> 'DELETED'");
        }
        st.exchange(soci::use(updated));
        st.exchange(soci::use(uuid));
        st.define_and_bind();
        st.execute(true);
        if (st.get_affected_rows() == 0) {
          throw Abort{Error::not_found("instance " + uuid + " does not exist")};
        }
        // Checked after the UPDATE above, which holds the instance's row: two edits of the same
        // server serialize there, and this read (on MariaDB, the transaction's first consistent
        // read) sees what the other committed.
        for (const auto& [key, want] : expected) {
          std::string value;
          soci::indicator ind = soci::i_null;
          sql << "SELECT meta_value FROM instance_system_metadata WHERE instance_uuid = :u AND "
                 "meta_key = :k",
              soci::use(uuid), soci::use(key), soci::into(value, ind);
          std::optional<std::string> have;
          if (sql.got_data()) have = ind == soci::i_null ? std::string() : value;
          if (have != want) {
            throw Abort{Error::conflict("instance " + uuid + ": '" + key + "' changed meanwhile")};
          }
        }
        for (const auto& [key, value] : system_metadata)
          write_system_metadata(sql, uuid, key, value);
      },
      "updating instance " + uuid);
}

Status Store::transition_instance(const std::string& uuid, const InstanceTransition& t) {
  return impl_->write(
      [&](soci::session& sql) {
        if (apply_transition(sql, uuid, t) == 1) return;
        Instance i = one_instance(sql, uuid);
        throw Abort{Error::conflict("instance " + uuid + " is " + to_string(i.status) +
                                    (i.task_state ? " (" + *i.task_state + ")" : "") + ", not in " +
                                    describe(t))};
      },
      "changing the state of instance " + uuid);
}

Result<std::vector<LifecycleTask>> Store::list_takeable_tasks(TimePoint at, int max) {
  return impl_->read<std::vector<LifecycleTask>>(
      [&](soci::session& sql) {
        Binder b;
        const std::string tail = "WHERE owner IS NULL OR lease_until < " + b.text(format_time(at)) +
                                 " ORDER BY created_at, id LIMIT " + b.number(max);
        return select_lifecycle(sql, tail, b);
      },
      "listing conductor tasks");
}

Result<LifecycleTask> Store::get_lifecycle_task(const std::string& id) {
  return impl_->read<LifecycleTask>(
      [&](soci::session& sql) {
        Binder b;
        auto rows = select_lifecycle(sql, "WHERE id = " + b.text(id), b);
        if (rows.empty()) throw Abort{Error::not_found("conductor task " + id + " not found")};
        return rows.front();
      },
      "reading conductor task " + id);
}

Result<std::vector<LifecycleTask>> Store::list_lifecycle_tasks() {
  return impl_->read<std::vector<LifecycleTask>>(
      [&](soci::session& sql) {
        Binder b;
        return select_lifecycle(sql, "ORDER BY created_at, id", b);
      },
      "listing conductor tasks");
}

Result<bool> Store::take_lifecycle_task(const std::string& id, const std::string& owner,
                                        TimePoint lease_until, TimePoint at) {
  return impl_->write_result<bool>(
      [&](soci::session& sql) {
        const std::string lease = format_time(lease_until), t = format_time(at);
        soci::statement st =
            (sql.prepare << "UPDATE lifecycle_tasks SET owner = :o, lease_until = :l, "
                            "attempts = attempts + 1 WHERE id = :i AND (owner IS NULL OR "
                            "owner = :o2 OR lease_until < :t)",
             soci::use(owner, "o"), soci::use(lease, "l"), soci::use(id, "i"),
             soci::use(owner, "o2"), soci::use(t, "t"));
        st.execute(true);
        return st.get_affected_rows() == 1;
      },
      "taking conductor task " + id);
}

Status Store::renew_leases(const std::string& owner, TimePoint lease_until) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string lease = format_time(lease_until);
        sql << "UPDATE lifecycle_tasks SET lease_until = :l WHERE owner = :o", soci::use(lease),
            soci::use(owner);
      },
      "renewing conductor leases");
}

Status Store::save_lifecycle_task(const LifecycleTask& t, const std::string& owner) {
  return impl_->write(
      [&](soci::session& sql) {
        NullableString host = nullable(t.host), agent = nullable(t.agent_task_id);
        const std::string ts = format_time(now());
        soci::statement st =
            (sql.prepare << "UPDATE lifecycle_tasks SET step = :s, host = :h, agent_task_id = "
                            ":a, updated_at = :t WHERE id = :i AND owner = :o",
             soci::use(t.step), soci::use(host.value, host.ind), soci::use(agent.value, agent.ind),
             soci::use(ts), soci::use(t.id), soci::use(owner));
        st.execute(true);
        if (st.get_affected_rows() != 1) {
          throw Abort{Error::conflict("conductor task " + t.id + " is no longer held by " + owner)};
        }
      },
      "saving conductor task " + t.id);
}

Status Store::finish_lifecycle_task(const std::string& id, const std::string& owner) {
  return impl_->write(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "DELETE FROM lifecycle_tasks WHERE id = :i AND owner = :o",
             soci::use(id), soci::use(owner));
        st.execute(true);
        if (st.get_affected_rows() != 1) {
          throw Abort{Error::conflict("conductor task " + id + " is no longer held by " + owner)};
        }
      },
      "finishing conductor task " + id);
}

Result<AgentTask> Store::start_agent_call(LifecycleTask& t, const std::string& owner,
                                          const AgentTask& call) {
  return impl_->write_result<AgentTask>(
      [&](soci::session& sql) {
        AgentTask a = call;
        a.id = a.id.empty() ? generate_uuid() : a.id;
        const std::string ts = format_time(now());
        // A spawn for a server deleted since its task last looked is made failed, as
        // begin_delete fails one made before (the instance row, locked, orders the two): the
        // task wakes and undoes itself without any agent running it.
        std::string status;
        if (a.kind == "spawn") {
          sql << "SELECT status FROM instances WHERE uuid = :u" + impl_->dialect.for_update,
              soci::use(a.instance_uuid), soci::into(status);
        }
        const bool deleted = status == to_string(ServerStatus::kDeleted);
        const std::string state =
            to_string(deleted ? AgentTaskState::kFailed : AgentTaskState::kPending);
        const std::string message = deleted ? kSpawnCancelled : "";
        soci::indicator finished = deleted ? soci::i_ok : soci::i_null;
        sql << "INSERT INTO agent_tasks (id, host, kind, instance_uuid, payload, state, message, "
               "result, created_at, finished_at) VALUES (:i, :h, :k, :u, :p, :s, :m, '{}', :c, :f)",
            soci::use(a.id), soci::use(a.host), soci::use(a.kind), soci::use(a.instance_uuid),
            soci::use(a.payload), soci::use(state), soci::use(message), soci::use(ts),
            soci::use(ts, finished);
        soci::statement st =
            (sql.prepare << "UPDATE lifecycle_tasks SET agent_task_id = :a, step = :s, "
                            "updated_at = :t WHERE id = :i AND owner = :o",
             soci::use(a.id), soci::use(t.step), soci::use(ts), soci::use(t.id), soci::use(owner));
        st.execute(true);
        if (st.get_affected_rows() != 1) {
          throw Abort{Error::conflict("conductor task " + t.id + " is no longer held by " + owner)};
        }
        a.state = deleted ? AgentTaskState::kFailed : AgentTaskState::kPending;
        a.message = message;
        a.created_at = parse_time(ts);
        return a;
      },
      "calling the agent of host '" + call.host + "'");
}

}  // namespace gpucloud::store
