#include "cli/progress.h"

#include <algorithm>
#include <cstdio>

namespace nexus::cli {

ProgressBar::ProgressBar(std::string verb, bool draw) : verb_(std::move(verb)), draw_(draw) {}

kj::Promise<void> ProgressBar::update(UpdateContext context) {
  if (!draw_) return kj::READY_NOW;
  auto p = context.getParams();
  const uint64_t done = p.getDone(), total = p.getTotal();
  constexpr int kWidth = 30;
  if (total) {
    int filled = static_cast<int>(kWidth * std::min<double>(1, double(done) / double(total)));
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%s [%s] %llu/%llu %s", verb_.c_str(), bar.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 p.getWhat().cStr());
  } else {
    std::fprintf(stderr, "\r%s: %llu %s", verb_.c_str(), static_cast<unsigned long long>(done),
                 p.getWhat().cStr());
  }
  std::fflush(stderr);
  *drawn_ = true;
  return kj::READY_NOW;
}

}  // namespace nexus::cli
