// Claims from several processes and threads at once, and a process killed in the middle of a
// claim. The invariants are checked on the database itself, not on what the workers believe.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>

#include "test_db.h"

extern char** environ;

namespace gpucloud::store::testing {
namespace {

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child spawn_worker(const std::vector<std::string>& args) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::vector<std::string> all = {STORE_CLAIM_WORKER};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  EXPECT_EQ(posix_spawn(&c.pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  c.out = fdopen(fds[0], "r");
  return c;
}

std::vector<std::string> read_lines(FILE* f) {
  std::vector<std::string> lines;
  char buf[1024];
  while (std::fgets(buf, sizeof buf, f)) {
    std::string s(buf);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    lines.push_back(s);
  }
  return lines;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Devices each instance holds now, from pci_devices itself.
std::map<std::string, int> held(Store& s) {
  std::map<std::string, int> out;
  const auto rows = s.list_pci_devices({});  // kept alive: range-for over *temp dangles
  for (const auto& d : *rows) {
    if (d.instance_uuid) ++out[*d.instance_uuid];
  }
  return out;
}

// Both workers' output lines (a's, then b's), after each exited 0.
std::vector<std::string> finish_both(Child& a, Child& b) {
  auto lines = read_lines(a.out);
  auto more = read_lines(b.out);
  lines.insert(lines.end(), more.begin(), more.end());
  fclose(a.out);
  fclose(b.out);
  EXPECT_EQ(wait_exit(a.pid), 0);
  EXPECT_EQ(wait_exit(b.pid), 0);
  return lines;
}

TEST_P(StoreTest, TwoProcessesTimesEightThreadsNeverDoubleAllocateFromSixtyFourDevices) {
  add_gpu_host("pool", 64);
  Child a = spawn_worker({db().url(), "race", "8", "12", "A"});
  Child b = spawn_worker({db().url(), "race", "8", "12", "B"});
  auto lines = finish_both(a, b);

  std::map<std::string, int> asked;  // what each instance should hold now
  int oks = 0, fails = 0;
  for (const auto& line : lines) {
    std::istringstream in(line);
    std::string what, uuid;
    int n = 0;
    in >> what >> uuid >> n;
    ASSERT_NE(what, "error") << line;
    if (what == "ok") asked[uuid] = n, ++oks;
    if (what == "fail") asked[uuid] = 0, ++fails;
    if (what == "released") asked[uuid] = 0;
  }
  ASSERT_EQ(static_cast<int>(asked.size()), 2 * 8 * 12);
  EXPECT_GT(oks, 0);
  EXPECT_GT(fails, 0);  // the pool ran dry, so the races were real

  const auto holds = held(store());
  // 1. Each instance holds exactly what it asked for, or nothing.
  for (const auto& [uuid, n] : asked) {
    auto it = holds.find(uuid);
    EXPECT_EQ(it == holds.end() ? 0 : it->second, n) << uuid;
  }
  // 2. No device was ever claimed twice without a release in between (the transition log).
  std::map<int64_t, PciDeviceStatus> last;
  const auto events = store().list_pci_device_events("");
  ASSERT_TRUE(events.ok());
  for (const auto& e : *events) {
    if (e.to_status == PciDeviceStatus::kClaimed) {
      ASSERT_TRUE(last.count(e.device_id));
      EXPECT_EQ(last[e.device_id], PciDeviceStatus::kAvailable) << "device " << e.device_id;
    }
    last[e.device_id] = e.to_status;
  }
  // 3. Free + claimed == the pool, and host vCPUs match the holders.
  int free = 0, claimed = 0, held_total = 0;
  const auto devices = store().list_pci_devices({});
  for (const auto& d : *devices) {
    if (d.status == PciDeviceStatus::kAvailable) ++free;
    if (d.status == PciDeviceStatus::kClaimed) ++claimed;
  }
  for (const auto& [uuid, n] : holds) held_total += n;
  EXPECT_EQ(free + claimed, 64);
  EXPECT_EQ(claimed, held_total);
  int holders = 0;
  for (const auto& [uuid, n] : asked) holders += n > 0;
  EXPECT_EQ(store().get_compute_host("pool")->vcpus_used, holders);
}

// Two processes claim hosts for six members of one anti-affinity group, all trying the four hosts
// in the same order: whatever the interleaving, no host ends up with two members.
TEST_P(StoreTest, TwoProcessesNeverPutTwoAntiAffinityMembersOnOneHost) {
  for (const char* h : {"h1", "h2", "h3", "h4"}) add_gpu_host(h, 0);
  ServerGroup g;
  g.uuid = "spread";
  g.name = "spread";
  g.project_id = "p";
  g.user_id = "u";
  g.policy = "anti-affinity";
  ASSERT_TRUE(store().create_server_group(g).ok());
  for (int k = 0; k < 6; ++k) {
    Instance i;
    i.uuid = "m" + std::to_string(k);
    i.name = i.uuid;
    i.project_id = "p";
    LifecycleTask t;
    t.kind = "boot";
    t.step = "schedule";
    ASSERT_TRUE(store().create_instance_with_task(i, t, nullptr, "spread").ok());
  }
  Child a = spawn_worker({db().url(), "group", "spread", "h1,h2,h3,h4", "m0,m1,m2"});
  Child b = spawn_worker({db().url(), "group", "spread", "h1,h2,h3,h4", "m3,m4,m5"});
  auto lines = finish_both(a, b);
  int oks = 0, fails = 0;
  for (const auto& line : lines) {
    ASSERT_NE(line.rfind("error", 0), 0u) << line;
    oks += line.rfind("ok ", 0) == 0;
    fails += line.rfind("fail ", 0) == 0;
  }
  EXPECT_EQ(oks, 4);
  EXPECT_EQ(fails, 2);
  // From the database: one member per host, and the hosts' counters agree.
  const auto hosts = store().server_group_hosts("spread", "");
  ASSERT_TRUE(hosts.ok());
  EXPECT_EQ(*hosts, (std::map<std::string, int>{{"h1", 1}, {"h2", 1}, {"h3", 1}, {"h4", 1}}));
  for (const char* h : {"h1", "h2", "h3", "h4"}) {
    EXPECT_EQ(store().get_compute_host(h)->vcpus_used, 1) << h;
  }
}

// One process boots a server into each of 40 security groups while another deletes the groups:
// each group is either deleted (and its server was never made) or kept in use by its server.
// A server never ends up in a group that is gone (that would be a guest whose firewall names
// rules nobody can see or change).
TEST_P(StoreTest, TwoProcessesNeverLeaveAServerInADeletedSecurityGroup) {
  ASSERT_TRUE(store().set_project_quotas("p", "", {{"security_groups", -1}}).ok());
  std::string csv;
  for (int k = 0; k < 40; ++k) {
    SecurityGroup g;
    g.id = "sg-" + std::to_string(k);
    g.project_id = "p";
    g.name = g.id;
    ASSERT_TRUE(store().create_security_group(g).ok());
    csv += (csv.empty() ? "" : ",") + g.id;
  }
  Child a = spawn_worker({db().url(), "boot-into", csv});
  Child b = spawn_worker({db().url(), "delete-groups", csv});
  auto lines = finish_both(a, b);
  std::map<std::string, std::set<std::string>> outcome;
  for (const auto& line : lines) {
    ASSERT_NE(line.rfind("error", 0), 0u) << line;
    const size_t sp = line.find(' ');
    outcome[line.substr(sp + 1)].insert(line.substr(0, sp));
  }
  ASSERT_EQ(outcome.size(), 40u);
  int kept = 0;
  for (const auto& [g, seen] : outcome) {
    const bool booted = seen.count("ok") > 0;
    EXPECT_EQ(booted, seen.count("inuse") > 0) << g;
    EXPECT_EQ(!booted, seen.count("deleted") > 0 && seen.count("fail") > 0) << g;
    // The database agrees: a booted server is in its group, which still exists.
    if (booted) {
      ++kept;
      auto groups = store().instance_security_groups("vm-" + g);
      ASSERT_TRUE(groups.ok());
      ASSERT_EQ(groups->size(), 1u) << g;
      EXPECT_EQ(groups->front().id, g);
    } else {
      EXPECT_EQ(store().get_security_group(g).error().code, ErrorCode::kNotFound) << g;
    }
  }
  std::printf("security group race: %d of 40 groups kept by their server\n", kept);
}

TEST_P(StoreTest, ProcessKilledInTheMiddleOfAClaimLeavesNoHalfClaim) {
  add_gpu_host("pool", 64);
  Child c = spawn_worker({db().url(), "crash", "K"});
  std::set<std::string> done;
  std::string interrupted;
  char buf[256];
  while (std::fgets(buf, sizeof buf, c.out)) {
    std::istringstream in(buf);
    std::string what, uuid;
    in >> what >> uuid;
    if (what == "ok") done.insert(uuid);
    // Kill a claim that follows two finished ones when it has written everything (devices,
    // their log, requests, host resources, claim row) but not committed.
    if (what == "mid-claim" && done.size() >= 2) {
      interrupted = uuid;
      kill(c.pid, SIGKILL);
      break;
    }
  }
  fclose(c.out);
  EXPECT_TRUE(WIFSIGNALED(wait_exit(c.pid)));
  ASSERT_FALSE(interrupted.empty());
  ASSERT_EQ(done.count(interrupted), 0u);

  store_.reset();  // a fresh process's view: reopen
  auto s = open_store(db().url());
  ASSERT_TRUE(s.ok()) << s.error().message;
  const auto holds = held(**s);
  EXPECT_EQ(holds.count(interrupted), 0u) << "half-claim left behind by " << interrupted;
  for (const auto& uuid : done) EXPECT_EQ(holds.at(uuid), 4) << uuid;
  EXPECT_EQ(holds.size(), done.size());
  PciDeviceFilter f;
  f.status = PciDeviceStatus::kAvailable;
  EXPECT_EQ((*s)->list_pci_devices(f)->size(), 64u - 4 * done.size());
  EXPECT_EQ((*s)->get_compute_host("pool")->vcpus_used, static_cast<int>(done.size()));
  // And the pool is usable again at once: no lock is left behind.
  ClaimRequest again;
  again.instance_uuid = "after";
  again.host = "pool";
  DeviceRequest d;
  d.count = 4;
  again.devices.push_back(d);
  EXPECT_TRUE((*s)->claim(again).ok());
}

}  // namespace
}  // namespace gpucloud::store::testing
