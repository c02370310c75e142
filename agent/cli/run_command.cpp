// `outpost run --config FILE`: the daemon. Checks the config as `outpost check` does (the
// config table in agent/config, then the runtime's own reading of it) and starts nothing if
// either finds an error.
#include <CLI/CLI.hpp>

#include <iostream>

#include "agent/cli/cli.h"
#include "agent/config/config.h"
#include "agent/runtime/daemon.h"

namespace outpost::cli {

void add_run_command(CLI::App& app, int* exit_code) {
  auto config_path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("run", "Run the agent: ingest, queries, sync (systemd Type=notify)");
  cmd->add_option("-c,--config", *config_path, "Config file (YAML)")->required();
  cmd->callback([config_path, exit_code] {
    config::LoadResult checked = config::load_config_file(*config_path);
    bool bad = false;
    for (const auto& d : checked.diagnostics) {
      std::cerr << d.to_string() << "\n";
      bad = bad || d.is_error();
    }
    if (bad) {
      std::cerr << "outpost run: " << *config_path << " has errors; nothing started (see `outpost check`)\n";
      *exit_code = 2;
      return;
    }
    runtime::Daemon daemon([path = *config_path] { return runtime::load_plan(path); });
    *exit_code = daemon.run();
  });
}

}  // namespace outpost::cli
