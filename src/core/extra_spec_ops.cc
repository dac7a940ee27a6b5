// nova's extra-spec matching language (nova/scheduler/filters/extra_specs_ops.py), rule by rule.
// Where nova raises (a numeric operator on a word, `<or>` with nothing after it) the scheduler
// filter fails the request; we report an Error instead and extra_spec_match() treats it as
// "does not match".
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "core/extra_specs.h"
#include "core/python_compat_impl.h"

namespace gpucloud {
namespace {

enum class Kind { kNumeric, kString, kIn, kAllIn };

struct Op {
  std::string_view name;
  Kind kind;
  std::function<bool(double, double)> numeric;
  std::function<bool(std::string_view, std::string_view)> string;
};

const std::vector<Op>& operators() {
  static const std::vector<Op> kOps = {
      // nova's `=` is numeric >=, not equality: "= 4" is satisfied by 8.
      {"=", Kind::kNumeric, std::greater_equal<double>(), nullptr},
      {"==", Kind::kNumeric, std::equal_to<double>(), nullptr},
      {"!=", Kind::kNumeric, std::not_equal_to<double>(), nullptr},
      {">=", Kind::kNumeric, std::greater_equal<double>(), nullptr},
      {"<=", Kind::kNumeric, std::less_equal<double>(), nullptr},
      {"s==", Kind::kString, nullptr, std::equal_to<std::string_view>()},
      {"s!=", Kind::kString, nullptr, std::not_equal_to<std::string_view>()},
      {"s<", Kind::kString, nullptr, std::less<std::string_view>()},
      {"s<=", Kind::kString, nullptr, std::less_equal<std::string_view>()},
      {"s>", Kind::kString, nullptr, std::greater<std::string_view>()},
      {"s>=", Kind::kString, nullptr, std::greater_equal<std::string_view>()},
      {"<in>", Kind::kIn, nullptr, nullptr},
      {"<all-in>", Kind::kAllIn, nullptr, nullptr},
  };
  return kOps;
}

const Op* find_operator(std::string_view word) {
  for (const Op& op : operators()) {
    if (op.name == word) return &op;
  }
  return nullptr;
}

}  // namespace

Result<bool> extra_spec_match_checked(std::optional<std::string_view> value,
                                      std::string_view requirement) {
  const std::vector<std::string_view> words = py::split(requirement);
  const std::string_view op_word = words.empty() ? std::string_view() : words[0];
  const bool is_or = !words.empty() && op_word == "<or>";
  const Op* op = words.empty() ? nullptr : find_operator(op_word);

  // No known operator: the whole requirement, untrimmed, must equal the value. An unknown
  // operator such as "<foo> x" therefore only matches the literal value "<foo> x".
  if (!is_or && op == nullptr) return value.has_value() && *value == requirement;
  // A missing value never satisfies an operator.
  if (!value.has_value()) return false;
  const std::string_view v = *value;

  if (is_or) {
    // nova compares the words at odd positions and skips the ones between without checking that
    // they are `<or>`: "<or> a b c" is satisfied by "a" and by "c", never by "b".
    if (words.size() < 2) {
      return Error::invalid(
          fmt::format("extra spec requirement '{}': '<or>' needs a value after it", requirement));
    }
    for (size_t i = 1; i < words.size(); i += 2) {
      if (words[i] == v) return true;
    }
    return false;
  }

  // An operator with nothing after it matches nothing.
  if (words.size() < 2) return false;
  const std::string_view operand = words[1];  // words after the first operand are ignored
  switch (op->kind) {
    case Kind::kIn:
      return v.find(operand) != std::string_view::npos;
    case Kind::kAllIn:
      return std::all_of(words.begin() + 1, words.end(),
                         [&](std::string_view w) { return v.find(w) != std::string_view::npos; });
    case Kind::kString:
      // Python compares str by code point; bytewise comparison of UTF-8 gives the same order.
      return op->string(v, operand);
    case Kind::kNumeric: {
      const auto x = py::parse_float(v);
      if (!x) {
        return Error::invalid(
            fmt::format("extra spec requirement '{}': value '{}' is not a number", requirement, v));
      }
      const auto y = py::parse_float(operand);
      if (!y) {
        return Error::invalid(
            fmt::format("extra spec requirement '{}': '{}' is not a number", requirement, operand));
      }
      return op->numeric(*x, *y);
    }
  }
  return false;
}

bool extra_spec_match(std::string_view value, std::string_view requirement) {
  auto r = extra_spec_match_checked(value, requirement);
  return r.ok() && *r;
}

}  // namespace gpucloud
