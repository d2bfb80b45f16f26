#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/nn/functional/loss.h>
#include <torch/serialize.h>
#include <torch/utils.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/run_record.h"
#include "train/torch_file.h"

namespace nemokd::train {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {


nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double number_or_nan(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return (it == j.end() || it->is_null()) ? NAN : it->get<double>();
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 90) return fmt::format("{:.0f}s", s);
  if (s < 5400) return fmt::format("{:.1f}min", s / 60);
  return fmt::format("{:.1f}h", s / 3600);
}

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", 100 * v) : "-"; }

}  // namespace

void TrainOptions::validate(const std::string& key) const {
  check_range(key + ".epochs", epochs, 1, 100000);
  check_range(key + ".batch_size", double(batch_size), 1, 1 << 20);
  check_range(key + ".eval_batch_size", double(eval_batch_size), 1, 1 << 20);
  optim.validate(key + ".optim");
  for (int e : test_eval_epochs)
    if (e < 1) throw ConfigError(fmt::format("{}.test_eval_epochs: epoch {} (epochs count from 1)", key, e));
}

nlohmann::json to_json(const TrainOptions& o) {
  return {{"epochs", o.epochs},
          {"batch_size", o.batch_size},
          {"eval_batch_size", o.eval_batch_size},
          {"seed", o.seed},
          {"device", o.device},
          {"augment", o.augment},
          {"normalization", data::to_string(o.normalization)},
          {"optim", to_json(o.optim)},
          {"eval_test_each_epoch", o.eval_test_each_epoch},
          {"test_eval_epochs", o.test_eval_epochs}};
}

TrainOptions train_options_from_json(const nlohmann::json& j, const std::string& path) {
  TrainOptions o;
  JsonReader r(j, path);
  std::string norm = data::to_string(o.normalization);
  r.get("epochs", o.epochs).get("batch_size", o.batch_size).get("eval_batch_size", o.eval_batch_size);
  r.get("seed", o.seed).get("device", o.device).get("augment", o.augment).get("normalization", norm);
  r.get("eval_test_each_epoch", o.eval_test_each_epoch).get("test_eval_epochs", o.test_eval_epochs);
  if (const auto* opt = r.child("optim")) o.optim = optim_config_from_json(*opt, r.key_path("optim"));
  r.finish();
  o.normalization = data::parse_normalization(norm);
  o.validate(path);
  return o;
}

nlohmann::json to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},
          {"lr", m.lr},
          {"train_loss", m.train_loss},
          {"train_accuracy", m.train_accuracy},
          {"val_loss", number_or_null(m.val_loss)},
          {"val_accuracy", number_or_null(m.val_accuracy)},
          {"test_loss", number_or_null(m.test_loss)},
          {"test_accuracy", number_or_null(m.test_accuracy)},
          {"train_seconds", m.train_seconds},
          {"eval_seconds", m.eval_seconds},
          {"images_per_second", m.images_per_second}};
}

EpochMetrics epoch_metrics_from_json(const nlohmann::json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch").get<int>();
  m.lr = j.at("lr").get<double>();
  m.train_loss = j.at("train_loss").get<double>();
  m.train_accuracy = j.at("train_accuracy").get<double>();
  m.val_loss = number_or_nan(j, "val_loss");
  m.val_accuracy = number_or_nan(j, "val_accuracy");
  m.test_loss = number_or_nan(j, "test_loss");
  m.test_accuracy = number_or_nan(j, "test_accuracy");
  m.train_seconds = j.value("train_seconds", 0.0);
  m.eval_seconds = j.value("eval_seconds", 0.0);
  m.images_per_second = j.value("images_per_second", 0.0);
  return m;
}

nlohmann::json TrainResult::to_json() const {
  nlohmann::json h = nlohmann::json::array();
  for (const auto& m : history) h.push_back(train::to_json(m));
  nlohmann::json j = {{"status", status},
                      {"epochs_completed", history.size()},
                      {"resumed_from_epoch", resumed_from_epoch},
                      {"seconds", seconds},
                      {"train_images_per_second", images_per_second},
                      {"history", h}};
  if (!message.empty()) j["message"] = message;
  if (!history.empty()) {
    j["final_test_accuracy"] = number_or_null(history.back().test_accuracy);
    j["final_val_accuracy"] = number_or_null(history.back().val_accuracy);
  }
  return j;
}

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

Trainer::Trainer(models::Classifier model, const data::Dataset& dataset, TrainOptions options)
    : model_(std::move(model)), dataset_(dataset), options_(std::move(options)), device_(options_.device) {
  options_.validate();
  if (dataset_.train.size() == 0) throw ConfigError("train: the training split is empty");
  model_->to(device_);
  optimizer_ = make_optimizer(options_.optim, model_->parameters());
  loss_ = [](const torch::Tensor& logits, const data::Batch& batch) { return F::cross_entropy(logits, batch.y); };
}

std::string Trainer::checkpoint_path() const {
  return options_.out_dir.empty() ? std::string() : (fs::path(options_.out_dir) / "checkpoint.pt").string();
}

void Trainer::save_checkpoint(int epoch, const std::vector<EpochMetrics>& history) {
  if (options_.out_dir.empty()) return;
  fs::create_directories(options_.out_dir);
  torch::serialize::OutputArchive root, model_archive, optim_archive;
  model_->save(model_archive);
  optimizer_->save(optim_archive);
  root.write("model", model_archive);
  root.write("optimizer", optim_archive);
  nlohmann::json h = nlohmann::json::array();
  for (const auto& m : history) h.push_back(to_json(m));
  nlohmann::json state = {{"epoch", epoch}, {"history", h}, {"resume_key", resume_key_},
                          {"model", model_->describe()}};
  root.write("state_json", c10::IValue(state.dump()));
  {
    // Dropout draws from torch's CPU generator: keep its state so a resumed run continues the same stream.
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    root.write("cpu_rng_state", gen.get_state());
  }
  save_archive(root, checkpoint_path());  // atomic: a kill or a full disk leaves the previous checkpoint intact
  write_json_file((fs::path(options_.out_dir) / "metrics.json").string(), state.at("history"));
}

nlohmann::json Trainer::open_checkpoint(torch::serialize::InputArchive& root, const torch::Device& device) const {
  const std::string path = checkpoint_path();
  verify_archive(path);
  try {
    root.load_from(path, device);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: cannot read checkpoint ({})", path, e.msg().substr(0, 200)));
  }
  c10::IValue state_iv;
  root.read("state_json", state_iv);
  auto state = parse_json(state_iv.toStringRef(), path);
  int epoch = 0;
  if (!state.is_object() || !state.contains("resume_key") || !state.contains("history") || !state.contains("epoch"))
    throw DataError(fmt::format("{}: not a nemokd checkpoint (no resume_key/epoch/history)", path));
  detail::strict_get(state.at("epoch"), path + ": epoch", epoch);
  if (state.at("resume_key") != resume_key_) {
    throw ConfigError(fmt::format(
        "{}: was written by a run with a different configuration; resume with the same settings or use a new "
        "--out (checkpoint: {}, now: {})",
        path, state.at("resume_key").dump(), resume_key_.dump()));
  }
  // Resuming with fewer epochs would train nothing yet record the smaller number next to a model that has more.
  if (epoch > options_.epochs)
    throw ConfigError(fmt::format("{}: the checkpoint is after epoch {}; --epochs {} would not train it (resume with "
                                  "--epochs {} or more)",
                                  path, epoch, options_.epochs, epoch));
  return state;
}

void Trainer::check_checkpoint() const {
  const std::string path = checkpoint_path();
  if (path.empty() || !fs::exists(path)) return;
  if (!options_.resume)
    throw ConfigError(fmt::format("{}: a checkpoint already exists; pass --resume to continue it or choose another "
                                  "--out (nothing is overwritten)",
                                  path));
  torch::serialize::InputArchive root;
  open_checkpoint(root, torch::kCPU);
}

int Trainer::load_checkpoint(std::vector<EpochMetrics>& history) {
  torch::serialize::InputArchive root, model_archive, optim_archive;
  const auto state = open_checkpoint(root, device_);
  root.read("model", model_archive);
  model_->load(model_archive);
  root.read("optimizer", optim_archive);
  optimizer_->load(optim_archive);
  torch::Tensor rng;
  root.read("cpu_rng_state", rng);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  }
  history.clear();
  for (const auto& m : state.at("history")) history.push_back(epoch_metrics_from_json(m));
  return state.at("epoch").get<int>();
}

Evaluation Trainer::evaluate(const data::ImageSet& set) {
  Evaluation ev;
  if (set.size() == 0) return ev;
  torch::NoGradGuard no_grad;
  model_->eval();
  data::BatchOptions bo;
  bo.batch_size = options_.eval_batch_size;
  bo.normalization = options_.normalization;
  data::BatchLoader loader(set, dataset_.spec, bo);
  loader.start_epoch(0);
  data::Batch batch;
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device_));
  while (loader.next(batch)) {
    auto x = batch.x.to(device_, /*non_blocking=*/true);
    auto y = batch.y.to(device_, true);
    auto logits = model_->forward(x);
    loss_sum += F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)).to(torch::kDouble);
    correct += logits.argmax(1).eq(y).sum();
  }
  ev.count = set.size();
  ev.loss = loss_sum.item<double>() / ev.count;
  ev.accuracy = double(correct.item<int64_t>()) / ev.count;
  return ev;
}

TrainResult Trainer::fit() {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  TrainResult result;
  int start_epoch = 0;

  const std::string ckpt = checkpoint_path();
  if (!ckpt.empty() && fs::exists(ckpt)) {
    if (!options_.resume)
      throw ConfigError(fmt::format("{}: a checkpoint already exists; pass --resume to continue it or choose "
                                    "another --out (nothing is overwritten)",
                                    ckpt));
    start_epoch = load_checkpoint(result.history);
    result.resumed_from_epoch = start_epoch;
    spdlog::info("resuming from {} after epoch {}", ckpt, start_epoch);
  } else {
    if (options_.resume) spdlog::info("no checkpoint in '{}': starting from epoch 1", options_.out_dir);
    // Training randomness (dropout) is a function of the seed alone, whatever ran before in this process.
    // A resumed run restores the generator state from the checkpoint instead.
    torch::manual_seed(options_.seed);
  }

  data::BatchOptions bo;
  bo.batch_size = options_.batch_size;
  bo.shuffle = true;
  bo.augment = options_.augment;
  bo.normalization = options_.normalization;
  bo.seed = options_.seed;
  data::BatchLoader loader(dataset_.train, dataset_.spec, bo);
  const bool on_cuda = device_.is_cuda();
  double throughput_sum = 0;
  int epochs_here = 0;

  for (int epoch = start_epoch; epoch < options_.epochs; ++epoch) {
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.lr = learning_rate_at(options_.optim, epoch, options_.epochs);
    set_learning_rate(*optimizer_, m.lr);
    model_->train();
    loader.start_epoch(epoch);

    const auto t_epoch = clock::now();
    auto t_progress = t_epoch;
    auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
    auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device_));
    int64_t seen = 0, step = 0;
    data::Batch batch;
    while (loader.next(batch)) {
      batch.x = batch.x.to(device_, true);
      batch.y = batch.y.to(device_, true);
      optimizer_->zero_grad();
      auto logits = model_->forward(batch.x);
      auto loss = loss_(logits, batch);
      // A diverged loss is caught before its gradient touches the weights. On CUDA, reading the loss forces a
      // device sync, so it is checked every 32 steps there; the last checkpoint predates any divergence.
      if (!on_cuda || step % 32 == 0) {
        const double v = loss.item<double>();
        if (!std::isfinite(v)) {
          result.status = "diverged";
          result.message = fmt::format("loss became {} at epoch {}, step {} (lr {}); stopped without saving the "
                                       "diverged weights — lower the learning rate",
                                       v, epoch + 1, step + 1, m.lr);
          spdlog::error("{}", result.message);
          result.seconds = seconds_since(t_start);
          return result;
        }
      }
      loss.backward();
      optimizer_->step();
      const int64_t b = batch.y.size(0);
      loss_sum += loss.detach().to(torch::kDouble) * double(b);
      correct += logits.detach().argmax(1).eq(batch.y).sum();
      seen += b;
      ++step;
      if (options_.progress && seconds_since(t_progress) > options_.progress_interval_s) {
        t_progress = clock::now();
        const double el = seconds_since(t_epoch);
        spdlog::info("epoch {}/{}: {:.0f}% ({:.0f} img/s)", epoch + 1, options_.epochs,
                     100.0 * seen / loader.size(), seen / el);
      }
    }
    m.train_seconds = seconds_since(t_epoch);
    m.train_loss = loss_sum.item<double>() / seen;
    if (!std::isfinite(m.train_loss)) {
      result.status = "diverged";
      result.message = fmt::format("loss became non-finite during epoch {} (lr {}); stopped without saving the "
                                   "diverged weights — lower the learning rate",
                                   epoch + 1, m.lr);
      spdlog::error("{}", result.message);
      result.seconds = seconds_since(t_start);
      return result;
    }
    m.train_accuracy = double(correct.item<int64_t>()) / seen;
    m.images_per_second = seen / m.train_seconds;

    const auto t_eval = clock::now();
    if (dataset_.val.size() > 0) {
      auto ev = evaluate(dataset_.val);
      m.val_loss = ev.loss;
      m.val_accuracy = ev.accuracy;
    }
    const auto& at = options_.test_eval_epochs;
    const bool test_now = epoch + 1 == options_.epochs ||
                          (options_.eval_test_each_epoch &&
                           (at.empty() || std::find(at.begin(), at.end(), epoch + 1) != at.end()));
    if (test_now) {
      auto ev = evaluate(dataset_.test);
      m.test_loss = ev.loss;
      m.test_accuracy = ev.accuracy;
    }
    m.eval_seconds = seconds_since(t_eval);
    result.history.push_back(m);
    throughput_sum += m.images_per_second;
    ++epochs_here;
    save_checkpoint(epoch + 1, result.history);

    if (options_.progress) {
      const double per_epoch = seconds_since(t_start) / epochs_here;
      spdlog::info("epoch {}/{}  loss {:.4f}  train {}  val {}  test {}  | {:.0f} img/s  {:.1f}s  ETA {}",
                   epoch + 1, options_.epochs, m.train_loss, pct(m.train_accuracy), pct(m.val_accuracy),
                   pct(m.test_accuracy), m.images_per_second, m.train_seconds + m.eval_seconds,
                   format_duration(per_epoch * (options_.epochs - epoch - 1)));
    }
    if (on_epoch_) on_epoch_(m);
  }
  result.seconds = seconds_since(t_start);
  result.images_per_second = epochs_here ? throughput_sum / epochs_here : 0;
  return result;
}

}  // namespace nemokd::train
