// What is generated from the CLI's command table (nexus_main.cc) rather than
// kept by hand beside it, so it cannot drift from the commands:
//   - bash completion: `nexus completion bash`, installed as
//     /usr/share/bash-completion/completions/nexus;
//   - the nexus(1) manual page: `nexus --man`, from the --help texts.
// Pure functions of their arguments.
#pragma once

#include <string>
#include <vector>

#include "cli/cli.h"

namespace nexus::cli {

// A bash completion script for `nexus`: the command words level by level
// (`nexus ver<TAB>` -> versions, `nexus versions <TAB>` -> its
// subcommands), each command's flags and the global options; after a flag
// that takes a value, and for arguments, bash's file names.
std::string BashCompletion(const std::vector<Command>& table, const std::vector<GlobalOption>& globals);

// nexus(1) in roff: every command's usage and help, and `global_help` (the
// global options and exit status of `nexus --help`).
std::string ManPage(const std::vector<Command>& table, const std::string& global_help,
                    const std::string& version);

// Adds `completion bash` to `table`; it completes what `table` holds when
// it runs, so `table` must outlive it.
void AddCompletionCommand(std::vector<GlobalOption> globals, std::vector<Command>* table);

}  // namespace nexus::cli
