// Keystone's revocation across server replicas: two API servers, each with its own store and
// connection pool, on one database (a SQLite file, and MariaDB as a scale-out cloud runs it).
// A role removal, password change, user or project disable or delete made through one replica
// stops the token on the other at its next request. The lockout holds on every replica too.
// And with the database gone, clients get a generic 503 naming the request id, never the
// database's user, host, port or schema.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/api.h"
#include "store/test_db.h"  // tests/integration/store

namespace gpucloud::api::testing {
namespace {

using nlohmann::json;
using store::testing::Kind;
using store::testing::TestDb;

struct Replica {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ApiServer> server;
  std::unique_ptr<httplib::Client> client;
};

Replica start_replica(const std::string& url, std::shared_ptr<config::NovaConfig> cfg) {
  Replica r;
  auto st = store::open_store(url);
  EXPECT_TRUE(st.ok()) << st.error().message;
  if (!st.ok()) return r;
  r.store = std::move(*st);
  ServerDeps deps;
  deps.store = r.store.get();
  deps.nova_config = std::move(cfg);
  ServerOptions options;
  options.data_dir = ::testing::TempDir();
  auto server = ApiServer::create(deps, options);
  EXPECT_TRUE(server.ok());
  r.server = std::move(*server);
  EXPECT_TRUE(r.server->start().ok());
  r.client = std::make_unique<httplib::Client>("127.0.0.1", r.server->port());
  return r;
}

json password_auth(const std::string& user, const std::string& password,
                   const std::string& project) {
  return {
      {"auth",
       {{"identity",
         {{"methods", {"password"}},
          {"password",
           {{"user", {{"name", user}, {"domain", {{"id", "default"}}}, {"password", password}}}}}}},
        {"scope", {{"project", {{"name", project}, {"domain", {{"id", "default"}}}}}}}}}};
}

int status_of(const httplib::Result& r) { return r ? r->status : -1; }

class ReplicaTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kMariadb && store::testing::mariadb_server_url().empty()) {
      GTEST_SKIP() << "no MariaDB for this run (run through ctest: fixture mariadb)";
    }
    db_ = std::make_unique<TestDb>(GetParam());
    auto cfg = std::make_shared<config::NovaConfig>();
    cfg->lockout_failure_attempts = 3;
    a_ = start_replica(db_->url(), cfg);
    ASSERT_TRUE(a_.server);
    auto boot = bootstrap_identity(*a_.store, "admin", "admin", "admin-secret");
    ASSERT_TRUE(boot.ok()) << boot.error().message;
    ASSERT_TRUE(ensure_user(*a_.store, "demo", "alice", "alice-secret", "member").ok());
    b_ = start_replica(db_->url(), cfg);
    ASSERT_TRUE(b_.server);
    admin_ = login(a_, "admin", "admin-secret", "admin");
    alice_ = login(a_, "alice", "alice-secret", "demo");
    ASSERT_FALSE(admin_.empty());
    ASSERT_FALSE(alice_.empty());
    ASSERT_EQ(alice_status(), 200) << "alice's token works on replica B before the change";
  }
  void TearDown() override {
    for (Replica* r : {&a_, &b_}) {
      r->server.reset();
      r->store.reset();
    }
    db_.reset();
  }

  std::string login(Replica& r, const std::string& user, const std::string& password,
                    const std::string& project, int* status = nullptr) {
    auto res = r.client->Post("/identity/v3/auth/tokens",
                              password_auth(user, password, project).dump(), "application/json");
    if (status) *status = status_of(res);
    return res && res->status == 201 ? res->get_header_value("X-Subject-Token") : "";
  }
  // Alice's token used on replica B.
  int alice_status() {
    return status_of(b_.client->Get("/compute/v2.1/servers", {{"X-Auth-Token", alice_}}));
  }
  std::string id_of(const char* kind, const std::string& name) {
    auto r = a_.client->Get(std::string("/identity/v3/") + kind + "?name=" + name,
                            {{"X-Auth-Token", admin_}});
    EXPECT_EQ(status_of(r), 200);
    return json::parse(r->body)[kind][0]["id"];
  }
  int on_a(const std::string& method, const std::string& path, const std::string& body = "") {
    httplib::Headers h = {{"X-Auth-Token", admin_}};
    if (method == "PATCH") return status_of(a_.client->Patch(path, h, body, "application/json"));
    if (method == "PUT") return status_of(a_.client->Put(path, h, body, "application/json"));
    return status_of(a_.client->Delete(path, h));
  }

  std::unique_ptr<TestDb> db_;
  Replica a_, b_;
  std::string admin_, alice_;
};

TEST_P(ReplicaTest, RoleRemovalOnOneReplicaRevokesOnTheOther) {
  const std::string path = "/identity/v3/projects/" + id_of("projects", "demo") + "/users/" +
                           id_of("users", "alice") + "/roles/member";
  ASSERT_EQ(on_a("DELETE", path), 204);
  EXPECT_EQ(alice_status(), 401);
}

TEST_P(ReplicaTest, GroupMembershipRemovalOnOneReplicaEndsTheGroupsRoleOnTheOther) {
  // alice holds member on demo through a group only.
  auto g = a_.client->Post("/identity/v3/groups", {{"X-Auth-Token", admin_}},
                           R"({"group": {"name": "researchers"}})", "application/json");
  ASSERT_EQ(status_of(g), 201);
  const std::string group = json::parse(g->body)["group"]["id"];
  const std::string demo = id_of("projects", "demo"), alice = id_of("users", "alice");
  ASSERT_EQ(on_a("PUT", "/identity/v3/projects/" + demo + "/groups/" + group + "/roles/member"),
            204);
  ASSERT_EQ(on_a("PUT", "/identity/v3/groups/" + group + "/users/" + alice), 204);
  ASSERT_EQ(on_a("DELETE", "/identity/v3/projects/" + demo + "/users/" + alice + "/roles/member"),
            204);
  alice_ = login(a_, "alice", "alice-secret", "demo");
  ASSERT_FALSE(alice_.empty());
  ASSERT_EQ(alice_status(), 200);
  ASSERT_EQ(on_a("DELETE", "/identity/v3/groups/" + group + "/users/" + alice), 204);
  EXPECT_EQ(alice_status(), 401);
}

TEST_P(ReplicaTest, InferenceRuleOnOneReplicaChangesTheRolesOnTheOtherAtTheNextRequest) {
  // alice holds only a role of no meaning to policy on demo: her token reads nothing.
  auto r = a_.client->Post("/identity/v3/roles", {{"X-Auth-Token", admin_}},
                           R"({"role": {"name": "operator"}})", "application/json");
  ASSERT_EQ(status_of(r), 201);
  const std::string role = json::parse(r->body)["role"]["id"];
  const std::string demo = id_of("projects", "demo"), alice = id_of("users", "alice");
  const std::string grants = "/identity/v3/projects/" + demo + "/users/" + alice + "/roles/";
  ASSERT_EQ(on_a("PUT", grants + role), 204);
  ASSERT_EQ(on_a("DELETE", grants + "member"), 204);
  alice_ = login(a_, "alice", "alice-secret", "demo");
  ASSERT_FALSE(alice_.empty());
  ASSERT_EQ(alice_status(), 403);
  // A rule written on A holds on B at once, and so does its deletion.
  const std::string rule = "/identity/v3/roles/" + role + "/implies/member";
  ASSERT_EQ(on_a("PUT", rule), 201);
  EXPECT_EQ(alice_status(), 200);
  ASSERT_EQ(on_a("DELETE", rule), 204);
  EXPECT_EQ(alice_status(), 403);
}

TEST_P(ReplicaTest, PasswordChangeOnOneReplicaRevokesOnTheOther) {
  ASSERT_EQ(on_a("PATCH", "/identity/v3/users/" + id_of("users", "alice"),
                 R"({"user": {"password": "changed"}})"),
            200);
  EXPECT_EQ(alice_status(), 401);
  EXPECT_FALSE(login(b_, "alice", "changed", "demo").empty());
}

TEST_P(ReplicaTest, UserDisableOnOneReplicaRevokesOnTheOther) {
  const std::string path = "/identity/v3/users/" + id_of("users", "alice");
  ASSERT_EQ(on_a("PATCH", path, R"({"user": {"enabled": false}})"), 200);
  EXPECT_EQ(alice_status(), 401);
  ASSERT_EQ(on_a("PATCH", path, R"({"user": {"enabled": true}})"), 200);
  EXPECT_EQ(alice_status(), 401);
}

TEST_P(ReplicaTest, ProjectDisableOnOneReplicaRevokesOnTheOther) {
  const std::string path = "/identity/v3/projects/" + id_of("projects", "demo");
  ASSERT_EQ(on_a("PATCH", path, R"({"project": {"enabled": false}})"), 200);
  EXPECT_EQ(alice_status(), 401);
  ASSERT_EQ(on_a("PATCH", path, R"({"project": {"enabled": true}})"), 200);
  EXPECT_EQ(alice_status(), 401);
}

TEST_P(ReplicaTest, UserDeleteOnOneReplicaRevokesOnTheOther) {
  ASSERT_EQ(on_a("DELETE", "/identity/v3/users/" + id_of("users", "alice")), 204);
  EXPECT_EQ(alice_status(), 401);
}

TEST_P(ReplicaTest, ProjectDeleteOnOneReplicaRevokesOnTheOther) {
  ASSERT_EQ(on_a("DELETE", "/identity/v3/projects/" + id_of("projects", "demo")), 204);
  EXPECT_EQ(alice_status(), 401);
}

TEST_P(ReplicaTest, LockoutCountsFailuresOnEveryReplica) {
  // lockout_failure_attempts = 3: failures spread over both replicas add up.
  login(a_, "alice", "wrong", "demo");
  login(b_, "alice", "wrong", "demo");
  login(a_, "alice", "wrong", "demo");
  int status = 0;
  EXPECT_TRUE(login(b_, "alice", "alice-secret", "demo", &status).empty());
  EXPECT_EQ(status, 401);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, ReplicaTest, ::testing::Values(Kind::kSqlite),
                         store::testing::kind_name);
INSTANTIATE_TEST_SUITE_P(Mariadb, ReplicaTest, ::testing::Values(Kind::kMariadb),
                         store::testing::kind_name);

// A TCP relay between the store and MariaDB: closing it is the database going away.
class Relay {
 public:
  explicit Relay(int target_port) : target_port_(target_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 16);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Relay() { stop(); }
  int port() const { return port_; }
  void stop() {
    if (stopped_.exchange(true)) return;
    thread_.join();
  }

 private:
  void run() {
    std::vector<std::pair<int, int>> pairs;
    while (!stopped_) {
      std::vector<pollfd> fds = {{listener_, POLLIN, 0}};
      for (auto [c, s] : pairs) {
        fds.push_back({c, POLLIN, 0});
        fds.push_back({s, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = ::accept(listener_, nullptr, nullptr);
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(target_port_));
        if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
          pairs.emplace_back(c, s);
        } else {
          ::close(c);
          ::close(s);
        }
      }
      for (size_t i = 0; i < pairs.size(); ++i) {
        for (int side = 0; side < 2; ++side) {
          const pollfd& p = fds[1 + 2 * i + side];
          if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
          char buf[16384];
          const ssize_t n = ::read(p.fd, buf, sizeof buf);
          const int to = side == 0 ? pairs[i].second : pairs[i].first;
          if (n <= 0 || ::write(to, buf, n) != n) {
            ::close(pairs[i].first);
            ::close(pairs[i].second);
            pairs[i] = {-1, -1};
            break;
          }
        }
      }
      std::erase_if(pairs, [](auto p) { return p.first < 0; });
    }
    for (auto [c, s] : pairs) {
      ::close(c);
      ::close(s);
    }
    ::close(listener_);
  }

  int target_port_, port_ = 0, listener_ = -1;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

TEST(DatabaseDownTest, DatabaseDownGivesGenericBodyWithRequestIdToLoginAndBadToken) {
  const std::string server = store::testing::mariadb_server_url();
  if (server.empty()) GTEST_SKIP() << "no MariaDB for this run";
  TestDb db(Kind::kMariadb);
  auto url = DatabaseUrl::parse(db.url());
  ASSERT_TRUE(url);
  Relay relay(url->port().value_or(3306));
  // The same URL with the relay's port: user, password and schema stay.
  std::string via = db.url();
  const std::string port = ":" + std::to_string(url->port().value_or(3306)) + "/";
  via.replace(via.find(port), port.size(), ":" + std::to_string(relay.port()) + "/");
  Replica r = start_replica(via, std::make_shared<config::NovaConfig>());
  ASSERT_TRUE(r.server);
  ASSERT_TRUE(bootstrap_identity(*r.store, "admin", "admin", "admin-secret").ok());
  auto ok =
      r.client->Post("/identity/v3/auth/tokens",
                     password_auth("admin", "admin-secret", "admin").dump(), "application/json");
  ASSERT_EQ(status_of(ok), 201);

  relay.stop();
  auto login =
      r.client->Post("/identity/v3/auth/tokens",
                     password_auth("admin", "admin-secret", "admin").dump(), "application/json");
  auto bad_token = r.client->Get("/compute/v2.1/servers", {{"X-Auth-Token", "bogus-token"}});
  for (const auto* res : {&login, &bad_token}) {
    ASSERT_TRUE(*res);
    EXPECT_EQ((*res)->status, 503) << (*res)->body;
    const std::string& body = (*res)->body;
    for (const std::string& secret : {url->user(), url->database(), std::string("127.0.0.1"),
                                      std::to_string(relay.port()), std::string("mysql")}) {
      EXPECT_EQ(body.find(secret), std::string::npos) << "body names '" << secret << "': " << body;
    }
    const std::string id = (*res)->get_header_value("x-openstack-request-id");
    EXPECT_FALSE(id.empty());
    EXPECT_NE(body.find(id), std::string::npos) << body;
  }
}

}  // namespace
}  // namespace gpucloud::api::testing
