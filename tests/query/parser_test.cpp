#include "tests/query/query_test_util.h"
using namespace qt;
TEST_CASE("placeholder") { CHECK(must_compile("SELECT device FROM readings")); }
