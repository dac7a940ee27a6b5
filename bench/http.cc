// bench/http: requests/s, p50 and p99 of GET /compute/v2.1/flavors while 0, then 1,000 idle
// keep-alive connections, then also 1,000 long-polling agents are open, in one run, for
//   - gpucloud's server (Boost.Beast, event-driven; api::ApiServer), and
//   - the peer: the server it replaced, cpp-httplib with 8 threads (thread per connection),
//     serving the same flavors handler and the old long poll (a loop on the database),
// each in a child process of its own so that its CPU time per request can be read from
// /proc/<pid>/stat. Not part of the test suite; docs/http.md has the figures.
//   bench_http [--seconds S] [--idle N] [--agents N] [--clients C]
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../tests/unit/api/raw_http.h"
#include "api/api.h"
#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/router_impl.h"

using namespace gpucloud;
using api::testing::connect_to;
using api::testing::send_all;
using nlohmann::json;

namespace {

constexpr int kAgentHosts = 10;

void die(const std::string& what) {
  std::fprintf(stderr, "bench_http: %s\n", what.c_str());
  std::exit(1);
}

// ---- the peer: today's server before this change, for the two routes the bench uses ----

// The old long poll: a request holds a thread and polls the database every 100 ms.
api::Reply old_take_tasks(store::Store& st, const std::string& host, int wait) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait);
  for (;;) {
    auto tasks = st.take_agent_tasks(host, 10);
    if ((tasks.ok() && !tasks->empty()) || std::chrono::steady_clock::now() >= deadline) {
      return api::Reply::ok({{"tasks", json::array()}});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void run_peer(store::Store& st, int port_pipe) {
  api::ApiContext ctx;
  ctx.deps.store = &st;
  ctx.deps.nova_config = std::make_shared<config::NovaConfig>();
  ctx.base_url = "http://127.0.0.1";
  api::Handler flavors;
  for (auto& r : api::compute_flavor_routes(ctx)) {
    if (r.method == "GET" && r.pattern == "/compute/v2.1/flavors") flavors = r.handler;
  }
  httplib::Server http;
  http.new_task_queue = [] { return new httplib::ThreadPool(8); };
  auto convert = [](const httplib::Request& req) {
    api::HttpRequest out;
    out.method = req.method;
    out.path = req.path;
    for (const auto& [k, v] : req.headers) out.headers.emplace_back(k, v);
    for (const auto& [k, v] : req.params) out.params.emplace(k, v);
    return out;
  };
  http.Get("/identity/v3", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"version\": {}}", "application/json");
  });
  http.Get("/compute/v2.1/flavors", [&](const httplib::Request& req, httplib::Response& res) {
    api::HttpRequest r = convert(req);
    api::Call call{r, {}, std::nullopt, {}};
    auto caller = api::validate_token(st, r.header("X-Auth-Token"));
    if (!caller.ok()) {
      res.status = 401;
      return;
    }
    call.caller = *caller;
    auto reply = flavors(call);
    res.status = reply.ok() ? reply->status : 500;
    if (reply.ok()) res.set_content(reply->body.dump(), "application/json");
  });
  http.Get(R"(/gpucloud/v1/agent/hosts/([^/]+)/tasks)", [&](const httplib::Request& req,
                                                            httplib::Response& res) {
    auto caller = api::validate_token(st, req.get_header_value("X-Auth-Token"));
    if (!caller.ok()) {
      res.status = 401;
      return;
    }
    auto reply = old_take_tasks(st, req.matches[1], std::atoi(req.get_param_value("wait").c_str()));
    res.set_content(reply.body.dump(), "application/json");
  });
  const int port = http.bind_to_any_port("127.0.0.1");
  if (write(port_pipe, &port, sizeof port) != sizeof port) std::exit(1);
  http.listen_after_bind();
}

void run_gpucloud(store::Store& st, const std::string& dir, int port_pipe) {
  api::ServerDeps deps;
  deps.store = &st;
  deps.nova_config = std::make_shared<config::NovaConfig>();
  api::ServerOptions options;
  options.data_dir = dir;
  options.max_connections_per_address = 10000;
  options.access_log_file = dir + "/access.log";
  auto server = api::ApiServer::create(deps, options);
  if (!server.ok() || !(*server)->start().ok()) die("gpucloud server start");
  const int port = (*server)->port();
  if (write(port_pipe, &port, sizeof port) != sizeof port) std::exit(1);
  for (;;) pause();
}

struct Child {
  pid_t pid = -1;
  int port = 0;
};

Child start(const std::string& kind, const std::string& dir) {
  int fds[2];
  if (pipe(fds) != 0) die("pipe");
  std::fflush(stdout);  // else the child prints the parent's buffered lines again
  const pid_t pid = fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a bench that dies leaves no server behind
    ::close(fds[0]);
    auto st = store::open_store("sqlite:///" + dir + "/db.sqlite");
    if (!st.ok()) die(st.error().message);
    if (kind == "peer") run_peer(**st, fds[1]);
    run_gpucloud(**st, dir, fds[1]);
    std::exit(0);
  }
  ::close(fds[1]);
  Child c;
  c.pid = pid;
  if (read(fds[0], &c.port, sizeof c.port) != sizeof c.port) die(kind + " did not start");
  ::close(fds[0]);
  return c;
}

// The child's CPU time (user + system) in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  std::vector<std::string> f;
  while (rest >> field) f.push_back(field);
  // After "pid (comm)": state is field 3; utime 14, stime 15 (1-based) -> 11, 12 here.
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Figures {
  size_t answered = 0, failed = 0;
  double rps = 0, p50_ms = 0, p99_ms = 0, cpu_ms_per_request = 0;
};

Figures measure(const Child& child, const std::string& token, int seconds, int clients) {
  std::vector<std::vector<double>> lat(clients);
  std::atomic<size_t> failed{0};
  const double cpu0 = cpu_seconds(child.pid);
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client http("127.0.0.1", child.port);
      http.set_keep_alive(true);
      http.set_read_timeout(5);
      http.set_connection_timeout(5);
      while (std::chrono::steady_clock::now() < end) {
        const auto s = std::chrono::steady_clock::now();
        auto r = http.Get("/compute/v2.1/flavors", {{"X-Auth-Token", token}});
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
        if (r && r->status == 200) {
          lat[c].push_back(ms);
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds(child.pid) - cpu0;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Figures f;
  f.answered = all.size();
  f.failed = failed;
  f.rps = static_cast<double>(all.size()) / secs;
  if (!all.empty()) {
    f.p50_ms = all[all.size() / 2];
    f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    f.cpu_ms_per_request = cpu * 1000.0 / static_cast<double>(all.size());
  }
  return f;
}

// Opens n connections and sends `request` on each; reads what answers arrive within `wait`.
std::vector<int> open_many(int port, int n, const std::function<std::string(int)>& request,
                           std::chrono::seconds wait) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    const int fd = connect_to(port);
    if (fd < 0) die("connect " + std::to_string(i) + ": " + std::strerror(errno));
    if (const std::string text = request(i); !text.empty()) send_all(fd, text);
    fds.push_back(fd);
  }
  const auto end = std::chrono::steady_clock::now() + wait;
  std::vector<bool> done(fds.size(), false);
  size_t left = fds.size();
  while (left > 0 && std::chrono::steady_clock::now() < end) {
    std::vector<pollfd> p;
    std::vector<size_t> idx;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!done[i]) {
        p.push_back({fds[i], POLLIN, 0});
        idx.push_back(i);
      }
    }
    if (::poll(p.data(), p.size(), 100) <= 0) continue;
    for (size_t k = 0; k < p.size(); ++k) {
      if (!(p[k].revents & POLLIN)) continue;
      char buf[4096];
      (void)::recv(p[k].fd, buf, sizeof buf, MSG_DONTWAIT);
      done[idx[k]] = true;
      --left;
    }
  }
  return fds;
}

std::string login(int port, const std::string& user, const std::string& password,
                  const std::string& project) {
  httplib::Client http("127.0.0.1", port);
  json auth = {
      {"auth",
       {{"identity",
         {{"methods", {"password"}},
          {"password",
           {{"user", {{"name", user}, {"domain", {{"id", "default"}}}, {"password", password}}}}}}},
        {"scope", {{"project", {{"name", project}, {"domain", {{"id", "default"}}}}}}}}}};
  auto r = http.Post("/identity/v3/auth/tokens", auth.dump(), "application/json");
  if (!r || r->status != 201) die("login " + user);
  return r->get_header_value("X-Subject-Token");
}

void print(const char* server, const char* phase, const Figures& f) {
  std::printf("%-9s %-26s %9.0f %9.2f %9.2f %10.3f %9zu %7zu\n", server, phase, f.rps, f.p50_ms,
              f.p99_ms, f.cpu_ms_per_request, f.answered, f.failed);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 5, idle = 1000, agents = 1000, clients = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seconds") seconds = std::atoi(argv[i + 1]);
    if (a == "--idle") idle = std::atoi(argv[i + 1]);
    if (a == "--agents") agents = std::atoi(argv[i + 1]);
    if (a == "--clients") clients = std::atoi(argv[i + 1]);
  }
  signal(SIGPIPE, SIG_IGN);
  const auto dir = std::filesystem::temp_directory_path() / "gpucloud-bench-http";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    // The database both servers use: users, the seed's flavors, the agents' hosts.
    auto st = store::open_store("sqlite:///" + (dir / "db.sqlite").string());
    if (!st.ok()) die(st.error().message);
    if (!api::bootstrap_identity(**st, "admin", "admin", "bench-secret").ok()) die("bootstrap");
    if (!api::ensure_user(**st, "service", "agent", "agent-secret", "service").ok()) die("agent");
    for (int i = 1; i <= 5; ++i) {
      store::Flavor f;
      f.id = std::to_string(i);
      f.name = "m1.f" + f.id;
      f.vcpus = i;
      f.memory_mb = 512 * i;
      f.root_gb = 10 * i;
      if (!(*st)->create_flavor(f).ok()) die("flavor");
    }
    for (int h = 0; h < kAgentHosts; ++h) {
      store::ComputeHost host;
      host.name = "bench" + std::to_string(h);
      host.vcpus = 4;
      host.memory_mb = 4096;
      host.disk_gb = 10;
      if (!(*st)->upsert_compute_host(host).ok()) die("host");
    }
  }
  std::printf("GET /compute/v2.1/flavors, %d client threads (keep-alive), %d s per phase\n",
              clients, seconds);
  std::printf("%-9s %-26s %9s %9s %9s %10s %9s %7s\n", "server", "open connections", "req/s",
              "p50 ms", "p99 ms", "cpu ms/req", "answered", "failed");
  std::vector<std::pair<std::string, std::vector<Figures>>> results;
  // Tokens live in the database both servers share: the peer (which has no login route) takes
  // the ones gpucloud's server issued.
  std::string token, agent;
  for (const std::string kind : {"gpucloud", "peer"}) {
    Child child = start(kind, dir.string());
    if (kind == "gpucloud") {
      token = login(child.port, "admin", "bench-secret", "admin");
      agent = login(child.port, "agent", "agent-secret", "service");
    }
    std::vector<Figures> figures;
    figures.push_back(measure(child, token, seconds, clients));
    print(kind.c_str(), "none", figures.back());
    auto idle_fds = open_many(
        child.port, idle,
        [](int) { return std::string("GET /identity/v3 HTTP/1.1\r\nHost: bench\r\n\r\n"); },
        std::chrono::seconds(kind == "peer" ? 2 : 20));
    figures.push_back(measure(child, token, seconds, clients));
    print(kind.c_str(), (std::to_string(idle) + " idle").c_str(), figures.back());
    auto agent_fds = open_many(
        child.port, agents,
        [&](int i) {
          return "GET /gpucloud/v1/agent/hosts/bench" + std::to_string(i % kAgentHosts) +
                 "/tasks?wait=20 HTTP/1.1\r\nHost: bench\r\nX-Auth-Token: " + agent + "\r\n\r\n";
        },
        std::chrono::seconds(1));
    figures.push_back(measure(child, token, seconds, clients));
    print(kind.c_str(),
          (std::to_string(idle) + " idle + " + std::to_string(agents) + " polls").c_str(),
          figures.back());
    for (int fd : idle_fds) ::close(fd);
    for (int fd : agent_fds) ::close(fd);
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    results.emplace_back(kind, figures);
  }
  const auto& g = results[0].second;
  const auto& p = results[1].second;
  std::printf("\ngpucloud p99 under load / at rest: %.2fx (idle), %.2fx (idle + polls)\n",
              g[1].p99_ms / g[0].p99_ms, g[2].p99_ms / g[0].p99_ms);
  std::printf("gpucloud / peer at rest: req/s %.2fx, p99 %.2fx, cpu per request %.2fx\n",
              g[0].rps / p[0].rps, g[0].p99_ms / p[0].p99_ms,
              g[0].cpu_ms_per_request / p[0].cpu_ms_per_request);
  std::printf(
      "peer under load: %zu answered, %zu failed (idle); %zu answered, %zu failed "
      "(idle + polls)\n",
      p[1].answered, p[1].failed, p[2].answered, p[2].failed);
  std::filesystem::remove_all(dir);
  return 0;
}
