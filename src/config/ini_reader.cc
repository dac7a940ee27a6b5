// Why not libinih (which the build links): Debian's libinih1 is built with INI_HANDLER_LINENO=0
// (the handler gets no line number), INI_MAX_LINE=200 without realloc (longer lines, common for
// device_spec lists, are cut), ';' starts an inline comment (oslo keeps it in the value), and a
// continuation line reaches the handler as a second call with the same key, which cannot be told
// apart from a repeated key, i.e. a second value of a multi-valued option. oslo.config's own
// parser (oslo_config/iniparser.py) is a few rules, written out here.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "config/ini.h"

namespace gpucloud::config {
namespace {

std::string_view rstrip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
std::string_view strip(std::string_view s) {
  s = rstrip(s);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool same_section(std::string_view a, std::string_view b) {
  if (a == "DEFAULT" || b == "DEFAULT") return a == b;
  return lower(a) == lower(b);
}

}  // namespace

IniFile IniFile::parse(std::string_view text, std::string file_name, IniDialect dialect) {
  IniFile file;
  file.name_ = std::move(file_name);
  std::string section;
  bool in_section = false;
  bool before_headers = true;       // no `[...]` line yet
  std::optional<IniEntry> pending;  // the assignment that continuation lines may extend
  auto flush = [&] {
    if (pending) file.entries_.push_back(std::move(*pending));
    pending.reset();
  };
  auto problem = [&](int line, std::string message) {
    file.problems_.push_back({{file.name_, line}, std::move(message)});
  };

  int lineno = 0;
  size_t pos = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;  // a UTF-8 byte order mark
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        rstrip(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;

    if (line.empty()) {  // a blank line ends a multi-line value
      flush();
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (pending) {
        pending->value += "\n" + std::string(strip(line));
      } else {
        problem(lineno, "unexpected continuation line (indented, but no key before it)");
      }
      continue;
    }
    flush();
    if (line.front() == '[') {
      before_headers = false;
      if (line.back() != ']') {
        problem(lineno, "invalid section header (must end with ']')");
        in_section = false;  // what follows belongs to no section we know
      } else if (line.size() <= 2) {
        problem(lineno, "empty section name");
        in_section = false;
      } else {
        section = std::string(line.substr(1, line.size() - 2));
        in_section = true;
      }
      continue;
    }
    if (line.front() == '#' || line.front() == ';') continue;

    // The key ends at the first ':' or '=', whichever comes first (oslo's rule).
    size_t sep = line.find_first_of(":=");
    if (sep == std::string_view::npos) {
      problem(lineno, "no ':' or '=' in assignment");
      continue;
    }
    std::string_view key = strip(line.substr(0, sep));
    std::string_view value = strip(line.substr(sep + 1));
    // oslo drops one pair of matching quotes around a whole value.
    if (value.size() >= 2 && value.front() == value.back() &&
        (value.front() == '"' || value.front() == '\'')) {
      value = value.substr(1, value.size() - 2);
    }
    if (key.empty()) {
      problem(lineno, "empty key");
      continue;
    }
    if (!in_section) {
      if (dialect == IniDialect::kOslo || !before_headers) {
        problem(lineno, "'" + std::string(key) + "' is outside any [section]");
        continue;
      }
      // PasteDeploy dialect, before the first section header: kept in section "".
    }
    pending = IniEntry{section, std::string(key), std::string(value), {file.name_, lineno}};
  }
  flush();
  return file;
}

Result<IniFile> IniFile::load(const std::string& path, IniDialect dialect) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::not_found(path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error::unavailable(path + ": read error");
  return parse(text.str(), path, dialect);
}

std::vector<const IniEntry*> IniFile::find(std::string_view section, std::string_view key) const {
  std::vector<const IniEntry*> out;
  for (const auto& e : entries_) {
    if (e.key == key && same_section(e.section, section)) out.push_back(&e);
  }
  return out;
}

std::optional<IniEntry> lookup_single(const std::vector<IniFile>& files,
                                      std::initializer_list<OptName> names) {
  for (auto file = files.rbegin(); file != files.rend(); ++file) {
    for (const auto& name : names) {
      auto found = file->find(name.section, name.key);
      if (!found.empty()) return *found.back();
    }
  }
  return std::nullopt;
}

std::vector<IniEntry> lookup_multi(const std::vector<IniFile>& files,
                                   std::initializer_list<OptName> names) {
  // oslo walks the files newest first and prepends each name's values (`rvalue = val + rvalue`):
  // files end up oldest first, and within one file a deprecated name's values come before the
  // current name's.
  std::vector<IniEntry> out;
  for (auto file = files.rbegin(); file != files.rend(); ++file) {
    for (const auto& name : names) {
      std::vector<IniEntry> values;
      for (const IniEntry* e : file->find(name.section, name.key)) values.push_back(*e);
      out.insert(out.begin(), values.begin(), values.end());
    }
  }
  return out;
}

Result<bool> parse_bool(std::string_view text) {
  std::string v = lower(strip(text));
  if (v == "true" || v == "1" || v == "on" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "off" || v == "no") return false;
  return Error::invalid("'" + std::string(text) +
                        "' is not a boolean (true/false, yes/no, on/off, 1/0)");
}

}  // namespace gpucloud::config
