#include "mcp/diff.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace nexus::mcp {
namespace {

// Each line with its '\n' (the last may have none).
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

enum class OpKind { kEqual, kDelete, kInsert };

// One line of the edit script: a line of `a` kept or deleted, or a line of
// `b` inserted. `a_line`/`b_line` are the positions before the op in each
// text (0-based).
struct Op {
  OpKind kind;
  size_t a_line;
  size_t b_line;
};

// Myers' greedy shortest edit script of a[lo_a, hi_a) -> b[lo_b, hi_b),
// appended to `out` in order.
void Myers(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b, size_t lo_a,
           size_t hi_a, size_t lo_b, size_t hi_b, std::vector<Op>* out) {
  const int64_t n = static_cast<int64_t>(hi_a - lo_a), m = static_cast<int64_t>(hi_b - lo_b);
  const int64_t max = n + m;
  if (max == 0) return;
  const int64_t offset = max + 1;
  std::vector<int64_t> v(2 * max + 3, 0);
  std::vector<std::vector<int64_t>> trace;
  auto same = [&](int64_t x, int64_t y) { return a[lo_a + x] == b[lo_b + y]; };
  int64_t found_d = -1;
  for (int64_t d = 0; d <= max && found_d < 0; ++d) {
    trace.push_back(v);
    for (int64_t k = -d; k <= d; k += 2) {
      int64_t x = (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1])) ? v[offset + k + 1]
                                                                                 : v[offset + k - 1] + 1;
      int64_t y = x - k;
      while (x < n && y < m && same(x, y)) ++x, ++y;
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found_d = d;
        break;
      }
    }
  }
  // Walk back from (n, m) through the saved frontiers.
  std::vector<Op> rev;
  int64_t x = n, y = m;
  for (int64_t d = found_d; d >= 0; --d) {
    const std::vector<int64_t>& fv = trace[d];
    const int64_t k = x - y;
    int64_t prev_k;
    if (d == 0)
      prev_k = 0;
    else
      prev_k = (k == -d || (k != d && fv[offset + k - 1] < fv[offset + k + 1])) ? k + 1 : k - 1;
    const int64_t prev_x = d == 0 ? 0 : fv[offset + prev_k];
    const int64_t prev_y = prev_x - prev_k;
    while (x > prev_x && y > prev_y) {
      --x, --y;
      rev.push_back({OpKind::kEqual, lo_a + x, lo_b + y});
    }
    if (d > 0) {
      if (x == prev_x)
        rev.push_back({OpKind::kInsert, lo_a + prev_x, lo_b + prev_y});
      else
        rev.push_back({OpKind::kDelete, lo_a + prev_x, lo_b + prev_y});
    }
    x = prev_x, y = prev_y;
  }
  out->insert(out->end(), rev.rbegin(), rev.rend());
}

std::string Range(size_t start, size_t count) {
  // GNU diff: a hunk of one line omits ",1"; an empty range names the line
  // before it.
  if (count == 1) return std::to_string(start + 1);
  return std::to_string(count == 0 ? start : start + 1) + "," + std::to_string(count);
}

void AppendLine(std::string* out, char mark, std::string_view line) {
  out->push_back(mark);
  out->append(line);
  if (line.empty() || line.back() != '\n') out->append("\n\\ No newline at end of file\n");
}

}  // namespace

std::string UnifiedDiff(std::string_view before, std::string_view after, std::string_view path, int context) {
  const std::vector<std::string_view> a = SplitLines(before), b = SplitLines(after);
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix])
    ++suffix;
  if (prefix == a.size() && prefix == b.size()) return "";

  std::vector<Op> ops;
  ops.reserve(a.size() + b.size());
  for (size_t i = 0; i < prefix; ++i) ops.push_back({OpKind::kEqual, i, i});
  Myers(a, b, prefix, a.size() - suffix, prefix, b.size() - suffix, &ops);
  for (size_t i = 0; i < suffix; ++i)
    ops.push_back({OpKind::kEqual, a.size() - suffix + i, b.size() - suffix + i});

  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  std::string out;
  out += "--- a" + std::string(path) + "\n";
  out += "+++ b" + std::string(path) + "\n";
  size_t i = 0;
  while (i < ops.size()) {
    // The next change; a hunk spans from `ctx` lines before it to `ctx`
    // lines after the last change closer than 2*ctx+1 equal lines.
    while (i < ops.size() && ops[i].kind == OpKind::kEqual) ++i;
    if (i == ops.size()) break;
    const size_t first = i >= ctx ? i - ctx : 0;
    size_t last = i;  // one past the last change of the hunk
    size_t j = i;
    while (j < ops.size()) {
      if (ops[j].kind != OpKind::kEqual) {
        last = j + 1;
        ++j;
        continue;
      }
      size_t run = j;
      while (run < ops.size() && ops[run].kind == OpKind::kEqual) ++run;
      if (run == ops.size() || run - j > 2 * ctx) break;
      j = run;
    }
    const size_t end = std::min(ops.size(), last + ctx);
    size_t a_count = 0, b_count = 0;
    for (size_t k = first; k < end; ++k) {
      if (ops[k].kind != OpKind::kInsert) ++a_count;
      if (ops[k].kind != OpKind::kDelete) ++b_count;
    }
    out += "@@ -" + Range(ops[first].a_line, a_count) + " +" + Range(ops[first].b_line, b_count) + " @@\n";
    for (size_t k = first; k < end; ++k) {
      switch (ops[k].kind) {
        case OpKind::kEqual:
          AppendLine(&out, ' ', a[ops[k].a_line]);
          break;
        case OpKind::kDelete:
          AppendLine(&out, '-', a[ops[k].a_line]);
          break;
        case OpKind::kInsert:
          AppendLine(&out, '+', b[ops[k].b_line]);
          break;
      }
    }
    i = end;
  }
  return out;
}

}  // namespace nexus::mcp
