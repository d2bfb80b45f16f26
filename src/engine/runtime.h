// The integer inference runtime: executes an IntegerModel (engine/integer_model.h) bit-exactly, fast, on any
// x86-64. Per layer it picks one kernel — XNOR/popcount (1-bit x 1-bit), bit-serial AND/popcount (<= 4 bits),
// int8 dot products (VNNI vpdpbusd or AVX2 vpmaddwd), or plain scalar — and one instruction set, by CPU
// features and by timing the candidates at construction. Whatever is chosen, the output codes, accumulators,
// logits and predictions equal reference_trace() exactly. No torch here.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/integer_model.h"

namespace nemokd::engine {

enum class KernelKind { scalar, xnor, bitserial, int8 };
const char* to_string(KernelKind k);
KernelKind parse_kernel_kind(const std::string& s);  // "scalar", "xnor", "bitserial", "int8"; else ConfigError

enum class Isa { scalar, avx2, avx512 };
const char* to_string(Isa i);
Isa parse_isa(const std::string& s);  // "scalar", "avx2", "avx512"; else ConfigError
// avx512 means F+BW+VL+VNNI+VPOPCNTDQ, avx2 means AVX2+FMA+POPCNT.
bool isa_supported(Isa i);
Isa detect_isa();  // the best one this CPU supports

// Whether a kernel can execute a layer whose values are `input` and weights `weight` (scalar and int8: any;
// xnor: bipolar x bipolar; bitserial: both <= 4 bits).
bool kernel_applies(KernelKind k, const Operand& input, const Operand& weight);

struct EngineOptions {
  // "auto": per layer, time the applicable kernels on this CPU and keep the fastest; or one kernel forced for
  // every layer ("scalar" applies everywhere; any other kernel that does not apply to a layer is a
  // ConfigError naming the layer).
  std::string kernel = "auto";
  std::string isa = "auto";  // "auto" = detect_isa(); "scalar"/"avx2"/"avx512" force (ConfigError if missing)
  int threads = 1;           // batch inference splits frames over exactly this many threads (caller included)
};

struct LayerPlan {
  KernelKind kernel;
  Isa isa;
  std::string why;  // e.g. "measured 1.9 ns/frame vs bitserial 3.1"
};

class Engine {
 public:
  // Validates the model (engine::validate: DataError), packs weights, plans kernels (ConfigError for bad options).
  Engine(IntegerModel model, EngineOptions options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  const std::vector<LayerPlan>& plan() const;
  const IntegerModel& model() const;
  const EngineOptions& options() const;

  // Batch inference: pixels = frames x model.input.size() uint8, row-major. Multithreaded over frames.
  // Concurrent calls on one Engine are serialised.
  void predict(const uint8_t* pixels, int64_t frames, int32_t* predictions) const;
  // Single-frame latency path: the calling thread only, no allocation.
  int32_t predict_one(const uint8_t* pixels) const;

  // Everything a bit-exactness check needs: per hidden layer the output codes [frames][outputs] (bipolar
  // 0/1, unsigned 0..2^b-1, signed value), the output layer's accumulators [frames][classes], the logits
  // [frames][classes] and the predictions [frames].
  struct Trace {
    std::vector<std::vector<int32_t>> codes;
    std::vector<int32_t> output_acc;
    std::vector<float> logits;
    std::vector<int32_t> predictions;
  };
  Trace trace(const uint8_t* pixels, int64_t frames) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The plain scalar reference, straight from the definitions in integer_model.h (no packing): the ground truth
// of the tests. Validates the model first.
Engine::Trace reference_trace(const IntegerModel& m, const uint8_t* pixels, int64_t frames);
int32_t reference_predict(const IntegerModel& m, const uint8_t* pixels);  // one frame

}  // namespace nemokd::engine
