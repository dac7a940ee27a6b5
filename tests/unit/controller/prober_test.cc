// The readiness prober against a real store: ACTIVE instances become READY when their ssh-like
// server or service_url answers, stay waiting with the last error, and time out.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "controller/controller.h"
#include "controller_test_util.h"

namespace gpucloud::controller {
namespace {

class Prober : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::open_store("sqlite://");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  // An ACTIVE instance on `ip` booted from `image_id`.
  std::string add_instance(const std::string& name, const std::string& ip,
                           const std::string& image_id) {
    store::Instance i;
    i.uuid = "00000000-0000-4000-8000-00000000000" + std::to_string(++n_);
    i.name = name;
    i.project_id = "p";
    i.user_id = "u";
    i.flavor_id = "1";
    i.image_id = image_id;
    i.status = store::ServerStatus::kActive;
    i.vm_state = "active";
    i.task_state.reset();
    i.ip_address = ip;
    i.created_at = i.updated_at = std::chrono::system_clock::now();
    i.launched_at = i.created_at;
    EXPECT_TRUE(store_->create_instance(i).ok());
    return i.uuid;
  }
  store::Instance get(const std::string& uuid) { return *store_->get_instance(uuid); }

  std::unique_ptr<store::Store> store_;
  int n_ = 0;
};

TEST_F(Prober, SshBannerMakesReadyAndSilenceKeepsWaiting) {
  testing::BannerServer ssh("127.0.0.6", "SSH-2.0-test\r\n");
  ReadinessOptions o;
  o.ssh_port = ssh.port();
  o.probe_timeout = std::chrono::seconds(2);
  ReadinessProber p(*store_, [&] { return o; });
  const std::string up = add_instance("up", "127.0.0.6", "img");
  const std::string quiet = add_instance("quiet", "127.0.0.7", "img");
  const std::string noip = add_instance("noip", "", "img");
  p.run_once();
  EXPECT_EQ(get(up).readiness, store::Readiness::kReady) << get(up).readiness_error;
  EXPECT_EQ(get(quiet).readiness, store::Readiness::kWaiting);
  EXPECT_FALSE(get(quiet).readiness_error.empty());
  EXPECT_TRUE(get(quiet).readiness_at.has_value());
  EXPECT_NE(get(noip).readiness_error.find("no address"), std::string::npos);
}

TEST_F(Prober, ServiceUrlOverHttpsWithAddressSource) {
  const std::string dir = testing::temp_dir();
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=vm "
                         "-keyout " +
                         dir + "/k.pem -out " + dir + "/c.pem >/dev/null 2>&1")
                            .c_str()),
            0);
  httplib::SSLServer https((dir + "/c.pem").c_str(), (dir + "/k.pem").c_str());
  https.Get("/health", [](const httplib::Request&, httplib::Response& r) {
    r.set_content("ok", "text/plain");
  });
  const int port = https.bind_to_any_port("127.0.1.9");
  ASSERT_GT(port, 0);
  std::thread t([&] { https.listen_after_bind(); });
  while (!https.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  store::Image img;
  img.id = "11111111-1111-4111-8111-111111111111";
  img.name = "service";
  img.owner = "p";
  img.properties["service_url"] = "https://{}:" + std::to_string(port) + "/health";
  ASSERT_TRUE(store_->create_image(img).ok());
  const std::string vm = add_instance("svc", "", img.id);
  // The fake driver gives no address: the source maps the instance to 127.0.1.9.
  ReadinessProber p(
      *store_, [] { return ReadinessOptions{}; },
      by_address([](const store::Instance&) { return std::string("127.0.1.9"); }));
  p.run_once();
  EXPECT_EQ(get(vm).readiness, store::Readiness::kReady) << get(vm).readiness_error;
  EXPECT_TRUE(get(vm).readiness_error.empty());

  // With certificate checks on, the self-signed certificate is refused.
  const std::string strict = add_instance("strict", "", img.id);
  ReadinessOptions verify;
  verify.verify_tls = true;
  ReadinessProber q(
      *store_, [&] { return verify; },
      by_address([](const store::Instance&) { return std::string("127.0.1.9"); }));
  q.run_once();
  EXPECT_EQ(get(strict).readiness, store::Readiness::kWaiting);
  EXPECT_FALSE(get(strict).readiness_error.empty());
  https.stop();
  t.join();
  std::filesystem::remove_all(dir);
}

TEST_F(Prober, GivesUpAfterTheTimeoutAndBacksOff) {
  ReadinessOptions o;
  o.give_up = std::chrono::seconds(0);
  o.interval = std::chrono::hours(1);  // the second pass finds nothing due
  o.probe_timeout = std::chrono::milliseconds(500);
  ReadinessProber p(*store_, [&] { return o; });
  const std::string vm = add_instance("late", "127.0.0.8", "img");
  p.run_once();
  auto first = get(vm);
  EXPECT_EQ(first.readiness, store::Readiness::kTimedOut);
  EXPECT_FALSE(first.readiness_error.empty());
  ASSERT_TRUE(store_->set_instance_readiness(vm, store::Readiness::kWaiting, "marker").ok());
  p.run_once();  // not due for an hour: untouched
  EXPECT_EQ(get(vm).readiness_error, "marker");
}

TEST_F(Prober, ThreadPoolProbesInTheBackground) {
  ReadinessOptions o;
  o.interval = std::chrono::milliseconds(50);
  o.probe_timeout = std::chrono::milliseconds(500);
  ReadinessProber p(
      *store_, [&] { return o; }, by_address([](const store::Instance&) { return std::string(); }));
  const std::string vm = add_instance("bg", "", "img");
  p.start();
  for (int k = 0; k < 500 && !get(vm).readiness_at; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  p.stop();
  EXPECT_TRUE(get(vm).readiness_at.has_value());
  EXPECT_NE(get(vm).readiness_error.find("no address"), std::string::npos);
}

// A guest of an agent's host is the agent's to probe: the server's prober leaves it alone.
TEST_F(Prober, InstancesWithoutAnEndpointAreLeftToTheirAgent) {
  testing::BannerServer ssh("127.0.0.6", "SSH-2.0-test\r\n");
  ReadinessOptions o;
  o.ssh_port = ssh.port();
  const std::string agents = add_instance("agents", "127.0.0.6", "img");
  ReadinessProber p(
      *store_, [&] { return o; },
      [](const store::Instance&) { return std::optional<probe::Endpoint>(); });
  p.run_once();
  EXPECT_EQ(get(agents).readiness, store::Readiness::kWaiting);
  EXPECT_FALSE(get(agents).readiness_at.has_value());
}

// The fake driver's stand-in answers ssh on a port of its own: the probe of port 22 goes there,
// never to the host's own sshd on 22.
TEST_F(Prober, ForwardedSshPortIsProbedInsteadOf22) {
  testing::BannerServer ssh("127.0.0.6", "SSH-2.0-stand-in\r\n");
  const std::string vm = add_instance("fwd", "127.0.0.6", "img");
  ReadinessProber p(
      *store_, [] { return ReadinessOptions{}; },
      [&](const store::Instance& i) {
        return std::optional<probe::Endpoint>(probe::Endpoint{i.ip_address, {{22, ssh.port()}}});
      });
  p.run_once();
  EXPECT_EQ(get(vm).readiness, store::Readiness::kReady) << get(vm).readiness_error;
}

}  // namespace
}  // namespace gpucloud::controller
