#!/usr/bin/env bash
# The README's Jupyter route, headless: each notebook (default notebooks/01-getting-started.ipynb) executed by
# `jupyter nbconvert --to notebook --execute` with the .NET (C#) kernel that build/jupyter-setup.sh registered, in small mode
# (APT_NOTEBOOK_SMALL=1), against the Release build its first cell references. The executed notebook must hold no error
# output and, for the notebooks that draw one, a chart (a Plotly HTML page, plotly JSON or a PNG). Ends with a summary line
# in dotnet test's form, which .ci/run counts. Usage: bash .ci/pass-notebook-jupyter.sh [notebooks/NN-name.ipynb ...]
set -uo pipefail
cd "$(dirname "$0")/.."
export PYDEVD_DISABLE_FILE_VALIDATION=1

notebooks=("$@")
[ ${#notebooks[@]} -eq 0 ] && notebooks=(notebooks/01-getting-started.ipynb)
out=artifacts/notebooks/jupyter
mkdir -p "$out"

if ! dotnet build lib/Apt/Apt.csproj -c Release -nologo -v q >"$out/build.log" 2>&1; then
  cat "$out/build.log"
  echo "error: the Release build that the notebooks reference failed"
  echo "Failed!  - Failed: ${#notebooks[@]}, Passed: 0, Skipped: 0, Total: ${#notebooks[@]}"
  exit 1
fi

passed=0 failed=0
for nb in "${notebooks[@]}"; do
  name=$(basename "$nb" .ipynb)
  start=$(date +%s%N)
  APT_NOTEBOOK_SMALL=1 jupyter nbconvert --to notebook --execute "$nb" \
    --ExecutePreprocessor.kernel_name=.net-csharp --ExecutePreprocessor.timeout=1200 \
    --output-dir "$out" --output "$name" >"$out/$name.log" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  # Which notebooks draw a chart (notebooks 03 and 06 show tables and coloured spans only).
  case "$name" in 03-*|06-*) chart=0 ;; *) chart=1 ;; esac
  if [ $rc -ne 0 ]; then
    tail -40 "$out/$name.log"
    verdict="nbconvert failed (exit code $rc)"
  else
    verdict=$(python3 - "$out/$name.ipynb" "$chart" <<'EOF'
import json, sys
cells = json.load(open(sys.argv[1]))["cells"]
outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
errors = [o for o in outputs if o.get("output_type") == "error"]
stderr = [o for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
def is_chart(o):
    data = o.get("data", {})
    return "image/png" in data or "application/vnd.plotly.v1+json" in data or "Plotly.newPlot" in "".join(data.get("text/html", ""))
charts = sum(1 for o in outputs if is_chart(o))
empty = sum(1 for c in cells if c["cell_type"] == "code" and not c.get("outputs"))
if errors:
    e = errors[0]
    print(f"error output: {e.get('ename', '')}: {e.get('evalue', '')}"[:400])
elif int(sys.argv[2]) and charts == 0:
    print("no chart in the executed notebook")
else:
    print(f"ok: {len(cells)} cells, {len(outputs)} outputs, {charts} charts, {len(stderr)} stderr streams, {empty} code cells without output")
EOF
)
  fi
  printf '%s: %d.%d s with jupyter nbconvert --execute (small mode): %s\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) "$verdict"
  case "$verdict" in ok:*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
done

total=$((passed + failed))
if [ $failed -eq 0 ]; then
  echo "Passed!  - Failed: 0, Passed: $passed, Skipped: 0, Total: $total"
else
  echo "Failed!  - Failed: $failed, Passed: $passed, Skipped: 0, Total: $total"
  exit 1
fi
