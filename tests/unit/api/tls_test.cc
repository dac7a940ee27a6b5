#include <openssl/ssl.h>

#include <cstdlib>

#include "api_fixture.h"
#include "raw_http.h"

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

// Whether a client limited to `ciphers` (TLS 1.2 names) and `max_version` completes a handshake.
bool handshake(int port, const char* ciphers, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  if (ciphers) SSL_CTX_set_cipher_list(ctx, ciphers);
  SSL_CTX_set_security_level(ctx, 0);  // let the client offer the weak suites at all
  const int fd = connect_to(port);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  const bool ok = fd >= 0 && SSL_connect(ssl) == 1;
  SSL_free(ssl);
  if (fd >= 0) ::close(fd);
  SSL_CTX_free(ctx);
  return ok;
}

TEST_F(TlsTest, Tls12OffersOnlyEcdheWithAeadAndTls13IsAllowed) {
  EXPECT_FALSE(handshake(server_->port(), "AES128-SHA", TLS1_2_VERSION));
  EXPECT_FALSE(handshake(server_->port(), "AES128-GCM-SHA256", TLS1_2_VERSION));     // static RSA
  EXPECT_FALSE(handshake(server_->port(), "ECDHE-RSA-AES128-SHA", TLS1_2_VERSION));  // CBC
  EXPECT_FALSE(handshake(server_->port(), nullptr, TLS1_1_VERSION));
  EXPECT_TRUE(handshake(server_->port(), "ECDHE-RSA-AES128-GCM-SHA256", TLS1_2_VERSION));
  EXPECT_TRUE(handshake(server_->port(), "ECDHE-RSA-CHACHA20-POLY1305", TLS1_2_VERSION));
  EXPECT_TRUE(handshake(server_->port(), nullptr, TLS1_3_VERSION));
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
