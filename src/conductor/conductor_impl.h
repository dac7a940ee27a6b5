// Private to src/conductor: the conductor's state and its task steps.
//
// A held task is in exactly one place: the run queue (a worker will run its next step), the
// waiting map (an agent call is out; the answer or the timeout re-queues it), or a worker's hands.
// Workers run steps until the task finishes or parks on an agent call; they never sleep on
// remote work. The ticker thread renews leases, adopts ownerless tasks, looks for agents'
// answers given to other replicas, refreshes the fleet view and prunes old agent tasks.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "compute/compute.h"
#include "conductor/conductor.h"
#include "conductor/fleet_view.h"

namespace gpucloud::conductor {

// An agent call a task waits for, with what the answer said once it came.
struct AgentWait {
  std::string task_id;
  std::chrono::steady_clock::time_point deadline;
};

struct Conductor::Impl {
  store::Store& store;
  compute::ComputeDriver* local;
  ConfigSource config;
  Options options;
  std::string replica;  // this process's owner id in lifecycle_tasks
  std::vector<std::string> local_hosts;
  FleetView fleet;

  mutable std::mutex mu;
  std::condition_variable work_cv;
  std::condition_variable tick_cv;
  bool stopping = false;
  bool started = false;
  std::deque<std::string> queue;                     // task ids ready for their next step
  std::map<std::string, store::LifecycleTask> held;  // every task this replica owns
  std::set<std::string> taking;                      // take() in progress
  std::map<std::string, AgentWait> waiting;          // agent task id -> the task waiting
  std::map<std::string, store::AgentTask> answers;   // agent task id -> its finished row
  std::map<std::string, std::chrono::steady_clock::time_point> delayed;  // retry_later()
  std::vector<std::thread> threads;

  std::atomic<long long> scheduling_attempts{0}, scheduling_failures{0}, claims_retried{0},
      tasks_resumed{0}, boots_undone{0}, fleet_reloads{0};

  Impl(store::Store& s, compute::ComputeDriver* l, ConfigSource c, Options o);

  // Threads.
  void worker();
  void ticker();
  void adopt(bool all);
  void take(const std::string& task_id);  // takes the lease and queues the task
  void poll_agents();

  // Runs steps of one task until it finishes, parks on an agent call or loses its lease.
  void run(store::LifecycleTask task);

  enum class Next { kContinue, kPark, kDone };
  Next step_boot(store::LifecycleTask& t);
  Next step_delete(store::LifecycleTask& t);
  Next step_power(store::LifecycleTask& t);
  Next step_shelve(store::LifecycleTask& t);
  Next step_rebuild(store::LifecycleTask& t);  // rebuild.cc
  // A rebuild that cannot go on: the server goes to ERROR with `message` as its fault.
  Next rebuild_failed(store::LifecycleTask& t, const std::string& message);
  // A shelve that cannot go on: the snapshot image goes, the server stays as it was.
  Next shelve_failed(store::LifecycleTask& t, const std::string& message);
  // Deletes the instance's shelve snapshot (image and system metadata); failures are logged.
  void forget_snapshot(const std::string& instance_uuid);
  Result<store::Image> boot_image(const store::LifecycleTask& t, const store::Instance& inst);

  // Boot helpers.
  Next schedule(store::LifecycleTask& t, const store::Instance& inst);
  Next activate(store::LifecycleTask& t, const std::string& ip);
  Next fail_boot(store::LifecycleTask& t, const std::string& message, int code);
  // The guest's destroy on its host: done at once (local host, host down), or an agent call
  // made (kPark).
  Next destroy_guest(store::LifecycleTask& t, const std::string& wait_step,
                     const std::string& next_step);

  // Agent calls: makes the call and parks the task, or, when the answer is in, takes it.
  bool is_local(const std::string& host) const;
  // Spawns on an in-process host as an agent would (compute::spawn_guest: the firewall and the
  // reserved addresses first).
  Status spawn_local(const std::string& host, const store::Instance& instance,
                     const store::Flavor& flavor, const store::Image& image,
                     const std::vector<store::PciDeviceRecord>& devices,
                     const std::optional<compute::Firewall>& firewall,
                     const std::vector<std::string>& reserved);
  bool agent_host_up(const std::string& host);
  Next call_agent(store::LifecycleTask& t, const std::string& kind, const std::string& payload);
  // The finished agent task the task waited for, if its answer came (removes it).
  std::optional<store::AgentTask> take_answer(const store::LifecycleTask& t);
  // The task stops waiting for its agent call (it moves on without the answer), and the call is
  // failed in the database so that no agent runs it late. false: the database could not be
  // told; the step runs again.
  bool forget_call(store::LifecycleTask& t);

  bool save(store::LifecycleTask& t);  // false: the task was dropped or put off
  void finish(const store::LifecycleTask& t);
  // The lease is lost (another replica took the task over): forget it here.
  void drop(const std::string& task_id);
  // The database failed for a moment: run the task's current step again a little later. The
  // task stays held (its lease renewed), so nobody else takes it meanwhile.
  Next retry_later(const store::LifecycleTask& t);
  // Drops on a lost lease (kConflict), else retries later.
  Next after_error(const store::LifecycleTask& t, const Error& e);

  // After a release that queued "clean" tasks: wakes the agent of the host, or, for an
  // in-process host, runs its pending "clean" tasks on the local driver and answers them as an
  // agent would. The ticker sweeps every local host with pending tasks, so a crash between
  // release and cleaning loses nothing.
  void start_cleaning(const std::string& host);
  void sweep_local_cleaning();
  bool local_requeued = false;  // the ticker's first sweep requeued what a crash left running
};

}  // namespace gpucloud::conductor
