// The `outpost` command line (CLI11). Each command family lives in its own file and is
// added to the app by one call here; main() only calls run_main().
#pragma once

namespace CLI {
class App;
}

namespace outpost::cli {

// Parses argv, runs the chosen command and returns the process exit code.
// Exit codes: 0 success, 1 the command ran and found a problem (e.g. `log verify` found
// damage), 2 bad usage or invalid config, 3 a runtime failure (I/O, lock held, ...).
int run_main(int argc, char** argv);

// Each adds one command family to the app. The command stores its exit code in *exit_code.
void add_log_commands(CLI::App& app, int* exit_code);        // agent/cli/log_command.cpp
void add_check_command(CLI::App& app, int* exit_code);       // agent/cli/check_command.cpp
void add_run_command(CLI::App& app, int* exit_code);         // agent/cli/run_command.cpp
void add_query_command(CLI::App& app, int* exit_code);       // agent/cli/query_command.cpp
void add_dev_central_command(CLI::App& app, int* exit_code); // agent/cli/dev_central_command.cpp
void add_simulate_command(CLI::App& app, int* exit_code);    // agent/cli/simulate_command.cpp
void add_status_command(CLI::App& app, int* exit_code);      // agent/cli/status_command.cpp

}  // namespace outpost::cli
