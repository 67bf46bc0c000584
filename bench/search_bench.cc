// nexus_bench_search: indexing throughput, keyword query latency (bounded
// ranking of frequent terms against exhaustive ranking, with recall@10) and
// indexed grep latency against `rg` on the same tree.
//
//   nexus_bench_search [--dir TREE] [--files N] [--queries Q] [--runs R] [--work DIR]
//
// It generates a deterministic source-like tree of N files (default 50,000):
// into TREE if --dir names a directory that does not exist yet (kept for
// later runs), else under the work directory (removed at the end). An
// existing TREE is used as it is. Prints one JSON object.
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <unordered_map>
#include <string>
#include <vector>

#include "fs/search/search_index.h"

namespace {

using Clock = std::chrono::steady_clock;
using nexus::search::DirectoryContentSource;
using nexus::search::SearchIndex;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

// Identifiers built from syllables; index i is the i-th most frequent.
std::vector<std::string> Vocabulary(size_t n) {
  const char* syl[] = {"ka",  "ro",  "mi",  "tel", "su",  "van", "dor", "pi",  "lex", "qu",
                       "zen", "bar", "nox", "fi",  "gra", "ul",  "pe",  "sto", "wy",  "cha"};
  std::vector<std::string> out;
  std::mt19937 rng(42);
  while (out.size() < n) {
    std::string w;
    int parts = 2 + static_cast<int>(rng() % 3);
    for (int i = 0; i < parts; ++i) w += syl[rng() % std::size(syl)];
    out.push_back(w + std::to_string(out.size() % 97));
  }
  return out;
}

// Zipf-like pick: low indexes are frequent.
size_t Pick(std::mt19937& rng, size_t n) {
  double u = std::uniform_real_distribution<double>(0, 1)(rng);
  return std::min(n - 1, static_cast<size_t>(n * u * u * u));
}

void Generate(const std::string& root, size_t files, const std::vector<std::string>& vocab) {
  std::mt19937 rng(7);
  const char* types[] = {"int", "void", "size_t", "char*", "double", "bool"};
  for (size_t f = 0; f < files; ++f) {
    std::string dir = root + "/mod" + std::to_string(f % 50) + "/sub" + std::to_string((f / 50) % 20);
    if (f < 1000) std::filesystem::create_directories(dir);
    std::string text = "// module " + vocab[Pick(rng, vocab.size())] + "\n#include <stdio.h>\n\n";
    int funcs = 2 + static_cast<int>(rng() % 4);
    for (int fn = 0; fn < funcs; ++fn) {
      text += std::string(types[rng() % 6]) + " " + vocab[Pick(rng, vocab.size())] + "(int " +
              vocab[Pick(rng, vocab.size())] + ") {\n";
      int lines = 3 + static_cast<int>(rng() % 8);
      for (int l = 0; l < lines; ++l) {
        text += "  " + vocab[Pick(rng, vocab.size())] + " = " + vocab[Pick(rng, vocab.size())] + "(" +
                std::to_string(rng() % 1000) + ", " + vocab[Pick(rng, vocab.size())] + ");\n";
      }
      text += "  return 0;\n}\n\n";
    }
    std::ofstream(dir + "/file" + std::to_string(f) + ".c") << text;
  }
}

// Wall time of a shell command, and the number of lines it printed.
std::pair<double, size_t> TimeShell(const std::string& cmd) {
  auto start = Clock::now();
  FILE* p = ::popen(cmd.c_str(), "r");
  size_t lines = 0;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) lines += std::count(buf, buf + n, '\n');
  ::pclose(p);
  return {Ms(Clock::now() - start), lines};
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

}  // namespace

int main(int argc, char** argv) {
  std::string dir, work = (std::filesystem::temp_directory_path() / "nexus-bench-search").string();
  size_t files = 50'000, queries = 300, runs = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--dir")
      dir = v;
    else if (a == "--files")
      files = std::stoul(v);
    else if (a == "--queries")
      queries = std::stoul(v);
    else if (a == "--runs")
      runs = std::stoul(v);
    else if (a == "--work")
      work = v;
    else {
      std::fprintf(stderr, "usage: %s [--dir TREE] [--files N] [--queries Q] [--runs R] [--work DIR]\n",
                   argv[0]);
      return 2;
    }
  }
  std::filesystem::remove_all(work);
  std::filesystem::create_directories(work);
  const auto vocab = Vocabulary(20'000);
  auto start = Clock::now();
  if (dir.empty()) dir = work + "/tree";
  if (!std::filesystem::exists(dir)) Generate(dir, files, vocab);
  double gen_ms = Ms(Clock::now() - start);

  DirectoryContentSource source(dir);
  auto idx = SearchIndex::Open(work + "/index.db", &source, {});
  if (!idx.ok()) {
    std::fprintf(stderr, "open: %s\n", idx.status().ToString().c_str());
    return 1;
  }
  SearchIndex& index = **idx;
  start = Clock::now();
  if (auto st = index.Sync("/", false); !st.ok()) {
    std::fprintf(stderr, "index: %s\n", st.ToString().c_str());
    return 1;
  }
  double index_ms = Ms(Clock::now() - start);
  // As nexusd does once its index has caught up.
  start = Clock::now();
  auto prepared = index.PrepareKeywordLists(1000);
  double lists_ms = Ms(Clock::now() - start);
  auto counts = index.Counts();
  double db_mb = static_cast<double>(std::filesystem::file_size(work + "/index.db")) / (1 << 20);

  // Keyword queries, as people type them: words drawn from the tree itself
  // (identifiers of 4+ characters in 3,000 sampled files); a third from
  // its 500 most frequent, the rest rarer; every other query adds a second
  // word of any frequency. Each is answered twice, alternately first: with
  // the bounded ranking of frequent terms (what nexusd does) and
  // exhaustively (every match scored: the reference), and the bounded
  // top 10 is compared with the exhaustive one (recall@10).
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) paths.push_back(e.path().string());
  std::mt19937 rng(99);
  std::shuffle(paths.begin(), paths.end(), rng);
  std::unordered_map<std::string, size_t> freq;
  const std::regex ident("[A-Za-z_][A-Za-z0-9_]{3,}");
  for (size_t i = 0; i < std::min<size_t>(paths.size(), 3000); ++i) {
    std::ifstream in(paths[i], std::ios::binary);
    std::string text(200'000, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    for (std::sregex_iterator it(text.begin(), text.end(), ident), end; it != end; ++it) ++freq[it->str()];
  }
  std::vector<std::string> ranked;
  for (const auto& [w, n] : freq) ranked.push_back(w);
  std::sort(ranked.begin(), ranked.end(),
            [&](const auto& a, const auto& b) { return freq[a] != freq[b] ? freq[a] > freq[b] : a < b; });
  const size_t common_n = std::min<size_t>(500, ranked.size());
  std::vector<double> bounded_lat, exhaustive_lat, common_b, common_e, cold_b, cold_common_b;
  double recall_sum = 0;
  size_t hits = 0, recall_n = 0, perfect = 0;
  std::vector<std::string> texts;
  for (size_t q = 0; q < queries && ranked.size() > common_n; ++q) {
    std::string text =
        q % 3 == 0 ? ranked[rng() % common_n] : ranked[common_n + rng() % (ranked.size() - common_n)];
    if (q % 2) text += " " + ranked[rng() % ranked.size()];
    texts.push_back(std::move(text));
  }
  // Cold: the first time each text is asked (the lists of the 1,000 most
  // frequent words are ready; others are built on demand).
  for (size_t q = 0; q < texts.size(); ++q) {
    auto t0 = Clock::now();
    auto r = index.Query(texts[q], {});
    cold_b.push_back(Ms(Clock::now() - t0));
    if (q % 3 == 0) cold_common_b.push_back(cold_b.back());
  }
  using Key = std::pair<std::string, uint32_t>;
  auto keys = [](const std::vector<nexus::search::QueryHit>& h) {
    std::vector<Key> k;
    for (const auto& x : h) k.emplace_back(x.path, x.start_line);
    return k;
  };
  struct Slow {
    double bounded_ms, exhaustive_ms;
    std::string text;
  };
  std::vector<Slow> slowest;
  // Warm: the same texts again, each both ways.
  for (size_t q = 0; q < texts.size(); ++q) {
    const bool common = q % 3 == 0;
    const std::string& text = texts[q];
    nexus::search::QueryOptions bounded, exhaustive;
    exhaustive.exhaustive = true;
    nexus::Result<std::vector<nexus::search::QueryHit>> b = std::vector<nexus::search::QueryHit>{}, e = b;
    double b_ms = 0, e_ms = 0;
    for (int pass = 0; pass < 2; ++pass) {
      const bool bounded_now = (pass == 0) == (q % 2 == 0);
      auto t0 = Clock::now();
      auto r = index.Query(text, bounded_now ? bounded : exhaustive);
      (bounded_now ? b_ms : e_ms) = Ms(Clock::now() - t0);
      (bounded_now ? b : e) = std::move(r);
    }
    bounded_lat.push_back(b_ms);
    exhaustive_lat.push_back(e_ms);
    slowest.push_back({b_ms, e_ms, text});
    if (common) {
      common_b.push_back(b_ms);
      common_e.push_back(e_ms);
    }
    if (!b.ok() || !e.ok()) continue;
    hits += b->size();
    if (e->empty()) continue;
    auto bk = keys(*b), ek = keys(*e);
    size_t found = 0;
    for (const auto& k : ek) found += std::find(bk.begin(), bk.end(), k) != bk.end();
    recall_sum += static_cast<double>(found) / static_cast<double>(ek.size());
    ++recall_n;
    perfect += bk == ek;
  }
  const double recall = recall_n ? recall_sum / static_cast<double>(recall_n) : 1.0;
  std::sort(slowest.begin(), slowest.end(),
            [](const Slow& a, const Slow& b) { return a.bounded_ms > b.bounded_ms; });
  std::string slow_json;
  for (size_t i = 0; i < std::min<size_t>(5, slowest.size()); ++i) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s{\"text\": \"%s\", \"bounded_ms\": %.1f, \"exhaustive_ms\": %.1f}",
                  i ? ", " : "", slowest[i].text.c_str(), slowest[i].bounded_ms, slowest[i].exhaustive_ms);
    slow_json += buf;
  }

  // Grep: ours (index-narrowed, verified on the files) vs rg over the tree.
  struct G {
    const char* name;
    std::string pattern;
  };
  const std::vector<G> greps = {
      {"rare_literal", vocab[vocab.size() - 3]},
      {"common_literal", vocab[0]},
      {"regex_with_literal", vocab[5] + " = [a-z]+[0-9]+\\(9[0-9]{2},"},
      {"regex_no_literal", "\\(9[0-9]+, [a-z]+[0-9]+\\)"},
  };
  std::string grep_json;
  for (const auto& g : greps) {
    std::vector<double> ours, rg;
    size_t our_n = 0, rg_n = 0;
    for (size_t r = 0; r < runs; ++r) {
      auto t0 = Clock::now();
      auto m = index.Grep(g.pattern, "/", {});
      ours.push_back(Ms(Clock::now() - t0));
      our_n = m.ok() ? m->size() : 0;
      auto [ms, n] = TimeShell("rg -n --no-heading -e '" + g.pattern + "' '" + dir + "'");
      rg.push_back(ms);
      rg_n = n;
    }
    char buf[512];
    std::snprintf(
        buf, sizeof buf,
        "%s\n    \"%s\": {\"matches\": %zu, \"rg_matches\": %zu, \"ours_ms\": %.2f, \"rg_ms\": %.2f, "
        "\"rg_over_ours\": %.1f}",
        grep_json.empty() ? "" : ",", g.name, our_n, rg_n, Median(ours), Median(rg),
        Median(rg) / std::max(Median(ours), 1e-3));
    grep_json += buf;
  }

  std::printf(
      "{\n  \"tree\": \"%s\",\n  \"files\": %llu,\n  \"chunks\": %llu,\n  \"bytes\": %llu,\n"
      "  \"generate_ms\": %.0f,\n  \"index_ms\": %.0f,\n  \"index_files_per_s\": %.0f,\n  \"index_db_mb\": "
      "%.1f,\n"
      "  \"keyword_lists\": %zu,\n  \"keyword_lists_ms\": %.0f,\n"
      "  \"query\": {\"count\": %zu, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"common_p50_ms\": %.3f, "
      "\"common_p99_ms\": %.3f, \"mean_hits\": %.1f,\n"
      "    \"exhaustive_p50_ms\": %.3f, \"exhaustive_p99_ms\": %.3f, \"exhaustive_common_p50_ms\": %.3f, "
      "\"exhaustive_common_p99_ms\": %.3f,\n"
      "    \"recall_at_10\": %.4f, \"identical_top10\": %zu, \"compared\": %zu,\n"
      "    \"cold_p50_ms\": %.3f, \"cold_p99_ms\": %.3f, \"cold_common_p50_ms\": %.3f, "
      "\"cold_common_p99_ms\": %.3f,\n"
      "    \"slowest\": [%s]},\n"
      "  \"grep\": {%s\n  }\n}\n",
      dir.c_str(), static_cast<unsigned long long>(counts->files),
      static_cast<unsigned long long>(counts->chunks), static_cast<unsigned long long>(counts->bytes), gen_ms,
      index_ms, counts->files / std::max(index_ms / 1000, 1e-3), db_mb, prepared.ok() ? *prepared : 0,
      lists_ms, bounded_lat.size(), Percentile(bounded_lat, 0.5), Percentile(bounded_lat, 0.99),
      Percentile(common_b, 0.5), Percentile(common_b, 0.99),
      static_cast<double>(hits) / std::max<size_t>(bounded_lat.size(), 1), Percentile(exhaustive_lat, 0.5),
      Percentile(exhaustive_lat, 0.99), Percentile(common_e, 0.5), Percentile(common_e, 0.99), recall,
      perfect, recall_n, Percentile(cold_b, 0.5), Percentile(cold_b, 0.99), Percentile(cold_common_b, 0.5),
      Percentile(cold_common_b, 0.99), slow_json.c_str(), grep_json.c_str());
  std::filesystem::remove_all(work);
  return 0;
}
