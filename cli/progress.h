// A daemon's progress reports (rpc Progress) drawn on stderr, for the long
// commands (`snapshot restore`, `undo`): a bar when the total is known, a
// count otherwise; nothing unless asked to draw (a terminal, without --json).
#pragma once

#include <memory>
#include <string>

#include "rpc/nexus.capnp.h"

namespace nexus::cli {

class ProgressBar final : public rpc::Progress::Server {
 public:
  // `verb` starts each line ("restoring", "undoing").
  ProgressBar(std::string verb, bool draw);
  // Whether anything was drawn: the caller then ends the line.
  std::shared_ptr<bool> drawn() const { return drawn_; }

 protected:
  kj::Promise<void> update(UpdateContext context) override;

 private:
  const std::string verb_;
  const bool draw_;
  std::shared_ptr<bool> drawn_ = std::make_shared<bool>(false);
};

}  // namespace nexus::cli
