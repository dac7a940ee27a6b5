// Private to core/: parsing the JSON text of a device spec or alias with nlohmann/json, turning
// its exception into an Error (no exception leaves core/).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/result.h"

namespace gpucloud {

// Error message: "invalid JSON: parse error at line 1, column 2: ...". Duplicate keys keep the
// last value, as Python's json module does.
Result<nlohmann::json> parse_json_text(std::string_view text);

}  // namespace gpucloud
