#include <string>

#include "core/json_text_impl.h"

namespace gpucloud {

Result<nlohmann::json> parse_json_text(std::string_view text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep the position and reason.
    std::string what = e.what();
    if (const size_t pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return Error::invalid("invalid JSON: " + what);
  }
}

}  // namespace gpucloud
