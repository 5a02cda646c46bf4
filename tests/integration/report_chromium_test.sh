#!/usr/bin/env bash
# `tunectl report` on a real study, opened in headless Chromium: a server on a temp db, 2
# trial-workers, a small synthetic Hyperband study (R = 27, eta = 3: 49 trials, some failing),
# then the report, a screenshot of it, and a check that the screenshot is a real page (a PNG
# that decodes, with many colours). The page must need no network: Chromium runs with every
# network request routed nowhere. REPORT_SCREENSHOT_DIR, when set, gets a copy of the PNG
# and of the HTML.
# usage: report_chromium_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$CHROMIUM" ]; then
  echo "SKIP: chromium not installed (deploy/setup-debian.sh --tests installs it)"
  exit 0
fi
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 2

cat > "$WORK/spec.yaml" <<'YAML'
name: report-hyperband
objective: {metric: val_accuracy, direction: maximize}
algorithm: {kind: hyperband, max_epochs: 27, eta: 3}
max_attempts: 1
seed: 11
search_space:
  units: {type: choice, values: [128, 256, 512]}
  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}
  optimizer: {type: choice, values: [adam, rmsprop]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, sleep_seconds: 0, fail_probability: 0.04}
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml")"
[[ "$STUDY" =~ ^[0-9]+$ ]] || fail "start-study printed '$STUDY', not a study id"
wait_study "$TUNECTL" "$STUDY" 180

# A bad path fails with the path named and writes nothing.
if "$TUNECTL" report "$STUDY" --html "$WORK/no-such-dir/r.html" 2> "$WORK/bad.err"; then
  fail "report into a missing directory succeeded"
fi
grep -q "cannot write report $WORK/no-such-dir/r.html" "$WORK/bad.err" \
  || fail "bad-path error does not name the path: $(cat "$WORK/bad.err")"

"$TUNECTL" report "$STUDY" --html "$WORK/report.html" || fail "tunectl report failed"
"$TUNECTL" trials "$STUDY" --json > "$WORK/trials.json"
python3 - "$WORK/report.html" "$WORK/trials.json" <<'PY'
import json, sys
html = open(sys.argv[1], encoding="utf-8").read()
trials = json.load(open(sys.argv[2]))["trials"]
for banned in ("http://", "https://", "src=", "<script", "<link", "url("):
    assert banned not in html, f"report refers to {banned}"
assert len(trials) == 49, len(trials)
rows = html.count("<tr") - 1
assert rows == len(trials), (rows, len(trials))
# Every trial that trained at least one epoch has a curve (one execution each).
trained = sum(1 for t in trials if t["epochs_done"] > 0)
curves = html.count('<polyline class="curve ')
assert curves >= trained > 0, (curves, trained)
assert html.count('<rect class="rung"') == 4 + 3 + 2 + 1, "not one cell per rung"
completed = sum(1 for t in trials if t["state"] == "COMPLETED")
assert html.count('<circle class="pt completed" cx') == completed, "history misses trials"
states = sorted({t["state"] for t in trials})
print(f"report: {len(trials)} trials {states}, {curves} curves, {completed} completed, "
      f"{len(html)} bytes")
PY

# Headless Chromium with the network switched off: a page that needed anything from outside
# would render without it.
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$WORK/chromium-profile" --proxy-server="127.0.0.1:9" \
  --proxy-bypass-list="<-loopback>" --window-size=1200,2400 \
  --screenshot="$WORK/report.png" "file://$WORK/report.html" > "$WORK/chromium.log" 2>&1 \
  || { cat "$WORK/chromium.log"; fail "chromium failed"; }
[ -s "$WORK/report.png" ] || { cat "$WORK/chromium.log"; fail "chromium wrote no screenshot"; }

# The PNG decodes (stdlib only: zlib + the PNG row filters) and is not blank.
python3 - "$WORK/report.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, header = 8, b"", None
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        header = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
width, height, depth, color, _, _, interlace = header
assert depth == 8 and color in (2, 6) and interlace == 0, header
bpp = 3 if color == 2 else 4
raw = zlib.decompress(idat)
stride = width * bpp
assert len(raw) == height * (stride + 1), "truncated image data"
assert (width, height) == (1200, 2400), (width, height)
colors, prev = set(), bytearray(stride)
for y in range(height):
    kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if kind == 1:
        for i in range(bpp, stride): row[i] = (row[i] + row[i - bpp]) & 255
    elif kind == 2:
        row = bytearray((a + b) & 255 for a, b in zip(row, prev))
    elif kind == 3:
        for i in range(stride):
            row[i] = (row[i] + ((row[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif kind == 4:
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        colors.update(bytes(row[i:i + 3]) for i in range(0, stride, bpp * 2))
    prev = row
print(f"screenshot: {width}x{height}, {len(colors)} distinct colours, {len(data)} bytes")
assert len(colors) > 50, f"screenshot looks blank: {len(colors)} colours"
PY

if [ -n "${REPORT_SCREENSHOT_DIR:-}" ]; then
  mkdir -p "$REPORT_SCREENSHOT_DIR"
  cp "$WORK/report.png" "$WORK/report.html" "$REPORT_SCREENSHOT_DIR/"
  echo "report: screenshot copied to $REPORT_SCREENSHOT_DIR/report.png"
fi
echo "report: ok"
