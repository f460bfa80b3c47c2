#!/usr/bin/env bash
# The README's Jupyter route, headless: each notebook (default: all six) executed by `jupyter nbconvert --to notebook
# --execute` with the .NET (C#) kernel that build/jupyter-setup.sh registered, in small mode (APT_NOTEBOOK_SMALL=1),
# against the Release build of lib/Apt.Notebooks that its first cell references. The executed notebook must hold no
# error output (no error, no stderr stream), every cell that calls Show.Chart must have drawn a chart, and the notebook
# exactly as many charts as listed below. Prints each notebook's time; ends with a summary line in dotnet test's form,
# which .ci/run counts. Usage: bash .ci/pass-notebook-jupyter.sh [notebooks/NN-name.ipynb ...]
set -uo pipefail
cd "$(dirname "$0")/.."
export PYDEVD_DISABLE_FILE_VALIDATION=1

# Charts each notebook draws in small mode (05: one α heatmap per seed, two λ charts, the table).
declare -A charts=([01-getting-started]=1 [02-superglue]=1 [03-ner]=0 [04-gate-granularity]=3 [05-gate-probes]=5
  [06-reproduce-tables]=0)

notebooks=("$@")
[ ${#notebooks[@]} -eq 0 ] && notebooks=(notebooks/0*.ipynb)
out=artifacts/notebooks/jupyter
mkdir -p "$out"
# Run folders of this pass only, so every notebook trains in small mode rather than reading back earlier runs.
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT

if ! dotnet build lib/Apt.Notebooks/Apt.Notebooks.csproj -c Release -nologo -v q >"$out/build.log" 2>&1; then
  cat "$out/build.log"
  echo "error: the Release build that the notebooks reference failed"
  echo "Failed!  - Failed: ${#notebooks[@]}, Passed: 0, Skipped: 0, Total: ${#notebooks[@]}"
  exit 1
fi

passed=0 failed=0 all=$(date +%s%N)
for nb in "${notebooks[@]}"; do
  name=$(basename "$nb" .ipynb)
  start=$(date +%s%N)
  APT_NOTEBOOK_SMALL=1 APT_NOTEBOOK_RUNS="$runs" jupyter nbconvert --to notebook --execute "$nb" \
    --ExecutePreprocessor.kernel_name=.net-csharp --ExecutePreprocessor.timeout=1200 \
    --output-dir "$out" --output "$name" >"$out/$name.log" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  if [ $rc -ne 0 ]; then
    tail -40 "$out/$name.log"
    verdict="nbconvert failed (exit code $rc)"
  else
    verdict=$(python3 - "$out/$name.ipynb" "${charts[$name]:-0}" <<'PY'
import json, sys
cells = [c for c in json.load(open(sys.argv[1]))["cells"] if c["cell_type"] == "code"]
def is_chart(o):
    data = o.get("data", {})
    return "image/png" in data or "Plotly.newPlot" in "".join(data.get("text/html", ""))
outputs = [o for c in cells for o in c.get("outputs", [])]
errors = [o for o in outputs if o.get("output_type") == "error"]
stderr = [o for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
charts = sum(1 for o in outputs if is_chart(o))
chartless = [i + 1 for i, c in enumerate(cells)
             if "Show.Chart(" in "".join(c["source"]) and not any(is_chart(o) for o in c.get("outputs", []))]
if errors:
    e = errors[0]
    print(f"error output: {e.get('ename', '')}: {e.get('evalue', '')}"[:400])
elif stderr:
    print(f"stderr output: {''.join(stderr[0].get('text', ''))}"[:400])
elif chartless:
    print(f"no chart from code cell(s) {chartless}")
elif charts != int(sys.argv[2]):
    print(f"{charts} charts, expected {sys.argv[2]}")
else:
    print(f"ok: {len(cells)} code cells, {len(outputs)} outputs, {charts} charts")
PY
)
  fi
  printf '%s: %d.%d s with jupyter nbconvert --execute (small mode): %s\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) "$verdict"
  case "$verdict" in ok:*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
echo "all notebooks: $(( ($(date +%s%N) - all) / 1000000000 )) s"

total=$((passed + failed))
if [ $failed -eq 0 ]; then
  echo "Passed!  - Failed: 0, Passed: $passed, Skipped: 0, Total: $total"
else
  echo "Failed!  - Failed: $failed, Passed: $passed, Skipped: 0, Total: $total"
  exit 1
fi
