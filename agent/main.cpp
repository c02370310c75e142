// outpost: the daemon and its command line. Only wiring lives here; see agent/cli/.
#include "agent/cli/cli.h"

int main(int argc, char** argv) { return outpost::cli::run_main(argc, argv); }
