// Torch archive files (checkpoint.pt, model.pt) written so that nothing is lost and read only when intact.
#pragma once
#include <string>

namespace torch::serialize {
class OutputArchive;
}

namespace nemokd::train {

// Serialises `archive` in memory, then writes the bytes to PATH.tmp and renames it over PATH. A full disk (or any
// other write error) is one nemokd::Error naming the file; the temp file is removed and PATH keeps what it held.
// (torch's own save_to(file) throws c10::Error mid-write and again from its writer's destructor, which ends the
// process in std::terminate.)
void save_archive(torch::serialize::OutputArchive& archive, const std::string& path);

// Checks every member of a torch zip archive (checkpoint, model.pt, TorchScript file) against the CRC-32 its zip
// header records, with libarchive: torch's own reader skips the check, so a file with flipped bytes would load as a
// different model. Throws DataError naming the file and the member.
void verify_archive(const std::string& path);

}  // namespace nemokd::train
