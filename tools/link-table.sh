#!/usr/bin/env bash
# link-table.sh - docs/how-it-works.md's table of delivered frame rate, quality and
# latency over a rate-limited link, measured on this machine.
#
#   sudo tools/link-table.sh [SECONDS]
#
# For each rate (2, 5, 20 and 50 Mbit/s) it runs the release sender (a
# 1280x720 camera-like clip at 30 fps, quality ceiling 80) and a headless
# receiver in two network namespaces joined by a veth pair whose sender
# side has a token bucket (tc tbf) behind a 1 MB queue, once with
# --fixed-quality (the old behaviour) and once adaptive, and prints one
# Markdown row per run from the receiver's progress lines after a 5 s
# warm-up: mean frames decoded a second, the mean of each second's p95
# latency, and the quality and size the last line shows. Needs root, tc
# with tbf, ffmpeg, and `cargo build --release` done.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_MEASURED=${1:-15}
bin=target/release
clip=target/content/camera-like-1280x720-90.y4m
if [ ! -s "$clip" ]; then
  mkdir -p target/content
  ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
    -vf "noise=c0s=4:c1s=1:c2s=1:allf=t,format=yuv420p" -frames:v 90 -f yuv4mpegpipe "$clip"
fi
work=$(mktemp -d)
s=fwt-s-$$ r=fwt-r-$$
cleanup() { ip netns del "$s" 2>/dev/null || true; ip netns del "$r" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$s"; ip netns add "$r"
ip link add veth-s netns "$s" type veth peer name veth-r netns "$r"
ip -n "$s" addr add 10.77.0.1/24 dev veth-s; ip -n "$r" addr add 10.77.0.2/24 dev veth-r
for ns in "$s" "$r"; do ip -n "$ns" link set lo up; done
ip -n "$s" link set veth-s up; ip -n "$r" link set veth-r up

echo "| link | sender | delivered fps | latency p95 (ms) | quality and size |"
echo "|---|---|---|---|---|"
for rate in 2 5 20 50; do
  tc -n "$s" qdisc replace dev veth-s root tbf rate "${rate}mbit" burst 16kb limit 1mb
  for mode in fixed adaptive; do
    flags=(); [ "$mode" = fixed ] && flags=(--fixed-quality)
    ip netns exec "$r" "$bin/framewire-receiver" --headless --listen 10.77.0.2:9000 \
      --stats-interval 1 > "$work/receiver.log" 2>&1 &
    receiver=$!
    sleep 1
    ip netns exec "$s" "$bin/framewire-sender" --connect 10.77.0.2:9000 --source file \
      --input "$clip" --fps 30 --quality 80 "${flags[@]}" > "$work/sender.log" 2>&1 &
    sender=$!
    sleep $((5 + SECONDS_MEASURED))
    kill "$sender" "$receiver"; wait "$sender" "$receiver" 2>/dev/null || true
    grep "fps decoded" "$work/receiver.log" | tail -n "$SECONDS_MEASURED" | awk -v rate="$rate" -v mode="$mode" '
      { split($0, a, "): "); split(a[2], b, " "); fps += b[1]
        p = $0; sub(/.* p95 /, "", p); split(p, c, " "); p95 += c[1]; n++
        q = $0; sub(/.*kbit\/s, /, "", q); quality = (q == $0) ? "-" : q }
      END { printf "| %d Mbit/s | %s | %.1f | %.0f | %s |\n", rate, mode, fps / n, p95 / n, quality }'
  done
done
