// MD5 (RFC 1321), glance's legacy image `checksum`: computed while an upload streams in (api) and
// while an agent downloads an image (agent), fed chunk by chunk. OpenSSL underneath. Included
// directly rather than through core.h: only those two places hash.
#pragma once

#include <cstddef>
#include <string>

namespace gpucloud {

class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void update(const void* data, size_t len);
  std::string hex_digest();  // lower-case hex; finishes: call once

 private:
  void* ctx_;  // EVP_MD_CTX, kept out of this header
};

}  // namespace gpucloud
