// The one file that holds the absolute paths (see test_paths.h for why).
#include "support/test_paths.h"

namespace gpucloud::test_paths {

const std::string& test_data() {
  static const std::string path = GPUCLOUD_TEST_DATA_PATH;
  return path;
}

const std::string& binary() {
  static const std::string path = GPUCLOUD_BINARY_PATH;
  return path;
}

const std::string& claim_worker() {
  static const std::string path = GPUCLOUD_CLAIM_WORKER_PATH;
  return path;
}

}  // namespace gpucloud::test_paths
