#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "core/python_compat_impl.h"

namespace gpucloud::py {
namespace {

// Length of the whitespace character starting at text[i], or 0. Python's str.isspace() set:
// ASCII \t \n \v \f \r, space, \x1c-\x1f, and the Unicode spaces U+0085, U+00A0, U+1680,
// U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
size_t space_at(std::string_view t, size_t i) {
  const auto c = static_cast<unsigned char>(t[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  auto byte = [&](size_t k) { return i + k < t.size() ? static_cast<unsigned char>(t[i + k]) : 0; };
  if (c == 0xc2 && (byte(1) == 0x85 || byte(1) == 0xa0)) return 2;
  if (c == 0xe1 && byte(1) == 0x9a && byte(2) == 0x80) return 3;  // U+1680
  if (c == 0xe2 && byte(1) == 0x80 &&
      ((byte(2) >= 0x80 && byte(2) <= 0x8a) || byte(2) == 0xa8 || byte(2) == 0xa9 ||
       byte(2) == 0xaf)) {
    return 3;
  }
  if (c == 0xe2 && byte(1) == 0x81 && byte(2) == 0x9f) return 3;  // U+205F
  if (c == 0xe3 && byte(1) == 0x80 && byte(2) == 0x80) return 3;  // U+3000
  return 0;
}

// Length of the whitespace character that ends at text[end-1], or 0.
size_t space_before(std::string_view t, size_t end) {
  for (size_t len = 1; len <= 3 && len <= end; ++len) {
    if (space_at(t, end - len) == len) return len;
  }
  return 0;
}

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

// Digits with single underscores between them (Python's grammar for numeric literals);
// `leading_underscore` allows one underscore before the first digit (after a 0x prefix).
bool valid_digit_run(std::string_view s, int base, bool leading_underscore) {
  if (s.empty()) return false;
  bool prev_underscore = !leading_underscore;  // an underscore may not open the run
  bool any_digit = false;
  for (char c : s) {
    if (c == '_') {
      if (prev_underscore) return false;
      prev_underscore = true;
    } else {
      if (digit_value(c) >= base) return false;
      prev_underscore = false;
      any_digit = true;
    }
  }
  return any_digit && !prev_underscore;
}

}  // namespace

std::string_view strip(std::string_view text) {
  size_t b = 0;
  while (b < text.size()) {
    const size_t n = space_at(text, b);
    if (n == 0) break;
    b += n;
  }
  size_t e = text.size();
  while (e > b) {
    const size_t n = space_before(text, e);
    if (n == 0) break;
    e -= n;
  }
  return text.substr(b, e - b);
}

std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    size_t n = space_at(text, i);
    if (n > 0) {
      i += n;
      continue;
    }
    const size_t start = i;
    while (i < text.size() && space_at(text, i) == 0) ++i;
    words.push_back(text.substr(start, i - start));
  }
  return words;
}

std::optional<int64_t> parse_int(std::string_view text, int base) {
  std::string_view s = strip(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  bool prefixed = false;
  if (base == 16 && s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    prefixed = true;
  }
  if (!valid_digit_run(s, base, prefixed)) return std::nullopt;
  constexpr int64_t kSaturate = int64_t{1} << 62;
  int64_t v = 0;
  for (char c : s) {
    if (c == '_') continue;
    v = std::min(kSaturate, v * base + digit_value(c));
  }
  return negative ? -v : v;
}

std::optional<double> parse_float(std::string_view text) {
  std::string_view s = strip(text);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "inf" || lower == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (lower == "nan") return std::nan("");
  // Python's float grammar: digitpart ["." [digitpart]] | "." digitpart, then an optional
  // exponent ("e" [sign] digitpart); digitpart allows single underscores between digits.
  const size_t e_pos = lower.find('e');
  const std::string_view mantissa = std::string_view(lower).substr(0, e_pos);
  if (e_pos != std::string::npos) {
    std::string_view exp = std::string_view(lower).substr(e_pos + 1);
    if (!exp.empty() && (exp[0] == '+' || exp[0] == '-')) exp.remove_prefix(1);
    if (!valid_digit_run(exp, 10, false)) return std::nullopt;
  }
  const size_t dot = mantissa.find('.');
  if (dot == std::string_view::npos) {
    if (!valid_digit_run(mantissa, 10, false)) return std::nullopt;
  } else {
    const std::string_view whole = mantissa.substr(0, dot);
    const std::string_view frac = mantissa.substr(dot + 1);
    if (whole.empty() && frac.empty()) return std::nullopt;
    if (!whole.empty() && !valid_digit_run(whole, 10, false)) return std::nullopt;
    if (!frac.empty() && !valid_digit_run(frac, 10, false)) return std::nullopt;
  }
  std::string digits;
  for (char c : lower) {
    if (c != '_') digits.push_back(c);
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ptr != digits.data() + digits.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // Python overflows to inf for huge exponents and underflows to 0 for tiny ones.
    v = digits.find("e-") != std::string::npos ? 0.0 : HUGE_VAL;
  } else if (ec != std::errc()) {
    return std::nullopt;
  }
  return negative ? -v : v;
}

size_t code_points(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

}  // namespace gpucloud::py
