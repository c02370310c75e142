// `outpost run --config FILE`: the daemon. Loads the config exactly as `outpost check` does
// (agent/config's table, then the runtime's plan_from_config) and starts nothing on any error.
// SIGHUP reloads through the same path.
#include <CLI/CLI.hpp>

#include <iostream>

#include "agent/cli/cli.h"
#include "agent/runtime/daemon.h"
#include "agent/runtime/logging.h"
#include "agent/runtime/plan.h"

namespace outpost::cli {

void add_run_command(CLI::App& app, int* exit_code) {
  auto config_path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("run", "Run the agent: ingest, queries, sync (systemd Type=notify)");
  cmd->add_option("-c,--config", *config_path, "Config file (YAML)")->required();
  cmd->callback([config_path, exit_code] {
    std::vector<std::string> warnings;
    auto plan = runtime::load_plan(*config_path, &warnings);
    if (!plan.is_ok()) {
      std::cerr << plan.status().message() << "\n";
      std::cerr << "outpost run: " << *config_path << " has errors; nothing started (see `outpost check`)\n";
      *exit_code = 2;
      return;
    }
    for (const auto& w : warnings) std::cerr << w << "\n";
    runtime::Daemon daemon(std::move(plan).value(), [path = *config_path] {
      std::vector<std::string> reload_warnings;
      auto next = runtime::load_plan(path, &reload_warnings);
      for (const auto& w : reload_warnings) runtime::log_warning("config", w);
      return next;
    });
    *exit_code = daemon.run();
  });
}

}  // namespace outpost::cli
