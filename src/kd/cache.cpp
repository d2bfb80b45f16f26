#include "kd/cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "data/sources.h"

namespace nemokd::kd {

namespace fs = std::filesystem;

namespace {
constexpr char kMagic[8] = {'N', 'K', 'D', 'L', 'O', 'G', 'I', 'T'};
constexpr uint32_t kVersion = 1;
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t rows;
  uint64_t classes;
};
static_assert(sizeof(Header) == 32, "packed header");

uint32_t crc_of(const torch::Tensor& t, uint32_t crc) {
  auto c = t.contiguous();
  return crc32_of(c.data_ptr(), size_t(c.numel()) * c.element_size(), crc);
}
}  // namespace

std::string CacheKey::file_name() const {
  return fmt::format("{}-{}-{}-{}-{}-{:08x}.logits", teacher_identity.substr(0, 16), dataset, split,
                     data::to_string(normalization), rows, content_crc);
}

std::shared_ptr<TeacherLogitCache> TeacherLogitCache::open_or_compute(Teacher& teacher, const data::ImageSet& set,
                                                                      const data::DatasetSpec& spec,
                                                                      data::Normalization normalization,
                                                                      const std::string& split, std::string cache_dir,
                                                                      int64_t batch_size) {
  CacheKey key;
  key.teacher_identity = teacher.identity();
  key.dataset = spec.name;
  key.split = split;
  key.normalization = normalization;
  key.rows = set.size();
  key.content_crc = crc_of(set.labels, crc_of(set.images, 0));
  if (cache_dir.empty()) cache_dir = (fs::path(data::data_cache_dir()) / "teacher-logits").string();
  const auto path = (fs::path(cache_dir) / key.file_name()).string();
  std::shared_ptr<TeacherLogitCache> cache(new TeacherLogitCache());
  cache->path_ = path;
  if (!fs::exists(path)) {
    const auto t0 = std::chrono::steady_clock::now();
    spdlog::info("teacher cache: computing {} logits of {} with {} -> {}", set.size(), spec.name, teacher.describe(),
                 path);
    fs::create_directories(cache_dir);
    data::BatchOptions bo;
    bo.batch_size = batch_size;
    bo.normalization = normalization;
    data::BatchLoader loader(set, spec, bo);
    data::Batch b;
    AtomicFile out(path, AtomicFile::Temp::per_process);  // other processes may compute the same cache at once
    Header h{};
    std::memcpy(h.magic, kMagic, 8);
    h.version = kVersion;
    h.rows = uint64_t(set.size());
    int64_t classes = -1, written = 0;
    out.write(&h, sizeof h);  // rewritten once the class count is known
    while (loader.next(b)) {
      auto l = teacher.logits(b.x).to(torch::kCPU, torch::kFloat).contiguous();
      if (classes < 0) classes = l.size(1);
      if (!torch::isfinite(l).all().item<bool>())
        throw DataError(fmt::format("{}: the teacher produced NaN/Inf logits", teacher.path()));
      out.write(l.data_ptr<float>(), size_t(l.numel()) * sizeof(float));
      written += l.size(0);
    }
    if (written != set.size())
      throw DataError(fmt::format("{}: the teacher gave {} rows of {}", out.temp_path(), written, set.size()));
    h.classes = uint64_t(std::max<int64_t>(classes, 0));
    out.write_at(0, &h, sizeof h);
    out.commit();  // a failed write is one Error and leaves no temp file
    cache->computed_now_ = true;
    cache->compute_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } else {
    spdlog::info("teacher cache: reusing {}", path);
  }
  cache->map(path, set.size());
  return cache;
}

void TeacherLogitCache::map(const std::string& path, int64_t rows) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw DataError(fmt::format("{}: cannot open the teacher cache", path));
  struct stat st {};
  ::fstat(fd, &st);
  Header h{};
  const bool header_ok = st.st_size >= off_t(sizeof h) && ::pread(fd, &h, sizeof h, 0) == ssize_t(sizeof h) &&
                         std::memcmp(h.magic, kMagic, 8) == 0 && h.version == kVersion;
  if (!header_ok || int64_t(h.rows) != rows || h.classes == 0 || h.classes > (1u << 20) ||
      uint64_t(st.st_size) != sizeof h + h.rows * h.classes * sizeof(float)) {
    ::close(fd);
    throw DataError(fmt::format("{}: corrupt teacher cache (delete it to recompute)", path));
  }
  length_ = size_t(st.st_size);
  base_ = ::mmap(nullptr, length_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base_ == MAP_FAILED) {
    base_ = nullptr;
    throw DataError(fmt::format("{}: cannot map the teacher cache", path));
  }
  auto* data = reinterpret_cast<float*>(static_cast<char*>(base_) + sizeof h);
  // from_blob never writes through a const view here: gather() copies rows out.
  all_ = torch::from_blob(data, {int64_t(h.rows), int64_t(h.classes)}, torch::kFloat);
}

TeacherLogitCache::~TeacherLogitCache() {
  all_ = torch::Tensor();
  if (base_) ::munmap(base_, length_);
}

torch::Tensor TeacherLogitCache::gather(const torch::Tensor& index) const {
  return all_.index_select(0, index.to(torch::kCPU));
}

}  // namespace nemokd::kd
