// Bit-exactness check of an integer engine against the quantized MLP or CNN it was built from: both run on the
// same uint8 images (the model after the loader's exact pixel mapping, in its integer view = eval mode), and
// every hidden output code (conv and max-pool maps included), output accumulator, logit and prediction is
// compared.
#pragma once
#include <cstdint>

#include "data/dataset.h"
#include "data/loader.h"
#include "engine/runtime.h"
#include "models/classifier.h"

namespace nemokd::engine {

struct Comparison {
  int64_t frames = 0;
  int64_t code_mismatches = 0, accumulator_mismatches = 0, logit_mismatches = 0, prediction_mismatches = 0;
  int64_t model_correct = 0, engine_correct = 0;  // against the labels
  bool exact() const {
    return code_mismatches + accumulator_mismatches + logit_mismatches + prediction_mismatches == 0 &&
           model_correct == engine_correct;
  }
  double model_accuracy() const { return frames ? double(model_correct) / double(frames) : 0; }
  double engine_accuracy() const { return frames ? double(engine_correct) / double(frames) : 0; }
};

Comparison compare_with_model(const Engine& engine, const models::ClassifierImpl& model,
                              const data::PixelAffine& affine, const data::ImageSet& images);

}  // namespace nemokd::engine

#include <torch/nn/modules/container/sequential.h>

namespace nemokd::engine {

// The LibTorch fp32 network of an integer model's shapes — what the engine replaces: Conv2d (with bias, the
// model's kernel and padding) + ReLU, MaxPool2d, Flatten, Linear (with bias) + ReLU, BatchNorm folded away;
// input float [B, C, H, W] (a model without an image shape: [B, C * pixels]). Eval mode, default init.
torch::nn::Sequential fp32_twin(const IntegerModel& m);

// Batch throughput of the engine on `pixels` (uint8 [B, C, H, W], B = the batch), its single-frame latency,
// and — measured in the same call, on the same frames — fp32_twin(): what the engine replaces. Each figure is
// the best of 3 rounds of at least seconds/3 each. Threads: the engine's own; torch uses whatever
// configure_threads set.
struct Throughput {
  int64_t batch = 0;
  double engine_frames_per_second = 0, torch_frames_per_second = 0, single_frame_seconds = 0;
  double ratio() const { return torch_frames_per_second > 0 ? engine_frames_per_second / torch_frames_per_second : 0; }
};
Throughput measure_throughput(const Engine& engine, const torch::Tensor& pixels, double seconds);

}  // namespace nemokd::engine
