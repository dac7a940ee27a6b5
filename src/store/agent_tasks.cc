// The agents' work queue (agent_tasks) and their last reports (agent_reports). The queue lives in
// the database, not in a server's memory, so that a task survives a server restart and several
// servers sharing one database hand each task to its agent exactly once.
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "store/store_impl.h"

namespace gpucloud::store {
namespace {

Result<AgentTaskState> parse_state(const std::string& s) {
  for (auto st : {AgentTaskState::kPending, AgentTaskState::kRunning, AgentTaskState::kSucceeded,
                  AgentTaskState::kFailed}) {
    if (s == to_string(st)) return st;
  }
  return Error::invalid("agent_tasks.state: unknown value '" + s + "'");
}

struct TaskRow {
  AgentTask t;
  std::string state, payload, message, result, created, taken, finished;
  soci::indicator i_payload{}, i_message{}, i_result{}, i_taken{}, i_finished{};
  void bind(soci::statement& st) {
    st.exchange(soci::into(t.id));
    st.exchange(soci::into(t.host));
    st.exchange(soci::into(t.kind));
    st.exchange(soci::into(t.instance_uuid));
    st.exchange(soci::into(payload, i_payload));
    st.exchange(soci::into(state));
    st.exchange(soci::into(message, i_message));
    st.exchange(soci::into(result, i_result));
    st.exchange(soci::into(created));
    st.exchange(soci::into(taken, i_taken));
    st.exchange(soci::into(finished, i_finished));
  }
  AgentTask get() const {
    AgentTask out = t;
    auto s = parse_state(state);
    out.state = s.ok() ? *s : AgentTaskState::kFailed;
    out.payload = i_payload == soci::i_null ? "{}" : payload;
    out.message = i_message == soci::i_null ? "" : message;
    out.result = i_result == soci::i_null ? "{}" : result;
    out.created_at = parse_time(created);
    if (i_taken != soci::i_null) out.taken_at = parse_time(taken);
    if (i_finished != soci::i_null) out.finished_at = parse_time(finished);
    return out;
  }
};

constexpr const char* kTaskColumns =
    "SELECT id, host, kind, instance_uuid, payload, state, message, result, created_at, "
    "taken_at, finished_at FROM agent_tasks ";

// `where` binds :a and :b (both the same text) so that one shape serves every lookup.
std::vector<AgentTask> select_tasks(soci::session& sql, const std::string& where,
                                    const std::string& a) {
  TaskRow row;
  soci::statement st(sql);
  st.alloc();
  st.prepare(std::string(kTaskColumns) + where + " ORDER BY created_at, id");
  row.bind(st);
  st.exchange(soci::use(a, "a"));
  st.exchange(soci::use(a, "b"));
  st.define_and_bind();
  st.execute();
  std::vector<AgentTask> out;
  while (st.fetch()) out.push_back(row.get());
  return out;
}

AgentTask one_task(soci::session& sql, const std::string& id) {
  auto tasks = select_tasks(sql, "WHERE id = :a AND id = :b", id);
  if (tasks.empty()) throw Abort{Error::not_found("agent task " + id + " not found")};
  return tasks.front();
}

// Where a "clean" task's devices go once the agent answered (or the task failed as a whole):
// `available` when the agent says the device is clean and it is not one_time_use, otherwise
// `unavailable` with the reason. Only devices still in `cleaning` move.
void finish_cleaning(soci::session& sql, const AgentTask& t, bool succeeded,
                     const std::string& message, const std::string& result_json) {
  using nlohmann::json;
  const json payload = json::parse(t.payload, nullptr, false);
  const json result = json::parse(result_json, nullptr, false);
  std::map<long long, std::pair<bool, std::string>> said;  // device id -> clean, reason
  if (succeeded && result.is_object() && result.contains("devices") &&
      result["devices"].is_array()) {
    for (const auto& d : result["devices"]) {
      if (!d.is_object() || !d.contains("id") || !d["id"].is_number_integer()) continue;
      const bool clean = d.contains("clean") && d["clean"].is_boolean() && d["clean"].get<bool>();
      const std::string reason = d.contains("reason") && d["reason"].is_string()
                                     ? d["reason"].get<std::string>()
                                     : std::string();
      said[d["id"].get<long long>()] = {clean, reason};
    }
  }
  if (!payload.is_object() || !payload.contains("devices") || !payload["devices"].is_array())
    return;
  const std::string ts = format_time(now());
  std::set<long long> nodes;
  for (const auto& d : payload["devices"]) {
    if (!d.is_object() || !d.contains("id") || !d["id"].is_number_integer()) continue;
    long long id = d["id"].get<long long>();
    Binder b;
    auto rows = select_pci_devices(
        sql, " WHERE id = " + b.number(id) + " AND status = 'cleaning' AND deleted = 0", b);
    if (rows.empty()) continue;  // made available by an admin, or removed meanwhile
    const PciDeviceRecord& dev = rows.front();
    std::string reason;
    auto it = said.find(id);
    if (!succeeded) {
      reason = "cleaning failed: " + (message.empty() ? std::string("no reason given") : message);
    } else if (it == said.end()) {
      reason = "cleaning failed: the agent's answer does not name this device";
    } else if (!it->second.first) {
      reason = "cleaning failed: " + it->second.second;
    } else {
      const json extra = json::parse(dev.extra_info, nullptr, false);
      if (extra.is_object() && extra.contains("one_time_use") &&
          (extra["one_time_use"] == true || extra["one_time_use"] == "true" ||
           extra["one_time_use"] == "True")) {
        reason = "one_time_use: used once (by instance " + t.instance_uuid +
                 "); an admin makes it available again";
      }
    }
    const PciDeviceStatus to =
        reason.empty() ? PciDeviceStatus::kAvailable : PciDeviceStatus::kUnavailable;
    const std::string to_text = to_string(to);
    soci::statement st = (sql.prepare << "UPDATE pci_devices SET status = :s, updated_at = :t "
                                         "WHERE id = :id AND status = 'cleaning' AND deleted = 0",
                          soci::use(to_text), soci::use(ts), soci::use(id));
    st.execute(true);
    if (st.get_affected_rows() != 1) continue;
    log_pci_event(sql, dev, PciDeviceStatus::kCleaning, to, ts);
    sql << "DELETE FROM pci_device_reasons WHERE device_id = :id", soci::use(id);
    if (!reason.empty()) {
      if (reason.size() > 2000) reason.resize(2000);
      sql << "INSERT INTO pci_device_reasons (device_id, reason, updated_at) VALUES (:id, :r, :t)",
          soci::use(id), soci::use(reason), soci::use(ts);
    }
    nodes.insert(dev.compute_node_id);
  }
  // The conductors' fleet views see the freed devices by the host's generation.
  for (long long node : nodes) {
    sql << "UPDATE compute_hosts SET generation = generation + 1 WHERE id = :n", soci::use(node);
  }
}

}  // namespace

const char* to_string(AgentTaskState s) {
  switch (s) {
    case AgentTaskState::kPending:
      return "pending";
    case AgentTaskState::kRunning:
      return "running";
    case AgentTaskState::kSucceeded:
      return "succeeded";
    case AgentTaskState::kFailed:
      return "failed";
  }
  return "failed";
}

Result<AgentTask> Store::create_agent_task(const AgentTask& t) {
  if (t.host.empty() || t.kind.empty()) {
    return Error::invalid("agent task: host and kind are required");
  }
  return impl_->write_result<AgentTask>(
      [&](soci::session& sql) {
        const std::string id = t.id.empty() ? generate_uuid() : t.id, ts = format_time(now());
        const std::string state = to_string(AgentTaskState::kPending);
        sql << "INSERT INTO agent_tasks (id, host, kind, instance_uuid, payload, state, message, "
               "result, created_at) VALUES (:i, :h, :k, :u, :p, :s, '', '{}', :c)",
            soci::use(id), soci::use(t.host), soci::use(t.kind), soci::use(t.instance_uuid),
            soci::use(t.payload), soci::use(state), soci::use(ts);
        return one_task(sql, id);
      },
      "creating an agent task for host '" + t.host + "'");
}

Result<AgentTask> Store::get_agent_task(const std::string& id) {
  return impl_->read<AgentTask>([&](soci::session& sql) { return one_task(sql, id); },
                                "reading agent task " + id);
}

Result<std::vector<AgentTask>> Store::take_agent_tasks(const std::string& host, int max) {
  return impl_->write_result<std::vector<AgentTask>>(
      [&](soci::session& sql) {
        auto pending =
            select_tasks(sql, "WHERE host = :a AND host = :b AND state = 'pending'", host);
        std::vector<AgentTask> out;
        const std::string ts = format_time(now());
        for (auto& t : pending) {
          if (static_cast<int>(out.size()) >= max) break;
          // Conditional on still pending: on MariaDB another server's transaction may have
          // taken it between our SELECT and this UPDATE.
          soci::statement st =
              (sql.prepare << "UPDATE agent_tasks SET state = 'running', taken_at = :t "
                              "WHERE id = :i AND state = 'pending'",
               soci::use(ts), soci::use(t.id));
          st.execute(true);
          if (st.get_affected_rows() != 1) continue;
          t.state = AgentTaskState::kRunning;
          t.taken_at = parse_time(ts);
          out.push_back(std::move(t));
        }
        return out;
      },
      "taking agent tasks of host '" + host + "'");
}

Result<int> Store::requeue_agent_tasks(const std::string& host) {
  return impl_->write_result<int>(
      [&](soci::session& sql) {
        soci::statement st =
            (sql.prepare << "UPDATE agent_tasks SET state = 'pending', taken_at = NULL "
                            "WHERE host = :h AND state = 'running'",
             soci::use(host));
        st.execute(true);
        return static_cast<int>(st.get_affected_rows());
      },
      "requeueing agent tasks of host '" + host + "'");
}

Status Store::finish_agent_task(const std::string& id, const std::string& host, bool succeeded,
                                const std::string& message, const std::string& result_json) {
  return impl_->write(
      [&](soci::session& sql) {
        // Locked before it is read: the 409 below tells the agent whether to destroy the guest
        // of a spawn the server failed meanwhile (a DELETE, the agent timeout). Read without the
        // lock on MariaDB, a failure committed between this read and the UPDATE gave a 409 that
        // did not say "failed", and the guest of a deleted server kept running with its GPUs.
        lock_row(sql, impl_->dialect, "agent_tasks", "id", id);
        AgentTask t = one_task(sql, id);
        if (t.host != host) {
          throw Abort{Error::not_found("agent task " + id + " not found on host " + host)};
        }
        if (t.state == AgentTaskState::kSucceeded || t.state == AgentTaskState::kFailed) {
          // The agent reads "already finished (failed" as: undo the spawn (agent_loop.cc).
          throw Abort{Error::conflict("agent task " + id + " already finished (" +
                                      to_string(t.state) + ": " + t.message + ")")};
        }
        const std::string state =
            to_string(succeeded ? AgentTaskState::kSucceeded : AgentTaskState::kFailed);
        const std::string ts = format_time(now());
        soci::statement st =
            (sql.prepare << "UPDATE agent_tasks SET state = :s, message = :m, result = :r, "
                            "finished_at = :f WHERE id = :i AND state IN ('pending', 'running')",
             soci::use(state), soci::use(message), soci::use(result_json), soci::use(ts),
             soci::use(id));
        st.execute(true);
        if (st.get_affected_rows() != 1) {
          throw Abort{Error::conflict("agent task " + id + " already finished")};
        }
        if (t.kind == "clean") finish_cleaning(sql, t, succeeded, message, result_json);
      },
      "finishing agent task " + id);
}

Result<std::vector<AgentTask>> Store::list_agent_tasks(const std::string& host) {
  return impl_->read<std::vector<AgentTask>>(
      [&](soci::session& sql) { return select_tasks(sql, "WHERE (:a = '' OR host = :b)", host); },
      "listing agent tasks");
}

Result<std::vector<std::string>> Store::hosts_with_pending_agent_tasks() {
  return impl_->read<std::vector<std::string>>(
      [&](soci::session& sql) {
        std::vector<std::string> out;
        soci::rowset<std::string> rows =
            (sql.prepare << "SELECT DISTINCT host FROM agent_tasks WHERE state = 'pending'");
        for (const auto& h : rows) out.push_back(h);
        return out;
      },
      "listing hosts with pending agent tasks");
}

Status Store::put_agent_report(const AgentReport& r) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string ts = format_time(r.reported_at == TimePoint{} ? now() : r.reported_at);
        sql << "DELETE FROM agent_reports WHERE host = :h AND kind = :k", soci::use(r.host),
            soci::use(r.kind);
        sql << "INSERT INTO agent_reports (host, kind, report, reported_at) "
               "VALUES (:h, :k, :r, :t)",
            soci::use(r.host), soci::use(r.kind), soci::use(r.report), soci::use(ts);
      },
      "storing the " + r.kind + " report of host '" + r.host + "'");
}

Result<std::vector<AgentReport>> Store::list_agent_reports(const std::string& host) {
  return impl_->read<std::vector<AgentReport>>(
      [&](soci::session& sql) {
        AgentReport r;
        std::string ts, report;
        soci::indicator i_report{};
        soci::statement st =
            (sql.prepare << "SELECT host, kind, report, reported_at FROM agent_reports "
                            "WHERE (:a = '' OR host = :b) ORDER BY host, kind",
             soci::into(r.host), soci::into(r.kind), soci::into(report, i_report), soci::into(ts),
             soci::use(host, "a"), soci::use(host, "b"));
        st.execute();
        std::vector<AgentReport> out;
        while (st.fetch()) {
          AgentReport x = r;
          x.report = i_report == soci::i_null ? "{}" : report;
          x.reported_at = parse_time(ts);
          out.push_back(std::move(x));
        }
        return out;
      },
      "listing agent reports");
}

Result<std::vector<AgentTask>> Store::finished_agent_tasks(const std::vector<std::string>& ids) {
  return impl_->read<std::vector<AgentTask>>(
      [&](soci::session& sql) {
        std::vector<AgentTask> out;
        // IN lists of bounded length: thousands of boots may wait on agents at once.
        constexpr size_t kChunk = 200;
        for (size_t at = 0; at < ids.size(); at += kChunk) {
          Binder b;
          std::string in;
          for (size_t k = at; k < std::min(ids.size(), at + kChunk); ++k) {
            in += (in.empty() ? "" : ", ") + b.text(ids[k]);
          }
          TaskRow row;
          soci::statement st(sql);
          st.alloc();
          st.prepare(std::string(kTaskColumns) + "WHERE id IN (" + in +
                     ") AND state IN ('succeeded', 'failed')");
          b.bind(st);
          row.bind(st);
          st.define_and_bind();
          st.execute();
          while (st.fetch()) out.push_back(row.get());
        }
        return out;
      },
      "reading finished agent tasks");
}

Result<int> Store::prune_agent_tasks(TimePoint before) {
  return impl_->write_result<int>(
      [&](soci::session& sql) {
        const std::string ts = format_time(before);
        soci::statement st = (sql.prepare << "DELETE FROM agent_tasks WHERE finished_at < :t "
                                             "AND state IN ('succeeded', 'failed')",
                              soci::use(ts));
        st.execute(true);
        return static_cast<int>(st.get_affected_rows());
      },
      "pruning finished agent tasks");
}

}  // namespace gpucloud::store
