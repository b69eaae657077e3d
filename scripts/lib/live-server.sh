# shellcheck shell=bash
# Sourced by the scripts that check the live service (api-fuzz, client-check): builds the server
# the way the tests build it (same feature set, so after `cargo test` nothing is recompiled),
# starts it on a free loopback port with a fresh SQLite store in a temporary working directory
# (no service.toml or .env of the checkout applies, MongoDB is not used), and waits until
# /healthz answers. Extra settings follow the label (`live_server_start name ADMIN_KEY=…`); they win
# over the defaults here. Sets LIVE_URL, LIVE_WORK (the temporary folder, removed on exit) and
# LIVE_LOG (the server's output); stops the server on exit.

live_server_start() { # label (prefix of messages), then VAR=value settings
  local label=$1 root target_dir port
  shift
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  (cd "$root" && cargo test --locked --quiet -p server --no-run) || {
    echo "$label: building the server failed" >&2
    exit 1
  }
  target_dir=${CARGO_TARGET_DIR:-$root/target}
  case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
  LIVE_WORK=$(mktemp -d "${TMPDIR:-/tmp}/$label.XXXXXX")
  LIVE_LOG="$LIVE_WORK/server.log"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  LIVE_URL="http://127.0.0.1:$port"
  (
    cd "$LIVE_WORK"
    exec env -u MONGO_URI -u DB_URI -u CONFIG_FILE \
      HOST=127.0.0.1 PORT="$port" DATA_DIR="$LIVE_WORK/data" RUST_LOG=warn "$@" \
      "$target_dir/debug/server"
  ) >"$LIVE_LOG" 2>&1 &
  LIVE_PID=$!
  trap live_server_stop EXIT
  for _ in $(seq 1 300); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$LIVE_URL/healthz', timeout=0.5)" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$LIVE_PID" 2>/dev/null; then
      echo "$label: the server did not start:" >&2
      cat "$LIVE_LOG" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$label: no answer on $LIVE_URL/healthz within 30 s" >&2
  exit 1
}

live_server_stop() {
  kill "$LIVE_PID" 2>/dev/null || true
  wait "$LIVE_PID" 2>/dev/null || true
  rm -rf "$LIVE_WORK"
}
