#include <cstdlib>

#include "api_fixture.h"

namespace gpucloud::api::testing {
namespace {

// The API over HTTPS when a certificate and key are configured; plain HTTP is then refused.
class TlsTest : public ApiTest {
 protected:
  void customize(ServerDeps&, ServerOptions& options) override {
    const auto key = dir_ / "key.pem";
    const auto cert = dir_ / "cert.pem";
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-keyout " +
        key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
    options.tls_cert_file = cert.string();
    options.tls_key_file = key.string();
  }
};

TEST_F(TlsTest, ServesHttpsAndAdvertisesHttpsEndpoints) {
  EXPECT_EQ(server_->base_url().rfind("https://", 0), 0u) << server_->base_url();
  httplib::SSLClient tls("127.0.0.1", server_->port());
  tls.enable_server_certificate_verification(false);  // a throw-away self-signed certificate
  json body = {{"auth",
                {{"identity",
                  {{"methods", {"password"}},
                   {"password",
                    {{"user",
                      {{"name", "admin"},
                       {"domain", {{"id", "default"}}},
                       {"password", "admin-secret"}}}}}}},
                 {"scope", {{"project", {{"name", "admin"}, {"domain", {{"id", "default"}}}}}}}}}};
  auto r = tls.Post("/identity/v3/auth/tokens", body.dump(), "application/json");
  ASSERT_TRUE(r) << "no HTTPS answer";
  ASSERT_EQ(r->status, 201);
  const json catalog = json::parse(r->body)["token"]["catalog"];
  for (const auto& service : catalog) {
    EXPECT_EQ(service["endpoints"][0]["url"].get<std::string>().rfind("https://", 0), 0u);
  }
  // Plain HTTP to the TLS port gets no API answer.
  auto plain = client_->Get("/identity/v3");
  EXPECT_TRUE(!plain || plain->status != 200);
}

TEST(TlsConfig, UnusableCertificateIsAClearError) {
  auto st = store::open_store("sqlite://");
  ASSERT_TRUE(st.ok()) << st.error().message;
  ServerDeps deps;
  deps.store = st->get();
  deps.nova_config = std::make_shared<config::NovaConfig>();
  ServerOptions options;
  options.tls_cert_file = "/nonexistent/cert.pem";
  options.tls_key_file = "/nonexistent/key.pem";
  auto server = ApiServer::create(deps, options);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message.find("/nonexistent/cert.pem"), std::string::npos);
}

}  // namespace
}  // namespace gpucloud::api::testing
