#!/usr/bin/env bash
# vdvk entry point.
#   ./run.sh          install deps, build, start host-backend --node 0, run the single-node demo
#   ./run.sh test     install deps, build (incl. the UML kernel), run the whole test suite
#   ./run.sh bench    install deps, build, run the benchmarks
#   ./run.sh build    install deps and build only
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-demo}
case "$mode" in demo|test|bench|build) ;; -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
  *) echo "run.sh: unknown mode '$mode' (demo|test|bench|build)" >&2; exit 2 ;; esac

./install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

case "$mode" in
  demo)  exec build/bin/run-demo.sh ;;
  bench) exec build/bin/vdvk-bench ;;
  build) exit 0 ;;
  test)
    if [ -x uml-vdvk/kernel/build-kernel.sh ] && [ "${VDVK_SKIP_UML:-0}" != 1 ]; then
      uml-vdvk/kernel/build-kernel.sh
    fi
    ctest --test-dir build --output-on-failure -j1 --timeout 600
    ;;
esac
