// Hex digests for image hashes (libsodium's constant-time encoder).
#include <sodium.h>

#include "api/image_impl.h"

namespace gpucloud::api::image {

std::string to_hex(const uint8_t* data, size_t len) {
  std::string hex(len * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), data, len);
  hex.pop_back();
  return hex;
}

}  // namespace gpucloud::api::image
