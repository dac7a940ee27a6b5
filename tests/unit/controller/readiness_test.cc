// Readiness probes against real servers on 127.0.0.0/8: an ssh-like TCP server that sends a
// banner, and HTTPS (self-signed, made with openssl here) for an image's service_url.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "controller/controller.h"
#include "controller_test_util.h"

namespace gpucloud::controller {
namespace {

TEST(ProbeSsh, BannerAnswers) {
  testing::BannerServer s("127.0.0.2", "SSH-2.0-test\r\n");
  EXPECT_TRUE(probe_ssh("127.0.0.2", s.port(), std::chrono::seconds(5)).ok());
}

TEST(ProbeSsh, OtherLinesBeforeTheBannerAreAllowed) {
  testing::BannerServer s("127.0.0.2", "welcome\r\nSSH-2.0-OpenSSH_9.2\r\n");
  EXPECT_TRUE(probe_ssh("127.0.0.2", s.port(), std::chrono::seconds(5)).ok());
}

TEST(ProbeSsh, NotSshFails) {
  testing::BannerServer s("127.0.0.3", "HTTP/1.1 400 Bad Request\r\n\r\n");
  Status st = probe_ssh("127.0.0.3", s.port(), std::chrono::seconds(5));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("SSH-2.0"), std::string::npos) << st.error().message;
}

TEST(ProbeSsh, OldProtocolFails) {
  testing::BannerServer s("127.0.0.3", "SSH-1.5-old\r\n");
  EXPECT_FALSE(probe_ssh("127.0.0.3", s.port(), std::chrono::seconds(5)).ok());
}

TEST(ProbeSsh, RefusedConnectionFails) {
  int port = 0;
  {
    testing::BannerServer s("127.0.0.4", "");
    port = s.port();
  }
  Status st = probe_ssh("127.0.0.4", port, std::chrono::seconds(5));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("127.0.0.4"), std::string::npos) << st.error().message;
}

TEST(ServiceUrl, BracesBecomeTheAddress) {
  EXPECT_EQ(expand_service_url("https://{}:8443/health", "127.0.1.5"),
            "https://127.0.1.5:8443/health");
  EXPECT_EQ(expand_service_url("http://x/", "1.2.3.4"), "http://x/");
}

// An HTTPS server on 127.0.0.5 with a throw-away self-signed certificate.
class Https : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir();
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=vm -keyout " + dir_ +
        "/key.pem -out " + dir_ + "/cert.pem >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    server_ = std::make_unique<httplib::SSLServer>((dir_ + "/cert.pem").c_str(),
                                                   (dir_ + "/key.pem").c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/ok", [](const httplib::Request&, httplib::Response& r) {
      r.set_content("up", "text/plain");
    });
    server_->Get("/moved",
                 [](const httplib::Request&, httplib::Response& r) { r.set_redirect("/ok"); });
    server_->Get("/broken", [](const httplib::Request&, httplib::Response& r) { r.status = 503; });
    port_ = server_->bind_to_any_port("127.0.0.5");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  std::string url(const std::string& path) const {
    return "https://127.0.0.5:" + std::to_string(port_) + path;
  }
  std::string dir_;
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(Https, TwoHundredAndRedirectCount) {
  EXPECT_TRUE(probe_http(url("/ok"), false, std::chrono::seconds(5)).ok());
  EXPECT_TRUE(probe_http(url("/moved"), false, std::chrono::seconds(5)).ok());
}

TEST_F(Https, ErrorStatusFails) {
  Status s = probe_http(url("/broken"), false, std::chrono::seconds(5));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("503"), std::string::npos) << s.error().message;
}

TEST_F(Https, SelfSignedFailsOnlyWhenVerifying) {
  EXPECT_FALSE(probe_http(url("/ok"), true, std::chrono::seconds(5)).ok());
}

TEST(ProbeHttp, NotAUrl) {
  EXPECT_FALSE(probe_http("ftp://x/", false, std::chrono::seconds(1)).ok());
}

}  // namespace
}  // namespace gpucloud::controller
