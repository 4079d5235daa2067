#!/usr/bin/env bash
# Prints the path of a llama-server binary, building one if needed.
#
# Order: $LLAMA_SERVER if set; else a cached build; else build it (CPU only, static) from the
# llama.cpp source that node-llama-cpp ships inside its npm tarball. No network but the npm
# registry is needed. The cache lives outside the repo so clean clones and CI runs reuse it:
#   ${P2P_LLM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/p2p-llm}/llama-server-<llama.cpp tag>/
# Build log: <cache>/llama-server-build.log. Takes ~12 minutes on 2 cores the first time.
set -euo pipefail

if [ -n "${LLAMA_SERVER:-}" ]; then
  [ -x "$LLAMA_SERVER" ] || { echo "LLAMA_SERVER=$LLAMA_SERVER is not executable" >&2; exit 1; }
  echo "$LLAMA_SERVER"; exit 0
fi

# The node-llama-cpp release whose bundled llama.cpp we build (facts: 3.21.1 builds cleanly here).
NODE_LLAMA_CPP_VERSION="${NODE_LLAMA_CPP_VERSION:-3.21.1}"
cache="${P2P_LLM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/p2p-llm}"
mkdir -p "$cache"

# Fast path: a previous build for this node-llama-cpp version.
marker="$cache/llama-server-node-llama-cpp-$NODE_LLAMA_CPP_VERSION.path"
if [ -f "$marker" ] && [ -x "$(cat "$marker")" ]; then cat "$marker"; exit 0; fi

exec 9>"$cache/llama-server.lock"
flock 9   # one build at a time (parallel test workers, a demo started during CI, …)
if [ -f "$marker" ] && [ -x "$(cat "$marker")" ]; then cat "$marker"; exit 0; fi

work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log="$cache/llama-server-build.log"
{
  echo "fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION tarball for its llama.cpp source"
  (cd "$work" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null)
  tar -xzf "$work"/node-llama-cpp-*.tgz -C "$work" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
} >&2
tag="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).tag)' "$work/package/llama/llama.cpp.info.json")"
dest="$cache/llama-server-$tag"
if [ ! -x "$dest/llama-server" ]; then
  echo "building llama-server $tag (CPU only, ~12 min on 2 cores; log: $log)" >&2
  git clone --quiet "$work/package/llama/gitRelease.bundle" "$work/src" 2>>"$log" ||
    { git -C "$work" init -q src && git -C "$work/src" fetch -q "$work/package/llama/gitRelease.bundle" "+refs/*:refs/*" && git -C "$work/src" checkout -q FETCH_HEAD 2>>"$log"; }
  git -C "$work/src" checkout -q "$tag" 2>/dev/null || true
  cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF >>"$log" 2>&1
  cmake --build "$work/build" --target llama-server -j"$(nproc)" >>"$log" 2>&1 ||
    { echo "llama-server build failed; see $log" >&2; tail -20 "$log" >&2; exit 1; }
  mkdir -p "$dest"
  cp "$work/build/bin/llama-server" "$dest/llama-server.tmp" && mv "$dest/llama-server.tmp" "$dest/llama-server"
  # The vocab-only GGUFs from the same tree feed the tiny-model generator.
  mkdir -p "$dest/models" && cp "$work/src/models/ggml-vocab-llama-spm.gguf" "$dest/models/"
fi
echo "$dest/llama-server" >"$marker"
echo "$dest/llama-server"
