// The HTTP layer as an attacker and a crowd of agents see it: request smuggling and oversized
// input get OpenStack-shaped errors, a chunked body is cut off at the limit, slow clients and
// parked long polls do not starve normal requests, connection caps answer 503 with Retry-After,
// a port in use is refused, the access log has no secrets, and a graceful stop answers long polls.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "api_fixture.h"
#include "core/host_task_notifier.h"
#include "raw_http.h"

namespace gpucloud::api::testing {
namespace {

constexpr auto kWait = std::chrono::seconds(30);  // generous: a failure, not a measurement

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class HttpServerTest : public ApiTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    options.access_log_file = (dir_ / "access.log").string();
    options.max_connections_per_address = 4000;
    deps.task_notifier = &notifier_;
  }
  // Sends `request` on a new connection and reads the answer.
  std::optional<RawResponse> exchange(const std::string& request) {
    const int fd = connect_to(server_->port());
    if (fd < 0) return std::nullopt;
    send_all(fd, request);
    auto r = read_response(fd, kWait);
    ::close(fd);
    return r;
  }
  std::string access_log() { return read_file(dir_ / "access.log"); }

  HostTaskNotifier notifier_;
};

json body_of(const RawResponse& r) { return json::parse(r.body, nullptr, false); }

TEST_F(HttpServerTest, RepeatedContentLengthIsRefusedEvenWithTheSameValue) {
  for (const char* lengths :
       {"Content-Length: 2\r\nContent-Length: 40\r\n", "Content-Length: 2\r\nContent-Length: 2\r\n",
        "Content-Length: 2, 2\r\n"}) {
    auto r = exchange(std::string("POST /identity/v3/auth/tokens HTTP/1.1\r\nHost: x\r\n") +
                      lengths + "Content-Type: application/json\r\n\r\n{}");
    ASSERT_TRUE(r) << lengths;
    EXPECT_EQ(r->status, 400) << lengths;
    const json b = body_of(*r);
    ASSERT_TRUE(b.is_object()) << r->body;
    EXPECT_EQ(b["error"]["code"], 400) << r->body;
    EXPECT_EQ(b["error"]["title"], "Bad Request");
  }
}

TEST_F(HttpServerTest, TransferEncodingWithContentLengthIsRefused) {
  for (const char* framing : {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                              "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                              "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"}) {
    auto r = exchange(std::string("POST /compute/v2.1/servers HTTP/1.1\r\nHost: x\r\n") + framing +
                      "\r\n0\r\n\r\n");
    ASSERT_TRUE(r) << framing;
    EXPECT_EQ(r->status, 400) << framing;
    // The compute service's error shape, and a request id on every response.
    EXPECT_EQ(body_of(*r)["badRequest"]["code"], 400) << r->body;
    EXPECT_EQ(r->header("x-openstack-request-id").rfind("req-", 0), 0u);
    EXPECT_EQ(r->header("x-compute-request-id"), r->header("x-openstack-request-id"));
  }
}

TEST_F(HttpServerTest, EndlessChunkedBodyIsCutOffWithAbout1MiBRead) {
  // An unauthenticated login with a chunked body of 100 MB: the server must stop reading at
  // its 1 MiB JSON limit, answer 413 and close.
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd,
                       "POST /identity/v3/auth/tokens HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::thread sender([fd] {
    const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";  // 64 KiB
    for (int i = 0; i < 1600; ++i) {                                             // 100 MiB
      if (!send_all(fd, chunk)) return;
    }
  });
  auto r = read_response(fd, kWait);
  ::shutdown(fd, SHUT_RDWR);
  sender.join();
  ::close(fd);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(body_of(*r)["error"]["code"], 413) << r->body;
  // The access log counts what the server read: the limit, plus at most its read buffer. The
  // line is written when the connection ends, which may be after the client saw the answer.
  const std::string line = "\"POST /identity/v3/auth/tokens\" 413 in=";
  std::string log = access_log();
  for (auto until = std::chrono::steady_clock::now() + kWait;
       log.find(line) == std::string::npos && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log = access_log();
  }
  const size_t at = log.find(line);
  ASSERT_NE(at, std::string::npos) << log;
  const size_t read = std::stoul(log.substr(log.find("in=", at) + 3));
  EXPECT_GE(read, size_t{1} << 20);
  EXPECT_LE(read, (size_t{1} << 20) + 256 * 1024) << log;
}

TEST_F(HttpServerTest, DeclaredOversizedJsonBodyIs413WithoutReadingIt) {
  auto r = exchange(
      "PUT /compute/v2.1/flavors/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n{");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(body_of(*r)["overLimit"]["code"], 413) << r->body;
}

TEST_F(HttpServerTest, LongUrlIs414AndHugeHeaderIs431InOpenStackShape) {
  auto r = exchange("GET /image/v2/images?name=" + std::string(16 * 1024, 'a') +
                    " HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  EXPECT_EQ(body_of(*r)["error"]["code"], 414) << r->body;

  r = exchange("GET /image/v2/images HTTP/1.1\r\nHost: x\r\nX-Big: " +
               std::string(1024 * 1024, 'b') + "\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(body_of(*r)["error"]["code"], 431) << r->body;

  r = exchange("GARBAGE\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(body_of(*r)["error"]["code"], 400) << r->body;

  // Each refusal has its access-log line, with the method of the request line (or "-").
  const std::vector<std::string> lines = {"\"GET /image/v2/images?name=aaaa",
                                          "\"GET /image/v2/images\" 431", "\"- \" 400"};
  std::string log = access_log();
  auto missing = [&] {
    for (const auto& l : lines) {
      if (log.find(l) == std::string::npos) return true;
    }
    return false;
  };
  for (auto until = std::chrono::steady_clock::now() + kWait;
       missing() && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log = access_log();
  }
  for (const auto& l : lines) EXPECT_NE(log.find(l), std::string::npos) << l;
  EXPECT_NE(log.find("aaaa\" 414"), std::string::npos);
}

TEST_F(HttpServerTest, UnknownPathIsJson404WithRequestId) {
  auto r = client_->Get("/compute/v2.1/nothing-here");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(json::parse(r->body).contains("itemNotFound")) << r->body;
  EXPECT_EQ(r->get_header_value("x-openstack-request-id").rfind("req-", 0), 0u);
}

TEST_F(HttpServerTest, NormalRequestIsAnsweredWhile500SlowClientsTrickleHeaders) {
  std::vector<int> slow;
  for (int i = 0; i < 500; ++i) {
    const int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0) << "connection " << i;
    ASSERT_TRUE(send_all(
        fd, "GET /compute/v2.1/ HTTP/1.1\r\nHost: x\r\nX-Slow-" + std::to_string(i) + ": 1\r\n"));
    slow.push_back(fd);
  }
  // The slow heads are still open (their deadline has not passed) and a normal client is
  // answered beside them.
  auto r = exchange("GET /compute/v2.1/ HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r) << "no answer while 500 slow clients are connected";
  EXPECT_EQ(r->status, 200) << r->body;
  size_t open = 0;
  for (int fd : slow) open += still_open(fd) ? 1 : 0;
  EXPECT_GT(open, 400u);
  for (int fd : slow) ::close(fd);
}

class ShortDeadlineTest : public HttpServerTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    HttpServerTest::customize(deps, options);
    options.header_timeout = std::chrono::milliseconds(300);
  }
};

TEST_F(ShortDeadlineTest, HeadThatDoesNotArriveInTimeEndsTheConnection) {
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /compute/v2.1/ HTTP/1.1\r\nHost: x\r\n"));  // never finished
  // Beast's stream closes the socket when the head's deadline passes (no 408 can be written).
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, static_cast<int>(kWait.count() * 1000)), 1);
  char c;
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);
  ::close(fd);
  // The access log keeps a trace of it, as a 408 with the method and path of the request line.
  const std::string line = "\"GET /compute/v2.1/\" 408 ";
  std::string log = access_log();
  for (auto until = std::chrono::steady_clock::now() + kWait;
       log.find(line) == std::string::npos && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log = access_log();
  }
  EXPECT_NE(log.find(line), std::string::npos) << log;
}

class CappedTest : public HttpServerTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    HttpServerTest::customize(deps, options);
    options.max_connections_per_address = 3;
    options.max_connections = 5;
  }
};

TEST_F(CappedTest, ConnectionsOverTheCapsGet503WithRetryAfter) {
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(connect_to(server_->port()));
  // Until the server has counted them, a fourth might still get in: wait for a real answer on
  // one of them first.
  ASSERT_TRUE(send_all(held[0], "GET /identity/v3 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto ok = read_response(held[0], kWait);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  // A fourth from the same address is over the per-address cap.
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  auto r = read_response(fd, kWait);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "5");
  EXPECT_EQ(body_of(*r)["error"]["code"], 503) << r->body;
  ::close(fd);
  // Another address still gets in, until the total cap.
  const int other = connect_to(server_->port(), "127.0.0.2");
  ASSERT_GE(other, 0);
  ASSERT_TRUE(send_all(other, "GET /identity/v3 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r2 = read_response(other, kWait);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  ::close(other);
  for (int h : held) ::close(h);
}

// The total cap holds whatever the address: 3 connections from one address and 2 from another
// fill max_connections (5), so a third address is refused too; once one closes, it gets in.
TEST_F(CappedTest, TotalCapRefusesEveryAddressUntilAConnectionEnds) {
  std::vector<int> held;
  for (const char* source : {"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"}) {
    const int fd = connect_to(server_->port(), source);
    ASSERT_GE(fd, 0) << source;
    // An answer on each means the server has counted it (keep-alive: it stays open).
    ASSERT_TRUE(send_all(fd, "GET /identity/v3 HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto ok = read_response(fd, kWait);
    ASSERT_TRUE(ok) << source;
    ASSERT_EQ(ok->status, 200) << source;
    held.push_back(fd);
  }
  const int third = connect_to(server_->port(), "127.0.0.3");
  ASSERT_GE(third, 0);
  auto r = read_response(third, kWait);
  ::close(third);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "5");
  EXPECT_EQ(body_of(*r)["error"]["code"], 503) << r->body;

  // One held connection ends: its slot is free again once the server has seen the close.
  ::close(held.back());
  held.pop_back();
  int status = 0;
  for (auto until = std::chrono::steady_clock::now() + kWait;
       status != 200 && std::chrono::steady_clock::now() < until;) {
    const int fd = connect_to(server_->port(), "127.0.0.3");
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /identity/v3 HTTP/1.1\r\nHost: x\r\n\r\n");
    auto again = read_response(fd, kWait);
    ::close(fd);
    status = again ? again->status : 0;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 200);
  for (int h : held) ::close(h);
}

// A keep-alive connection that sends nothing after its answer is closed by the idle timeout.
// The head deadline is longer than the test waits, so only the idle timeout can close it.
class ShortIdleTest : public HttpServerTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    HttpServerTest::customize(deps, options);
    options.idle_timeout = std::chrono::milliseconds(300);
    options.header_timeout = std::chrono::seconds(120);
  }
};

TEST_F(ShortIdleTest, IdleKeepAliveConnectionIsClosedByTheIdleTimeout) {
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /identity/v3 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = read_response(fd, kWait);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->header("connection"), "close");  // kept alive, then idle
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, static_cast<int>(kWait.count() * 1000)), 1)
      << "the idle connection was not closed";
  char c;
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);  // closed, with nothing more sent
  ::close(fd);
}

TEST_F(HttpServerTest, SecondServerOnAPortInUseRefusesToStart) {
  ServerDeps deps;
  deps.store = store_.get();
  deps.nova_config = std::make_shared<config::NovaConfig>();
  ServerOptions options;
  options.port = server_->port();
  options.data_dir = dir_.string();
  auto second = ApiServer::create(deps, options);
  ASSERT_TRUE(second.ok());
  auto s = (*second)->start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("in use"), std::string::npos) << s.error().message;
  // The first server still answers, alone.
  auto r = client_->Get("/identity/v3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, AccessLogHasEveryRequestAndNoSecrets) {
  const std::string token = login("alice", "alice-secret", "demo");
  ASSERT_FALSE(token.empty());
  int status = 0;
  login("alice", "wrong-password-xyz", "demo", &status);
  EXPECT_EQ(status, 401);
  auto r = get("/compute/v2.1/flavors?x_auth_token=" + token + "&limit=5", token);
  ASSERT_TRUE(r);
  // A line is written once its answer went out: wait for the last request's.
  const std::string last = r->get_header_value("x-openstack-request-id");
  std::string log = access_log();
  for (auto until = std::chrono::steady_clock::now() + kWait;
       log.find(last) == std::string::npos && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    log = access_log();
  }
  EXPECT_EQ(log.find("alice-secret"), std::string::npos) << log;
  EXPECT_EQ(log.find("wrong-password-xyz"), std::string::npos) << log;
  EXPECT_EQ(log.find(token), std::string::npos) << log;
  EXPECT_NE(log.find("\"POST /identity/v3/auth/tokens\" 401"), std::string::npos) << log;
  EXPECT_NE(log.find("x_auth_token=***&limit=5"), std::string::npos) << log;
  EXPECT_NE(log.find(r->get_header_value("x-openstack-request-id")), std::string::npos) << log;
}

TEST_F(HttpServerTest, FailedLoginIsLoggedWithUserNameAndAddress) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  spdlog::default_logger()->sinks().push_back(sink);
  int status = 0;
  login("mallory", "guess-1234", "demo", &status);
  spdlog::default_logger()->sinks().pop_back();
  EXPECT_EQ(status, 401);
  const std::string text = captured.str();
  EXPECT_NE(text.find("login failed for user 'mallory' from 127.0.0.1"), std::string::npos) << text;
  EXPECT_EQ(text.find("guess-1234"), std::string::npos) << text;
}

// An agent's host and a token to poll with.
class LongPollTest : public HttpServerTest {
 protected:
  void SetUp() override {
    HttpServerTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(ensure_user(*store_, "service", "agent", "agent-secret", "service").ok());
    agent_ = login("agent", "agent-secret", "service");
    ASSERT_FALSE(agent_.empty());
    for (int h = 0; h < kHosts; ++h) {
      const json host = {{"host", {{"vcpus", 4}, {"memory_mb", 4096}, {"disk_gb", 10}}}};
      auto r = client_->Put(("/gpucloud/v1/agent/hosts/kvm" + std::to_string(h)).c_str(),
                            {{"X-Auth-Token", agent_}}, host.dump(), "application/json");
      ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    }
  }
  std::string poll_request(int host, int wait = 20) {
    return "GET /gpucloud/v1/agent/hosts/kvm" + std::to_string(host) +
           "/tasks?wait=" + std::to_string(wait) +
           " HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + agent_ + "\r\n\r\n";
  }
  static constexpr int kHosts = 10;
  std::string agent_;
};

TEST_F(LongPollTest, ThousandParkedPollsDoNotStopTheApiAndATaskWakesItsHost) {
  std::vector<int> polls;
  for (int i = 0; i < 1000; ++i) {
    const int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0) << "poll " << i;
    ASSERT_TRUE(send_all(fd, poll_request(i % kHosts)));
    polls.push_back(fd);
  }
  // 1,000 waiting agents and 8 worker threads: the API still answers.
  const std::string admin = login("admin", "admin-secret", "admin");
  ASSERT_FALSE(admin.empty());
  auto r = get("/compute/v2.1/flavors", admin);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // A task for kvm3, announced as the agent task driver does: one of kvm3's polls gets it.
  store::AgentTask t;
  t.host = "kvm3";
  t.kind = "power_on";
  t.instance_uuid = "00000000-0000-4000-8000-000000000003";
  t.payload = "{}";
  auto created = store_->create_agent_task(t);
  ASSERT_TRUE(created.ok());
  notifier_.notify("kvm3");
  // Every kvm3 poll wakes; the one that took the task answers, the others wait on.
  std::vector<pollfd> kvm3;
  for (int i = 3; i < 1000; i += kHosts) kvm3.push_back({polls[i], POLLIN, 0});
  ASSERT_GT(::poll(kvm3.data(), kvm3.size(), static_cast<int>(kWait.count() * 1000)), 0);
  int answered = 0;
  for (const auto& p : kvm3) {
    if (!(p.revents & POLLIN)) continue;
    auto a = read_response(p.fd, kWait);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 200) << a->body;
    EXPECT_EQ(json::parse(a->body)["tasks"].size(), 1u) << a->body;
    ++answered;
  }
  EXPECT_EQ(answered, 1);
  for (int fd : polls) ::close(fd);
}

TEST_F(LongPollTest, TaskOfAnotherReplicaIsFoundByTheRecheck) {
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, poll_request(1)));
  // Not announced: as if another server created it. The periodic re-check finds it.
  store::AgentTask t;
  t.host = "kvm1";
  t.kind = "power_off";
  t.instance_uuid = "00000000-0000-4000-8000-000000000001";
  t.payload = "{}";
  ASSERT_TRUE(store_->create_agent_task(t).ok());
  auto a = read_response(fd, kWait);
  ::close(fd);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(json::parse(a->body)["tasks"].size(), 1u) << a->body;
}

TEST_F(LongPollTest, GracefulStopAnswersParkedPolls) {
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, poll_request(2)));
  // Wait until the poll is parked (its head read) before stopping.
  for (int i = 0; i < 3000 && notifier_.waiting() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(notifier_.waiting(), 0u);
  std::thread stopper([this] { server_->stop(); });
  auto a = read_response(fd, kWait);
  stopper.join();
  ::close(fd);
  ASSERT_TRUE(a) << "the parked poll was dropped instead of answered";
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(json::parse(a->body)["tasks"].size(), 0u) << a->body;
  EXPECT_EQ(a->header("connection"), "close");
}

}  // namespace
}  // namespace gpucloud::api::testing
