// `outpost run --config FILE`: the daemon. Checks the config exactly as `outpost check` does
// and starts nothing if it has an error.
#include <CLI/CLI.hpp>

#include "agent/cli/cli.h"
#include "agent/runtime/daemon.h"

namespace outpost::cli {

void add_run_command(CLI::App& app, int* exit_code) {
  auto config_path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("run", "Run the agent: ingest, queries, sync (systemd Type=notify)");
  cmd->add_option("-c,--config", *config_path, "Config file (YAML)")->required();
  cmd->callback([config_path, exit_code] {
    runtime::Daemon daemon([path = *config_path] { return runtime::load_plan(path); });
    *exit_code = daemon.run();
  });
}

}  // namespace outpost::cli
