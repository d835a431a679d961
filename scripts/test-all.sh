#!/usr/bin/env bash
# `npm test`: the whole suite against real services. Starts a private PostgreSQL and a
# private dockerd (scripts/services.sh) unless BALLAST_TEST_DATABASE_URL and
# BALLAST_TEST_DOCKER_HOST point at running ones, builds the fixture state on that engine,
# then runs lint, typecheck, every package's tests and the browser tests. Ends with one
# line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1 TURBO_TELEMETRY_DISABLED=1
ROOT=$PWD
RESULTS=$ROOT/.test-results
rm -rf "$RESULTS" && mkdir -p "$RESULTS"

started_services=0
if [ -z "${BALLAST_TEST_DATABASE_URL:-}" ] || [ -z "${BALLAST_TEST_DOCKER_HOST:-}" ]; then
  env_file=$(scripts/services.sh start) || { echo "could not start test services" >&2; exit 1; }
  # shellcheck disable=SC1090
  source "$env_file"
  started_services=1
fi
cleanup() { if [ "$started_services" = 1 ]; then scripts/services.sh stop; fi; }
trap cleanup EXIT

failed_steps=()
step() {
  local name=$1; shift
  echo "== $name"
  if ! "$@"; then failed_steps+=("$name"); fi
}

build_fixture() {
  DOCKER_HOST=$BALLAST_TEST_DOCKER_HOST BUSYBOX=${BUSYBOX:-/bin/busybox} CLEAN=1 \
    bash apps/agent/test/fixtures/make-docker-state.sh >"$RESULTS/fixture.log" 2>&1 \
    || { tail -n 30 "$RESULTS/fixture.log"; return 1; }
}

step "fixture state on the test dockerd" build_fixture
step "lint" npx biome ci .
step "typecheck" npx turbo run typecheck --output-logs=errors-only
step "unit and integration tests" env BALLAST_TEST_RESULTS_DIR="$RESULTS" npx turbo run test --concurrency=1
step "web build" npx turbo run build --filter=@ballast/web --output-logs=errors-only
step "browser tests" env PLAYWRIGHT_JSON_OUTPUT_NAME="$RESULTS/playwright.json" npm run -w @ballast/web e2e -- --reporter=list,json

node scripts/summarize-tests.mjs "$RESULTS" "${#failed_steps[@]}"
summary=$?
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "failed steps: ${failed_steps[*]}" >&2
  exit 1
fi
exit $summary
