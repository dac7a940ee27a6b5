#include <fmt/format.h>

#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

constexpr size_t kShown = 64;

// The next code point of valid UTF-8 (the JSON parser has checked it), advancing `i`.
uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
  uint32_t cp = extra == 0 ? c : extra == 1 ? c & 0x1F : extra == 2 ? c & 0x0F : c & 0x07;
  ++i;
  for (; extra > 0 && i < s.size(); --extra, ++i) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  }
  return cp;
}

bool is_control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

bool is_space(uint32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0xA0 || cp == 0x3000 ||
         (cp >= 0x2000 && cp <= 0x200A);
}

Error invalid(std::string_view field, std::string_view value, std::string_view why) {
  return bad_request(
      fmt::format("Invalid input for field/attribute {}. Value: {}. {}", field, shown(value), why));
}

}  // namespace

std::string shown(std::string_view text) { return shown(json(std::string(text))); }

std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() <= kShown) return text;
  // Cut on a character boundary (dump escaped everything outside ASCII).
  return text.substr(0, kShown) + "...";
}

std::string cut(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, kShown)) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return text.size() > kShown ? out + "..." : out;
}

size_t utf8_length(std::string_view text) {
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    next_code_point(text, i);
    ++n;
  }
  return n;
}

Status check_name(std::string_view value, std::string_view field, NameRule rule) {
  const size_t length = utf8_length(value);
  if (length == 0) {
    if (rule.allow_empty) return {};
    return invalid(field, value,
                   "It must be 1 to " + std::to_string(rule.max_length) + " characters long.");
  }
  if (length > rule.max_length) {
    return invalid(
        field, value,
        fmt::format("It is {} characters long; at most {} are allowed.", length, rule.max_length));
  }
  bool all_space = true;
  uint32_t first = 0, last = 0;
  for (size_t i = 0; i < value.size();) {
    const uint32_t cp = next_code_point(value, i);
    if (is_control(cp)) {
      return invalid(field, value,
                     fmt::format("It contains the control character U+{:04X}; names must be "
                                 "printable.",
                                 cp));
    }
    if (!is_space(cp)) all_space = false;
    if (first == 0) first = cp;
    last = cp;
  }
  if (all_space) return invalid(field, value, "It must contain a character that is not a space.");
  if (!rule.allow_edge_spaces && (is_space(first) || is_space(last))) {
    return invalid(field, value, "It must not begin or end with whitespace.");
  }
  return {};
}

Status check_text(std::string_view value, std::string_view field, size_t max_length) {
  const size_t length = utf8_length(value);
  if (length > max_length) {
    return invalid(
        field, value,
        fmt::format("It is {} characters long; at most {} are allowed.", length, max_length));
  }
  for (size_t i = 0; i < value.size();) {
    const uint32_t cp = next_code_point(value, i);
    if (is_control(cp) && cp != '\t' && cp != '\n' && cp != '\r') {
      return invalid(field, value, fmt::format("It contains the control character U+{:04X}.", cp));
    }
  }
  return {};
}

}  // namespace gpucloud::api
