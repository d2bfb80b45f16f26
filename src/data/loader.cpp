#include "data/loader.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "core/error.h"

namespace nemokd::data {
namespace {

constexpr int kPad = 4;  // CIFAR recipe: random 32x32 crop of the image zero-padded by 4 on each side

// SplitMix64 finaliser: turns structured inputs (seed, epoch, position) into well-mixed 64-bit values.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t mix(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

// Fisher-Yates with an unbiased bounded draw from mt19937_64. std::shuffle/uniform_int_distribution are
// implementation-defined, so a run resumed with another standard library would see other batches; this
// depends only on mt19937_64, whose output the standard fixes.
void shuffle_indices(std::vector<int64_t>& v, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) {
    const uint64_t bound = i;
    const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
    uint64_t r;
    do r = rng();
    while (r >= limit);  // reject the short tail so every j is equally likely
    std::swap(v[i - 1], v[r % bound]);
  }
}

// value = pixel * scale + shift for a row of `n` pixels.
inline void convert_row(const uint8_t* src, float* dst, int64_t n, float scale, float shift) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) * scale + shift;
}

}  // namespace

Normalization parse_normalization(const std::string& name) {
  if (name == "standard") return Normalization::standard;
  if (name == "unit") return Normalization::unit;
  if (name == "signed") return Normalization::signed_unit;
  if (name == "raw") return Normalization::raw;
  throw ConfigError(fmt::format("normalization: unknown '{}' (expected standard, unit, signed or raw)", name));
}

std::string to_string(Normalization n) {
  switch (n) {
    case Normalization::standard: return "standard";
    case Normalization::unit: return "unit";
    case Normalization::signed_unit: return "signed";
    case Normalization::raw: return "raw";
  }
  return "unknown";
}

PixelAffine pixel_affine(const DatasetSpec& spec, Normalization normalization) {
  const auto channels = static_cast<size_t>(spec.channels);
  PixelAffine a;
  a.scale.assign(channels, 1.0f);
  a.shift.assign(channels, 0.0f);
  for (size_t c = 0; c < channels; ++c) {
    switch (normalization) {
      case Normalization::standard: {
        if (spec.mean.size() != channels || spec.stddev.size() != channels) {
          throw ConfigError(fmt::format("normalization: {} has no per-channel mean/std for 'standard'", spec.name));
        }
        // Computed in double, rounded once: (x/255 - mean)/std == x * (1/(255 std)) + (-mean/std).
        const double mean = spec.mean[c], std = spec.stddev[c];
        a.scale[c] = static_cast<float>(1.0 / (255.0 * std));
        a.shift[c] = static_cast<float>(-mean / std);
        break;
      }
      case Normalization::unit: a.scale[c] = static_cast<float>(1.0 / 255.0); break;
      case Normalization::signed_unit:
        a.scale[c] = static_cast<float>(2.0 / 255.0);
        a.shift[c] = -1.0f;
        break;
      case Normalization::raw: break;
    }
  }
  return a;
}

BatchLoader::BatchLoader(const ImageSet& set, const DatasetSpec& spec, BatchOptions options)
    : set_(set), options_(options) {
  if (options_.batch_size <= 0) {
    throw ConfigError(fmt::format("batch_size: must be > 0 (got {})", options_.batch_size));
  }
  if (!set_.images.defined() || set_.images.dim() != 4 || set_.images.scalar_type() != torch::kUInt8) {
    throw DataError(fmt::format("{}: loader needs uint8 images [N, C, H, W]", spec.name));
  }
  const int64_t channels = set_.images.size(1);
  if (channels != spec.channels) {
    throw DataError(fmt::format("{}: images have {} channels, the dataset has {}", spec.name, channels, spec.channels));
  }
  set_.images = set_.images.contiguous();  // no copy when already contiguous (the readers' output is)
  set_.labels = set_.labels.contiguous();

  affine_ = pixel_affine(spec, options_.normalization);
  start_epoch(0);
}

void BatchLoader::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  cursor_ = 0;
  order_.resize(static_cast<size_t>(set_.size()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  // The permutation depends on (seed, epoch) only, never on how many epochs this object has run, so a
  // resumed run reproduces the uninterrupted one.
  if (options_.shuffle) shuffle_indices(order_, mix(options_.seed, static_cast<uint64_t>(epoch)));
}

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = set_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

bool BatchLoader::next(Batch& out) {
  const int64_t n = set_.size();
  const int64_t remaining = n - cursor_;
  if (remaining <= 0) return false;
  const int64_t batch = std::min(options_.batch_size, remaining);
  if (options_.drop_last && batch < options_.batch_size) {
    cursor_ = n;
    return false;
  }

  const int64_t channels = set_.images.size(1), height = set_.images.size(2), width = set_.images.size(3);
  const int64_t plane = height * width, sample = channels * plane;
  torch::Tensor index = torch::empty({batch}, torch::kInt64);
  std::copy_n(order_.data() + cursor_, batch, index.data_ptr<int64_t>());
  torch::Tensor x = torch::empty({batch, channels, height, width}, torch::kFloat32);

  const uint8_t* images = set_.images.data_ptr<uint8_t>();
  const int64_t* idx = index.data_ptr<int64_t>();
  float* xs = x.data_ptr<float>();
  const float* scale = affine_.scale.data();
  const float* shift = affine_.shift.data();
  const bool augment = options_.augment;
  // Augmentation randomness is keyed by (seed, epoch, position in the epoch): the same sample slot gets
  // the same crop and flip whatever the thread count or call history.
  const uint64_t epoch_key = mix(options_.seed ^ 0xa5a5a5a5a5a5a5a5ULL, static_cast<uint64_t>(epoch_));
  const int64_t first_position = cursor_;

  // One pass per sample: gather, uint8 -> float, normalise and (optionally) crop/flip, written straight
  // into the batch. Grain ~32K pixels per task keeps small images from paying thread overhead per sample.
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(sample, 1));
  at::parallel_for(0, batch, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint8_t* src = images + idx[i] * sample;
      float* dst = xs + i * sample;
      // Samples are scattered over the whole set (tens of MB): fetch the next one while this one converts.
      if (i + 1 < end) {
        const uint8_t* next_src = images + idx[i + 1] * sample;
        for (int64_t off = 0; off < sample; off += 64) __builtin_prefetch(next_src + off);
      }
      if (!augment) {
        for (int64_t c = 0; c < channels; ++c) convert_row(src + c * plane, dst + c * plane, plane, scale[c], shift[c]);
        continue;
      }
      const uint64_t r = mix(epoch_key, static_cast<uint64_t>(first_position + i));
      // Crop origin in the padded image is (dy, dx) in [0, 2*pad]; as a shift of the source that is d - pad.
      const int64_t dy = static_cast<int64_t>((r >> 8) % (2 * kPad + 1)) - kPad;
      const int64_t dx = static_cast<int64_t>((r >> 24) % (2 * kPad + 1)) - kPad;
      const bool flip = (r & 1) != 0;
      // Output columns whose source column lies inside the image (outside it: padding, value 0 -> shift).
      // Unflipped: sx = x + dx. Flipped: sx = (W-1-x) + dx.
      const int64_t x_begin = flip ? std::max<int64_t>(0, dx) : std::max<int64_t>(0, -dx);
      const int64_t x_end = flip ? std::min<int64_t>(width, width + dx) : std::min<int64_t>(width, width - dx);
      for (int64_t c = 0; c < channels; ++c) {
        const float s = scale[c], t = shift[c];
        for (int64_t y = 0; y < height; ++y) {
          float* out_row = dst + c * plane + y * width;
          const int64_t sy = y + dy;
          if (sy < 0 || sy >= height || x_begin >= x_end) {
            std::fill(out_row, out_row + width, t);
            continue;
          }
          const uint8_t* in_row = src + c * plane + sy * width;
          std::fill(out_row, out_row + x_begin, t);
          if (flip) {
            for (int64_t xo = x_begin; xo < x_end; ++xo)
              out_row[xo] = static_cast<float>(in_row[width - 1 - xo + dx]) * s + t;
          } else {
            convert_row(in_row + x_begin + dx, out_row + x_begin, x_end - x_begin, s, t);
          }
          std::fill(out_row + x_end, out_row + width, t);
        }
      }
    }
  });

  out.x = std::move(x);
  out.y = set_.labels.index_select(0, index);
  out.index = std::move(index);
  cursor_ += batch;
  return true;
}

}  // namespace nemokd::data
