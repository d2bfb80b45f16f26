#include "kd/kd_run.h"

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "kd/cache.h"
#include "kd/teacher.h"

namespace nemokd::kd {

void KdSettings::validate(const std::string& key) const {
  if (teacher.empty()) throw ConfigError(key + ".teacher: a teacher (run folder or TorchScript file) is required");
  loss.validate(key);
  check_one_of(key + ".cache", cache, {"auto", "off"});
  if (!teacher_normalization.empty()) data::parse_normalization(teacher_normalization);
}

nlohmann::json to_json(const KdRunConfig& c) {
  auto j = train::to_json(c.base);
  auto kd = to_json(c.kd.loss);
  kd["teacher"] = c.kd.teacher;
  kd["cache"] = c.kd.cache;
  kd["teacher_normalization"] = c.kd.teacher_normalization;
  j["kd"] = kd;
  return j;
}

KdRunConfig kd_run_config_from_json(const nlohmann::json& j) {
  KdRunConfig c;
  if (!j.is_object() || !j.contains("kd")) throw ConfigError("kd: a distillation config needs a 'kd' section");
  auto base = j;
  auto kd = base["kd"];
  base.erase("kd");
  c.base = train::train_run_config_from_json(base);
  JsonReader r(kd, "kd");
  r.get("teacher", c.kd.teacher).get("cache", c.kd.cache).get("teacher_normalization", c.kd.teacher_normalization);
  r.get("alpha", c.kd.loss.alpha).get("temperature", c.kd.loss.temperature).get("form", c.kd.loss.form);
  r.get("gamma", c.kd.loss.gamma);
  r.finish();
  c.kd.validate("kd");
  return c;
}

void apply_reference_recipe(train::TrainOptions& t, models::Family family, int epochs) {
  t.epochs = epochs;
  t.batch_size = 64;
  t.optim.name = "sgd";
  t.optim.lr = family == models::Family::mobilenetv2 ? 0.01 : 0.05;
  t.optim.momentum = 0.9;
  t.optim.weight_decay = 5e-4;
  t.optim.schedule = "multistep";
  t.optim.gamma = 0.1;
  t.optim.milestones.clear();
  for (int at : {150, 180, 210}) {
    const int m = std::max(1, epochs * at / 240);
    if (t.optim.milestones.empty() || m > t.optim.milestones.back()) t.optim.milestones.push_back(m);
  }
}

namespace {

// The teacher must take the dataset's images, before any training or caching: a run folder says what it was trained
// on; any teacher is then tried on one batch and must answer with the dataset's classes. (Otherwise torch's own
// "mat1 and mat2 shapes cannot be multiplied" came out of the first batch.)
void check_teacher_fits(Teacher& teacher, const std::string& name, const data::Dataset& dataset,
                        data::Normalization norm) {
  const auto& spec = dataset.spec;
  const std::vector<int64_t> shape{spec.channels, spec.height, spec.width};
  if (!teacher.input().empty() && teacher.input() != shape)
    throw ConfigError(fmt::format("kd.teacher: {} was trained on {} ({} images); this run's dataset {} has {}x{}x{} "
                                  "images",
                                  name, teacher.dataset(), fmt::join(teacher.input(), "x"), spec.name, spec.channels,
                                  spec.height, spec.width));
  data::BatchOptions probe_opts;
  probe_opts.batch_size = 2;
  probe_opts.normalization = norm;
  data::BatchLoader probe(dataset.train, spec, probe_opts);
  data::Batch b;
  if (!probe.next(b)) return;
  torch::Tensor out;
  try {
    out = teacher.logits(b.x);
  } catch (const c10::Error& e) {
    throw ConfigError(fmt::format("kd.teacher: {} cannot take {}'s {}x{}x{} images ({})", name, spec.name,
                                  spec.channels, spec.height, spec.width, e.msg().substr(0, e.msg().find('\n'))));
  }
  if (out.dim() != 2 || out.size(1) != spec.classes)
    throw ConfigError(fmt::format("kd.teacher: {} outputs {} classes, {} has {}", name,
                                  out.dim() == 2 ? out.size(1) : -1, spec.name, spec.classes));
}

}  // namespace

RunRecord run_kd(const KdRunConfig& config, const train::RunContext& ctx) {
  config.kd.validate("kd");
  auto teacher = Teacher::load(config.kd.teacher, config.base.train.device);
  const auto student_norm = config.base.train.normalization;
  const auto teacher_norm = config.kd.teacher_normalization.empty()
                                ? teacher->normalization().value_or(student_norm)
                                : data::parse_normalization(config.kd.teacher_normalization);
  if (teacher->normalization() && *teacher->normalization() != teacher_norm)
    throw ConfigError(fmt::format("kd.teacher_normalization: the teacher {} was trained with '{}', not '{}'",
                                  config.kd.teacher, data::to_string(*teacher->normalization()),
                                  data::to_string(teacher_norm)));
  spdlog::info("distillation: {}, alpha {}, T {}, loss {} CE + {} KD", teacher->describe(), config.kd.loss.alpha,
               config.kd.loss.temperature, config.kd.loss.ce_weight(), config.kd.loss.alpha);

  // Shared with the loss closure for the whole run.
  struct State {
    std::shared_ptr<Teacher> teacher;
    std::shared_ptr<TeacherLogitCache> cache;
    std::string mode;  // "cache" | "on the fly"
  };
  auto state = std::make_shared<State>();
  state->teacher = teacher;
  train::RunExtension ext;
  ext.command = "kd train";
  ext.config = to_json(config);
  ext.prepare = [state, config, teacher_norm, student_norm](train::Trainer& trainer, const data::Dataset& dataset) {
    check_teacher_fits(*state->teacher, config.kd.teacher, dataset, teacher_norm);
    const bool augment = config.base.train.augment;
    if (config.kd.cache == "auto" && !augment) {
      state->cache = TeacherLogitCache::open_or_compute(*state->teacher, dataset.train, dataset.spec, teacher_norm,
                                                        "train", config.kd.cache_dir);
      state->mode = "cache";
    } else {
      if (teacher_norm != student_norm)
        throw ConfigError(fmt::format("kd.teacher_normalization: running the teacher on the student's batches needs "
                                      "the same normalisation (teacher '{}', student '{}')",
                                      data::to_string(teacher_norm), data::to_string(student_norm)));
      state->mode = "on the fly";
      spdlog::info("distillation: {} — running the teacher on every batch (no teacher-output cache)",
                   augment ? "augmentation is on, so every batch is new" : "cache off");
    }
    const auto loss_config = config.kd.loss;
    trainer.set_loss([state, loss_config](const torch::Tensor& logits, const data::Batch& batch) {
      torch::Tensor teacher_logits =
          state->cache ? state->cache->gather(batch.index).to(logits.device()) : state->teacher->logits(batch.x);
      return kd_loss(logits, teacher_logits, batch.y, loss_config).total;
    });
  };
  ext.finish = [state](nlohmann::json& results) {
    results["kd"] = {{"teacher", state->teacher->path()},
                     {"teacher_kind", state->teacher->kind()},
                     {"teacher_sha256", state->teacher->identity()},
                     {"teacher_outputs", state->mode},
                     {"cache", state->cache ? state->cache->path() : ""},
                     {"cache_computed_now", state->cache ? state->cache->computed_now() : false},
                     {"cache_compute_seconds", state->cache ? state->cache->compute_seconds() : 0.0}};
  };
  train::RunContext c = ctx;
  c.extension = &ext;
  return train::run_training(config.base, c);
}

}  // namespace nemokd::kd

namespace nemokd::kd {

void prepare_teacher_cache(const KdRunConfig& config, bool trainings_elsewhere) {
  const auto& train_cfg = config.base;
  if (config.kd.cache != "auto" || train_cfg.train.augment) return;
  auto dataset = data::load_dataset(train_cfg.dataset.name, train_cfg.dataset.load);
  // Under MPI rank 0 may coordinate from a machine without the workers' GPUs: it then computes the (device-
  // independent) logits on its CPU, and says so. A single process asked for CUDA it lacks has failed before this.
  std::string device = train_cfg.train.device;
  if (device.rfind("cuda", 0) == 0 && trainings_elsewhere && !torch::cuda::is_available()) {
    spdlog::info("teacher cache: rank 0 has no CUDA; computing the teacher outputs on its CPU");
    device = "cpu";
  }
  auto teacher = Teacher::load(config.kd.teacher, device);
  const auto norm = config.kd.teacher_normalization.empty()
                        ? teacher->normalization().value_or(train_cfg.train.normalization)
                        : data::parse_normalization(config.kd.teacher_normalization);
  configure_threads(train_cfg.threads, train_cfg.blas_threads);
  check_teacher_fits(*teacher, config.kd.teacher, dataset, norm);
  TeacherLogitCache::open_or_compute(*teacher, dataset.train, dataset.spec, norm, "train", config.kd.cache_dir);
}

}  // namespace nemokd::kd
