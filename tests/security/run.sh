#!/bin/bash
# tests/security/run.sh [FILTER...] - the escape suite (tests/security/test_*.sh)
# through the integration runner (tests/integration/run.sh: same daemon setup,
# helpers, output and environment variables). Root, from the repo root; needs
# $SBX_BUILD/tests/escape (make security builds it).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SBX_TEST_DIRS=$here exec "$here/../integration/run.sh" "$@"
