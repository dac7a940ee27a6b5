// MD5 against RFC 1321's test suite, whole and byte by byte.
#include "core/md5.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace gpucloud {
namespace {

TEST(Md5, Rfc1321TestSuite) {
  std::string eighty_digits;
  for (int i = 0; i < 8; ++i) eighty_digits += "1234567890";
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {eighty_digits, "57edf4a22be3c955ac49da2e2107b67a"}};
  for (const auto& [in, want] : vectors) {
    Md5 one;
    one.update(in.data(), in.size());
    EXPECT_EQ(one.hex_digest(), want) << in;
    Md5 bytewise;  // chunk boundaries must not matter
    for (char c : in) bytewise.update(&c, 1);
    EXPECT_EQ(bytewise.hex_digest(), want) << in;
  }
}

}  // namespace
}  // namespace gpucloud
