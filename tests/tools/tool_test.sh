#!/bin/bash
# tool_test.sh - runs the real vdvk tools end to end, one case per call:
#   tool_test.sh BIN_DIR CASE
# Every case that needs a backend starts its own on a private socket and
# kills everything it started on exit, pass or fail.
set -u
bin=$1
case_name=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/vdvk-tooltest.XXXXXX")
pids=()
backend_pid=""

cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "$backend_pid" ]; then kill -TERM "$backend_pid" 2>/dev/null; wait "$backend_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL [$case_name]: $*" >&2; exit 1; }

start_backend() {
  export VDVK_SOCKET="$work/b.sock"
  "$bin/host-backend" --node 0 --socket "$VDVK_SOCKET" --log-level warn &
  backend_pid=$!
  for _ in $(seq 100); do
    "$bin/dvkctl" status >/dev/null 2>&1 && return 0
    kill -0 "$backend_pid" 2>/dev/null || fail "host-backend exited at start-up"
    sleep 0.1
  done
  fail "host-backend did not come up on $VDVK_SOCKET"
}

# Starts a server in the background and waits until its endpoint is bound.
start_server() {
  local ep=$1; shift
  "$@" >"$work/server-$ep.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    "$bin/dvkctl" proc 0 "$ep" 2>/dev/null | grep -q "pid=$!" && return 0
    sleep 0.05
  done
  cat "$work/server-$ep.log" >&2
  fail "server on ep $ep did not bind"
}

# expect_exit CODE cmd... : runs cmd, checks its exit status, keeps its output.
expect_exit() {
  local want=$1; shift
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    cat "$work/out" "$work/err" >&2
    fail "'$*' exited $got, expected $want"
  fi
}

case "$case_name" in
run_demo)
  expect_exit 0 "$bin/run-demo.sh" "$work/demo.sock"
  cat "$work/out"
  grep -q "checksum server [0-9a-f]\{16\} client [0-9a-f]\{16\} MATCH" "$work/out" || fail "no checksum MATCH line"
  grep -q "sendrec: 1000 round trips" "$work/out" || fail "no round-trip line"
  grep -q "^vdvk-demo: OK" "$work/out" || fail "no OK line"
  [ ! -e "$work/demo.sock" ] || fail "run-demo.sh left its socket behind"
  ;;
copy)
  start_backend
  start_server 10 "$bin/copy_server" --ep 10
  for size in 1 4K 64K 1M; do
    expect_exit 0 "$bin/copy_client" --server-ep 10 --ep 40 --size "$size" --loops 50
    cat "$work/out"
    [ "$(grep -c 'verified: [0-9.]* MB/s' "$work/out")" -eq 2 ] || fail "size $size: expected two bandwidth lines"
  done
  ;;
latency)
  start_backend
  start_server 11 "$bin/latency_server" --ep 11
  expect_exit 0 "$bin/latency_client" --server-ep 11 --ep 41 --loops 2000
  cat "$work/out"
  grep -Eq "2000 round trips verified: [0-9]+ round trips/s .* rtt min [0-9.]+ us avg [0-9.]+ us p99 [0-9.]+ us" "$work/out" ||
    fail "no latency numbers"
  ;;
m3ftp)
  start_backend
  mkdir -p "$work/srv" "$work/cli"
  head -c $((16 * 1024 * 1024)) /dev/urandom >"$work/cli/orig.bin" || fail "cannot make the test file"
  start_server 12 "$bin/m3ftpd" --root "$work/srv" --ep 12
  expect_exit 0 "$bin/m3ftp" --server-ep 12 put "$work/cli/orig.bin" up.bin
  cat "$work/out"
  grep -q "16777216 bytes) MATCH" "$work/out" || fail "put: no checksum match"
  cmp -s "$work/cli/orig.bin" "$work/srv/up.bin" || fail "put: server copy differs"
  expect_exit 0 "$bin/m3ftp" --server-ep 12 --chunk 256K get up.bin "$work/cli/down.bin"
  cat "$work/out"
  grep -q "16777216 bytes) MATCH" "$work/out" || fail "get: no checksum match"
  cmp -s "$work/cli/orig.bin" "$work/cli/down.bin" || fail "get: downloaded copy differs"
  ls "$work/srv" | grep -q part && fail "server left a partial file"
  ;;
m3ftp_errors)
  start_backend
  mkdir -p "$work/srv" "$work/cli"
  echo secret >"$work/outside.txt"
  start_server 12 "$bin/m3ftpd" --root "$work/srv" --ep 12
  expect_exit 1 "$bin/m3ftp" --server-ep 12 get missing.bin "$work/cli/x"
  grep -q "no such file on the server" "$work/err" || { cat "$work/err"; fail "missing file: unclear error"; }
  [ ! -e "$work/cli/x" ] || fail "a failed get created the local file"
  expect_exit 1 "$bin/m3ftp" --server-ep 12 get ../outside.txt "$work/cli/x"
  grep -q "EDVSACCES" "$work/err" || fail "'..' was not refused"
  expect_exit 1 "$bin/m3ftp" --server-ep 12 get "$work/outside.txt" "$work/cli/x"
  grep -q "EDVSACCES" "$work/err" || fail "absolute path outside the root was not refused"
  expect_exit 1 "$bin/m3ftp" --server-ep 12 put "$work/cli/nonexistent" y.bin
  grep -q "cannot open" "$work/err" || fail "missing local file: unclear error"
  ;;
dvkctl_status)
  start_backend
  start_server 11 "$bin/latency_server" --ep 11
  srv=${pids[0]}
  expect_exit 0 "$bin/dvkctl" status
  cat "$work/out"
  grep -q "^node 0 " "$work/out" || fail "no node line"
  grep -q "^node 0 name=node0 local flags=0x2(ATTACHED) dcs=0x1 " "$work/out" || fail "no local node info line"
  grep -q "^dc 0 .*procs=221 tasks=34 sysprocs=64" "$work/out" || fail "no DC 0 line"
  grep -Eq "^proc dc=0 nr=11 ep=11 pid=$srv name=latency_serve.* flags=0x[0-9a-f]+\(RECEIVING\)" "$work/out" ||
    fail "bound endpoint 11 not listed"
  grep -q "^summary running_dcs=1 bound_endpoints=1" "$work/out" || fail "bad summary"
  grep -q "^stats attachments=" "$work/out" || fail "no stats line"
  ;;
dvkctl_dc)
  start_backend
  expect_exit 0 "$bin/dvkctl" dc init 2 --procs 50 --tasks 10 --sysprocs 20 --name bench2
  grep -q "^dc 2 name=bench2 state=RUNNING procs=50 tasks=10 sysprocs=20" "$work/out" || { cat "$work/out"; fail "dc init output"; }
  expect_exit 1 "$bin/dvkctl" dc init 2
  grep -q "EDVS" "$work/err" || fail "second dc init: no DVK error named"
  expect_exit 0 "$bin/dvkctl" status
  grep -q "^summary running_dcs=2 " "$work/out" || fail "status does not count DC 2"
  grep -q "^dc 2 name=bench2" "$work/out" || fail "status does not list DC 2"
  expect_exit 0 "$bin/dvkctl" proc 2 5
  grep -q "^proc dc=2 nr=5 .*flags=0x1(SLOT_FREE)" "$work/out" || { cat "$work/out"; fail "free slot not decoded"; }
  expect_exit 0 "$bin/dvkctl" dc end 2
  expect_exit 0 "$bin/dvkctl" status
  grep -q "^summary running_dcs=1 " "$work/out" || fail "DC 2 still running after dc end"
  ;;
dvkctl_no_backend)
  export VDVK_SOCKET="$work/nobody.sock"
  expect_exit 1 "$bin/dvkctl" status
  [ "$(wc -l <"$work/err")" -eq 1 ] || fail "expected exactly one error line"
  grep -q "cannot reach the vdvk backend at $work/nobody.sock: EDVS" "$work/err" || { cat "$work/err"; fail "unclear error"; }
  expect_exit 1 "$bin/copy_client"
  grep -q "nobody.sock" "$work/err" || fail "copy_client does not name the socket"
  ;;
bad_flags)
  export VDVK_SOCKET="$work/nobody.sock"
  expect_exit 2 "$bin/dvkctl" --bogus status
  expect_exit 2 "$bin/dvkctl"
  expect_exit 2 "$bin/dvkctl" dc init 99
  expect_exit 2 "$bin/dvkctl" proc 0 abc
  expect_exit 2 "$bin/copy_client" --size abc
  expect_exit 2 "$bin/copy_client" --size 2M
  expect_exit 2 "$bin/copy_server" --ep
  expect_exit 2 "$bin/latency_client" --loops -5
  expect_exit 2 "$bin/latency_server" extra
  expect_exit 2 "$bin/m3ftp" frob a b
  expect_exit 2 "$bin/m3ftp" get onlyone
  expect_exit 2 "$bin/m3ftpd"
  expect_exit 2 "$bin/m3ftpd" --root "$work/does-not-exist"
  expect_exit 2 "$bin/vdvk-demo" --rounds x
  grep -q "Try 'vdvk-demo --help'" "$work/err" || fail "no --help hint"
  expect_exit 0 "$bin/dvkctl" --help
  grep -q "Usage: dvkctl status" "$work/out" || fail "--help prints no usage"
  ;;
*)
  fail "unknown case"
  ;;
esac
echo "PASS [$case_name]"
