// Private to core/: the bits of Python's text handling that nova's semantics depend on
// (str.split()/strip() whitespace, int(x, base), float(x)). nova's rules are defined by what these
// builtins accept, so we mirror them instead of using the C library's looser or stricter parsers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpucloud::py {

// Python's str.strip() with no argument (ASCII and Unicode whitespace, text in UTF-8).
std::string_view strip(std::string_view text);
// Python's str.split() with no argument: runs of whitespace separate, no empty words.
std::vector<std::string_view> split(std::string_view text);

// Python's int(text, base) for base 10 or 16: surrounding whitespace, a sign, `0x` (base 16 only)
// and single underscores between digits are accepted. Values beyond +-2^62 saturate (every caller
// range-checks far below that). nullopt where Python raises ValueError.
std::optional<int64_t> parse_int(std::string_view text, int base);

// Python's float(text): whitespace, sign, digits with underscores, exponent, inf/infinity/nan.
std::optional<double> parse_float(std::string_view text);

// Number of Unicode code points in UTF-8 text (what Python's len() counts).
size_t code_points(std::string_view text);

}  // namespace gpucloud::py
