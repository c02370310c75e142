#include "tests/query/query_test_util.h"
