// Internal to api/: what nova's parameter_types and keystone's schemas require of the strings a
// client stores (names, descriptions, metadata), and how an error shows a client's value: cut,
// so that a 900 KB name is not sent back whole.
#pragma once

#include <string>
#include <string_view>

#include "api/router_impl.h"

namespace gpucloud::api {

// A value as an error message shows it: its JSON text, at most 64 characters, "..." when cut.
std::string shown(const json& value);
std::string shown(std::string_view text);
inline std::string shown(const std::string& text) { return shown(std::string_view(text)); }
// The text itself (no JSON quotes), control characters as \xNN, at most 64 characters.
std::string cut(std::string_view text);

struct NameRule {
  size_t max_length = 255;
  bool allow_empty = false;
  // nova's parameter_types.name refuses leading and trailing whitespace; server names
  // (name_with_leading_trailing_spaces) and keystone's names do not.
  bool allow_edge_spaces = true;
};

// A name: valid UTF-8 (the JSON parser checked it), no NUL or other control character (C0, DEL,
// C1), within the length (in characters, as JSON schema counts), and at least one character that
// is not whitespace. The error names the field: "Invalid input for field/attribute name. ...".
Status check_name(std::string_view value, std::string_view field, NameRule rule = {});

// Free text (descriptions, metadata values): no NUL or control character except tab, newline and
// carriage return, at most `max_length` characters.
Status check_text(std::string_view value, std::string_view field, size_t max_length);

// Characters (UTF-8 code points) in `text`.
size_t utf8_length(std::string_view text);

}  // namespace gpucloud::api
