// Where the tests find their data and the binaries they run. Included into every test by the
// build (-include), so test code writes GPUCLOUD_TEST_DATA + "/x" as before. The paths live in
// one small file (test_paths.cc) rather than in every test's compile flags: the flags then do not
// depend on where the checkout is, and ccache reuses test objects across clones (CI's included).
#pragma once

#include <string>

namespace gpucloud::test_paths {
const std::string& test_data();     // <checkout>/tests/data
const std::string& binary();        // the gpucloud executable under test
const std::string& claim_worker();  // tests/integration/store's child process
}  // namespace gpucloud::test_paths

#define GPUCLOUD_TEST_DATA (::gpucloud::test_paths::test_data())
#define GPUCLOUD_BINARY (::gpucloud::test_paths::binary())
// The checkout's root (examples/, docs/): <checkout>/tests/data/../..
#define GPUCLOUD_SOURCE_ROOT (::gpucloud::test_paths::test_data() + "/../..")
#define STORE_CLAIM_WORKER (::gpucloud::test_paths::claim_worker())
