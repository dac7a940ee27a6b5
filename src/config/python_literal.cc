// The seed prints pci_alias in Python's literal syntax (single quotes), which nova's
// jsonutils.loads would refuse; gpucloud accepts both. This is a tokenizer for the small part of
// Python's literal grammar that such values use, writing JSON as it goes. It does not evaluate
// anything.
#include <cctype>
#include <nlohmann/json.hpp>
#include <vector>

#include "config/ini.h"

namespace gpucloud::config {
namespace {

std::string col(size_t i) { return "column " + std::to_string(i + 1); }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Reads a quoted Python string starting at text[i] (the quote); returns its decoded contents.
Result<std::string> read_string(std::string_view text, size_t& i) {
  const char quote = text[i];
  const size_t start = i;
  std::string out;
  for (++i; i < text.size(); ++i) {
    char c = text[i];
    if (c == quote) {
      ++i;
      return out;
    }
    if (c == '\n') break;  // Python's short strings end at the line
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= text.size()) break;
    char e = text[i];
    int hex_len = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (hex_len > 0) {
      if (i + hex_len >= text.size()) {
        return Error::invalid("truncated \\" + std::string(1, e) + " escape at " + col(i - 1));
      }
      uint32_t cp = 0;
      for (int k = 1; k <= hex_len; ++k) {
        char h = text[i + k];
        if (!std::isxdigit(static_cast<unsigned char>(h))) {
          return Error::invalid("bad \\" + std::string(1, e) + " escape at " + col(i - 1));
        }
        cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                 ? h - '0'
                                                 : std::tolower(h) - 'a' + 10);
      }
      if (cp > 0x10FFFF) return Error::invalid("bad \\U escape at " + col(i - 1));
      append_utf8(out, cp);
      i += hex_len;
      continue;
    }
    switch (e) {
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
        out.push_back('\'');
        break;
      case '"':
        out.push_back('"');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case '0':
        out.push_back('\0');
        break;
      case '\n':
        break;  // a backslash-newline continues the string
      default:  // Python keeps unknown escapes as they are
        out.push_back('\\');
        out.push_back(e);
    }
  }
  return Error::invalid("unbalanced quotes: string opened with " + std::string(1, quote) + " at " +
                        col(start) + " is not closed");
}

// True when the text ends inside a quoted string: then whatever error the tokenizer hit first
// (often a word that was meant to be quoted) is really an unbalanced quote.
bool ends_inside_string(std::string_view text) {
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (quote == 0) {
      if (text[i] == '\'' || text[i] == '"') quote = text[i];
    } else if (text[i] == '\\') {
      ++i;
    } else if (text[i] == quote || text[i] == '\n') {
      quote = 0;
    }
  }
  return quote != 0;
}

Result<std::string> convert(std::string_view text) {
  std::string out;
  std::vector<std::pair<char, size_t>> open;  // expected closer, position of the opener
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      out.push_back(c);
      ++i;
    } else if (c == '\'' || c == '"') {
      auto s = read_string(text, i);
      if (!s) return s.error();
      out += nlohmann::json(*s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else if (c == '{' || c == '[' || c == '(') {
      open.emplace_back(c == '{' ? '}' : c == '[' ? ']' : ')', i);
      out.push_back(c == '(' ? '[' : c);
      ++i;
    } else if (c == '}' || c == ']' || c == ')') {
      if (open.empty()) {
        return Error::invalid("unbalanced brackets: '" + std::string(1, c) + "' at " + col(i) +
                              " closes nothing");
      }
      if (open.back().first != c) {
        return Error::invalid("unbalanced brackets: '" + std::string(1, c) + "' at " + col(i) +
                              " does not match '" + std::string(1, text[open.back().second]) +
                              "' at " + col(open.back().second));
      }
      open.pop_back();
      // Python allows a trailing comma before the closer; JSON does not.
      size_t last = out.find_last_not_of(" \t\r\n");
      if (last != std::string::npos && out[last] == ',') out.erase(last, 1);
      out.push_back(c == ')' ? ']' : c);
      ++i;
    } else if (c == ',' || c == ':') {
      out.push_back(c);
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = i;
      while (end < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
        ++end;
      }
      std::string_view word = text.substr(i, end - i);
      if (word == "True" || word == "true") {
        out += "true";
      } else if (word == "False" || word == "false") {
        out += "false";
      } else if (word == "None" || word == "null") {
        out += "null";
      } else if ((word == "u" || word == "U") && end < text.size() &&
                 (text[end] == '\'' || text[end] == '"')) {
        // u'...' is a Python 2 unicode string: the same text
      } else {
        return Error::invalid("unexpected '" + std::string(word) + "' at " + col(i) +
                              " (strings need quotes)");
      }
      i = end;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
      size_t end = i;
      while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) ||
                                   text[end] == '.' || text[end] == '-' || text[end] == '+')) {
        ++end;
      }
      std::string number(text.substr(i, end - i));
      if (number.front() == '+') number.erase(0, 1);
      if (!nlohmann::json::accept(number)) {
        return Error::invalid("bad number '" + std::string(text.substr(i, end - i)) + "' at " +
                              col(i));
      }
      out += number;
      i = end;
    } else {
      return Error::invalid("unexpected '" + std::string(1, c) + "' at " + col(i));
    }
  }
  if (!open.empty()) {
    return Error::invalid("unbalanced brackets: '" + std::string(1, text[open.back().second]) +
                          "' at " + col(open.back().second) + " is not closed");
  }
  return out;
}

}  // namespace

Result<std::string> python_literal_to_json(std::string_view text) {
  auto json = convert(text);
  if (!json && ends_inside_string(text) && !json.error().message.starts_with("unbalanced quotes")) {
    return Error::invalid("unbalanced quotes: " + json.error().message);
  }
  return json;
}

}  // namespace gpucloud::config
