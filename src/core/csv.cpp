#include "core/csv.h"

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace nemokd {

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

CsvTable::CsvTable(std::vector<std::string> header) : columns_(header.size()) { append(header); }

void CsvTable::append(const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) text_ += ',';
    text_ += csv_field(fields[i]);
  }
  text_ += '\n';
}

void CsvTable::add_row(const std::vector<std::string>& fields) {
  if (fields.size() != columns_)
    throw Error(fmt::format("CSV: a record of {} fields under a header of {}", fields.size(), columns_));
  append(fields);
  ++rows_;
}

void CsvTable::write(const std::string& path) const { write_file_atomically(path, text_); }

std::vector<std::vector<std::string>> parse_csv(std::string_view text, const std::string& what) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, any = false;  // any: the record has content (a field or a separator)
  auto end_record = [&] {
    if (any) {
      record.push_back(std::move(field));
      records.push_back(std::move(record));
    }
    record.clear();
    field.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"') field += c;
      else if (i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else quoted = false;
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n') {
      end_record();
    } else if (c != '\r') {
      field += c;
      any = true;
    }
  }
  if (quoted) throw DataError(fmt::format("{}: a quoted CSV field is not closed", what));
  end_record();
  return records;
}

}  // namespace nemokd
