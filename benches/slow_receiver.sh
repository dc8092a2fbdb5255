#!/bin/bash
# A receiver short of CPU beside a normal one, on loopback (issue 18, rc22): `fountain send`
# with a ceiling far above what the slow receiver takes in, the slow receiver in a cgroup whose
# CPU quota holds its intake near a TCG guest's (~20-30 Mbit/s). Prints both receivers' and the
# sender's summary lines and whether each receiver finished from the session.
#
#   sudo benches/slow_receiver.sh [FOUNTAIN] [SIZE_MIB] [QUOTA_PCT] [RATE]
#
# Needs root (cgroup v1 `cpu` or v2 `cpu.max`). Multicast stays on lo (the default --iface).
set -u
FOUNTAIN=${1:-target/release/fountain}
SIZE_MIB=${2:-48}
QUOTA_PCT=${3:-6}
RATE=${4:-1G}
DIR=$(mktemp -d /tmp/fountain-slowrx.XXXXXX)
CG=""
cleanup() {
    for pid in ${PIDS:-}; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "$CG" ] && rmdir "$CG" 2>/dev/null
    # KEEP=DIR keeps the logs (FOUNTAIN_LOG sets their level).
    if [ -n "${KEEP:-}" ]; then rm -rf "$KEEP"; mkdir -p "$KEEP"; cp "$DIR"/*.out "$DIR"/*.err "$KEEP"/; fi
    rm -rf "$DIR"
}
trap cleanup EXIT
# One CPU period of 100 ms, QUOTA_PCT of one core in it.
if [ -d /sys/fs/cgroup/cpu ] && [ -w /sys/fs/cgroup/cpu ]; then
    CG=/sys/fs/cgroup/cpu/fountain-slowrx.$$
    mkdir "$CG" && echo 100000 > "$CG/cpu.cfs_period_us" && echo $((QUOTA_PCT * 1000)) > "$CG/cpu.cfs_quota_us"
else
    CG=/sys/fs/cgroup/fountain-slowrx.$$
    mkdir "$CG" && echo "$((QUOTA_PCT * 1000)) 100000" > "$CG/cpu.max"
fi
head -c $((SIZE_MIB << 20)) /dev/urandom > "$DIR/obj"
# Bounded in time: the sender gives up after 120 s.
timeout 150 "$FOUNTAIN" send --receivers 2 --rate "$RATE" --timeout 120 --manifest "$DIR/ticket" "$DIR/obj" \
    > "$DIR/send.out" 2> "$DIR/send.err" &
PIDS="$!"
SEND=$!
while [ ! -s "$DIR/ticket" ]; do sleep 0.05; done
timeout 150 "$FOUNTAIN" recv --manifest "$DIR/ticket" --out "$DIR/fast" --receiver-id 1 \
    > "$DIR/fast.out" 2> "$DIR/fast.err" &
PIDS="$PIDS $!"
FAST=$!
( echo $BASHPID > "$CG/cgroup.procs" && exec timeout 150 "$FOUNTAIN" recv --manifest "$DIR/ticket" --out "$DIR/slow" --receiver-id 2 ) \
    > "$DIR/slow.out" 2> "$DIR/slow.err" &
PIDS="$PIDS $!"
SLOW=$!
START=$(date +%s.%N)
wait $FAST; FAST_RC=$?
wait $SLOW; SLOW_RC=$?
END=$(date +%s.%N)
wait $SEND; SEND_RC=$?
PIDS=""
echo "== sender (rc $SEND_RC)"; cat "$DIR/send.out"; tail -n 3 "$DIR/send.err"
echo "== fast receiver (rc $FAST_RC)"; cat "$DIR/fast.out"; tail -n 3 "$DIR/fast.err"
echo "== slow receiver (rc $SLOW_RC, quota ${QUOTA_PCT}% of a core)"; cat "$DIR/slow.out"; tail -n 3 "$DIR/slow.err"
cmp -s "$DIR/obj" "$DIR/fast" && echo "fast: identical" || echo "fast: DIFFERS"
cmp -s "$DIR/obj" "$DIR/slow" && echo "slow: identical" || echo "slow: DIFFERS"
echo "wall: $(echo "$END - $START" | bc) s for $SIZE_MIB MiB at --rate $RATE"
