// X.509 key pairs (type "x509", 2.2+): generated as nova makes them for WinRM, or imported from a
// PEM certificate; the fingerprint is checked against the openssl command's own.
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

class X509KeypairTest : public ComputeTest {
 protected:
  httplib::Result create(const json& keypair, const std::string& v = "2.2") {
    return client_->Post((kV + "/os-keypairs").c_str(),
                         {{"X-Auth-Token", alice_}, {"OpenStack-API-Version", "compute " + v}},
                         json{{"keypair", keypair}}.dump(), "application/json");
  }
  // What `openssl x509 -fingerprint -sha1` says of a PEM certificate, as nova writes it.
  std::string openssl_fingerprint(const std::string& pem) {
    const auto path = dir_ / "cert.pem";
    std::ofstream(path) << pem;
    const std::string cmd = "openssl x509 -noout -fingerprint -sha1 -in " + path.string();
    std::unique_ptr<FILE, decltype(&pclose)> p(popen(cmd.c_str(), "r"), pclose);
    std::string out;
    char buf[256];
    while (p && fgets(buf, sizeof buf, p.get())) out += buf;
    const auto eq = out.find('=');
    if (eq == std::string::npos) return "openssl said: " + out;
    std::string fp = out.substr(eq + 1);
    while (!fp.empty() && (fp.back() == '\n' || fp.back() == '\r')) fp.pop_back();
    for (char& c : fp) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return fp;
  }
};

TEST_F(X509KeypairTest, GeneratedPairIsAWinrmCertificateForTheUser) {
  auto r = create({{"name", "winrm"}, {"type", "x509"}});
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "");
  json k = json::parse(r->body)["keypair"];
  EXPECT_EQ(k["type"], "x509");
  const std::string cert_pem = k["public_key"];
  const std::string key_pem = k["private_key"];
  EXPECT_EQ(k["fingerprint"], openssl_fingerprint(cert_pem));

  std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(cert_pem.data(), -1), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr), X509_free);
  ASSERT_TRUE(cert) << cert_pem;
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(key_pem.data(), -1), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  ASSERT_TRUE(key) << "no private key";
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);  // the pair belongs together
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 2048);
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  EXPECT_EQ(std::string(cn), k["user_id"].get<std::string>());
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);  // clientAuth

  json shown = get_json(kV + "/os-keypairs/winrm", alice_)["keypair"];
  EXPECT_EQ(shown["public_key"], cert_pem);
  EXPECT_FALSE(shown.contains("private_key"));
}

TEST_F(X509KeypairTest, ImportedCertificateIsKeptAndBadOnesAreRefused) {
  const auto key = dir_ / "k.pem";
  const auto cert = dir_ / "c.pem";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=alice " +
                          std::string("-keyout ") + key.string() + " -out " + cert.string() +
                          " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(cert);
  const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto r = create({{"name", "imported"}, {"type", "x509"}, {"public_key", pem}});
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "");
  json k = json::parse(r->body)["keypair"];
  EXPECT_EQ(k["fingerprint"], openssl_fingerprint(pem));
  EXPECT_FALSE(k.contains("private_key"));

  const std::string before = snapshot();
  const std::string ssh_key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb3x1NhvGJfK1QyHk2zWfE3R0sXyYq1m1cQyQw2bY3t alice@lab";
  for (const std::string& bad : {ssh_key, std::string("-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                      "-----END CERTIFICATE-----\n")}) {
    r = create({{"name", "bad"}, {"type", "x509"}, {"public_key", bad}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find("not a PEM X.509 certificate"), std::string::npos) << r->body;
  }
  // Nor is a certificate an ssh key.
  r = create({{"name", "bad"}, {"type", "ssh"}, {"public_key", pem}});
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(snapshot(), before);
}

// A server booted with an x509 pair gets no public-keys: the certificate is no ssh key.
TEST_F(X509KeypairTest, ServerWithAnX509PairGetsNoSshKey) {
  ASSERT_EQ(create({{"name", "winrm"}, {"type", "x509"}})->status, 201);
  json s = post_ok(kV + "/servers", alice_,
                   {{"server",
                     {{"name", "win"},
                      {"flavorRef", "1"},
                      {"imageRef", plain_image_id_},
                      {"key_name", "winrm"}}}},
                   202);
  const std::string id = s["server"]["id"];
  EXPECT_EQ(get_json(kV + "/servers/" + id, alice_)["server"]["key_name"], "winrm");
  auto key_data = store_->system_metadata(id, "key_data");
  ASSERT_TRUE(key_data.ok());
  EXPECT_FALSE(key_data->has_value());
}

}  // namespace
}  // namespace gpucloud::api::testing
