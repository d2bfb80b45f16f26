// The one CSV writer and reader (RFC 4180, https://www.rfc-editor.org/rfc/rfc4180): a field holding a comma, a
// double quote, CR or LF is enclosed in double quotes with its quotes doubled; other fields are written as they
// are. Records end in "\n" (the tables have always used LF; RFC 4180 readers accept it). Every results table
// (sweeps, KD grids, evolutions, FPGA grids and sweep tables) is written through CsvTable, so a full disk is one
// error (core/atomic_file.h) and no field can shift a column. Torch-free (library core_io).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace nemokd {

// One field as it appears in the file.
std::string csv_field(std::string_view text);

class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> header);
  // Appends one record; it must have as many fields as the header (an Error otherwise: a bug, not user input).
  void add_row(const std::vector<std::string>& fields);
  size_t rows() const { return rows_; }
  const std::string& text() const { return text_; }  // header and records
  // Writes the table atomically and checked (write_file_atomically): a failed write is one Error, no file is left.
  void write(const std::string& path) const;

 private:
  void append(const std::vector<std::string>& fields);
  size_t columns_;
  size_t rows_ = 0;
  std::string text_;
};

// Parses CSV text into records of fields (quoted fields may hold commas, doubled quotes and line breaks; a CR
// before a line break is dropped; empty lines are skipped). An unterminated quote is a DataError naming `what`.
std::vector<std::vector<std::string>> parse_csv(std::string_view text, const std::string& what);

}  // namespace nemokd
