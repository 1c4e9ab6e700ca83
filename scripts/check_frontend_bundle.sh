#!/usr/bin/env bash
# Rebuild the committed BertViz frontend bundle from package-lock.json and fail if it differs.
# CI runs this wherever npm is available: the committed frontend/build/ is what pip-only users
# and Community Cloud get, so it must be exactly what `npm ci && npm run build` produces.
set -euo pipefail
cd "$(dirname "$0")/../frontend"
npm ci --no-audit --no-fund --ignore-scripts
npm run build
cd ..
if ! git diff --exit-code -- frontend/build; then
  echo "frontend/build differs from a clean rebuild of frontend/package-lock.json: rebuild and commit it." >&2
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- frontend/build)
if [ -n "$untracked" ]; then
  echo "frontend/build has files that are not committed: $untracked" >&2
  exit 1
fi
echo "frontend/build matches a clean rebuild."
