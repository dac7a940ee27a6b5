// The conductor's threads: workers that run task steps, and one ticker that keeps leases, adopts
// tasks nobody holds, collects agents' answers, refreshes the fleet view and prunes old agent
// tasks. Every task lives in the database; this file only decides who runs which step when.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "conductor/conductor_impl.h"
#include "core/host_task_notifier.h"

namespace gpucloud::conductor {
namespace {

// host/pid/random: readable in the tasks table, and unique across restarts of one process id.
std::string new_replica_id() {
  char host[64] = {};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  char tag[9];
  std::snprintf(tag, sizeof tag, "%08x", rd());
  return std::string(host).substr(0, 40) + "/" + std::to_string(getpid()) + "/" + tag;
}

}  // namespace

Conductor::Impl::Impl(store::Store& s, compute::ComputeDriver* l, ConfigSource c, Options o)
    : store(s),
      local(l),
      config(std::move(c)),
      options(o),
      replica(new_replica_id()),
      local_hosts(local_host_names(l)),
      fleet(s, local_hosts, o.service_down_time) {}

Result<std::unique_ptr<Conductor>> Conductor::create(store::Store& store,
                                                     compute::ComputeDriver* local,
                                                     ConfigSource config, Options options) {
  if (!config) return Error::invalid("conductor: a configuration source is required");
  options.workers = std::max(1, options.workers);
  return std::unique_ptr<Conductor>(
      new Conductor(std::make_unique<Impl>(store, local, std::move(config), options)));
}

Conductor::Conductor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Conductor::~Conductor() { stop(); }

Status Conductor::start() {
  Impl& c = *impl_;
  {
    std::lock_guard lock(c.mu);
    if (c.started) return {};
  }
  if (auto s = c.fleet.load(); !s.ok()) return s;
  std::lock_guard lock(c.mu);
  c.started = true;
  c.stopping = false;
  for (int i = 0; i < c.options.workers; ++i) c.threads.emplace_back([&c] { c.worker(); });
  c.threads.emplace_back([&c] { c.ticker(); });
  spdlog::info("conductor {} started: {} hosts in the fleet view, {} workers", c.replica,
               c.fleet.size(), c.options.workers);
  return {};
}

void Conductor::stop() {
  Impl& c = *impl_;
  {
    std::lock_guard lock(c.mu);
    if (!c.started) return;
    c.stopping = true;
  }
  c.work_cv.notify_all();
  c.tick_cv.notify_all();
  for (auto& t : c.threads) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(c.mu);
  c.threads.clear();
  c.started = false;
  // Held tasks stay in the database with this replica's lease; another replica (or this one,
  // restarted) takes them over when it runs out.
}

bool Conductor::running() const {
  std::lock_guard lock(impl_->mu);
  return impl_->started && !impl_->stopping;
}

void Conductor::submit(const std::string& task_id) { impl_->take(task_id); }

void Conductor::agent_task_finished(const std::string& agent_task_id) {
  Impl& c = *impl_;
  std::lock_guard lock(c.mu);
  if (c.waiting.count(agent_task_id)) c.tick_cv.notify_all();
}

std::vector<store::PciDeviceCount> Conductor::device_counts(
    const std::vector<ProductId>& products) const {
  return impl_->fleet.device_counts(products);
}

Counters Conductor::counters() const {
  const Impl& c = *impl_;
  Counters out;
  out.scheduling_attempts = c.scheduling_attempts;
  out.scheduling_failures = c.scheduling_failures;
  out.claims_retried = c.claims_retried;
  out.tasks_resumed = c.tasks_resumed;
  out.boots_undone = c.boots_undone;
  out.fleet_hosts = static_cast<long long>(c.fleet.size());
  out.fleet_reloads = c.fleet_reloads;
  return out;
}

const std::string& Conductor::replica_id() const { return impl_->replica; }

// ---- threads ----

void Conductor::Impl::take(const std::string& task_id) {
  {
    // The API's submit() and the ticker's adoption may both reach for a new task: one try only,
    // or two workers would run its steps at once.
    std::lock_guard lock(mu);
    if (held.count(task_id) || taking.count(task_id) || stopping) return;
    taking.insert(task_id);
  }
  const auto now = std::chrono::system_clock::now();
  auto got = store.take_lifecycle_task(task_id, replica, now + options.lease, now);
  std::optional<store::LifecycleTask> task;
  if (!got.ok()) {
    spdlog::warn("conductor: taking task {}: {}", task_id, got.error().message);
  } else if (*got) {
    if (auto t = store.get_lifecycle_task(task_id); t.ok()) task = std::move(*t);
  }
  std::lock_guard lock(mu);
  taking.erase(task_id);
  if (!task) return;  // another replica holds it, or it finished meanwhile
  if (task->attempts > 1) {
    ++tasks_resumed;
    spdlog::info("conductor: resuming {} of {} at step {} (attempt {})", task->kind,
                 task->instance_uuid, task->step, task->attempts);
  }
  held[task_id] = *task;
  queue.push_back(task_id);
  work_cv.notify_one();
}

void Conductor::Impl::adopt(bool all) {
  const int batch = 256;
  for (;;) {
    auto tasks = store.list_takeable_tasks(std::chrono::system_clock::now(), batch);
    if (!tasks.ok()) {
      spdlog::warn("conductor: looking for tasks to adopt: {}", tasks.error().message);
      return;
    }
    for (const auto& t : *tasks) take(t.id);
    if (!all || static_cast<int>(tasks->size()) < batch) return;
  }
}

void Conductor::Impl::worker() {
  for (;;) {
    store::LifecycleTask task;
    {
      std::unique_lock lock(mu);
      work_cv.wait(lock, [this] { return stopping || !queue.empty(); });
      if (stopping) return;
      const std::string id = std::move(queue.front());
      queue.pop_front();
      auto it = held.find(id);
      if (it == held.end()) continue;
      task = it->second;
    }
    try {
      run(task);
    } catch (const std::exception& e) {
      // A bug, not an input: logged, and the step runs again a little later.
      spdlog::error("conductor: {} of {} at step {} threw: {}", task.kind, task.instance_uuid,
                    task.step, e.what());
      retry_later(task);
    }
  }
}

void Conductor::Impl::poll_agents() {
  std::vector<std::string> ids;
  std::vector<std::pair<std::string, std::string>> expired;  // agent task id, host
  {
    std::lock_guard lock(mu);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [id, w] : waiting) {
      ids.push_back(id);
      if (now >= w.deadline) {
        auto t = held.find(w.task_id);
        expired.emplace_back(id, t == held.end() ? "" : t->second.host.value_or(""));
      }
    }
  }
  if (ids.empty()) return;
  // Failing an unanswered call keeps a late agent from running it; if the agent answered in
  // between, its answer stands (finish_agent_task refuses a finished task).
  for (const auto& [id, host] : expired) {
    const std::string why =
        "the agent of host " + host + " did not answer within " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(options.agent_timeout).count()) +
        " s";
    (void)store.finish_agent_task(id, host, false, why, "{}");
  }
  auto done = store.finished_agent_tasks(ids);
  if (!done.ok()) {
    spdlog::warn("conductor: reading agents' answers: {}", done.error().message);
    return;
  }
  std::lock_guard lock(mu);
  for (auto& a : *done) {
    auto w = waiting.find(a.id);
    if (w == waiting.end()) continue;
    const std::string task_id = w->second.task_id;
    waiting.erase(w);
    if (!held.count(task_id)) continue;  // taken over by another replica meanwhile
    answers[a.id] = std::move(a);
    queue.push_back(task_id);
    work_cv.notify_one();
  }
}

void Conductor::Impl::ticker() {
  using clock = std::chrono::steady_clock;
  auto next_renew = clock::now() + options.lease / 3;
  auto next_adopt = clock::now();  // at once: tasks left by a replica that died, or by us
  auto next_scan = clock::now() + options.fleet_scan;
  auto next_prune = clock::now() + std::chrono::seconds(30);
  for (;;) {
    {
      std::unique_lock lock(mu);
      tick_cv.wait_for(lock, options.tick);
      if (stopping) return;
    }
    poll_agents();
    const auto now = clock::now();
    {
      std::lock_guard lock(mu);
      for (auto it = delayed.begin(); it != delayed.end();) {
        if (it->second > now) {
          ++it;
          continue;
        }
        queue.push_back(it->first);
        work_cv.notify_one();
        it = delayed.erase(it);
      }
    }
    if (now >= next_renew) {
      next_renew = now + options.lease / 3;
      if (auto s = store.renew_leases(replica, std::chrono::system_clock::now() + options.lease);
          !s.ok()) {
        spdlog::warn("conductor: renewing leases: {}", s.error().message);
      }
    }
    if (now >= next_adopt) {
      next_adopt = now + options.adopt_every;
      adopt(true);
      sweep_local_cleaning();
    }
    if (now >= next_scan) {
      next_scan = now + options.fleet_scan;
      auto n = fleet.refresh();
      if (!n.ok()) {
        spdlog::warn("conductor: refreshing the fleet view: {}", n.error().message);
      } else {
        fleet_reloads += *n;
      }
    }
    if (now >= next_prune) {
      next_prune = now + std::chrono::seconds(60);
      auto n = store.prune_agent_tasks(std::chrono::system_clock::now() - options.keep_agent_tasks);
      if (n.ok() && *n > 0) spdlog::info("conductor: pruned {} finished agent tasks", *n);
    }
  }
}

// ---- one task ----

void Conductor::Impl::run(store::LifecycleTask task) {
  for (;;) {
    Next next = Next::kDone;
    if (task.kind == "boot" || task.kind == "unshelve") {
      next = step_boot(task);
    } else if (task.kind == "shelve") {
      next = step_shelve(task);
    } else if (task.kind == "rebuild") {
      next = step_rebuild(task);
    } else if (task.kind == "delete") {
      next = step_delete(task);
    } else if (task.kind == "stop" || task.kind == "start" || task.kind == "reboot" ||
               task.kind == "reboot_hard") {
      next = step_power(task);
    } else {
      spdlog::error("conductor: task {} has unknown kind '{}'; dropped", task.id, task.kind);
    }
    if (next == Next::kPark) return;
    if (next == Next::kDone) return finish(task);
    if (!save(task)) return;
  }
}

bool Conductor::Impl::save(store::LifecycleTask& t) {
  if (auto s = store.save_lifecycle_task(t, replica); !s.ok()) {
    after_error(t, s.error());
    return false;
  }
  std::lock_guard lock(mu);
  if (auto it = held.find(t.id); it != held.end()) it->second = t;
  return true;
}

void Conductor::Impl::finish(const store::LifecycleTask& t) {
  if (auto s = store.finish_lifecycle_task(t.id, replica); !s.ok()) {
    // Run again, the step finds its work done (every step is idempotent) and finishes then.
    after_error(t, s.error());
    return;
  }
  drop(t.id);
}

void Conductor::Impl::drop(const std::string& task_id) {
  std::lock_guard lock(mu);
  held.erase(task_id);
  delayed.erase(task_id);
  for (auto it = waiting.begin(); it != waiting.end();) {
    it = it->second.task_id == task_id ? waiting.erase(it) : std::next(it);
  }
}

Conductor::Impl::Next Conductor::Impl::retry_later(const store::LifecycleTask& t) {
  std::lock_guard lock(mu);
  if (held.count(t.id)) delayed[t.id] = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  return Next::kPark;
}

Conductor::Impl::Next Conductor::Impl::after_error(const store::LifecycleTask& t, const Error& e) {
  if (e.code == ErrorCode::kConflict) {
    spdlog::info("conductor: {} of {}: {}; another replica has it", t.kind, t.instance_uuid,
                 e.message);
    drop(t.id);
    return Next::kPark;
  }
  spdlog::warn("conductor: {} of {} at step {}: {}; retrying", t.kind, t.instance_uuid, t.step,
               e.message);
  return retry_later(t);
}

// ---- agent calls ----

bool Conductor::Impl::is_local(const std::string& host) const {
  return std::binary_search(local_hosts.begin(), local_hosts.end(), host);
}

Status Conductor::Impl::spawn_local(const std::string& host, const store::Instance& instance,
                                    const store::Flavor& flavor, const store::Image& image,
                                    const std::vector<store::PciDeviceRecord>& devices,
                                    const std::optional<compute::Firewall>& firewall,
                                    const std::vector<std::string>& reserved) {
  compute::SpawnArgs args{instance, flavor, image, devices, firewall, reserved};
  args.instance.host = host;
  return compute::spawn_guest(*local, args);
}

bool Conductor::Impl::agent_host_up(const std::string& host) {
  auto h = store.get_compute_host(host);
  if (!h.ok()) return false;
  return host_up(*h, local_hosts, options.service_down_time);
}

Conductor::Impl::Next Conductor::Impl::call_agent(store::LifecycleTask& t, const std::string& kind,
                                                  const std::string& payload) {
  store::AgentTask call;
  call.host = t.host.value_or("");
  call.kind = kind;
  call.instance_uuid = t.instance_uuid;
  call.payload = payload;
  auto made = store.start_agent_call(t, replica, call);
  if (!made.ok()) return after_error(t, made.error());
  if (options.notifier) options.notifier->notify(call.host);
  t.agent_task_id = made->id;
  std::lock_guard lock(mu);
  if (auto it = held.find(t.id); it != held.end()) it->second = t;
  waiting[made->id] = {t.id, std::chrono::steady_clock::now() + options.agent_timeout};
  return Next::kPark;
}

void Conductor::Impl::start_cleaning(const std::string& host) {
  if (!local || !is_local(host)) {
    // The release queued a "clean" task for the host's agent: wake its long poll.
    if (options.notifier) options.notifier->notify(host);
    return;
  }
  auto tasks = store.take_agent_tasks(host, 64);
  if (!tasks.ok()) {
    spdlog::warn("conductor: cleaning on {}: {}", host, tasks.error().message);
    return;  // the sweep tries again
  }
  for (const auto& task : *tasks) {
    auto result = task.kind == "clean"
                      ? compute::run_clean(*local, task)
                      : Result<std::string>(
                            Error::invalid("no in-process runner for a '" + task.kind + "' task"));
    const bool ok = result.ok();
    if (!ok)
      spdlog::warn("conductor: {} task {} on {}: {}", task.kind, task.id, host,
                   result.error().message);
    if (auto s = store.finish_agent_task(task.id, host, ok, ok ? "" : result.error().message,
                                         ok ? *result : "{}");
        !s.ok()) {
      spdlog::warn("conductor: answering {} task {}: {}", task.kind, task.id, s.error().message);
    }
  }
  if (!tasks->empty()) fleet.forget(host);
}

void Conductor::Impl::sweep_local_cleaning() {
  if (!local) return;
  if (!local_requeued) {
    // Taken but never answered: this process died while cleaning. There is no agent to poll
    // again, so the first sweep puts them back.
    auto all = store.list_agent_tasks("");
    if (!all.ok()) return;
    std::set<std::string> hosts;
    for (const auto& t : *all) {
      if (t.state == store::AgentTaskState::kRunning && is_local(t.host)) hosts.insert(t.host);
    }
    for (const auto& h : hosts) (void)store.requeue_agent_tasks(h);
    local_requeued = true;
  }
  auto hosts = store.hosts_with_pending_agent_tasks();
  if (!hosts.ok()) return;
  for (const auto& h : *hosts) {
    if (is_local(h)) start_cleaning(h);
  }
}

std::optional<store::AgentTask> Conductor::Impl::take_answer(const store::LifecycleTask& t) {
  if (!t.agent_task_id) return std::nullopt;
  std::lock_guard lock(mu);
  auto it = answers.find(*t.agent_task_id);
  if (it != answers.end()) {
    store::AgentTask a = std::move(it->second);
    answers.erase(it);
    return a;
  }
  // Not answered yet (or resumed after a takeover): wait for it.
  if (!waiting.count(*t.agent_task_id)) {
    waiting[*t.agent_task_id] = {t.id, std::chrono::steady_clock::now() + options.agent_timeout};
  }
  tick_cv.notify_all();
  return std::nullopt;
}

bool Conductor::Impl::forget_call(store::LifecycleTask& t) {
  if (!t.agent_task_id) return true;
  // The call is failed in the database too: left pending (or running, requeued when its agent
  // comes back from a kill -9) an agent would still run it, e.g. spawn a guest for a server
  // already deleted, after its GPUs went to cleaning. An agent that already runs it gets a 409
  // for its answer; the destroy that follows comes after it in the agent's queue.
  if (auto s = store.finish_agent_task(
          *t.agent_task_id, t.host.value_or(""), false,
          "cancelled: the server's " + t.kind + " no longer waits for this call", "{}");
      !s.ok() && s.error().code != ErrorCode::kConflict && s.error().code != ErrorCode::kNotFound) {
    spdlog::warn("conductor: cancelling agent task {}: {}", *t.agent_task_id, s.error().message);
    return false;  // the caller's step runs again
  }
  std::lock_guard lock(mu);
  waiting.erase(*t.agent_task_id);
  answers.erase(*t.agent_task_id);
  t.agent_task_id.reset();
  return true;
}

}  // namespace gpucloud::conductor
