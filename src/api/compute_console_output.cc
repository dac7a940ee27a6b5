// nova's os-getConsoleOutput (`openstack console log show`): the guest's serial console log,
// which tells an operator why a GPU guest does not come up. An in-process host's driver reads it
// at once. An agent's host is asked with a "console_output" agent task, and the request waits
// for the answer without holding a thread: it is parked as a long poll on the task. The agent's
// answer wakes it at once on this replica; an answer given to another replica is found by the
// long polls' once-a-second re-check (router.cc).
#include <fmt/format.h>

#include "api/compute_impl.h"
#include "compute/compute.h"
#include "core/host_task_notifier.h"

namespace gpucloud::api {
namespace {

// nova's schema: an integer, a string of digits, or null; -1 (and null) mean the whole log.
Result<std::optional<int64_t>> parse_length(const json& args) {
  if (!args.is_object()) {
    return bad_request("Invalid input for field/attribute os-getConsoleOutput. " + args.dump() +
                       " is not of type 'object'");
  }
  if (auto s = no_extra_fields(args, "os-getConsoleOutput", {"length"}); !s.ok()) {
    return s.error();
  }
  if (!args.contains("length") || args["length"].is_null()) return std::optional<int64_t>();
  const json& v = args["length"];
  int64_t n = 0;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
  } else if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>().size() < 12 &&
             v.get<std::string>().find_first_not_of("-0123456789") == std::string::npos &&
             v.get<std::string>().find('-', 1) == std::string::npos) {
    n = std::stoll(v.get<std::string>());
  } else {
    return bad_request("Invalid input for field/attribute length. Value: " + v.dump() + ". " +
                       v.dump() + " is not of type 'integer', 'string', 'null'");
  }
  if (n < -1) {
    return bad_request("Invalid input for field/attribute length. Value: " + v.dump() + ". " +
                       std::to_string(n) + " is less than the minimum of -1");
  }
  if (n == -1) return std::optional<int64_t>();
  return std::optional<int64_t>(n);
}

Reply output_reply(std::string_view text, std::optional<int64_t> lines) {
  return Reply::ok({{"output", compute::console_text(text, lines)}});
}

Error not_available(const std::string& why) {
  return Error::not_found("Guest does not have a console available. " + why);
}

// The agent's answer to a console_output task.
Result<Reply> answer_of(const store::AgentTask& t, std::optional<int64_t> lines) {
  if (t.state == store::AgentTaskState::kFailed) {
    return Error::conflict("The host " + t.host + " could not read the console log: " + t.message);
  }
  json d = json::parse(t.result, nullptr, false);
  if (d.is_object() && d.contains("output") && d["output"].is_string()) {
    return output_reply(d["output"].get<std::string>(), lines);
  }
  if (d.is_object() && d.contains("error") && d["error"].is_object()) {
    const std::string message = d["error"].value("message", "");
    if (d["error"].value("code", "") == "not found") return not_available(message);
    return Error::conflict("The host " + t.host + " could not read the console log: " + message);
  }
  return Error::conflict("The host " + t.host + " answered without a console log.");
}

LongPollWait wait_for_answer(ApiContext& ctx, const store::AgentTask& task,
                             std::optional<int64_t> lines,
                             std::chrono::steady_clock::time_point deadline) {
  LongPollWait w;
  w.host = std::string(kAgentTaskWaitKey) + task.id;
  w.deadline = deadline;
  w.again = [&ctx, task, lines, deadline](bool final) -> Result<Reply> {
    auto t = ctx.store().get_agent_task(task.id);
    if (!t.ok()) return t.error();
    if (t->state == store::AgentTaskState::kSucceeded ||
        t->state == store::AgentTaskState::kFailed) {
      return answer_of(*t, lines);
    }
    if (!final) return Reply::wait_for(wait_for_answer(ctx, task, lines, deadline));
    // Nobody waits any longer: the agent need not read the log (kConflict when it just did).
    (void)ctx.store().finish_agent_task(task.id, task.host, false,
                                        "the API stopped waiting for the console log", "{}");
    return Error::conflict(fmt::format(
        "The host {} did not answer in time (it runs one task at a time and may be busy with "
        "another); try again.",
        task.host));
  };
  return w;
}

}  // namespace

Result<Reply> console_output_action(ApiContext& ctx, const store::Instance& i, const json& args) {
  auto lines = parse_length(args);
  if (!lines.ok()) return lines.error();
  if (!i.host || i.status == store::ServerStatus::kBuild) {
    return Error::conflict("Instance " + i.uuid + " is not ready");
  }
  const std::string host = *i.host;
  if (ctx.in_process_host(host)) {
    auto raw = ctx.deps.driver->console_output(host, i.uuid);
    if (!raw.ok()) {
      if (raw.error().code == ErrorCode::kNotFound) return not_available(raw.error().message);
      return raw.error();
    }
    return output_reply(*raw, *lines);
  }
  store::AgentTask t;
  t.host = host;
  t.kind = "console_output";
  t.instance_uuid = i.uuid;
  auto created = ctx.store().create_agent_task(t);
  if (!created.ok()) return created.error();
  if (ctx.deps.task_notifier) ctx.deps.task_notifier->notify(host);  // the agent's long poll
  return Reply::wait_for(wait_for_answer(
      ctx, *created, *lines, std::chrono::steady_clock::now() + ctx.options.agent_answer_timeout));
}

}  // namespace gpucloud::api
