// Helpers shared by the config tests: paths of test data and of the seed's example files.
#pragma once

#include <string>

#include "config/config.h"

namespace gpucloud::config::testing {

inline std::string data(const std::string& name) {
  return std::string(GPUCLOUD_TEST_DATA) + "/config/" + name;
}
inline std::string seed(const std::string& name) {
  return std::string(GPUCLOUD_TEST_DATA) + "/../../examples/seed/" + name;
}

// Loads a file the test knows exists; an unreadable file gives an empty IniFile with that name.
inline IniFile load(const std::string& path) {
  auto f = IniFile::load(path);
  return f ? *f : IniFile::parse("", path);
}

inline std::vector<std::string> messages(const std::vector<Problem>& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.to_string());
  return out;
}

}  // namespace gpucloud::config::testing
