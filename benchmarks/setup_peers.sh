#!/usr/bin/env bash
# Create benchmarks/.peers-venv: a throwaway virtualenv holding exo (editable,
# from this checkout) and the peer frameworks that benchmarks/compare.py runs
# side by side. Nothing here is vendored; everything comes from PyPI.
#
# Usage: bash benchmarks/setup_peers.sh [--recreate]
#   PYTHON=python3.12 bash benchmarks/setup_peers.sh   # pick the interpreter
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="$here/.peers-venv"
python="${PYTHON:-python3}"

if [[ "${1:-}" == "--recreate" ]]; then
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)

"${pip[@]}" --upgrade pip
# The bare loops and the benchmark's own tools.
"${pip[@]}" openai httpx aiohttp
# The peers.
"${pip[@]}" openai-agents "pydantic-ai-slim[openai]" langgraph langchain-openai \
    "smolagents[openai]"
# exo itself, editable, with its OpenAI extra.
"${pip[@]}" -e "$repo[openai]"

"$venv/bin/python" - <<'EOF'
from importlib.metadata import version

for name in ("openai", "httpx", "aiohttp", "openai-agents", "pydantic-ai-slim",
             "langgraph", "langchain-openai", "smolagents", "exo-agents"):
    print(f"{name:18} {version(name)}")
EOF
echo "peers venv ready: $venv"
