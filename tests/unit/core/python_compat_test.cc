// The Python builtins nova's rules rest on (core/python_compat_impl.h, private to core).
#include <gtest/gtest.h>

#include <cmath>

#include "core/python_compat_impl.h"

namespace gpucloud::py {
namespace {

TEST(PythonCompat, SplitAndStripUseUnicodeWhitespace) {
  EXPECT_EQ(split(" a\tb\n c\xc2\xa0"
                  "d "),
            (std::vector<std::string_view>{"a", "b", "c", "d"}));
  EXPECT_EQ(strip("\xe3\x80\x80 x \x1f"), "x");
  EXPECT_TRUE(split("   ").empty());
}

TEST(PythonCompat, IntAcceptsWhatPythonIntAccepts) {
  EXPECT_EQ(parse_int(" 0x0A ", 16), 10);
  EXPECT_EQ(parse_int("0x_a", 16), 10);
  EXPECT_EQ(parse_int("1_0", 10), 10);
  EXPECT_EQ(parse_int("+7", 10), 7);
  EXPECT_EQ(parse_int("-1", 16), -1);
  EXPECT_EQ(parse_int("010", 10), 10);
  EXPECT_EQ(parse_int("0x10", 10), std::nullopt);
  EXPECT_EQ(parse_int("_1", 10), std::nullopt);
  EXPECT_EQ(parse_int("1__0", 10), std::nullopt);
  EXPECT_EQ(parse_int("1_", 10), std::nullopt);
  EXPECT_EQ(parse_int("", 16), std::nullopt);
  EXPECT_EQ(parse_int("0x", 16), std::nullopt);
  EXPECT_EQ(parse_int("g", 16), std::nullopt);
}

TEST(PythonCompat, FloatAcceptsWhatPythonFloatAccepts) {
  EXPECT_EQ(parse_float("1e3"), 1000.0);
  EXPECT_EQ(parse_float(" -2.5 "), -2.5);
  EXPECT_EQ(parse_float(".5"), 0.5);
  EXPECT_EQ(parse_float("5."), 5.0);
  EXPECT_EQ(parse_float("1_000.000_1"), 1000.0001);
  EXPECT_EQ(parse_float("Infinity"), HUGE_VAL);
  EXPECT_EQ(parse_float("1e999"), HUGE_VAL);
  EXPECT_TRUE(std::isnan(*parse_float("NaN")));
  EXPECT_EQ(parse_float("."), std::nullopt);
  EXPECT_EQ(parse_float("1e"), std::nullopt);
  EXPECT_EQ(parse_float("0x10"), std::nullopt);
  EXPECT_EQ(parse_float("abc"), std::nullopt);
  EXPECT_EQ(parse_float("1._5"), std::nullopt);
}

TEST(PythonCompat, CodePointsCountsCharactersNotBytes) {
  EXPECT_EQ(code_points("K2"), 2u);
  EXPECT_EQ(code_points("\xc3\xa9t\xc3\xa9"), 3u);
}

}  // namespace
}  // namespace gpucloud::py
