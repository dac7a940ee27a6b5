// oslo.config's INI dialect: sections, repeated keys (multi-valued options), continuation lines,
// `#`/`;` comments, and the file and line of every value, so that every problem can be reported
// as `file:line: message`. Several files stack in order, with oslo's lookup rules.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gpucloud::config {

struct Location {
  std::string file;
  int line = 0;  // 0: the file as a whole (or, with an empty file, a built-in default)
  std::string to_string() const { return line > 0 ? file + ":" + std::to_string(line) : file; }
};

// One thing wrong (or doubtful) in a configuration file.
struct Problem {
  Location where;
  std::string message;
  bool warning = false;  // warnings are printed but do not fail `config check`
  std::string to_string() const {
    return where.to_string() + ": " + (warning ? "warning: " : "") + message;
  }
};

// One `key = value` assignment, continuation lines joined with '\n' (as oslo does).
struct IniEntry {
  std::string section;
  std::string key;
  std::string value;
  Location where;  // the line of the key
};

// Whose rules a file follows. oslo.config (nova.conf) refuses a key before the first section.
// cloudcontroller.ini is a PasteDeploy file, whose parser refuses it too, but the seed shows its
// two lines bare and operators copy them so: there a key before the first section is kept, in
// section "", for the reader to warn about.
enum class IniDialect { kOslo, kPasteDeploy };

class IniFile {
 public:
  // Never fails as a whole: malformed lines become problems and are skipped, so that one run
  // reports every problem instead of the first.
  static IniFile parse(std::string_view text, std::string file_name,
                       IniDialect dialect = IniDialect::kOslo);
  // Fails only when the file cannot be read.
  static Result<IniFile> load(const std::string& path, IniDialect dialect = IniDialect::kOslo);

  const std::string& name() const { return name_; }
  const std::vector<IniEntry>& entries() const { return entries_; }
  const std::vector<Problem>& problems() const { return problems_; }
  // Every assignment of `key` in `section`, in file order. Section names other than DEFAULT
  // match case-insensitively, as oslo's normalised lookup does; keys match exactly.
  std::vector<const IniEntry*> find(std::string_view section, std::string_view key) const;

 private:
  std::string name_;
  std::vector<IniEntry> entries_;
  std::vector<Problem> problems_;
};

// An option's name and where it lives; an option may have deprecated names too.
struct OptName {
  std::string_view section;
  std::string_view key;
};

// oslo.config's rules for files given in order (`--config-file nova.conf --config-file
// nova-compute.conf`): a single-valued option takes the last assignment in the newest file that
// sets it (under any of its names, the current name first); a multi-valued option (MultiStrOpt)
// collects every assignment from every file, oldest file first.
std::optional<IniEntry> lookup_single(const std::vector<IniFile>& files,
                                      std::initializer_list<OptName> names);
std::vector<IniEntry> lookup_multi(const std::vector<IniFile>& files,
                                   std::initializer_list<OptName> names);

// oslo's Boolean type: true/1/on/yes and false/0/off/no, case-insensitive.
Result<bool> parse_bool(std::string_view text);

// Turns the seed's Python-literal form (`{ 'name': 'K2_Grid' }`: single or double quotes,
// escapes, True/False/None, tuples, trailing commas) into JSON text. JSON input comes out as
// JSON. Errors say what and at which column of the value.
Result<std::string> python_literal_to_json(std::string_view text);

}  // namespace gpucloud::config
