#!/usr/bin/env bash
# The Lua binding's hello server through Application + route + handler (as web_hello_server)
# for bench/bindings.sh: lua.sh's command with bench_hello.lua's --web switch.
set -eu
cmd=$(bash "$(dirname "${BASH_SOURCE[0]}")/lua.sh")
echo "$cmd --web"
