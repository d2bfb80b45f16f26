// Teacher-output cache: the teacher's logits for every image of the (un-augmented) training set, computed
// once and stored on disk, then memory-mapped and shared by every student, every (alpha, T) cell and every
// run — a student epoch then costs a gather instead of a teacher forward pass. The file name is a digest of
// the teacher's identity (SHA-256 of its weights), the dataset name, the image bytes and labels of the set
// (CRC-32), and the normalisation, so a different teacher, slice or mapping can never be served stale logits.
//
// File: "NKDLOGIT" magic, u32 version, u32 reserved, u64 rows, u64 classes, then rows x classes float32
// (little-endian); written to a temp file and renamed (a killed computation leaves no partial cache).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <torch/types.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "kd/teacher.h"

namespace nemokd::kd {

struct CacheKey {
  std::string teacher_identity;
  std::string dataset;  // name
  std::string split;    // "train"
  data::Normalization normalization = data::Normalization::standard;
  uint32_t content_crc = 0;  // CRC-32 of the images and labels
  int64_t rows = 0;
  std::string file_name() const;
};

class TeacherLogitCache {
 public:
  // Opens the cache for this teacher and set, computing and writing it first if it does not exist.
  // `cache_dir` empty = <data cache>/teacher-logits. Teacher inputs use `normalization`.
  static std::shared_ptr<TeacherLogitCache> open_or_compute(Teacher& teacher, const data::ImageSet& set,
                                                            const data::DatasetSpec& spec,
                                                            data::Normalization normalization,
                                                            const std::string& split, std::string cache_dir = "",
                                                            int64_t batch_size = 500);
  ~TeacherLogitCache();
  TeacherLogitCache(const TeacherLogitCache&) = delete;
  TeacherLogitCache& operator=(const TeacherLogitCache&) = delete;

  // Logits of the images at these positions of the set: float [B, classes] (a copy; the map stays read-only).
  torch::Tensor gather(const torch::Tensor& index) const;
  const torch::Tensor& all() const { return all_; }  // [rows, classes], backed by the mapping
  const std::string& path() const { return path_; }
  bool computed_now() const { return computed_now_; }
  double compute_seconds() const { return compute_seconds_; }

 private:
  TeacherLogitCache() = default;
  void map(const std::string& path, int64_t rows);
  std::string path_;
  void* base_ = nullptr;
  size_t length_ = 0;
  torch::Tensor all_;
  bool computed_now_ = false;
  double compute_seconds_ = 0;
};

}  // namespace nemokd::kd
