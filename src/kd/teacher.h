// A teacher for distillation: either a nemokd run folder (run.json + model.pt, e.g. from `nemokd kd teacher`)
// or a TorchScript module exported from PyTorch (torch.jit.script / trace, then .save) — what PyTorch users
// have. Either way: images in, logits out, eval mode, no gradient, and an identity (SHA-256 of the weights)
// that keys the teacher-output cache.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/hash.h"
#include "data/loader.h"

namespace nemokd::kd {

class Teacher {
 public:
  // `path`: a run folder or a TorchScript file. Throws DataError naming the path if it is neither/unreadable.
  static std::shared_ptr<Teacher> load(const std::string& path, const std::string& device);
  virtual ~Teacher() = default;

  virtual torch::Tensor logits(const torch::Tensor& x) = 0;  // [B, C, H, W] -> [B, classes], no grad
  const std::string& kind() const { return kind_; }          // "run" | "torchscript"
  const std::string& path() const { return path_; }
  const std::string& identity() const { return identity_; }  // hex SHA-256 of the weights file
  // The input normalisation the teacher was trained with, when known (run folders record it).
  const std::optional<data::Normalization>& normalization() const { return normalization_; }
  std::string describe() const;
  // What a run folder recorded about the images it was trained on ([C, H, W] and the dataset's name); empty for a
  // TorchScript file (its input is only known by trying it).
  const std::vector<int64_t>& input() const { return input_; }
  const std::string& dataset() const { return dataset_; }

 protected:
  std::string kind_, path_, identity_;
  std::optional<data::Normalization> normalization_;
  std::vector<int64_t> input_;
  std::string dataset_;
};

// Hex SHA-256 of a file's bytes (DataError if unreadable): core/hash.h.
using nemokd::sha256_file;

}  // namespace nemokd::kd
