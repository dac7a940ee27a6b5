// OpenSSH public keys: the wire form (RFC 4253 section 6.6: string type, then the type's fields,
// each a uint32 length and bytes) base64-encoded after the type name. OpenSSL makes the RSA key;
// libsodium does the base64 and the hash.
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <memory>
#include <regex>
#include <vector>

#include "api/ssh_keys_impl.h"

namespace gpucloud::api {
namespace {

using Bytes = std::vector<unsigned char>;

Error invalid(const std::string& why) { return Error::invalid("Keypair data is invalid: " + why); }

struct Parsed {
  std::string type;
  Bytes blob;
};

Result<Parsed> parse_line(const std::string& line) {
  static const std::regex kKey(
      R"(^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-dss) ([A-Za-z0-9+/]+={0,2})( .*)?\s*$)");
  std::smatch m;
  if (!std::regex_match(line, m, kKey)) {
    return invalid("failed to generate fingerprint (not an OpenSSH public key line)");
  }
  const std::string b64 = m[3];
  Parsed p{m[1], Bytes(b64.size())};
  size_t len = 0;
  if (sodium_base642bin(p.blob.data(), p.blob.size(), b64.data(), b64.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len == 0) {
    return invalid("failed to generate fingerprint (the key is not valid base64)");
  }
  p.blob.resize(len);
  return p;
}

uint32_t read_u32(const Bytes& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

void put_string(Bytes& out, const unsigned char* data, size_t n) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<unsigned char>(n >> shift));
  out.insert(out.end(), data, data + n);
}

// An SSH mpint: big-endian, with a leading zero byte when the top bit is set (it is positive).
void put_mpint(Bytes& out, const BIGNUM* bn) {
  Bytes v(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, v.data());
  if (!v.empty() && (v[0] & 0x80)) v.insert(v.begin(), 0);
  put_string(out, v.data(), v.size());
}

std::string base64(const Bytes& b) {
  std::string out(sodium_base64_ENCODED_LEN(b.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), b.data(), b.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

}  // namespace

Status check_public_key(const std::string& line) {
  auto p = parse_line(line);
  if (!p.ok()) return p.error();
  // Every field of the blob: lengths inside the blob, the first the key's type.
  const Bytes& b = p->blob;
  size_t at = 0;
  int fields = 0;
  while (at < b.size()) {
    if (b.size() - at < 4) return invalid("the key's data is truncated");
    const uint32_t n = read_u32(b, at);
    if (n > b.size() - at - 4) return invalid("the key's data is truncated");
    if (fields == 0 && std::string(b.begin() + static_cast<long>(at) + 4,
                                   b.begin() + static_cast<long>(at + 4 + n)) != p->type) {
      return invalid("the key's data is not a " + p->type + " key");
    }
    at += 4 + n;
    ++fields;
  }
  if (fields < 2) return invalid("the key's data holds no key");
  return {};
}

Result<std::string> public_key_fingerprint(const std::string& line) {
  auto p = parse_line(line);
  if (!p.ok()) return p.error();
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, p->blob.data(), p->blob.size());
  char out[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                     sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, hash, sizeof hash, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
  return "SHA256:" + std::string(out);
}

Result<GeneratedKeyPair> generate_rsa_key_pair() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
  if (!key) return Error::internal("generating an RSA key failed");
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    BN_free(e);
    return Error::internal("reading the generated RSA key failed");
  }
  Bytes blob;
  const std::string type = "ssh-rsa";
  put_string(blob, reinterpret_cast<const unsigned char*>(type.data()), type.size());
  put_mpint(blob, e);  // RFC 4253: e before n
  put_mpint(blob, n);
  BN_free(n);
  BN_free(e);

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), nullptr, nullptr, 0,
                                                   nullptr, nullptr) != 1) {
    return Error::internal("writing the generated RSA key failed");
  }
  char* pem = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &pem);
  GeneratedKeyPair out;
  out.private_key.assign(pem, static_cast<size_t>(len));
  out.public_key = type + " " + base64(blob) + " Generated-by-gpucloud";
  return out;
}

}  // namespace gpucloud::api
