// Instances: nova's server record with its state machine columns, fault, request spec,
// readiness and metadata. Deleting one keeps the row (status DELETED) and releases its claims.
#include <unordered_map>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

const char* kInstanceColumns =
    "uuid, name, project_id, user_id, flavor_id, image_id, availability_zone, host, status, "
    "vm_state, task_state, power_state, fault_code, fault_message, fault_details, "
    "fault_created_at, request_spec, readiness, readiness_error, readiness_at, ip_address, "
    "user_data, config_drive, key_name, reservation_id, launch_index, created_at, updated_at, "
    "launched_at, deleted_at";

struct InstanceRow {
  Instance i;
  std::string host, status, task, fmsg, fdetails, fat, spec, readiness, rerr, rat, udata, created,
      updated, launched, deleted;
  int power = 0, fcode = 0, config_drive = 0;
  soci::indicator i_host{}, i_task{}, i_fcode{}, i_fmsg{}, i_fdet{}, i_fat{}, i_spec{}, i_rerr{},
      i_rat{}, i_udata{}, i_created{}, i_updated{}, i_launched{}, i_deleted{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(i.uuid));
    st.exchange(soci::into(i.name));
    st.exchange(soci::into(i.project_id));
    st.exchange(soci::into(i.user_id));
    st.exchange(soci::into(i.flavor_id));
    st.exchange(soci::into(i.image_id));
    st.exchange(soci::into(i.availability_zone));
    st.exchange(soci::into(host, i_host));
    st.exchange(soci::into(status));
    st.exchange(soci::into(i.vm_state));
    st.exchange(soci::into(task, i_task));
    st.exchange(soci::into(power));
    st.exchange(soci::into(fcode, i_fcode));
    st.exchange(soci::into(fmsg, i_fmsg));
    st.exchange(soci::into(fdetails, i_fdet));
    st.exchange(soci::into(fat, i_fat));
    st.exchange(soci::into(spec, i_spec));
    st.exchange(soci::into(readiness));
    st.exchange(soci::into(rerr, i_rerr));
    st.exchange(soci::into(rat, i_rat));
    st.exchange(soci::into(i.ip_address));
    st.exchange(soci::into(udata, i_udata));
    st.exchange(soci::into(config_drive));
    st.exchange(soci::into(i.key_name));
    st.exchange(soci::into(i.reservation_id));
    st.exchange(soci::into(i.launch_index));
    st.exchange(soci::into(created, i_created));
    st.exchange(soci::into(updated, i_updated));
    st.exchange(soci::into(launched, i_launched));
    st.exchange(soci::into(deleted, i_deleted));
  }
  Instance get() const {
    Instance out = i;
    out.host = opt(host, i_host);
    if (auto s = parse_server_status(status)) out.status = *s;
    out.task_state = opt(task, i_task);
    out.power_state = static_cast<PowerState>(power);
    out.fault.reset();
    if (i_fmsg != soci::i_null) {
      InstanceFault f;
      f.code = i_fcode == soci::i_null ? 500 : fcode;
      f.message = fmsg;
      f.details = i_fdet == soci::i_null ? "" : fdetails;
      if (i_fat != soci::i_null) f.created_at = parse_time(fat);
      out.fault = f;
    }
    out.request_spec_json = i_spec == soci::i_null ? "{}" : spec;
    if (auto r = parse_readiness(readiness)) out.readiness = *r;
    out.readiness_error = i_rerr == soci::i_null ? "" : rerr;
    if (i_rat != soci::i_null) out.readiness_at = parse_time(rat);
    out.user_data = i_udata == soci::i_null ? "" : udata;
    out.config_drive = config_drive != 0;
    if (i_created != soci::i_null) out.created_at = parse_time(created);
    if (i_updated != soci::i_null) out.updated_at = parse_time(updated);
    if (i_launched != soci::i_null) out.launched_at = parse_time(launched);
    if (i_deleted != soci::i_null) out.deleted_at = parse_time(deleted);
    return out;
  }
};

std::vector<Instance> select_instances(soci::session& sql, const std::string& uuid,
                                       const std::string& project, bool include_deleted,
                                       const std::string& host = "") {
  // Only the filters that are set go into the WHERE clause: `(:u = '' OR uuid = :u)` would keep
  // SQLite from the primary key and scan every instance for one lookup (100,000 rows made each
  // boot's reads cost seconds).
  auto where = [&](Binder& b, const std::string& prefix) {
    std::string w = " WHERE 1 = 1";
    if (!uuid.empty()) w += " AND " + prefix + "uuid = " + b.text(uuid);
    if (!project.empty()) w += " AND " + prefix + "project_id = " + b.text(project);
    if (!host.empty()) w += " AND " + prefix + "host = " + b.text(host);
    if (!include_deleted) w += " AND " + prefix + "status <> 'DELETED'";
    return w;
  };
  InstanceRow row;
  Binder b;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string("SELECT ") + kInstanceColumns + " FROM instances" + where(b, "") +
             " ORDER BY created_at, uuid");
  row.bind(st);
  b.bind(st);
  st.define_and_bind();
  st.execute();
  std::vector<Instance> out;
  while (st.fetch()) out.push_back(row.get());
  if (out.empty()) return out;
  std::unordered_map<std::string, Instance*> by_uuid;
  for (Instance& i : out) by_uuid[i.uuid] = &i;
  // Both metadata tables in one query each for all the instances (not two per instance: a list
  // of 10,000 servers was 20,001 queries).
  for (const bool system : {false, true}) {
    Binder mb;
    std::string id, k, v;
    soci::indicator vi{};
    soci::statement m(sql);
    m.alloc();
    m.prepare(std::string("SELECT m.instance_uuid, m.meta_key, m.meta_value FROM ") +
              (system ? "instance_system_metadata" : "instance_metadata") +
              " m JOIN instances i ON i.uuid = m.instance_uuid" + where(mb, "i."));
    m.exchange(soci::into(id));
    m.exchange(soci::into(k));
    m.exchange(soci::into(v, vi));
    mb.bind(m);
    m.define_and_bind();
    m.execute();
    while (m.fetch()) {
      auto it = by_uuid.find(id);
      if (it == by_uuid.end()) continue;  // created between the two reads
      (system ? it->second->system_metadata : it->second->metadata)[k] =
          vi == soci::i_null ? "" : v;
    }
  }
  return out;
}

}  // namespace

// Inserts or updates every column of `i`, then replaces its metadata (and, on insert, writes its
// system metadata).
void write_instance_metadata(soci::session& sql, const std::string& uuid,
                             const std::map<std::string, std::string>& metadata) {
  sql << "DELETE FROM instance_metadata WHERE instance_uuid = :u", soci::use(uuid);
  for (const auto& [k, v] : metadata) {
    sql << "INSERT INTO instance_metadata (instance_uuid, meta_key, meta_value) "
           "VALUES (:u, :k, :v)",
        soci::use(uuid), soci::use(k), soci::use(v);
  }
}

void write_instance(soci::session& sql, const Instance& i, bool insert) {
  NullableString host = nullable(i.host), task = nullable(i.task_state);
  NullableString rat = nullable_time(i.readiness_at), launched = nullable_time(i.launched_at),
                 deleted = nullable_time(i.deleted_at);
  NullableString fmsg, fdet, fat;
  int fcode = 0;
  soci::indicator i_fcode = soci::i_null;
  if (i.fault) {
    fcode = i.fault->code;
    i_fcode = soci::i_ok;
    fmsg = {i.fault->message, soci::i_ok};
    fdet = {i.fault->details, soci::i_ok};
    fat = nullable_time(i.fault->created_at == TimePoint{} ? now() : i.fault->created_at);
  }
  std::string status = to_string(i.status), readiness = to_string(i.readiness);
  int power = static_cast<int>(i.power_state), cd = i.config_drive ? 1 : 0;
  std::string created = format_time(i.created_at == TimePoint{} ? now() : i.created_at);
  std::string updated = format_time(now());
  soci::statement st(sql);
  st.alloc();
  st.prepare(insert
                 ? "INSERT INTO instances (name, project_id, user_id, flavor_id, image_id, "
                   "availability_zone, host, status, vm_state, task_state, power_state, "
                   "fault_code, fault_message, fault_details, fault_created_at, request_spec, "
                   "readiness, readiness_error, readiness_at, ip_address, user_data, "
                   "config_drive, key_name, reservation_id, launch_index, updated_at, "
                   "launched_at, deleted_at, created_at, uuid) VALUES (:n, :p, :us, :f, :im, "
                   ":az, :h, :s, :vm, :ts, :pw, :fc, :fm, :fd, :fa, :rs, :r, :re, :ra, :ip, :ud, "
                   ":cd, :k, :rid, :li, :up, :la, :da, :c, :u)"
                 : "UPDATE instances SET name = :n, project_id = :p, user_id = :us, flavor_id = "
                   ":f, image_id = :im, availability_zone = :az, host = :h, status = :s, "
                   "vm_state = :vm, task_state = :ts, power_state = :pw, fault_code = :fc, "
                   "fault_message = :fm, fault_details = :fd, fault_created_at = :fa, "
                   "request_spec = :rs, readiness = :r, readiness_error = :re, readiness_at = "
                   ":ra, ip_address = :ip, user_data = :ud, config_drive = :cd, key_name = :k, "
                   "reservation_id = :rid, launch_index = :li, updated_at = :up, launched_at = "
                   ":la, deleted_at = :da WHERE uuid = :u");
  st.exchange(soci::use(i.name));
  st.exchange(soci::use(i.project_id));
  st.exchange(soci::use(i.user_id));
  st.exchange(soci::use(i.flavor_id));
  st.exchange(soci::use(i.image_id));
  st.exchange(soci::use(i.availability_zone));
  st.exchange(soci::use(host.value, host.ind));
  st.exchange(soci::use(status));
  st.exchange(soci::use(i.vm_state));
  st.exchange(soci::use(task.value, task.ind));
  st.exchange(soci::use(power));
  st.exchange(soci::use(fcode, i_fcode));
  st.exchange(soci::use(fmsg.value, fmsg.ind));
  st.exchange(soci::use(fdet.value, fdet.ind));
  st.exchange(soci::use(fat.value, fat.ind));
  st.exchange(soci::use(i.request_spec_json));
  st.exchange(soci::use(readiness));
  st.exchange(soci::use(i.readiness_error));
  st.exchange(soci::use(rat.value, rat.ind));
  st.exchange(soci::use(i.ip_address));
  st.exchange(soci::use(i.user_data));
  st.exchange(soci::use(cd));
  st.exchange(soci::use(i.key_name));
  st.exchange(soci::use(i.reservation_id));
  st.exchange(soci::use(i.launch_index));
  st.exchange(soci::use(updated));
  st.exchange(soci::use(launched.value, launched.ind));
  st.exchange(soci::use(deleted.value, deleted.ind));
  if (insert) st.exchange(soci::use(created));
  st.exchange(soci::use(i.uuid));
  st.define_and_bind();
  st.execute(true);
  if (!insert && st.get_affected_rows() == 0) {
    int n = 0;
    sql << "SELECT COUNT(*) FROM instances WHERE uuid = :u", soci::use(i.uuid), soci::into(n);
    if (n == 0) throw Abort{Error::not_found("instance " + i.uuid + " does not exist")};
  }
  write_instance_metadata(sql, i.uuid, i.metadata);
  // System metadata is the create's (description, tags, hostname) and afterwards written key by
  // key only (records.h).
  if (!insert) return;
  for (const auto& [k, v] : i.system_metadata) {
    sql << "INSERT INTO instance_system_metadata (instance_uuid, meta_key, meta_value) "
           "VALUES (:u, :k, :v)",
        soci::use(i.uuid), soci::use(k), soci::use(v);
  }
}

Instance one_instance(soci::session& sql, const std::string& uuid) {
  if (uuid.empty()) throw Abort{Error::not_found("instance uuid is empty")};
  auto rows = select_instances(sql, uuid, "", true);
  if (rows.empty()) throw Abort{Error::not_found("instance " + uuid + " does not exist")};
  return rows.front();
}

Instance locked_instance(soci::session& sql, const Dialect& dialect, const std::string& uuid) {
  if (!uuid.empty()) lock_row(sql, dialect, "instances", "uuid", uuid);
  return one_instance(sql, uuid);  // read after the lock: the latest committed row
}

Status Store::create_instance(const Instance& i) {
  return impl_->write([&](soci::session& sql) { write_instance(sql, i, true); },
                      "creating instance " + i.uuid);
}

Result<Instance> Store::get_instance(const std::string& uuid) {
  return impl_->read<Instance>([&](soci::session& sql) { return one_instance(sql, uuid); },
                               "reading instance " + uuid);
}

Result<std::vector<Instance>> Store::list_instances(const std::string& project_id,
                                                    bool include_deleted) {
  return impl_->read<std::vector<Instance>>(
      [&](soci::session& sql) { return select_instances(sql, "", project_id, include_deleted); },
      "listing instances");
}

Result<std::vector<Instance>> Store::list_host_instances(const std::string& host) {
  return impl_->read<std::vector<Instance>>(
      [&](soci::session& sql) { return select_instances(sql, "", "", false, host); },
      "listing the instances of host " + host);
}

Status Store::update_instance(const Instance& i) {
  return impl_->write([&](soci::session& sql) { write_instance(sql, i, false); },
                      "updating instance " + i.uuid);
}

// The setters below read, change one part and write back in one transaction, so that two
// writers of different parts (the agent's power state, the prober's readiness) never lose
// each other's change: the write transaction serializes them.
namespace {
Status modify(Store::Impl& impl, const std::string& uuid,
              const std::function<void(Instance&)>& change, const std::string& what) {
  return impl.write(
      [&](soci::session& sql) {
        Instance i = locked_instance(sql, impl.dialect, uuid);
        change(i);
        write_instance(sql, i, false);
      },
      what + " of instance " + uuid);
}
}  // namespace

Status Store::set_instance_status(const std::string& uuid, ServerStatus status,
                                  const std::string& vm_state,
                                  const std::optional<std::string>& task_state, PowerState power) {
  return modify(
      *impl_, uuid,
      [&](Instance& i) {
        i.status = status;
        i.vm_state = vm_state;
        i.task_state = task_state;
        i.power_state = power;
        if (status == ServerStatus::kActive && !i.launched_at) i.launched_at = now();
      },
      "setting status");
}

Status Store::set_instance_host(const std::string& uuid, const std::optional<std::string>& host) {
  return modify(
      *impl_, uuid, [&](Instance& i) { i.host = host; }, "setting host");
}

Status Store::set_instance_fault(const std::string& uuid, const InstanceFault& fault) {
  return modify(
      *impl_, uuid, [&](Instance& i) { i.fault = fault; }, "setting fault");
}

Status Store::set_instance_readiness(const std::string& uuid, Readiness r,
                                     const std::string& error) {
  return modify(
      *impl_, uuid,
      [&](Instance& i) {
        i.readiness = r;
        i.readiness_error = error;
        i.readiness_at = now();
      },
      "setting readiness");
}

Status Store::delete_instance(const std::string& uuid) {
  // One transaction: a crash cannot leave a DELETED instance that still holds GPUs.
  return impl_->write(
      [&](soci::session& sql) {
        Instance i = locked_instance(sql, impl_->dialect, uuid);
        i.status = ServerStatus::kDeleted;
        i.vm_state = "deleted";
        i.task_state.reset();
        i.power_state = PowerState::kNoState;
        if (!i.deleted_at) i.deleted_at = now();
        write_instance(sql, i, false);
        release_in_transaction(sql, impl_->dialect, uuid, true);
      },
      "deleting instance " + uuid);
}

}  // namespace gpucloud::store
