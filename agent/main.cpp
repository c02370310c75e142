// outpost: the daemon and its command line. Only wiring lives here; see agent/cli/.
#include "agent/cli/cli.h"
#include "agent/query/config_check.h"

int main(int argc, char** argv) {
  // Config loading (check, run, SIGHUP, query --config) compiles each query's SQL.
  outpost::query::register_config_sql_check();
  return outpost::cli::run_main(argc, argv);
}
