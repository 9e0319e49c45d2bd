#!/usr/bin/env bash
# Runs the demo: the development authorization server, tokengate in front of
# it, and one sample CheckRequest per demo token. Everything listens on
# 127.0.0.1 (free ports) and is stopped at the end.
set -euo pipefail
bin=${BIN:-bin}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/devauthz" --address 127.0.0.1:0 >"$work/as.out" 2>"$work/as.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/as.out" ] && break; sleep 0.05; done
DEMO_AS_URL=$(head -n1 "$work/as.out")
[ -n "$DEMO_AS_URL" ] || { echo "devauthz did not start:"; cat "$work/as.log"; exit 1; }
export DEMO_AS_URL
echo "development authorization server: $DEMO_AS_URL"

"$bin/tokengate" serve --config examples/demo/tokengate.yaml \
  --grpc-address 127.0.0.1:0 --http-address 127.0.0.1:0 2>"$work/tokengate.log" &
pids+=($!)
grpc=""
for _ in $(seq 200); do
  grpc=$(grep -o '"grpc_address":"[^"]*"' "$work/tokengate.log" 2>/dev/null | head -n1 | cut -d'"' -f4 || true)
  [ -n "$grpc" ] && break
  sleep 0.05
done
[ -n "$grpc" ] || { echo "tokengate did not start:"; cat "$work/tokengate.log"; exit 1; }
echo "tokengate gRPC ext_authz: $grpc"
echo
"$bin/democlient" --address "$grpc"
echo
echo "tokengate's deny log lines (no token is ever logged, only token_id):"
grep '"msg":"deny"' "$work/tokengate.log" | head -n 3
