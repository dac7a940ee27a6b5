// X.509 key pairs (nova's keypair type "x509", from 2.2): a PEM certificate as the public half.
// Windows guests' cloudbase-init uses them for WinRM certificate logins; gpucloud's NoCloud config
// drive has no place for them, so they are kept and shown but never given to a guest. OpenSSL
// parses, makes and hashes the certificates.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "api/ssh_keys_impl.h"

namespace gpucloud::api {
namespace {

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

Error invalid_x509(const std::string& why) {
  return Error::invalid("Keypair data is invalid: " + why);
}

Result<X509Ptr> read_certificate(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return Error::internal("reading the certificate failed");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return invalid_x509("failed to generate fingerprint (not a PEM X.509 certificate)");
  return cert;
}

// nova's form: the SHA-1 of the DER certificate, lower-case hex pairs joined by ':'.
Result<std::string> certificate_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha1(), md, &len) != 1) {
    return Error::internal("hashing the certificate failed");
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

Result<std::string> pem_of(int (*write)(BIO*, void*), void* what, const char* failure) {
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || write(bio.get(), what) != 1) return Error::internal(failure);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

Result<std::string> x509_fingerprint(const std::string& pem) {
  auto cert = read_certificate(pem);
  if (!cert.ok()) return cert.error();
  return certificate_fingerprint(cert->get());
}

// As nova makes one for WinRM: a 2048-bit RSA key, a self-signed certificate for CN=<user id>,
// valid ten years, for client authentication with the UPN <user id>@localhost.
Result<GeneratedKeyPair> generate_x509_key_pair(const std::string& user_id) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
  if (!key) return Error::internal("generating an RSA key failed");
  X509Ptr cert(X509_new(), X509_free);
  if (!cert) return Error::internal("making a certificate failed");
  X509_set_version(cert.get(), 2);  // v3, for the extensions
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Error::internal("no random serial number");
  serial[0] &= 0x7f;  // a positive number
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr),
                                                 BN_free);
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()))) {
    return Error::internal("setting the serial number failed");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(user_id.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::string upn = "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:" + user_id + "@localhost";
  for (auto [nid, value] : {std::pair{NID_ext_key_usage, std::string("clientAuth")},
                            std::pair{NID_subject_alt_name, upn}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) return Error::internal("making a certificate extension failed");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Error::internal("signing the certificate failed");
  }
  GeneratedKeyPair out;
  auto cert_pem =
      pem_of([](BIO* b, void* c) { return PEM_write_bio_X509(b, static_cast<X509*>(c)); },
             cert.get(), "writing the certificate failed");
  if (!cert_pem.ok()) return cert_pem.error();
  auto key_pem = pem_of(
      [](BIO* b, void* k) {
        return PEM_write_bio_PrivateKey_traditional(b, static_cast<EVP_PKEY*>(k), nullptr, nullptr,
                                                    0, nullptr, nullptr);
      },
      key.get(), "writing the generated RSA key failed");
  if (!key_pem.ok()) return key_pem.error();
  out.public_key = *cert_pem;
  out.private_key = *key_pem;
  return out;
}

}  // namespace gpucloud::api
