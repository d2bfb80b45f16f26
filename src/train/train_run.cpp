#include "train/train_run.h"

#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/serialize.h>

#include "core/error.h"
#include "core/folder_lock.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "train/torch_file.h"

namespace nemokd::train {

nlohmann::json to_json(const TrainRunConfig& c) {
  return {{"dataset", data::to_json(c.dataset)},
          {"model", models::to_json(c.model)},
          {"train", to_json(c.train)},
          {"threads", c.threads},
          {"blas_threads", c.blas_threads}};
}

TrainRunConfig train_run_config_from_json(const nlohmann::json& j) {
  TrainRunConfig c;
  JsonReader r(j, "");
  if (const auto* d = r.child("dataset")) c.dataset = data::data_config_from_json(*d, "dataset");
  if (const auto* m = r.child("model")) c.model = models::model_config_from_json(*m, "model");
  if (const auto* t = r.child("train")) c.train = train_options_from_json(*t, "train");
  r.get("threads", c.threads).get("blas_threads", c.blas_threads);
  r.finish();
  check_range("threads", c.threads, 0, 1024);
  check_range("blas_threads", c.blas_threads, 0, 1024);
  // A quantized input mode fixes how pixels must be mapped before it (exact 8-bit levels, or [-1, 1]).
  if (const auto need = models::required_normalization(c.model);
      !need.empty() && need != data::to_string(c.train.normalization))
    throw ConfigError(fmt::format("train.normalization: the model's input quantizer needs '{}' (got '{}')", need,
                                  data::to_string(c.train.normalization)));
  return c;
}

nlohmann::json run_identity(const nlohmann::json& run_config) {
  return without(run_config, {"threads", "blas_threads"});
}

TrainRunConfig default_qat_config() {
  TrainRunConfig c;
  c.dataset.name = "mnist";
  c.model = models::MlpConfig{};
  auto& m = c.model.mlp();
  m.hidden = models::mlp_preset_widths("tfc");
  m.batchnorm = true;
  m.dropout = 0.2;
  m.activation = "tanh";
  m.quant.input = "signed";
  m.quant.input_bits = 8;
  m.set_bits({2}, {2});
  c.train.batch_size = 100;
  c.train.optim.name = "adam";
  c.train.optim.lr = 0.01;
  c.train.optim.weight_decay = 0.0;
  c.train.optim.schedule = "cosine";
  c.train.normalization = data::Normalization::signed_unit;
  return c;
}

RunRecord run_training(const TrainRunConfig& config, const RunContext& ctx) {
  if (ctx.out_dir.empty()) throw ConfigError("out: an output folder is required");
  const auto t0 = std::chrono::steady_clock::now();
  check_device(config.train.device);
  const int threads = configure_threads(config.threads, config.blas_threads);

  const FolderLock lock(ctx.out_dir);  // one process per run folder, until the record is final
  const auto checkpoint = std::filesystem::path(ctx.out_dir) / "checkpoint.pt";
  if (!ctx.resume && ctx.force) {
    // --force: this run replaces the one the folder holds (its files only; anything else there stays).
    for (const char* name : kRunFiles) std::filesystem::remove(std::filesystem::path(ctx.out_dir) / name);
  } else if (!ctx.resume) {
    if (std::filesystem::exists(checkpoint))
      throw ConfigError(fmt::format("{}: a checkpoint already exists; pass --resume to continue it or choose "
                                    "another --out (nothing is overwritten)",
                                    checkpoint.string()));
    // A finished run keeps no checkpoint in some flows; its model.pt, run.json and metrics.json were overwritten.
    if (folder_has_content(ctx.out_dir))
      throw ConfigError(fmt::format("{}: the folder is not empty (a finished run?); pass --resume to continue it, "
                                    "--force to replace it, or choose another --out (nothing is overwritten)",
                                    ctx.out_dir));
  }

  RunRecord record;
  record.command = ctx.extension ? ctx.extension->command : "train";
  record.config = ctx.extension ? ctx.extension->config : to_json(config);
  record.argv = command_line();

  auto dataset = data::load_dataset(config.dataset.name, config.dataset.load);
  const double load_seconds = seconds_since(t0);
  spdlog::info("{}: {} train / {} val / {} test images from {} ({}){}", dataset.spec.name, dataset.train.size(),
               dataset.val.size(), dataset.test.size(), dataset.source_dir, dataset.source_kind,
               dataset.sliced ? " [sliced]" : "");

  seed_everything(config.train.seed);
  const models::InputShape shape{dataset.spec.channels, dataset.spec.height, dataset.spec.width};
  auto model = models::build_model(config.model, shape, dataset.spec.classes);
  spdlog::info("model {}: {} parameters; {} threads, device {}", models::family_name(config.model.family()),
               models::parameter_count(*model), threads, config.train.device);

  TrainOptions opts = config.train;
  opts.out_dir = ctx.out_dir;
  opts.resume = ctx.resume;
  opts.progress = ctx.progress;
  Trainer trainer(model, dataset, opts);
  // Anything that changes the trained weights must match for a checkpoint to be resumed; epochs may grow.
  nlohmann::json key = run_identity(record.config);
  key["train"].erase("epochs");
  trainer.set_resume_key(key);
  trainer.check_checkpoint();  // a checkpoint that cannot be resumed is refused before run.json is rewritten
  if (ctx.extension && ctx.extension->prepare) ctx.extension->prepare(trainer, dataset);

  std::filesystem::create_directories(ctx.out_dir);
  record.write(ctx.out_dir);  // status "running": a killed run still leaves its config behind
  auto result = trainer.fit();

  record.status = result.status;
  record.message = result.message;
  record.results = result.to_json();
  record.results["dataset"] = dataset.describe();
  record.results["model"] = model->describe();
  record.results["threads"] = threads;
  record.timings = {{"data_load_seconds", load_seconds},
                    {"train_seconds", result.seconds},
                    {"total_seconds", seconds_since(t0)}};
  if (ctx.extension && ctx.extension->finish) ctx.extension->finish(record.results);
  if (result.status == "completed") {
    torch::serialize::OutputArchive archive;
    model->save(archive);
    save_archive(archive, (std::filesystem::path(ctx.out_dir) / "model.pt").string());
  }
  record.write(ctx.out_dir);
  return record;
}

TrainedRun load_trained_run(const std::string& dir) {
  namespace fs = std::filesystem;
  const auto run_json = (fs::path(dir) / "run.json").string();
  const auto weights = (fs::path(dir) / "model.pt").string();
  if (!fs::exists(run_json)) throw DataError(fmt::format("{}: no run record (is '{}' a run folder?)", run_json, dir));
  TrainedRun run;
  run.dir = dir;
  run.record = RunRecord::from_json(read_json_file(run_json));
  if (run.record.status != "completed")
    throw DataError(fmt::format("{}: the run's status is '{}', not completed", run_json, run.record.status));
  // An extended run (RunExtension) stores its own settings under one extra key named by its command's first
  // word ("kd train" -> "kd"); the rest is a TrainRunConfig.
  auto config = run.record.config;
  if (run.record.command != "train") config.erase(run.record.command.substr(0, run.record.command.find(' ')));
  run.config = train_run_config_from_json(config);
  if (!fs::exists(weights)) throw DataError(fmt::format("{}: missing (the trained weights of the run)", weights));
  // The shape and class count were recorded with the dataset; reading them back avoids loading the data.
  const auto& ds = run.record.results.at("dataset");
  const auto dims = ds.at("shape").get<std::vector<int>>();
  if (dims.size() != 3) throw DataError(fmt::format("{}: results.dataset.shape is not [C, H, W]", run_json));
  run.model = models::build_model(run.config.model, {dims[0], dims[1], dims[2]}, ds.at("classes").get<int>());
  verify_archive(weights);
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(weights);
    run.model->load(archive);
  } catch (const c10::Error& e) {
    throw DataError(fmt::format("{}: cannot read the trained weights ({})", weights, e.msg().substr(0, 200)));
  }
  run.model->eval();
  return run;
}

void save_trained_run(const std::string& dir, const TrainRunConfig& config, const models::ClassifierImpl& model,
                      models::InputShape input, int classes) {
  std::filesystem::create_directories(dir);
  torch::serialize::OutputArchive archive;
  model.save(archive);
  save_archive(archive, (std::filesystem::path(dir) / "model.pt").string());
  RunRecord rec;
  rec.command = "train";
  rec.config = to_json(config);
  rec.status = "completed";
  rec.results = {{"dataset", {{"shape", {input.channels, input.height, input.width}}, {"classes", classes}}},
                 {"model", model.describe()}};
  rec.write(dir);
}

}  // namespace nemokd::train
