#!/usr/bin/env bash
# The notebooks' terminal twins (notebooks/NN-name.cs, .NET file-based apps generated from the notebooks), as a user
# runs them from the repository: `dotnet run notebooks/NN-name.cs`, here in small mode (APT_NOTEBOOK_SMALL=1). Each must
# build and exit 0 and write as many charts, each as HTML and PNG, as its notebook draws (listed below; the Jupyter
# pass checks the notebooks against the same numbers). Prints each twin's build and run time; ends with a summary line
# in dotnet test's form, which .ci/run counts. Usage: bash .ci/pass-notebook-twins.sh [notebooks/NN-name.cs ...]
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A charts=([01-getting-started]=1 [02-superglue]=1 [03-ner]=0 [04-gate-granularity]=3 [05-gate-probes]=5
  [06-reproduce-tables]=0)

twins=("$@")
[ ${#twins[@]} -eq 0 ] && twins=(notebooks/0*.cs)
logs=artifacts/notebooks/twins
mkdir -p "$logs"
# Run folders of this pass only, so every twin trains in small mode rather than reading back earlier runs.
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT

seconds() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

passed=0 failed=0 all=$(date +%s%N)
for twin in "${twins[@]}"; do
  name=$(basename "$twin" .cs)
  start=$(date +%s%N)
  if ! dotnet build "$twin" -nologo -v q >"$logs/$name.build.log" 2>&1; then
    grep -E 'error' "$logs/$name.build.log" | sort -u | head -20
    printf '%s: build failed after %s s\n' "$name" "$(seconds "$start")"
    failed=$((failed + 1)); continue
  fi
  built=$(seconds "$start") start=$(date +%s%N)
  APT_NOTEBOOK_SMALL=1 APT_NOTEBOOK_RUNS="$runs" dotnet run --no-build "$twin" >"$logs/$name.log" 2>&1
  rc=$? ran=$(seconds "$start")
  out="$logs/$name"
  pngs=$(find "$out" -name '*.png' 2>/dev/null | wc -l)
  unpaired=$(find "$out" -name '*.png' 2>/dev/null | while read -r png; do [ -f "${png%.png}.html" ] || echo "$png"; done)
  if [ $rc -ne 0 ]; then
    tail -30 "$logs/$name.log"
    verdict="exit code $rc"
  elif [ "$pngs" -ne "${charts[$name]:-0}" ]; then
    verdict="$pngs charts as PNG in $out, expected ${charts[$name]:-0}"
  elif [ -n "$unpaired" ]; then
    verdict="PNG without its HTML page: $unpaired"
  else
    verdict="ok: $pngs charts (HTML and PNG) in $out"
  fi
  printf '%s: build %s s, run %s s (dotnet run %s, small mode): %s\n' "$name" "$built" "$ran" "$twin" "$verdict"
  case "$verdict" in ok:*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
echo "all twins: $(seconds "$all") s"

total=$((passed + failed))
if [ $failed -eq 0 ]; then
  echo "Passed!  - Failed: 0, Passed: $passed, Skipped: 0, Total: $total"
else
  echo "Failed!  - Failed: $failed, Passed: $passed, Skipped: 0, Total: $total"
  exit 1
fi
