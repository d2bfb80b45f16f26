#include "search/store.h"

#include <sqlite3.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/json_config.h"

namespace nemokd::search {

namespace {

// One prepared statement; bind by position, step, read columns.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql, const std::string& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK)
      throw DataError(fmt::format("{}: {} ({})", path, sqlite3_errmsg(db), sql.substr(0, 60)));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& real(int i, double v) {  // NaN is stored as NULL
    if (std::isnan(v))
      sqlite3_bind_null(s_, i);
    else
      sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& integer(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& blob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw DataError(fmt::format("{}: {}", path_, sqlite3_errmsg(db_)));
  }
  std::string col_text(int i) const {
    const auto* p = sqlite3_column_text(s_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), size_t(sqlite3_column_bytes(s_, i))) : std::string();
  }
  std::string col_blob(int i) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    return p ? std::string(p, size_t(sqlite3_column_bytes(s_, i))) : std::string();
  }
  double col_real(int i) const { return sqlite3_column_double(s_, i); }
  double col_real_or_nan(int i) const {
    return sqlite3_column_type(s_, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s_, i);
  }
  int64_t col_int(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  std::string path_;
};

// JSON kept in a column: read like any user JSON (the file may have been edited by hand), errors naming the column.
nlohmann::json parse(const std::string& s, const std::string& what) { return s.empty() ? nlohmann::json() : parse_json(s, what); }

template <typename T>
T parse_as(const std::string& s, const std::string& what) {
  T out{};
  detail::strict_get(parse(s, what), what, out);
  return out;
}

Candidate read_candidate(const Stmt& q, const std::string& path) {
  Candidate c;
  c.key = q.col_text(0);
  const std::string where = fmt::format("{}: candidate '{}'", path, c.key);
  c.genome = parse_as<std::vector<double>>(q.col_text(1), where + " genome");
  c.config = parse(q.col_text(2), where + " config");
  c.summary = q.col_text(3);
  const auto status = q.col_text(4);
  c.feasible = status != "infeasible" && q.col_int(17) != 0;
  c.status = status == "infeasible" ? RunStatus::failed : parse_run_status(status, where + " status");
  c.message = q.col_text(5);
  c.error = q.col_real(6);
  c.latency = q.col_real(7);
  c.latency_detail = parse(q.col_text(8), where + " latency_detail");
  c.params = q.col_int(9);
  c.macs = q.col_int(10);
  c.train_seconds = q.col_real(11);
  c.run_dir = q.col_text(12);
  c.generation = int(q.col_int(13));
  c.role = parse_role(q.col_text(14), where + " role");
  c.val_error = q.col_real_or_nan(15);
  c.test_error = q.col_real_or_nan(16);
  c.cost = parse(q.col_text(18), where + " cost");
  c.epochs = int(q.col_int(19));
  c.rung = int(q.col_int(20));
  return c;
}

constexpr const char* kCandidateColumns =
    "key, genome, config, summary, status, message, error, latency, latency_detail, params, macs, train_seconds, "
    "run_dir, generation, role, val_error, test_error, feasible, cost, epochs, rung";

constexpr const char* kEvaluationColumns =
    "key, epochs, seed, role, status, message, val_error, test_error, train_seconds, run_dir, generation, rung";

Evaluation read_evaluation(const Stmt& q, const std::string& path) {
  Evaluation e;
  e.key = q.col_text(0);
  e.epochs = int(q.col_int(1));
  e.seed = q.col_int(2);
  const std::string where = fmt::format("{}: evaluation '{}' at {} epochs", path, e.key, e.epochs);
  e.role = parse_role(q.col_text(3), where + " role");
  e.status = parse_run_status(q.col_text(4), where + " status");
  e.message = q.col_text(5);
  e.val_error = q.col_real_or_nan(6);
  e.test_error = q.col_real_or_nan(7);
  e.train_seconds = q.col_real(8);
  e.run_dir = q.col_text(9);
  e.generation = int(q.col_int(10));
  e.rung = int(q.col_int(11));
  return e;
}

}  // namespace

std::string status_text(const Candidate& c) { return c.feasible ? to_string(c.status) : "infeasible"; }

const char* to_string(Role role) {
  switch (role) {
    case Role::search: return "search";
    case Role::baseline_kd: return "baseline-kd";
    case Role::baseline_no_kd: return "baseline-no-kd";
    case Role::final_point: return "final";
    case Role::final_baseline_kd: return "final-baseline-kd";
    case Role::final_baseline_no_kd: return "final-baseline-no-kd";
    case Role::uniform_kd: return "uniform-kd";
    case Role::uniform_no_kd: return "uniform-no-kd";
  }
  return "?";
}

bool distilled(Role role) {
  return role != Role::baseline_no_kd && role != Role::final_baseline_no_kd && role != Role::uniform_no_kd;
}

Role parse_role(const std::string& text, const std::string& key) {
  constexpr Role all[] = {Role::search,       Role::baseline_kd,          Role::baseline_no_kd,
                          Role::final_point,  Role::final_baseline_kd,    Role::final_baseline_no_kd,
                          Role::uniform_kd,   Role::uniform_no_kd};
  std::vector<std::string> names;
  for (Role r : all) {
    if (text == to_string(r)) return r;
    names.push_back(to_string(r));
  }
  throw ConfigError(fmt::format("{}: '{}' is not one of {}", key, text, fmt::join(names, ", ")));
}

Store::Store(const std::string& path) : path_(path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw DataError(fmt::format("{}: cannot open the run database ({})", path, msg));
  }
  sqlite3_busy_timeout(db_, 10000);
  // WAL: a reader never blocks the writer, and a kill mid-write leaves the last committed state intact.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  exec("CREATE TABLE IF NOT EXISTS candidates (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, "
       "genome TEXT, config TEXT, summary TEXT, status TEXT, message TEXT, error REAL, latency REAL, "
       "latency_detail TEXT, params INTEGER, macs INTEGER, train_seconds REAL, run_dir TEXT, generation INTEGER, "
       "role TEXT, val_error REAL, test_error REAL, feasible INTEGER NOT NULL DEFAULT 1, cost TEXT, "
       "epochs INTEGER NOT NULL DEFAULT 0, rung INTEGER NOT NULL DEFAULT 0)");
  exec("CREATE TABLE IF NOT EXISTS members (generation INTEGER NOT NULL, idx INTEGER NOT NULL, key TEXT NOT NULL, "
       "PRIMARY KEY (generation, idx))");
  exec("CREATE TABLE IF NOT EXISTS checkpoints (generation INTEGER PRIMARY KEY, xs TEXT NOT NULL, fs TEXT NOT NULL, "
       "algorithm BLOB NOT NULL)");
  // The final stage (added within schema 2: a file without it gains it empty).
  exec("CREATE TABLE IF NOT EXISTS final_runs (key TEXT NOT NULL, role TEXT NOT NULL, seed INTEGER NOT NULL, "
       "epochs INTEGER NOT NULL, status TEXT, message TEXT, val_error REAL, test_error REAL, train_seconds REAL, "
       "run_dir TEXT, PRIMARY KEY (key, role, seed, epochs))");
  // Schema 4: every finished search training (search/fidelity.h), the memo by (key, epochs) and the budget's log.
  exec("CREATE TABLE IF NOT EXISTS evaluations (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
       "epochs INTEGER NOT NULL, seed INTEGER NOT NULL, role TEXT NOT NULL, status TEXT, message TEXT, val_error REAL, "
       "test_error REAL, train_seconds REAL, run_dir TEXT, generation INTEGER, rung INTEGER, "
       "UNIQUE (key, epochs, seed, role))");
  migrate();
}

// Schema 1 (unversioned): candidates without val_error/test_error, `error` = test error. Schema 2: without feasible
// and cost (every candidate feasible). Schema 3: candidates without epochs and rung (0: the search's --epochs, one
// rung), no evaluations (the table is created empty; the candidate rows are the results). Columns are added in one
// transaction with the marks, so a kill leaves the old
// file or the migrated one.
void Store::migrate() {
  exec("BEGIN IMMEDIATE");
  try {
    const auto version = meta("schema");
    if (version && *version != std::to_string(kSchema) && *version != "2" && *version != "3")
      throw DataError(fmt::format("{}: schema '{}', this nemokd reads schema {} (a newer nemokd wrote it?)", path_,
                                  *version, kSchema));
    std::set<std::string> have;
    for (Stmt q(db_, "PRAGMA table_info(candidates)", path_); q.step();) have.insert(q.col_text(1));
    for (const char* column : {"val_error REAL", "test_error REAL", "feasible INTEGER NOT NULL DEFAULT 1", "cost TEXT",
                               "epochs INTEGER NOT NULL DEFAULT 0", "rung INTEGER NOT NULL DEFAULT 0"})
      if (!have.count(std::string(column).substr(0, std::string(column).find(' '))))
        exec(fmt::format("ALTER TABLE candidates ADD COLUMN {}", column));
    if (!version) {
      Stmt n(db_, "SELECT COUNT(*) FROM candidates", path_);
      n.step();
      if (n.col_int(0) > 0) {  // written by a search that selected on test error
        set_meta("legacy_protocol", "test");
        exec("UPDATE candidates SET test_error = error WHERE status = 'completed' AND test_error IS NULL");
      }
    }
    if (version != std::to_string(kSchema)) set_meta("schema", std::to_string(kSchema));
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

bool Store::legacy_protocol() const { return meta("legacy_protocol").has_value(); }

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

void Store::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw DataError(fmt::format("{}: {} ({})", path_, msg, sql.substr(0, 60)));
  }
}

std::optional<std::string> Store::meta(const std::string& key) const {
  Stmt q(db_, "SELECT value FROM meta WHERE key = ?", path_);
  q.text(1, key);
  if (!q.step()) return std::nullopt;
  return q.col_text(0);
}

void Store::set_meta(const std::string& key, const std::string& value) {
  Stmt q(db_, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
         path_);
  q.text(1, key).text(2, value).step();
}

std::optional<Candidate> Store::candidate(const std::string& key) const {
  Stmt q(db_, fmt::format("SELECT {} FROM candidates WHERE key = ?", kCandidateColumns), path_);
  q.text(1, key);
  if (!q.step()) return std::nullopt;
  return read_candidate(q, path_);
}

void Store::put_candidate(const Candidate& c) {
  Stmt q(db_,
         fmt::format("INSERT INTO candidates ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT(key) DO NOTHING",
                     kCandidateColumns),
         path_);
  q.text(1, c.key).text(2, nlohmann::json(c.genome).dump()).text(3, c.config.dump()).text(4, c.summary);
  q.text(5, status_text(c)).text(6, c.message).real(7, c.error).real(8, c.latency).text(9, c.latency_detail.dump());
  q.integer(10, c.params).integer(11, c.macs).real(12, c.train_seconds).text(13, c.run_dir);
  q.integer(14, c.generation).text(15, to_string(c.role)).real(16, c.val_error).real(17, c.test_error);
  q.integer(18, c.feasible ? 1 : 0).text(19, c.cost.is_null() ? std::string() : c.cost.dump());
  q.integer(20, c.epochs).integer(21, c.rung);
  q.step();
}

void Store::put_evaluation(const Evaluation& e, const Candidate& c) {
  exec("BEGIN IMMEDIATE");
  try {
    Stmt q(db_,
           fmt::format("INSERT INTO evaluations ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT(key, epochs, seed, role) DO NOTHING",
                       kEvaluationColumns),
           path_);
    q.text(1, e.key).integer(2, e.epochs).integer(3, e.seed).text(4, to_string(e.role)).text(5, to_string(e.status));
    q.text(6, e.message).real(7, e.val_error).real(8, e.test_error).real(9, e.train_seconds).text(10, e.run_dir);
    q.integer(11, e.generation).integer(12, e.rung).step();
    if (candidate(c.key)) {  // a promotion: the longer training's result replaces the shorter one
      Stmt u(db_,
             "UPDATE candidates SET status = ?, message = ?, error = ?, val_error = ?, test_error = ?, "
             "train_seconds = ?, run_dir = ?, epochs = ?, rung = ? WHERE key = ? AND epochs <= ?",
             path_);
      u.text(1, to_string(c.status)).text(2, c.message).real(3, c.error).real(4, c.val_error).real(5, c.test_error);
      u.real(6, c.train_seconds).text(7, c.run_dir).integer(8, c.epochs).integer(9, c.rung).text(10, c.key);
      u.integer(11, c.epochs).step();
    } else {
      put_candidate(c);
    }
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

std::optional<Evaluation> Store::evaluation(const std::string& key, int epochs, Role role) const {
  Stmt q(db_, fmt::format("SELECT {} FROM evaluations WHERE key = ? AND epochs = ? AND role = ? ORDER BY seq LIMIT 1",
                          kEvaluationColumns),
         path_);
  q.text(1, key).integer(2, epochs).text(3, to_string(role));
  if (!q.step()) return std::nullopt;
  return read_evaluation(q, path_);
}

std::vector<Evaluation> Store::evaluations() const {
  Stmt q(db_, fmt::format("SELECT {} FROM evaluations ORDER BY seq", kEvaluationColumns), path_);
  std::vector<Evaluation> out;
  while (q.step()) out.push_back(read_evaluation(q, path_));
  return out;
}

std::vector<Candidate> Store::candidates() const {
  Stmt q(db_, fmt::format("SELECT {} FROM candidates ORDER BY seq", kCandidateColumns), path_);
  std::vector<Candidate> out;
  while (q.step()) out.push_back(read_candidate(q, path_));
  return out;
}

std::optional<FinalRun> Store::final_run(const std::string& key, Role role, int seed, int epochs) const {
  Stmt q(db_,
         "SELECT status, message, val_error, test_error, train_seconds, run_dir FROM final_runs WHERE key = ? AND "
         "role = ? AND seed = ? AND epochs = ?",
         path_);
  q.text(1, key).text(2, to_string(role)).integer(3, seed).integer(4, epochs);
  if (!q.step()) return std::nullopt;
  FinalRun r;
  r.key = key;
  r.role = role;
  r.seed = seed;
  r.epochs = epochs;
  r.status = parse_run_status(q.col_text(0), fmt::format("{}: final run '{}' seed {} status", path_, key, seed));
  r.message = q.col_text(1);
  r.val_error = q.col_real_or_nan(2);
  r.test_error = q.col_real_or_nan(3);
  r.train_seconds = q.col_real(4);
  r.run_dir = q.col_text(5);
  return r;
}

void Store::put_final_run(const FinalRun& r) {
  Stmt q(db_,
         "INSERT OR REPLACE INTO final_runs (key, role, seed, epochs, status, message, val_error, test_error, "
         "train_seconds, run_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         path_);
  q.text(1, r.key).text(2, to_string(r.role)).integer(3, r.seed).integer(4, r.epochs).text(5, to_string(r.status));
  q.text(6, r.message).real(7, r.val_error).real(8, r.test_error).real(9, r.train_seconds).text(10, r.run_dir);
  q.step();
}

void Store::put_generation(int generation, const std::vector<std::string>& keys, const Checkpoint& cp) {
  exec("BEGIN IMMEDIATE");
  try {
    for (size_t i = 0; i < keys.size(); ++i) {
      Stmt q(db_, "INSERT OR REPLACE INTO members (generation, idx, key) VALUES (?, ?, ?)", path_);
      q.integer(1, generation).integer(2, int64_t(i)).text(3, keys[i]).step();
    }
    Stmt q(db_, "INSERT OR REPLACE INTO checkpoints (generation, xs, fs, algorithm) VALUES (?, ?, ?, ?)", path_);
    q.integer(1, generation).text(2, nlohmann::json(cp.xs).dump()).text(3, nlohmann::json(cp.fs).dump());
    q.blob(4, cp.algorithm).step();
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

std::optional<Checkpoint> Store::last_checkpoint() const {
  Stmt q(db_, "SELECT generation, xs, fs, algorithm FROM checkpoints ORDER BY generation DESC LIMIT 1", path_);
  if (!q.step()) return std::nullopt;
  Checkpoint cp;
  cp.generation = int(q.col_int(0));
  const std::string where = fmt::format("{}: checkpoint of generation {}", path_, cp.generation);
  cp.xs = parse_as<std::vector<std::vector<double>>>(q.col_text(1), where + " xs");
  cp.fs = parse_as<std::vector<std::vector<double>>>(q.col_text(2), where + " fs");
  cp.algorithm = q.col_blob(3);
  return cp;
}

std::vector<std::string> Store::members(int generation) const {
  Stmt q(db_, "SELECT key FROM members WHERE generation = ? ORDER BY idx", path_);
  q.integer(1, generation);
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.col_text(0));
  return out;
}

int Store::generations_done() const {
  Stmt q(db_, "SELECT generation FROM checkpoints ORDER BY generation DESC LIMIT 1", path_);
  return q.step() ? int(q.col_int(0)) : -1;
}

}  // namespace nemokd::search
