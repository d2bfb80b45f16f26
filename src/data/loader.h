// Batches from an in-memory ImageSet: a per-epoch permutation derived from (seed, epoch) — so a resumed
// run sees exactly the batches the uninterrupted run would have — and one fused pass that gathers, converts
// uint8 -> float, normalises and (optionally) augments into the batch tensor. No per-sample torch calls.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "data/dataset.h"

namespace nemokd::data {

enum class Normalization {
  standard,     // (x/255 - mean) / std, per channel
  unit,         // x/255 in [0, 1]
  signed_unit,  // 2*x/255 - 1 in [-1, 1] (FINN's reference input mapping)
  raw,          // x as float in [0, 255] (integer-exact pixels for quantised inputs)
};
Normalization parse_normalization(const std::string& name);  // throws ConfigError
std::string to_string(Normalization n);

// Per channel, value = float(pixel) * scale + shift, each operation rounded in float: the one definition of
// the pixel mapping, shared by the loader and by the integer engine (whose input thresholds on uint8 pixels
// must agree with what the model saw, to the last bit).
struct PixelAffine {
  std::vector<float> scale, shift;
  float apply(uint8_t pixel, int64_t channel) const {
    return static_cast<float>(pixel) * scale[channel] + shift[channel];
  }
};
// Throws ConfigError when 'standard' is asked of a dataset without per-channel mean/std.
PixelAffine pixel_affine(const DatasetSpec& spec, Normalization normalization);

struct BatchOptions {
  int64_t batch_size = 128;
  bool shuffle = false;
  bool augment = false;  // random crop 32 from zero-padded 40 + horizontal flip (CIFAR recipe)
  bool drop_last = false;
  Normalization normalization = Normalization::standard;
  uint64_t seed = 0;
};

struct Batch {
  torch::Tensor x;      // float [B, C, H, W]
  torch::Tensor y;      // int64 [B]
  torch::Tensor index;  // int64 [B]: positions in the ImageSet (keys for cached teacher outputs)
};

class BatchLoader {
 public:
  BatchLoader(const ImageSet& set, const DatasetSpec& spec, BatchOptions options);

  void start_epoch(int64_t epoch);  // resets the cursor; reshuffles deterministically if shuffle is on
  bool next(Batch& out);            // false once the epoch is exhausted
  int64_t batches_per_epoch() const;
  int64_t size() const { return set_.size(); }
  const BatchOptions& options() const { return options_; }

 private:
  ImageSet set_;
  BatchOptions options_;
  PixelAffine affine_;
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;
  int64_t epoch_ = 0;
};

}  // namespace nemokd::data
