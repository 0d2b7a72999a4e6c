#!/usr/bin/env bash
# Regenerates packages/proto/src/gen from proto/ with protoc + the local ts-proto plugin.
# With --check, generates into a temp dir and fails if the committed code differs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
plugin="$root/packages/proto/node_modules/.bin/protoc-gen-ts_proto"
out="$root/packages/proto/src/gen"
if ! command -v protoc >/dev/null; then
  echo "protoc not found: apt-get install -y protobuf-compiler libprotobuf-dev" >&2
  exit 1
fi
target="$out"
if [[ "${1:-}" == "--check" ]]; then
  target="$(mktemp -d)"
  trap 'rm -rf "$target"' EXIT
fi
mkdir -p "$target"
protoc \
  --plugin="protoc-gen-ts_proto=$plugin" \
  --ts_proto_out="$target" \
  --ts_proto_opt=outputServices=grpc-js,env=node,esModuleInterop=true,forceLong=number,useOptionals=none,oneof=unions-value,importSuffix=,useDate=false \
  -I "$root/proto" \
  $(cd "$root/proto" && find . -name "*.proto" | sort | sed "s|^\./|$root/proto/|")
if [[ "${1:-}" == "--check" ]]; then
  if ! diff -r "$out" "$target" >/dev/null; then
    echo "generated protobuf code is out of date: run 'pnpm proto:gen' and commit the result" >&2
    diff -r "$out" "$target" | head -40 >&2
    exit 1
  fi
  echo "protobuf code is up to date"
fi
