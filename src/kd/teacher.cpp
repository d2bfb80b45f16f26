#include "kd/teacher.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "core/error.h"
#include "train/torch_file.h"
#include "train/train_run.h"

namespace nemokd::kd {

namespace fs = std::filesystem;

std::string Teacher::describe() const { return fmt::format("{} teacher {} (sha256 {})", kind_, path_, identity_.substr(0, 12)); }

namespace {

class RunTeacher : public Teacher {
 public:
  RunTeacher(const std::string& dir, const std::string& device) : device_(device) {
    run_ = train::load_trained_run(dir);
    run_.model->to(device_);
    run_.model->eval();
    kind_ = "run";
    path_ = dir;
    identity_ = sha256_file((fs::path(dir) / "model.pt").string());
    normalization_ = run_.config.train.normalization;
    const auto& ds = run_.record.results.at("dataset");
    input_ = ds.at("shape").get<std::vector<int64_t>>();
    dataset_ = run_.config.dataset.name;
  }
  torch::Tensor logits(const torch::Tensor& x) override {
    torch::NoGradGuard g;
    return run_.model->forward(x.to(device_));
  }

 private:
  train::TrainedRun run_;
  torch::Device device_;
};

class ScriptTeacher : public Teacher {
 public:
  ScriptTeacher(const std::string& file, const std::string& device) : device_(device) {
    train::verify_archive(file);
    try {
      module_ = torch::jit::load(file, device_);
    } catch (const c10::Error& e) {
      throw DataError(fmt::format("{}: not a loadable TorchScript module ({})", file,
                                  e.msg().substr(0, e.msg().find('\n'))));
    }
    // A nemokd model.pt is a zip of tensors too, so torch::jit::load reads it — as a module without methods.
    if (!module_.find_method("forward")) {
      const auto dir = fs::path(file).parent_path();
      if (fs::exists(dir / "run.json"))
        throw DataError(fmt::format("{}: a nemokd model file, not a TorchScript module; pass its run folder as the "
                                    "teacher: --teacher {}",
                                    file, dir.empty() ? std::string(".") : dir.string()));
      throw DataError(fmt::format("{}: a TorchScript file without a forward() method (save a scripted or traced "
                                  "module: torch.jit.script(model).save(path))",
                                  file));
    }
    module_.eval();
    kind_ = "torchscript";
    path_ = file;
    identity_ = sha256_file(file);
  }
  torch::Tensor logits(const torch::Tensor& x) override {
    torch::NoGradGuard g;
    auto out = module_.forward({x.to(device_)});
    if (!out.isTensor())
      throw DataError(fmt::format("{}: the TorchScript teacher must return a logits tensor", path_));
    auto t = out.toTensor();
    if (t.dim() != 2 || t.size(0) != x.size(0))
      throw DataError(fmt::format("{}: the TorchScript teacher returned shape [{}], expected [batch, classes]", path_,
                                  fmt::join(t.sizes(), ", ")));
    return t.to(torch::kFloat);
  }

 private:
  torch::jit::Module module_;
  torch::Device device_;
};

}  // namespace

std::shared_ptr<Teacher> Teacher::load(const std::string& path, const std::string& device) {
  if (fs::is_directory(path)) return std::make_shared<RunTeacher>(path, device);
  if (fs::is_regular_file(path)) return std::make_shared<ScriptTeacher>(path, device);
  throw DataError(fmt::format("{}: no such teacher (a run folder with run.json + model.pt, or a TorchScript file)",
                              path));
}

}  // namespace nemokd::kd
