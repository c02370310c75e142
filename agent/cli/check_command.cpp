// `outpost check --config FILE`: validates a config exactly as `outpost run` does before it
// starts anything. Every problem on stderr as FILE:LINE:COL: message; exit 2 on any, 0 if valid.
#include <CLI/CLI.hpp>

#include <iostream>

#include "agent/cli/cli.h"
#include "agent/runtime/plan.h"

namespace outpost::cli {

void add_check_command(CLI::App& app, int* exit_code) {
  auto config_path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("check", "Validate a config file (exit 2 with FILE:LINE:COL errors)");
  cmd->add_option("-c,--config", *config_path, "Config file (YAML)")->required();
  cmd->callback([config_path, exit_code] {
    auto plan = runtime::load_plan(*config_path);
    if (!plan.is_ok()) {
      std::cerr << plan.status().message() << "\n";
      *exit_code = 2;
      return;
    }
    const auto& p = plan.value();
    std::size_t subscriptions = 0;
    for (const auto& m : p.mqtt_sources) subscriptions += m.subscriptions.size();
    std::cout << *config_path << ": ok: agent " << p.agent_id << ", data dir " << p.store.data_dir.string() << ", "
              << p.streams.size() << " streams, " << p.mqtt_sources.size() << " MQTT sources (" << subscriptions
              << " subscriptions), " << p.serial_sources.size() << " serial sources, " << p.queries.size()
              << " queries, " << p.sync.mirrors.size() << " mirrors\n";
    *exit_code = 0;
  });
}

}  // namespace outpost::cli
