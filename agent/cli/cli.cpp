#include "agent/cli/cli.h"

#include <CLI/CLI.hpp>

#include <iostream>

namespace outpost::cli {

int run_main(int argc, char** argv) {
  CLI::App app{"outpost: edge agent for sensor gateways (ingest, query, store and forward)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("outpost ") + OUTPOST_VERSION);
  int exit_code = 0;
  // One line per command family; a family not built yet is simply absent.
#ifdef OUTPOST_HAVE_LOG_COMMANDS
  add_log_commands(app, &exit_code);
#endif
#ifdef OUTPOST_HAVE_CHECK_COMMANDS
  add_check_command(app, &exit_code);
#endif
#ifdef OUTPOST_HAVE_RUN_COMMANDS
  add_run_command(app, &exit_code);
#endif
#ifdef OUTPOST_HAVE_QUERY_COMMANDS
  add_query_command(app, &exit_code);
#endif
#ifdef OUTPOST_HAVE_STATUS_COMMANDS
  add_status_command(app, &exit_code);
#endif
#ifdef OUTPOST_HAVE_SIMULATE_COMMANDS
  add_simulate_command(app, &exit_code);
#endif
#ifdef OUTPOST_HAVE_DEV_CENTRAL_COMMANDS
  add_dev_central_command(app, &exit_code);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}

}  // namespace outpost::cli
