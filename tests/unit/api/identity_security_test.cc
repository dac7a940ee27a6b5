// Regression tests for issue 13's identity rows: token revocation (role removal, password change,
// disable, project disable and delete), login throttling and lockout, the failure log, the cost of
// unknown users, the bound on concurrent Argon2id, and generic 5xx bodies. Each test is named
// after what it guards.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <thread>

#include "api/login_guard_impl.h"
#include "api/router_impl.h"
#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

class IdentitySecurityTest : public ApiTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    auto cfg = std::make_shared<config::NovaConfig>();
    cfg->lockout_failure_attempts = lockout_attempts_;
    cfg->lockout_duration = 1800;
    deps.nova_config = cfg;
    options.login = limits_;
  }

  std::string user_id(const std::string& name) {
    auto u = store_->find_user_by_name(name, "default");
    EXPECT_TRUE(u.ok());
    return u.ok() ? u->id : "";
  }
  std::string project_id(const std::string& name) {
    auto p = store_->find_project_by_name(name, "default");
    EXPECT_TRUE(p.ok());
    return p.ok() ? p->id : "";
  }
  int status(const httplib::Result& r) { return r ? r->status : -1; }
  int put(const std::string& path, const std::string& token) {
    return status(client_->Put(path.c_str(), {{"X-Auth-Token", token}}, "", "application/json"));
  }
  int del(const std::string& path, const std::string& token) {
    return status(client_->Delete(path.c_str(), {{"X-Auth-Token", token}}));
  }
  int patch(const std::string& path, const std::string& token, const std::string& body) {
    return status(
        client_->Patch(path.c_str(), {{"X-Auth-Token", token}}, body, "application/json"));
  }
  std::string role_path(const std::string& project, const std::string& user,
                        const std::string& role) {
    return "/identity/v3/projects/" + project_id(project) + "/users/" + user_id(user) + "/roles/" +
           role;
  }

  std::optional<int> lockout_attempts_;
  LoginLimits limits_;
};

// Captures what the server logs while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

// ---- revocation ----

TEST_F(IdentitySecurityTest, RoleRemovalRevokesAdminTokenAtOnce) {
  auto admin = login("admin", "admin-secret", "admin");
  ASSERT_EQ(put(role_path("demo", "alice", "admin"), admin), 204);
  auto alice = login("alice", "alice-secret", "demo");
  const std::string flavor = R"({"flavor": {"name": "f1", "ram": 512, "vcpus": 1, "disk": 1}})";
  ASSERT_EQ(status(post("/compute/v2.1/flavors", alice, flavor)), 200);
  ASSERT_EQ(status(get("/compute/v2.1/os-hypervisors", alice)), 200);

  ASSERT_EQ(del(role_path("demo", "alice", "admin"), admin), 204);

  const std::string flavor2 = R"({"flavor": {"name": "f2", "ram": 512, "vcpus": 1, "disk": 1}})";
  EXPECT_EQ(status(post("/compute/v2.1/flavors", alice, flavor2)), 401);
  EXPECT_EQ(status(get("/compute/v2.1/os-hypervisors", alice)), 401);
  // A new login carries only the grants that still hold.
  auto again = login("alice", "alice-secret", "demo");
  EXPECT_EQ(status(post("/compute/v2.1/flavors", again, flavor2)), 403);
}

TEST_F(IdentitySecurityTest, MemberWhoLostOnlyRoleLosesToken) {
  auto admin = login("admin", "admin-secret", "admin");
  auto alice = login("alice", "alice-secret", "demo");
  ASSERT_EQ(status(get("/compute/v2.1/servers", alice)), 200);
  ASSERT_EQ(del(role_path("demo", "alice", "member"), admin), 204);
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 401);
  int s = 0;
  EXPECT_TRUE(login("alice", "alice-secret", "demo", &s).empty());
  EXPECT_EQ(s, 401);
}

TEST_F(IdentitySecurityTest, TokenRolesAreTheGrantsThatStillHold) {
  // A grant removed behind the API's back (no revocation written) still ends the token's use of
  // it: validation reads the assignments, not the roles the token was issued with.
  auto alice = login("alice", "alice-secret", "demo");
  ASSERT_TRUE(store_->assign_role({user_id("alice"), project_id("demo"), "reader"}).ok());
  ASSERT_TRUE(store_->assign_role({user_id("alice"), project_id("demo"), "admin"}).ok());
  auto r = client_->Get("/identity/v3/auth/tokens",
                        {{"X-Auth-Token", alice}, {"X-Subject-Token", alice}});
  ASSERT_EQ(status(r), 200);
  EXPECT_EQ(json::parse(r->body)["token"]["roles"].size(), 3u);  // admin now, as keystone
}

TEST_F(IdentitySecurityTest, PasswordChangeRevokesOldToken) {
  auto admin = login("admin", "admin-secret", "admin");
  auto alice = login("alice", "alice-secret", "demo");
  ASSERT_EQ(status(get("/compute/v2.1/servers", alice)), 200);
  ASSERT_EQ(patch("/identity/v3/users/" + user_id("alice"), admin,
                  R"({"user": {"password": "new-secret"}})"),
            200);
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 401);
  EXPECT_FALSE(login("alice", "new-secret", "demo").empty());
  // An update that changes neither password nor enabled revokes nothing.
  auto fresh = login("alice", "new-secret", "demo");
  ASSERT_EQ(patch("/identity/v3/users/" + user_id("alice"), admin, R"({"user": {"email": "a@x"}})"),
            200);
  EXPECT_EQ(status(get("/compute/v2.1/servers", fresh)), 200);
}

// A user changes its own password with the old one (no token needed, as keystone): its tokens
// are revoked and only the new password logs in.
TEST_F(IdentitySecurityTest, OwnPasswordChangeNeedsTheOldOneAndRevokesTokens) {
  auto alice = login("alice", "alice-secret", "demo");
  const std::string path = "/identity/v3/users/" + user_id("alice") + "/password";
  auto change = [&](const std::string& body) {
    return status(client_->Post(path.c_str(), body, "application/json"));
  };
  EXPECT_EQ(change(R"({"user": {"password": "n", "original_password": "wrong"}})"), 401);
  EXPECT_EQ(change(R"({"user": {"password": "n"}})"), 400);
  EXPECT_EQ(change(R"({"user": {"password": "", "original_password": "alice-secret"}})"), 400);
  EXPECT_EQ(change(R"({"user": {"password": 5, "original_password": "alice-secret"}})"), 400);
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 200);  // nothing changed so far
  EXPECT_EQ(
      change(R"({"user": {"password": "fresh-secret", "original_password": "alice-secret"}})"),
      204);
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 401);
  EXPECT_TRUE(login("alice", "alice-secret", "demo").empty());
  EXPECT_FALSE(login("alice", "fresh-secret", "demo").empty());
  // An unknown user id is the same 401 as a wrong password.
  EXPECT_EQ(status(client_->Post("/identity/v3/users/nobody/password",
                                 R"({"user": {"password": "n", "original_password": "x"}})",
                                 "application/json")),
            401);
}

TEST_F(IdentitySecurityTest, DisableThenReenableKeepsOldTokenRevoked) {
  auto admin = login("admin", "admin-secret", "admin");
  auto alice = login("alice", "alice-secret", "demo");
  const std::string path = "/identity/v3/users/" + user_id("alice");
  ASSERT_EQ(patch(path, admin, R"({"user": {"enabled": false}})"), 200);
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 401);
  ASSERT_EQ(patch(path, admin, R"({"user": {"enabled": true}})"), 200);
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 401);
  EXPECT_FALSE(login("alice", "alice-secret", "demo").empty());
}

TEST_F(IdentitySecurityTest, ProjectDisableAndDeleteRevokeItsTokens) {
  auto admin = login("admin", "admin-secret", "admin");
  auto alice = login("alice", "alice-secret", "demo");
  auto bob = login("bob", "bob-secret", "other");
  const std::string demo = "/identity/v3/projects/" + project_id("demo");
  auto p = store_->get_project(project_id("demo"));
  ASSERT_TRUE(p.ok());
  p->enabled = false;
  ASSERT_TRUE(store_->update_project(*p).ok());
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 401);
  p->enabled = true;
  ASSERT_TRUE(store_->update_project(*p).ok());
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 401);

  ASSERT_EQ(del("/identity/v3/projects/" + project_id("other"), admin), 204);
  EXPECT_EQ(status(get("/compute/v2.1/servers", bob)), 401);
}

TEST_F(IdentitySecurityTest, UserDeleteRevokesItsTokens) {
  auto admin = login("admin", "admin-secret", "admin");
  auto alice = login("alice", "alice-secret", "demo");
  ASSERT_EQ(del("/identity/v3/users/" + user_id("alice"), admin), 204);
  EXPECT_EQ(status(get("/compute/v2.1/servers", alice)), 401);
}

// ---- throttling and lockout ----

class ThrottleTest : public IdentitySecurityTest {
 protected:
  ThrottleTest() {
    limits_.user_free_failures = 3;
    limits_.address_free_failures = 100;
    limits_.base_delay_seconds = 600;  // no test here can outlast the window
  }
};

TEST_F(ThrottleTest, RepeatedWrongPasswordsAreThrottledWith429) {
  for (int i = 0; i < 4; ++i) {
    int s = 0;
    EXPECT_TRUE(login("admin", "wrong", "admin", &s).empty());
    EXPECT_EQ(s, 401) << "try " << i;
  }
  // The fourth failure was one too many: even the right password must now wait.
  json body = {{"auth",
                {{"identity",
                  {{"methods", {"password"}},
                   {"password",
                    {{"user",
                      {{"name", "admin"},
                       {"domain", {{"id", "default"}}},
                       {"password", "admin-secret"}}}}}}}}}};
  auto r = client_->Post("/identity/v3/auth/tokens", body.dump(), "application/json");
  ASSERT_EQ(status(r), 429);
  EXPECT_GE(std::stoi(r->get_header_value("Retry-After")), 1);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], 429);
  // Other users are not held back by admin's failures.
  EXPECT_FALSE(login("alice", "alice-secret", "demo").empty());
}

// Guessing the old password through a password change is throttled like a login.
TEST_F(ThrottleTest, PasswordChangeGuessesAreThrottled) {
  const std::string path = "/identity/v3/users/" + user_id("alice") + "/password";
  const std::string wrong = R"({"user": {"password": "n", "original_password": "guess"}})";
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(status(client_->Post(path.c_str(), wrong, "application/json")), 401) << i;
  }
  auto r = client_->Post(path.c_str(),
                         R"({"user": {"password": "n", "original_password": "alice-secret"}})",
                         "application/json");
  EXPECT_EQ(status(r), 429);
  EXPECT_FALSE(login("alice", "alice-secret", "demo").empty());  // unchanged
}

TEST_F(ThrottleTest, UnknownUserNamesAreThrottledLikeKnownOnes) {
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(login("nobody", "wrong", "admin").empty());
  int s = 0;
  login("nobody", "wrong", "admin", &s);
  EXPECT_EQ(s, 429);
}

class AddressThrottleTest : public IdentitySecurityTest {
 protected:
  AddressThrottleTest() {
    limits_.user_free_failures = 100;
    limits_.address_free_failures = 3;
    limits_.base_delay_seconds = 600;
  }
};

TEST_F(AddressThrottleTest, ManyUserNamesFromOneAddressAreThrottled) {
  for (int i = 0; i < 4; ++i) {
    int s = 0;
    login("guess" + std::to_string(i), "wrong", "admin", &s);
    EXPECT_EQ(s, 401);
  }
  int s = 0;
  login("guess-next", "wrong", "admin", &s);
  EXPECT_EQ(s, 429);
}

class LockoutTest : public IdentitySecurityTest {
 protected:
  LockoutTest() {
    lockout_attempts_ = 3;
    limits_.user_free_failures = 100;  // the lockout, not the throttle, is under test
  }
};

TEST_F(LockoutTest, LockoutAfterFailuresRefusesEvenTheRightPassword) {
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(login("alice", "wrong", "demo").empty());
  auto f = store_->get_login_failures(user_id("alice"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->count, 3);
  int s = 0;
  EXPECT_TRUE(login("alice", "alice-secret", "demo", &s).empty());
  EXPECT_EQ(s, 401);
  EXPECT_FALSE(login("admin", "admin-secret", "admin").empty());  // others unaffected
}

TEST_F(LockoutTest, LockoutEndsAfterLockoutDurationAndSuccessClearsCount) {
  const auto long_ago = std::chrono::system_clock::now() - std::chrono::hours(2);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(store_->record_login_failure(user_id("alice"), long_ago).ok());
  EXPECT_FALSE(login("alice", "alice-secret", "demo").empty());  // 1800 s have passed
  auto f = store_->get_login_failures(user_id("alice"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->count, 0);
}

TEST_F(IdentitySecurityTest, EveryLoginFailureIsLoggedWithUserAndAddressNeverPassword) {
  LogCapture log;
  login("alice", "hunter2-wrong", "demo");
  login("nobody\nforged line", "hunter3-wrong", "demo");
  const std::string text = log.text();
  EXPECT_NE(text.find("login failed for user 'alice' from 127.0.0.1: wrong password"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("login failed for user 'nobody\\x0aforged line' from 127.0.0.1: unknown "
                      "user"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(text.find("hunter3"), std::string::npos);
}

// ---- cost of unknown users, and the Argon2id bound ----

class TimingTest : public IdentitySecurityTest {
 protected:
  TimingTest() {
    limits_.user_free_failures = 1000;
    limits_.address_free_failures = 1000;
    cheap_password_hashes_ = false;  // what an attacker times is the real Argon2id cost
  }
};

TEST_F(TimingTest, UnknownUserCostsAsMuchAsWrongPasswordOfKnownUser) {
  // A ratio of medians over many alternating tries, not a time: before the fix it was ~170.
  std::vector<double> known, unknown;
  auto timed = [&](const std::string& user) {
    const auto t0 = std::chrono::steady_clock::now();
    login(user, "wrong", "admin");
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int i = 0; i < 9; ++i) {
    known.push_back(timed("admin"));
    unknown.push_back(timed("nobody" + std::to_string(i)));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double ratio = median(known) / median(unknown);
  EXPECT_GT(ratio, 0.5) << "known " << median(known) << " s, unknown " << median(unknown) << " s";
  EXPECT_LT(ratio, 2.0) << "known " << median(known) << " s, unknown " << median(unknown) << " s";
}

TEST(PasswordGateTest, ConcurrentArgon2IsBoundedBySemaphore) {
  // The gate's bound is what caps memory (64 MiB per Argon2id run): 16 runs on 8 threads through
  // a gate of 2 never have more than 2 inside at once.
  PasswordGate gate(2);
  auto h = gate.hash("pw");
  ASSERT_TRUE(h.ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (gate.verify(*h, "pw")) ++ok;
      if (!gate.verify("", "pw")) ++ok;  // unknown user: dummy hash, always false
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
  EXPECT_LE(gate.peak_concurrent(), 2);
  EXPECT_GE(gate.peak_concurrent(), 1);
}

TEST(LoginThrottleTest, DelayDoublesAfterFreeFailuresAndSuccessClearsUser) {
  LoginThrottle t(
      {2, std::chrono::seconds(1), std::chrono::seconds(8), std::chrono::seconds(900), 100});
  const auto t0 = LoginThrottle::Clock::time_point{} + std::chrono::hours(1);
  t.record_failure("u", t0);
  t.record_failure("u", t0);
  EXPECT_EQ(t.wait_seconds("u", t0), 0);
  t.record_failure("u", t0);
  EXPECT_EQ(t.wait_seconds("u", t0), 1);
  t.record_failure("u", t0);
  EXPECT_EQ(t.wait_seconds("u", t0), 2);
  for (int i = 0; i < 10; ++i) t.record_failure("u", t0);
  EXPECT_EQ(t.wait_seconds("u", t0), 8);  // capped
  EXPECT_EQ(t.wait_seconds("u", t0 + std::chrono::seconds(8)), 0);
  t.record_success("u");
  EXPECT_EQ(t.failures("u"), 0);
  // Failures long ago are forgotten.
  for (int i = 0; i < 5; ++i) t.record_failure("v", t0);
  t.record_failure("v", t0 + std::chrono::hours(1));
  EXPECT_EQ(t.failures("v"), 1);
}

TEST(LoginThrottleTest, FloodOfDistinctKeysStaysBounded) {
  LoginThrottle t(
      {2, std::chrono::seconds(1), std::chrono::seconds(8), std::chrono::seconds(900), 100});
  const auto t0 = LoginThrottle::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 1000; ++i) t.record_failure("k" + std::to_string(i), t0);
  EXPECT_LE(t.size(), 100u);
}

// ---- errors ----

TEST(WriteErrorTest, DatabaseDownBodyIsGenericWithRequestId) {
  const Error e = Error::unavailable(
      "reading token: cannot connect to mysql://gpucloud@db.internal:3307/gpucloud_prod: "
      "Can't connect to server on 'db.internal' (111)");
  for (Service s : {Service::kIdentity, Service::kCompute, Service::kImage, Service::kPlain}) {
    HttpResponse res;
    write_error(s, e, res, "req-1234");
    EXPECT_EQ(res.status, 503);
    for (const char* secret : {"gpucloud@", "db.internal", "3307", "gpucloud_prod", "mysql"}) {
      EXPECT_EQ(res.body.find(secret), std::string::npos) << res.body;
    }
    EXPECT_NE(res.body.find("req-1234"), std::string::npos) << res.body;
  }
  HttpResponse res;
  write_error(Service::kCompute, Error::internal("SELECT * FROM users: syntax"), res, "req-9");
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body.find("SELECT"), std::string::npos);
  EXPECT_NE(res.body.find("req-9"), std::string::npos);
}

}  // namespace
}  // namespace gpucloud::api::testing
