#include "interop/qonnx_model.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "interop/reader.h"

namespace nemokd::interop {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError(fmt::format("{}: cannot open", path));
  std::ostringstream buf;
  buf << f.rdbuf();
  return buf.str();
}

// The plan's maps as the integer view's code maps (models/integer_net.h).
class InputMap : public models::CodeMap {
 public:
  InputMap(std::shared_ptr<const Graph> g, std::shared_ptr<const IntegerPlan> p) : g_(std::move(g)), p_(std::move(p)) {}
  int32_t code(int64_t channel, double value) const override { return p_->input_code(*g_, channel, float(value)); }

 private:
  std::shared_ptr<const Graph> g_;
  std::shared_ptr<const IntegerPlan> p_;
};

class HiddenMap : public models::CodeMap {
 public:
  HiddenMap(std::shared_ptr<const Graph> g, std::shared_ptr<const IntegerPlan> p, size_t layer)
      : g_(std::move(g)), p_(std::move(p)), layer_(layer) {}
  int32_t code(int64_t channel, double acc) const override {
    return p_->hidden_code(*g_, layer_, channel, int64_t(acc));
  }

 private:
  std::shared_ptr<const Graph> g_;
  std::shared_ptr<const IntegerPlan> p_;
  size_t layer_;
};

// The engine operand as the integer view's Levels (what engine/build.cpp turns back into the operand).
quant::Levels levels_of(const OperandCode& c) {
  const auto& o = c.operand;
  quant::Levels l;
  l.bits = o.bits;
  l.scale = 1.0;
  l.bipolar = o.encoding == engine::Encoding::bipolar;
  l.is_signed = o.encoding != engine::Encoding::unsigned_int;
  l.narrow = o.encoding == engine::Encoding::signed_int;
  l.min_code = o.min_code();
  l.max_code = l.bipolar ? 1 : o.max_value();
  return l;
}

}  // namespace

QonnxModelImpl::QonnxModelImpl(const std::string& path) : QonnxModelImpl(read_file(path), path) {}

QonnxModelImpl::QonnxModelImpl(std::string bytes, std::string name) : name_(std::move(name)) {
  bytes_ = register_buffer("qonnx", torch::empty({0}, torch::kUInt8));
  build(std::move(bytes));
}

QonnxModelImpl::QonnxModelImpl(std::string name, std::string expect_sha256, models::InputShape input, int classes)
    : name_(std::move(name)), expect_sha256_(std::move(expect_sha256)), expect_input_(input), expect_classes_(classes) {
  bytes_ = register_buffer("qonnx", torch::empty({0}, torch::kUInt8));
}

void QonnxModelImpl::check_shape(models::InputShape input, int classes) const {
  const auto shape = input_shape();
  if (shape.numel() != input.numel() || (graph().input_dims.size() == 3 && shape.str() != input.str()))
    throw ConfigError(fmt::format("{}: the graph reads {} images, not {}", name_, shape.str(), input.str()));
  if (graph().classes != classes)
    throw ConfigError(fmt::format("{}: the graph has {} classes, not {}", name_, graph().classes, classes));
}

void QonnxModelImpl::build(std::string bytes) {
  auto g = std::make_shared<Graph>(parse_qonnx(bytes.data(), bytes.size(), name_));
  sha256_ = sha256_hex(bytes);
  if (!expect_sha256_.empty() && expect_sha256_ != sha256_)
    throw DataError(fmt::format("{}: SHA-256 {} differs from the {} the run recorded", name_, sha256_, expect_sha256_));
  auto t = torch::empty({int64_t(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  bytes_.set_(t);
  torch::NoGradGuard no_grad;
  int k = 0;
  for (const auto& s : g->stages)
    if (const auto* l = std::get_if<Linear>(&s.op)) {
      auto w = torch::from_blob(const_cast<float*>(l->weight.data()), {l->in, l->out}, torch::kFloat).clone();
      weights_.push_back(register_parameter(fmt::format("fc{}_weight", k++), w, /*requires_grad=*/false));
    }
  graph_ = g;
  try {
    plan_ = std::make_shared<IntegerPlan>(plan_integer(*g));
  } catch (const ConfigError& e) {
    blocker_ = e.what();
  }
}

void QonnxModelImpl::load(torch::serialize::InputArchive& archive) {
  torch::nn::Module::load(archive);
  const auto b = bytes_.contiguous();
  std::string bytes(size_t(b.numel()), '\0');
  if (b.numel()) std::memcpy(bytes.data(), b.data_ptr<uint8_t>(), bytes.size());
  if (bytes.empty()) throw DataError(fmt::format("{}: the saved model holds no QONNX graph", name_));
  if (!built()) {
    build(std::move(bytes));
    if (expect_classes_ > 0) check_shape(expect_input_, expect_classes_);
    return;
  }
  if (sha256_hex(bytes) != sha256_)
    throw DataError(fmt::format("{}: the saved model holds another QONNX graph than the file it was built from", name_));
}

const Graph& QonnxModelImpl::graph() const {
  if (!graph_) throw Error(fmt::format("{}: the QONNX model is not loaded", name_));
  return *graph_;
}

const IntegerPlan& QonnxModelImpl::plan() const {
  if (!plan_) throw ConfigError(blocker_.empty() ? fmt::format("{}: not loaded", name_) : blocker_);
  return *plan_;
}

int QonnxModelImpl::classes() const { return built() ? graph().classes : expect_classes_; }

models::InputShape QonnxModelImpl::input_shape() const {
  if (!built()) return expect_input_;
  const auto& d = graph().input_dims;
  if (d.size() == 3) return {int(d[0]), int(d[1]), int(d[2])};
  return {1, 1, int(graph().features())};
}

torch::Tensor QonnxModelImpl::forward(torch::Tensor x) {
  torch::NoGradGuard no_grad;
  const auto& g = graph();
  const auto device = x.device();
  const int64_t n = x.size(0);
  if (x.numel() != n * g.features())
    throw ConfigError(fmt::format("{}: the graph reads {} values per image, the input has {}", name_, g.features(),
                                  n ? x.numel() / n : 0));
  auto h = x.to(torch::kCPU, torch::kFloat).reshape({n, g.features()}).contiguous().clone();
  size_t k = 0;
  for (const auto& s : g.stages) {
    if (std::holds_alternative<Linear>(s.op)) {
      h = torch::matmul(h, weights_[k++]).contiguous();
      continue;
    }
    apply_rows(s.op, h.data_ptr<float>(), n, s.features);
  }
  return h.to(device);
}

nlohmann::json QonnxModelImpl::describe() const {
  nlohmann::json j = {{"arch", "qonnx"}, {"qonnx", {{"file", name_}, {"sha256", sha256_}}}};
  if (!built()) return j;
  const auto& g = graph();
  nlohmann::json opsets = nlohmann::json::object();
  for (const auto& [d, v] : g.opsets) opsets[d.empty() ? "ai.onnx" : d] = v;
  j["input"] = input_shape().str();
  j["classes"] = g.classes;
  j["parameters"] = models::parameter_count(*this);
  j["macs"] = macs();
  j["producer"] = g.producer;
  j["opsets"] = opsets;
  j["stages"] = g.summary();
  j["integer_view"] = blocker_.empty() ? nlohmann::json("available") : nlohmann::json(blocker_);
  return j;
}

std::vector<models::LayerSummary> QonnxModelImpl::layers() const {
  std::vector<models::LayerSummary> rows;
  if (!built()) return rows;
  int k = 0, a = 0;
  for (const auto& s : graph().stages) {
    if (const auto* l = std::get_if<Linear>(&s.op)) {
      models::LayerSummary r;
      r.name = fmt::format("fc{}", k++);
      r.kind = "linear";
      r.detail = fmt::format("{}->{}", l->in, l->out) + (l->wq.integer ? fmt::format(" W{}", l->wq.bits) : "");
      r.output = {l->out};
      r.parameters = l->in * l->out;
      r.macs = l->in * l->out;
      rows.push_back(r);
    } else if (is_quantizer(s.op)) {
      models::LayerSummary r;
      r.name = fmt::format("act{}", a++);
      r.kind = "act";
      r.detail = fmt::format("{} A{}", op_name(s.op), declared_bits(s.op));
      r.output = {s.features};
      rows.push_back(r);
    }
  }
  return rows;
}

models::IntegerNet QonnxModelImpl::integer_view() const {
  const auto& p = plan();
  models::IntegerNet view;
  view.input_mode = "map";
  view.input_levels = levels_of(p.acts[0].operand);
  view.input_map = std::make_shared<InputMap>(graph_, plan_);
  // The image the graph reads; a flat graph reads a row of values per channel (channel-major).
  view.input = graph().input_dims.size() == 3
                   ? input_shape()
                   : models::InputShape{int(p.channels), 1, int(p.pixels_per_channel)};
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const auto& L = p.layers[l];
    models::IntegerLayer layer;
    layer.op = models::IntegerOp::dense;
    layer.name = fmt::format("fc{}", l);
    layer.is_output = L.is_output;
    layer.input_levels = levels_of(p.acts[l].operand);
    layer.weight_levels = levels_of(L.weight);
    auto w = torch::empty({L.out, L.in}, torch::kFloat);
    float* wp = w.data_ptr<float>();
    for (size_t e = 0; e < L.weights.size(); ++e) wp[e] = float(L.weights[e]);
    layer.weight_values = w;
    layer.accumulator_bound = p.accumulator_bound(l);
    if (L.is_output) {
      layer.scale = torch::tensor(L.logit_scale, torch::kDouble);
      layer.shift = torch::tensor(L.logit_bias, torch::kDouble);
    } else {
      std::vector<double> dir(L.direction.begin(), L.direction.end());
      layer.scale = torch::tensor(dir, torch::kDouble);
      layer.shift = torch::zeros({L.out}, torch::kDouble);
      layer.output_levels = levels_of(p.acts[l + 1].operand);
      layer.code_map = std::make_shared<HiddenMap>(graph_, plan_, l);
    }
    view.layers.push_back(std::move(layer));
  }
  return view;
}

void register_qonnx_family() {
  models::register_file_model_family(
      models::Family::qonnx, [](const models::FileModelConfig& c, models::InputShape input, int classes) -> models::Classifier {
        std::shared_ptr<QonnxModelImpl> m;
        // A run folder's config names the file it was imported from and its hash: when that file is still there
        // and unchanged, build from it; otherwise the run's model.pt brings the bytes (load()).
        if (!c.sha256.empty()) {
          std::error_code ec;
          if (std::filesystem::is_regular_file(c.file, ec)) {
            auto bytes = read_file(c.file);
            if (sha256_hex(bytes) == c.sha256) m = std::make_shared<QonnxModelImpl>(std::move(bytes), c.file);
          }
          if (!m) return std::make_shared<QonnxModelImpl>(c.file, c.sha256, input, classes);
        } else {
          m = std::make_shared<QonnxModelImpl>(c.file);
        }
        m->check_shape(input, classes);
        return m;
      });
}

}  // namespace nemokd::interop
