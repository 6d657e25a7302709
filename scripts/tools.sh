# Sourced by the other scripts: puts the project's tools on PATH, installing what is missing into
# a project-local Python venv (.venv, git-ignored) from tools/requirements.txt (pinned versions).
export SAM_CLI_TELEMETRY=0

ensure_tools() {
  export PATH="$root/.venv/bin:$PATH"
  local stamp="$root/.venv/.requirements"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$root/tools/requirements.txt"; then return; fi
  echo "tools: installing tools/requirements.txt into .venv (cargo-lambda, zig, SAM CLI, cfn-lint, moto, actionlint, schemathesis)" >&2
  [ -x "$root/.venv/bin/pip" ] || python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q --disable-pip-version-check -r "$root/tools/requirements.txt"
  cp "$root/tools/requirements.txt" "$stamp"
}
