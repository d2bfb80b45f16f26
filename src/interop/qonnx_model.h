// An imported QONNX MLP as a nemokd model family ("qonnx"): a Classifier that computes what the graph computes
// (float32, the graph's own operations in its order — interop/graph.h), and its integer view for the engine
// (interop/integer_plan.h: the graph's own rounding modes and thresholds, so the engine built from it is
// bit-exact with it).
//
// The file's bytes travel inside the model (a uint8 buffer "qonnx" in model.pt), so a run folder made by
// `nemokd import qonnx` is self-contained: load() rebuilds the graph from them and checks their SHA-256.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/hash.h"
#include "interop/graph.h"
#include "interop/integer_plan.h"
#include "models/classifier.h"
#include "models/integer_net.h"
#include "models/registry.h"

namespace nemokd::interop {

class QonnxModelImpl : public models::ClassifierImpl {
 public:
  // Reads and recognises a file (DataError naming the file and node when it cannot be imported).
  explicit QonnxModelImpl(const std::string& path);
  // From a file's bytes; `name` is how messages and describe() call it.
  QonnxModelImpl(std::string bytes, std::string name);
  // Not built yet: load() of a model.pt written from a model of this family builds it, checking the bytes against
  // `expect_sha256` (when not empty) and the graph against the input shape and classes the run recorded.
  QonnxModelImpl(std::string name, std::string expect_sha256, models::InputShape input, int classes);

  torch::Tensor forward(torch::Tensor x) override;  // images [N, C, H, W] (or [N, features]) -> logits, float32
  nlohmann::json describe() const override;
  std::vector<models::LayerSummary> layers() const override;
  void load(torch::serialize::InputArchive& archive) override;

  bool built() const { return graph_ != nullptr; }
  const Graph& graph() const;
  const std::string& sha256() const { return sha256_; }
  const std::string& name() const { return name_; }
  models::Family family() const override { return models::Family::qonnx; }
  // A flat input of F features reads as 1 x 1 x F. Before the graph is built (a model.pt not loaded yet): the
  // shape and classes the run recorded.
  models::InputShape input_shape() const override;
  int classes() const override;
  // ConfigError unless the graph reads images of that shape (a flat input: that many values) into that many classes.
  void check_shape(models::InputShape input, int classes) const;
  // "" when the integer view exists, else why not (naming the node).
  const std::string& integer_blocker() const { return blocker_; }
  const IntegerPlan& plan() const;  // throws ConfigError with the blocker
  // The integer view (models/integer_net.h: dense layers) with the graph's code maps; throws ConfigError with the
  // blocker.
  models::IntegerNet integer_view() const;

 private:
  void build(std::string bytes);
  std::string name_, sha256_, expect_sha256_;
  models::InputShape expect_input_;
  int expect_classes_ = 0;
  torch::Tensor bytes_;  // the file, uint8 (registered buffer "qonnx")
  std::shared_ptr<const Graph> graph_;
  std::shared_ptr<const IntegerPlan> plan_;
  std::string blocker_;
  std::vector<torch::Tensor> weights_;  // per Linear stage, float [in, out] (registered parameters fc0_weight, ...)
};

// SHA-256 of bytes, lower-case hex (core/hash.h).
using nemokd::sha256_hex;

// Registers the "qonnx" family with models::build_model (call once at start-up: main() and tests do).
void register_qonnx_family();

}  // namespace nemokd::interop
