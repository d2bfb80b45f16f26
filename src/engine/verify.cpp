#include "engine/verify.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "models/integer_net.h"

namespace nemokd::engine {

namespace {
int64_t count_diff(const std::vector<int32_t>& a, const torch::Tensor& b) {
  auto bc = b.contiguous();
  const int32_t* p = bc.data_ptr<int32_t>();
  int64_t n = 0;
  for (size_t k = 0; k < a.size(); ++k) n += a[k] != p[k];
  return n;
}
}  // namespace

Comparison compare_with_model(const Engine& eng, const models::ClassifierImpl& model, const data::PixelAffine& affine,
                              const data::ImageSet& set) {
  torch::NoGradGuard no_grad;
  const auto view = models::integer_view(model);
  Comparison c;
  constexpr int64_t kChunk = 500;
  for (int64_t b = 0; b < set.size(); b += kChunk) {
    const int64_t e = std::min(set.size(), b + kChunk);
    auto px = set.images.slice(0, b, e).contiguous();
    auto x = px.to(torch::kFloat);
    // Normalise exactly as the loader does, channel by channel (float multiply, then float add).
    for (int64_t ch = 0; ch < x.size(1); ++ch) x.select(1, ch).mul_(affine.scale[ch]).add_(affine.shift[ch]);
    models::IntegerTrace mt;
    auto logits = models::integer_forward(view, x, &mt);
    auto et = eng.trace(px.data_ptr<uint8_t>(), e - b);
    for (size_t l = 0; l < mt.codes.size(); ++l) c.code_mismatches += count_diff(et.codes[l], mt.codes[l]);
    c.accumulator_mismatches += count_diff(et.output_acc, mt.output_acc);
    auto ml = mt.logits.contiguous();
    for (int64_t k = 0; k < ml.numel(); ++k) c.logit_mismatches += et.logits[size_t(k)] != ml.data_ptr<float>()[k];
    auto pred = logits.argmax(1).to(torch::kInt32).contiguous();
    c.prediction_mismatches += count_diff(et.predictions, pred);
    auto labels = set.labels.slice(0, b, e).contiguous();
    c.model_correct += (pred.to(torch::kInt64) == labels).sum().item<int64_t>();
    for (int64_t k = 0; k < e - b; ++k) c.engine_correct += et.predictions[size_t(k)] == labels.data_ptr<int64_t>()[k];
    c.frames += e - b;
  }
  return c;
}

}  // namespace nemokd::engine

namespace nemokd::engine {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Seconds per call of fn: warm-up, then the best of 3 rounds of at least `seconds`/3 each.
double time_per_call(const std::function<void()>& fn, double seconds) {
  fn();
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    int64_t calls = 0;
    const auto t0 = Clock::now();
    do {
      fn();
      ++calls;
    } while (since(t0) < seconds / 3);
    best = std::min(best, since(t0) / double(calls));
  }
  return best;
}

}  // namespace

torch::nn::Sequential fp32_twin(const IntegerModel& m) {
  torch::nn::Sequential seq;
  bool flat = m.input.height == 0;
  if (flat) seq->push_back(torch::nn::Flatten());
  for (const auto& l : m.layers) {
    switch (l.kind) {
      case LayerKind::conv:
        seq->push_back(torch::nn::Conv2d(
            torch::nn::Conv2dOptions(l.in_map.channels, l.outputs, l.kernel).padding(l.padding).bias(true)));
        seq->push_back(torch::nn::ReLU());
        break;
      case LayerKind::maxpool:
        seq->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(l.kernel).stride(l.stride)));
        break;
      case LayerKind::flatten:
        seq->push_back(torch::nn::Flatten());
        flat = true;
        break;
      case LayerKind::dense:
        if (!flat) {
          seq->push_back(torch::nn::Flatten());
          flat = true;
        }
        seq->push_back(torch::nn::Linear(l.inputs, l.outputs));
        if (!l.is_output) seq->push_back(torch::nn::ReLU());
        break;
    }
  }
  seq->eval();
  return seq;
}

Throughput measure_throughput(const Engine& eng, const torch::Tensor& pixels, double seconds) {
  Throughput t;
  auto px = pixels.contiguous();
  t.batch = px.size(0);
  const int64_t frame = px[0].numel();
  const uint8_t* p = px.data_ptr<uint8_t>();
  std::vector<int32_t> pred(size_t(t.batch));
  t.engine_frames_per_second = double(t.batch) / time_per_call([&] { eng.predict(p, t.batch, pred.data()); }, seconds);
  volatile int32_t sink = 0;
  t.single_frame_seconds =
      time_per_call([&] {
        for (int k = 0; k < 256; ++k) sink = sink + eng.predict_one(p + int64_t(k % t.batch) * frame);
      }, seconds) / 256;
  auto twin = fp32_twin(eng.model());
  torch::NoGradGuard no_grad;
  const auto& in = eng.model().input;
  auto x = in.height ? px.view({t.batch, in.channels, in.height, in.width}).to(torch::kFloat)
                     : px.view({t.batch, -1}).to(torch::kFloat);
  t.torch_frames_per_second =
      double(t.batch) / time_per_call([&] { sink = sink + int32_t(twin->forward(x).argmax(1)[0].item<int64_t>()); },
                                      seconds);
  return t;
}

}  // namespace nemokd::engine
