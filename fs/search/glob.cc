#include "fs/search/glob.h"

#include <algorithm>

namespace nexus::search {
namespace {

constexpr size_t kMaxAlternatives = 1024;

// Index of the "}" closing the "{" at `open`, or npos.
size_t CloseBrace(std::string_view p, size_t open) {
  int depth = 0;
  for (size_t i = open; i < p.size(); ++i) {
    if (p[i] == '\\') {
      ++i;
    } else if (p[i] == '{') {
      ++depth;
    } else if (p[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

// Expands the first top-level brace group of `p` (recursively), appending
// brace-free patterns to `out`.
Status ExpandBraces(std::string_view p, std::vector<std::string>* out) {
  size_t open = std::string_view::npos;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') {
      if (++i == p.size()) return Status::Error(EINVAL, "glob ends with '\\'");
    } else if (p[i] == '{') {
      open = i;
      break;
    } else if (p[i] == '}') {
      return Status::Error(EINVAL, "unbalanced '}' in glob");
    }
  }
  if (open == std::string_view::npos) {
    if (out->size() >= kMaxAlternatives) return Status::Error(EINVAL, "too many glob alternatives");
    out->emplace_back(p);
    return Status::Ok();
  }
  size_t close = CloseBrace(p, open);
  if (close == std::string_view::npos) return Status::Error(EINVAL, "unbalanced '{' in glob");
  std::string_view head = p.substr(0, open), tail = p.substr(close + 1);
  int depth = 0;
  size_t start = open + 1;
  for (size_t i = open + 1; i <= close; ++i) {
    char c = p[i];
    if (c == '\\') {
      ++i;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && depth > 0) {
      --depth;
    } else if ((c == ',' && depth == 0) || i == close) {
      std::string alt(head);
      alt.append(p.substr(start, i - start)).append(tail);
      NEXUS_RETURN_IF_ERROR(ExpandBraces(alt, out));
      start = i + 1;
    }
  }
  return Status::Ok();
}

// The directory above the first wildcard of a brace-free pattern ("/" for a
// relative pattern or a wildcard in the first component).
std::string LiteralDirOf(std::string_view e) {
  if (e.empty() || e[0] != '/') return "/";
  size_t special = e.find_first_of("*?[\\");
  std::string_view lit = special == std::string_view::npos ? e : e.substr(0, special);
  size_t slash = lit.rfind('/');
  return slash == 0 ? std::string("/") : std::string(lit.substr(0, slash));
}

// True if directory `dir` is `prefix` or below it.
bool PathPrefixOf(std::string_view prefix, std::string_view dir) {
  return prefix == "/" || dir == prefix || (dir.starts_with(prefix) && dir[prefix.size()] == '/');
}

}  // namespace

Result<GlobPattern> GlobPattern::Compile(std::string_view pattern) {
  std::vector<std::string> expanded;
  NEXUS_RETURN_IF_ERROR(ExpandBraces(pattern, &expanded));
  GlobPattern g;
  for (const auto& e : expanded) NEXUS_RETURN_IF_ERROR(g.AddAlternative(e));
  // The common literal directory of all alternatives.
  for (size_t a = 0; a < expanded.size(); ++a) {
    std::string dir = LiteralDirOf(expanded[a]);
    if (a == 0) {
      g.literal_dir_ = std::move(dir);
      continue;
    }
    std::string& common = g.literal_dir_;
    while (common.size() > 1 && !PathPrefixOf(common, dir)) {
      size_t s = common.rfind('/');
      common.resize(s == 0 ? 1 : s);
    }
  }
  return g;
}

Status GlobPattern::AddAlternative(std::string_view p) {
  Alternative alt;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      alt.push_back({Token::kByte, static_cast<unsigned char>(p[++i])});
    } else if (c == '?') {
      alt.push_back({Token::kOne});
    } else if (c == '*') {
      if (i + 1 < p.size() && p[i + 1] == '*') {
        ++i;
        while (i + 1 < p.size() && p[i + 1] == '*') ++i;
        bool component_start = i < 2 || p[i - 2] == '/';
        if (component_start && i + 1 < p.size() && p[i + 1] == '/') {
          ++i;  // "**/" is one token: it consumes whole directories with their '/'
          alt.push_back({Token::kDirs});
        } else {
          alt.push_back({Token::kAnyRun});
        }
      } else {
        alt.push_back({Token::kStar});
      }
    } else if (c == '[') {
      size_t j = i + 1;
      bool negate = j < p.size() && (p[j] == '!' || p[j] == '^');
      if (negate) ++j;
      std::bitset<256> set;
      size_t k = j;
      bool closed = false;
      for (; k < p.size(); ++k) {
        if (p[k] == ']' && k > j) {
          closed = true;
          break;
        }
        unsigned char lo = static_cast<unsigned char>(p[k]);
        if (p[k] == '\\' && k + 1 < p.size()) lo = static_cast<unsigned char>(p[++k]);
        unsigned char hi = lo;
        if (k + 2 < p.size() && p[k + 1] == '-' && p[k + 2] != ']') {
          k += 2;
          hi = static_cast<unsigned char>(p[k]);
          if (p[k] == '\\' && k + 1 < p.size()) hi = static_cast<unsigned char>(p[++k]);
        }
        for (unsigned v = lo; v <= hi; ++v) set.set(v);
      }
      if (!closed) {
        alt.push_back({Token::kByte, '['});
        continue;
      }
      if (negate) set.flip();
      set.reset('/');
      sets_.push_back(set);
      alt.push_back({Token::kSet, 0, static_cast<int>(sets_.size() - 1)});
      i = k;
    } else {
      alt.push_back({Token::kByte, static_cast<unsigned char>(c)});
    }
  }
  alternatives_.push_back(std::move(alt));
  return Status::Ok();
}

bool GlobPattern::Matches(std::string_view path) const {
  for (const auto& alt : alternatives_) {
    if (MatchAlt(alt, path)) return true;
  }
  return false;
}

// Backtracking over (token, position) with a memo of failed pairs, so a
// pattern with many stars stays O(tokens * bytes).
bool GlobPattern::MatchAlt(const Alternative& alt, std::string_view s) const {
  const size_t nt = alt.size(), ns = s.size();
  std::vector<bool> failed;
  auto match = [&](auto& self, size_t ti, size_t si) -> bool {
    for (; ti < nt; ++ti) {
      const Token& t = alt[ti];
      switch (t.kind) {
        case Token::kByte:
          if (si >= ns || static_cast<unsigned char>(s[si]) != t.byte) return false;
          ++si;
          break;
        case Token::kOne:
          if (si >= ns || s[si] == '/') return false;
          ++si;
          break;
        case Token::kSet:
          if (si >= ns || !sets_[t.set].test(static_cast<unsigned char>(s[si]))) return false;
          ++si;
          break;
        case Token::kStar:
        case Token::kAnyRun:
        case Token::kDirs: {
          if (failed.empty()) failed.assign((nt + 1) * (ns + 1), false);
          for (size_t k = si;; ++k) {
            bool candidate = t.kind != Token::kDirs || k == si || s[k - 1] == '/';
            if (candidate) {
              size_t key = (ti + 1) * (ns + 1) + k;
              if (!failed[key]) {
                if (self(self, ti + 1, k)) return true;
                failed[key] = true;
              }
            }
            if (k >= ns || (t.kind == Token::kStar && s[k] == '/')) return false;
          }
        }
      }
    }
    return si == ns;
  };
  return match(match, 0, 0);
}

bool GlobMatch(std::string_view pattern, std::string_view path) {
  auto g = GlobPattern::Compile(pattern);
  return g.ok() && g->Matches(path);
}

}  // namespace nexus::search
