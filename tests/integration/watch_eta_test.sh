#!/usr/bin/env bash
# `tunectl watch` on a terminal (a pseudo-terminal from script(1), 80 columns) over a real
# synthetic study: 1 worker, 4 trials of 3 one-second epochs. Checks, from the frames drawn:
# the ETA falls from frame to frame (a rise of at most 15 % of rate noise plus the 1 s rounding),
# frames keep coming while no event does (two frames that differ only in elapsed and ETA),
# and no line is wider than 79 columns.
# usage: watch_eta_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
command -v script > /dev/null || { echo "SKIP: script(1) not installed (util-linux)"; exit 0; }
start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 1

cat > "$WORK/spec.yaml" <<'YAML'
name: watch-eta
algorithm: {kind: random, max_trials: 4}
seed: 3
search_space:
  units: {type: choice, values: [128, 256, 512]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 3, sleep_seconds: 1.0}
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml")"
# script gives tunectl a terminal; stty makes it 80 columns wide.
timeout 60 script -q -e -c "stty cols 80 rows 40; exec '$TUNECTL' watch $STUDY" \
  "$WORK/typescript" < /dev/null > /dev/null || fail "watch failed (exit $?)"
python3 - "$WORK/typescript" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
frames = [f for f in text.split("\x1b[J")[1:] if "progress" in f]
assert len(frames) >= 8, f"only {len(frames)} frames"

def seconds(d):
    m = re.fullmatch(r"(?:(\d+)m)?(\d+)s", d)
    return int(m.group(1) or 0) * 60 + int(m.group(2)) if m else None

etas, quiet_pairs = [], 0
previous = None
for f in frames:
    lines = [l for l in f.replace("\r", "").split("\n") if not l.startswith("\x1b[")]
    for l in lines:
        assert len(l) <= 79, f"line of {len(l)} columns: {l!r}"
    m = re.search(r"elapsed (\S+)(?:  ETA (\S+))?", f)
    assert m, f
    if m.group(2) and seconds(m.group(2)) is not None:
        etas.append(seconds(m.group(2)))
    # A frame drawn without an event: the same as the one before but for elapsed and ETA.
    body = re.sub(r"elapsed \S+(  ETA \S+)?", "", f)
    body = re.sub(r"\x1b\[\d+A", "", body)
    if previous is not None and body == previous[0] and m.group(1) != previous[1]:
        quiet_pairs += 1
    previous = (body, m.group(1))
assert len(etas) >= 5, etas
rises = [(a, b) for a, b in zip(etas, etas[1:]) if b > a * 1.15 + 1]
assert not rises, f"ETA rose: {rises} in {etas}"
assert quiet_pairs >= 2, f"no redraw without an event ({quiet_pairs} pairs)"
print(f"watch: {len(frames)} frames, ETA {etas[0]}s .. {etas[-1]}s never rose, "
      f"{quiet_pairs} redraws without an event")
PY
echo "watch_eta: ok"
