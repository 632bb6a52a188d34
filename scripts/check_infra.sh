#!/usr/bin/env bash
# Static checks of the AWS deployment (`make infra-check`, and CI): cfn-lint over every template
# (informational rules included), checkov over the templates and the Dockerfile, hadolint over
# the Dockerfile, actionlint over the GitHub Actions workflows. Needs no AWS account and no
# Docker engine. The tools live in their own virtualenv (.venv-infra, pinned in
# infra/requirements.txt) because checkov pins many packages that clash with the app's.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${INFRA_VENV:-.venv-infra}
REQUIREMENTS=infra/requirements.txt
STAMP=$VENV/.installed
BIN=$VENV/bin

if [[ ! -x $BIN/python ]]; then
  "$PYTHON" -m venv "$VENV"
fi
if [[ ! -f $STAMP || $REQUIREMENTS -nt $STAMP ]]; then
  "$BIN/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  touch "$STAMP"
fi

failed=()
templates=(infra/cloudformation/*.yaml)

echo "== $("$BIN/cfn-lint" --version): ${#templates[@]} templates (settings in .cfnlintrc)"
if "$BIN/cfn-lint"; then echo "cfn-lint: no errors, warnings or informational findings"; else failed+=(cfn-lint); fi

echo "== checkov $("$BIN/checkov" --version): templates"
"$BIN/checkov" --config-file infra/.checkov.yaml -d infra/cloudformation --quiet || failed+=("checkov templates")

echo "== checkov: Dockerfile"
"$BIN/checkov" --config-file infra/.checkov.yaml -f Dockerfile --quiet || failed+=("checkov Dockerfile")

echo "== $("$BIN/hadolint" --version): Dockerfile"
if "$BIN/hadolint" --config infra/hadolint.yaml Dockerfile; then echo "hadolint: no findings"; else failed+=(hadolint); fi

workflows=(.github/workflows/*.yml)
echo "== actionlint $("$BIN/actionlint" -version | head -n 1): ${#workflows[@]} workflows"
if "$BIN/actionlint" "${workflows[@]}"; then echo "actionlint: no findings"; else failed+=(actionlint); fi

if ((${#failed[@]})); then
  echo "infra-check FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "infra-check passed"
