#!/usr/bin/env bash
# `npm run test:image`: builds the project's Dockerfile unchanged and runs the image the ways
# people run it, against the Storage API emulator on the host (the container uses the host
# network). Every scenario asserts its exit code and its outputs:
#
#   keboola     no arguments, /data mounted, --user like Keboola's runner, the runner's KBC_*
#               environment, read-only root file system: sliced folders, manifests and
#               out/state.json, all owned by the container's user, rows equal to the source
#   gelf        the runner's GELF logging (KBC_LOGGER_ADDR/PORT to a listener on the host): the
#               run's events arrive as GELF frames, from the image's dist/ alone
#   standalone  parameters.destination, no KBC_* variables (as cron or Airflow run it): the
#               destination tables equal the source tables
#   rerun       --table orders: only orders is written, the other tables' state is carried over
#   action      action list (config) and `action list` (CLI), under an arbitrary uid (4242):
#               stdout is exactly one JSON document, nothing is written
#   badconfig   invalid parameters, and a source token that may write: exit 1, the sentence
#               naming the problem on stderr, no stack trace, nothing written
#   timeout     timeout --signal=KILL in the middle of a slow run (emulator latency fault on
#               slice downloads), then a rerun that succeeds and leaves no temporary files
#   facts       non-root user, entrypoint, NODE_ENV, HOME, labels; /app holds only dist/,
#               package.json and component.json (no node_modules), and no file of the
#               emulator package, DuckDB, csv-parse, the demo or the seed
#   size        image size and what the project adds on top of the base (at most 40 MB)
#
# Engine: docker when `docker info` answers, else podman (installed with apt when missing);
# `node:24-slim` is pulled, or built locally by scripts/local-base-image.sh when no registry
# answers. Environment knobs:
#   SCENARIOS="keboola action"   run only these scenarios (default: all)
#   KBC_TEST_IMAGE=name:tag      test this already-built image instead of building one
#   SEED=path                    emulator seed (default: the emulator package's emulator/seed/seed.json)
#   KEEP=1                       keep the temp folder (its path is printed)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STARTED_S=$SECONDS
SEED=${SEED:-$ROOT/emulator/seed/seed.json}
IMAGE=${KBC_TEST_IMAGE:-localhost/kbc-table-sync:test}
ALL_SCENARIOS="keboola gelf standalone rerun action badconfig timeout facts size"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
MAX_ADDED_BYTES=$((40 * 1000 * 1000))
NAME_PREFIX="kbc-image-test-$$"

log() { printf '\n[test-image] %s\n' "$*" >&2; }
die() {
  printf '[test-image] FATAL: %s\n' "$*" >&2
  exit 1
}

TMP=$(mktemp -d /tmp/kbc-image-test.XXXXXX)
chmod 0755 "$TMP"
EMULATOR_PID=
CONTAINERS=()
cleanup() {
  local rc=$?
  for name in "${CONTAINERS[@]}"; do
    "$ENGINE" kill "$name" >/dev/null 2>&1 || true
    "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
  done
  if [ -n "$EMULATOR_PID" ]; then
    # SIGTERM stops it cleanly, but it would wait for requests still held by a latency fault.
    kill "$EMULATOR_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$EMULATOR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
  fi
  if [ "${KEEP:-}" = 1 ]; then echo "[test-image] kept $TMP" >&2; else rm -rf "$TMP"; fi
  exit "$rc"
}
ENGINE=podman
trap cleanup EXIT

# ---------------------------------------------------------------- engine and base image
pick_engine() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker
    return
  fi
  ENGINE=podman
  # Installs podman when missing, writes containers.conf, pulls or builds node:24-slim.
  WORK=${BASE_WORK:-/tmp/kbc-table-sync-base} bash "$ROOT/scripts/local-base-image.sh"
  export CONTAINERS_CONF=${BASE_WORK:-/tmp/kbc-table-sync-base}/containers.conf
}

image_size_bytes() { "$ENGINE" image inspect "$1" --format '{{.Size}}'; }

build_image() {
  [ -f component.json ] || die "component.json is missing: the image ships it (docs/docker.md)"
  local version
  version=$(node -p 'require("./package.json").version')
  local pull=()
  [ "$ENGINE" = podman ] && pull=(--pull=never)
  log "building $IMAGE (version $version) with $ENGINE"
  local build_started_s=$SECONDS
  "$ENGINE" build "${pull[@]}" --build-arg "VERSION=$version" -t "$IMAGE" -f Dockerfile . \
    >"$TMP/build.log" 2>&1 || {
    # npm's first error lines say why (its usage text would bury them), then the build's end.
    grep -m 12 -E '^npm error [^ ]' "$TMP/build.log" >&2 || true
    tail -5 "$TMP/build.log" >&2
    die "image build failed"
  }
  BUILD_S=$((SECONDS - build_started_s))
  log "built in ${BUILD_S}s"
}

# ---------------------------------------------------------------- host side: build, emulator
ensure_host_build() {
  [ -d node_modules/keboola-storage-emulator ] || die "the emulator workspace is not installed: run npm ci"
  if [ ! -f dist/main.js ] || [ ! -f emulator/dist/bin.js ] ||
    [ -n "$(find src emulator/src package.json tsconfig.json scripts/build-job.mjs -newer dist/main.js -print -quit)" ]; then
    log "dist/ is stale: npm run build"
    npm run build >"$TMP/host-build.log" 2>&1 || {
      cat "$TMP/host-build.log" >&2
      die "npm run build failed"
    }
  fi
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

start_emulator() {
  [ -f "$SEED" ] || die "seed $SEED is missing"
  local port
  port=$(free_port)
  EMU="http://127.0.0.1:$port"
  mkdir -p "$TMP/emulator" # its work folder (TMPDIR), removed with $TMP even after a SIGKILL
  TMPDIR="$TMP/emulator" node emulator/dist/bin.js --port "$port" --seed "$SEED" >"$TMP/emulator.log" 2>&1 &
  EMULATOR_PID=$!
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$EMU/"; then
      log "emulator on $EMU (pid $EMULATOR_PID)"
      return
    fi
    kill -0 "$EMULATOR_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/emulator.log" >&2
  die "the emulator did not start"
}

# Emulator control API (emulator/docs/storage-api.md). Kept in one place so the routes are easy to follow.
ctl() { # METHOD PATH [JSON]
  local args=(-sS --fail-with-body -X "$1" "$EMU/_emulator$2")
  [ $# -ge 3 ] && args+=(-H 'content-type: application/json' --data "$3")
  curl "${args[@]}"
}
ctl_add_fault() { ctl POST /faults "$1" >/dev/null; }
ctl_clear_faults() { ctl DELETE /faults >/dev/null; }
# Rows of a table: a JSON array of {column: value} objects (the internal `_timestamp` dropped).
ctl_table_rows() { # PROJECT_ID TABLE_ID
  ctl GET "/projects/$1/tables/$2/rows" | node -e '
    const rows = JSON.parse(require("fs").readFileSync(0, "utf8"));
    console.log(JSON.stringify(rows.map(({ _timestamp, ...row }) => row)));'
}

# ---------------------------------------------------------------- seed facts
# Source project: the bucket with a read-only token (in.c-sales); destination: a write token.
read_seed() {
  local assignments
  assignments=$(node -e '
    const seed = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    let src, dst;
    for (const p of seed.projects) for (const t of p.tokens ?? []) {
      const perms = Object.entries(t.bucketPermissions ?? {});
      const usable = !t.isMasterToken && !t.isDisabled && !t.expires;
      if (!src && usable && perms.length === 1 && perms[0][1] === "read") src = { p, t, bucket: perms[0][0] };
      const write = perms.find(([, v]) => v === "write");
      if (!dst && usable && write) dst = { p, t, bucket: write[0] };
    }
    if (!src || !dst) throw new Error("seed: no read-only source token or no write token");
    const tables = src.p.buckets.find((b) => b.id === src.bucket).tables.map((t) => t.name);
    const values = { SRC_PROJECT: src.p.id, SRC_TOKEN: src.t.token, SRC_BUCKET: src.bucket,
      DST_PROJECT: dst.p.id, DST_TOKEN: dst.t.token, DST_BUCKET: dst.bucket, SRC_TABLES: tables.join(" ") };
    for (const [k, v] of Object.entries(values)) {
      if (!/^[\w .-]+$/.test(String(v))) throw new Error("seed: unexpected characters in " + k);
      console.log(k + "=\"" + v + "\"");
    }' "$SEED") || die "cannot read $SEED"
  eval "$assignments"
  log "seed: $SRC_BUCKET ($SRC_TABLES) in project $SRC_PROJECT -> $DST_BUCKET in project $DST_PROJECT"
}

# ---------------------------------------------------------------- data folders and containers
# A data folder as Keboola's runner prepares it: config.json, in/state.json, empty out/.
make_data() { # NAME CONFIG_JSON [STATE_JSON]
  local dir="$TMP/$1" state=${3:-'{}'}
  mkdir -p "$dir/in/tables" "$dir/in/files" "$dir/out/tables" "$dir/out/files" "$TMP/$1.tmp"
  printf '%s\n' "$2" >"$dir/config.json"
  printf '%s\n' "$state" >"$dir/in/state.json"
  chown -R "$RUN_UID:$RUN_GID" "$dir" "$TMP/$1.tmp"
  echo "$dir"
}

# A config for the source bucket; TABLES are table names; EXTRA is more `parameters` JSON.
config_json() { # "TABLES" [EXTRA_PARAMETERS_JSON] [ROOT_EXTRA_JSON]
  node -e '
    const [tables, extra, rootExtra, url, token] = process.argv.slice(1);
    console.log(JSON.stringify({
      storage: {}, image_parameters: {}, action: "run", ...JSON.parse(rootExtra || "{}"),
      parameters: { url, "#token": token, tables: tables.split(" ").filter(Boolean).map((name) => ({ name })),
        ...JSON.parse(extra || "{}") },
    }, null, 2));' "$1" "${2:-}" "${3:-}" "$EMU/" "$SRC_TOKEN"
}

# Runs the image like Keboola's runner: data folder on /data, its own /tmp, read-only root
# file system, the runner's KBC_* environment (--plain: none of it, as a scheduler would run it;
# the job must find /data by itself). Writes $OUT/NAME.{stdout,stderr}; returns the exit code.
run_image() { # NAME DATA_DIR [--user U:G] [--plain] [--env K=V]... [-- ARGS...]
  local name=$1 dir=$2 user="$RUN_UID:$RUN_GID"
  local env=(-e KBC_DATADIR=/data/ -e KBC_RUNID=1234567.1234568 -e KBC_PROJECTID="$DST_PROJECT"
    -e KBC_CONFIGID=98765 -e KBC_CONFIGROWID=4321 -e KBC_CONFIGVERSION=3
    -e KBC_COMPONENTID=keboola.ex-table-sync -e KBC_STACKID=connection.keboola.com
    -e KBC_STAGING_FILE_PROVIDER=aws -e KBC_COMPONENT_RUN_MODE=run)
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --user) user=$2 && shift 2 ;;
      --plain) env=() && shift ;;
      --env) env+=(-e "$2") && shift 2 ;;
      --) shift && break ;;
      *) break ;;
    esac
  done
  local cname="$NAME_PREFIX-$name" rc=0
  CONTAINERS+=("$cname")
  "$ENGINE" run --rm --name "$cname" --network host --user "$user" --read-only \
    -v "$dir:/data" -v "$TMP/$(basename "$dir").tmp:/tmp" "${env[@]}" \
    -e AWS_ENDPOINT_URL_S3="$EMU" -e STORAGE_EMULATOR_HOST="$EMU" \
    "$IMAGE" "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" || rc=$?
  return "$rc"
}

show_output() { # NAME
  echo "--- $1 stdout (tail)" >&2
  tail -15 "$OUT/$1.stdout" >&2 || true
  echo "--- $1 stderr (tail)" >&2
  tail -15 "$OUT/$1.stderr" >&2 || true
}

expect_rc() { # NAME EXPECTED ACTUAL
  if [ "$3" != "$2" ]; then
    show_output "$1"
    fail "$1: exit code $3, expected $2"
  fi
  echo "  ok: $1 exited $3"
}

fail() {
  echo "  FAIL: $*" >&2
  exit 1
}
ok() { echo "  ok: $*"; }

# Node checks over a data folder; each prints `ok: ...` lines or throws.
check() { # SCRIPT ARGS...
  local script=$1
  shift
  node --input-type=module -e "
    import fs from 'node:fs'; import path from 'node:path'; import zlib from 'node:zlib';
    import { parse } from 'csv-parse/sync';
    const ok = (m) => console.log('  ok: ' + m);
    const fail = (m) => { console.error('  FAIL: ' + m); process.exit(1); };
    const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));
    const sliceRows = (dir) => fs.readdirSync(dir).sort().flatMap((f) => {
      const buf = fs.readFileSync(path.join(dir, f));
      return parse(buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf);
    });
    const sortedRows = (rows) => rows.map((r) => JSON.stringify(r)).sort();
    const [A, B, C, D] = process.argv.slice(1);
    $script" -- "$@"
}

# Every file and folder under DIR belongs to UID:GID.
check_owner() { # DIR UID GID
  local wrong
  wrong=$(find "$1" \( ! -uid "$2" -o ! -gid "$3" \) -print | head -5)
  [ -z "$wrong" ] || fail "not owned by $2:$3: $wrong"
  ok "everything under $(basename "$1") belongs to $2:$3"
}

# No secret of the seed appears in the outputs or logs of scenario NAME.
check_no_secrets() { # NAME DATA_DIR
  if grep -r -l -F -e "$SRC_TOKEN" -e "$DST_TOKEN" "$OUT/$1.stdout" "$OUT/$1.stderr" "$2/out" 2>/dev/null; then
    fail "$1: a token appears in the outputs"
  fi
  ok "$1: no token in logs or outputs"
}

# Under the Keboola runner's standard logging (KBC_RUNID, no GELF address): stdout is plain text
# lines, none of them JSON, and a successful run writes nothing to stderr (docs/logging.md).
check_runner_logs() { # NAME
  check "
    const lines = fs.readFileSync(A, 'utf8').split('\\n').filter((l) => l.trim());
    const json = lines.filter((l) => { try { JSON.parse(l); return true; } catch { return false; } });
    if (json.length) fail('stdout lines that are JSON: ' + json.slice(0, 3).join(' | '));
    if (fs.readFileSync(B, 'utf8').trim()) fail('stderr is not empty on success');
    ok(lines.length + ' text log lines on stdout, nothing on stderr');" "$OUT/$1.stdout" "$OUT/$1.stderr"
}

# Platform-mode output of TABLES under DIR: a sliced folder of gzip slices and a manifest with
# columns per table, rows equal to the source; nothing else in out/ but state.json.
check_platform_output() { # DIR "TABLES"
  local dir=$1 tables=$2 t expected
  for t in $tables; do
    expected="$TMP/expected-$t.json"
    [ -f "$expected" ] || ctl_table_rows "$SRC_PROJECT" "$SRC_BUCKET.$t" >"$expected"
    check "
      const folder = path.join(A, 'out/tables', B + '.csv');
      if (!fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) fail(folder + ' is not a sliced folder');
      const slices = fs.readdirSync(folder);
      if (slices.length === 0) fail(folder + ' has no slices');
      const manifest = readJson(folder + '.manifest');
      if (!Array.isArray(manifest.columns) || manifest.columns.length === 0) fail(B + ': manifest without columns');
      const source = readJson(C);
      if (source.length && JSON.stringify(Object.keys(source[0])) !== JSON.stringify(manifest.columns)) fail(B + ': manifest columns ' + manifest.columns + ' differ from the source ' + Object.keys(source[0]));
      const expected = sortedRows(source.map((row) => manifest.columns.map((c) => row[c] ?? '')));
      const got = sortedRows(sliceRows(folder));
      if (JSON.stringify(got) !== JSON.stringify(expected)) fail(B + ': ' + got.length + ' rows, source has ' + expected.length + ' (or values differ)');
      ok(B + ': ' + slices.length + ' slice(s), manifest, ' + got.length + ' rows equal to the source');
    " "$dir" "$t" "$expected"
  done
}

# Only the allowed entries exist in DIR: no temporary files or folders anywhere.
check_no_stray_files() { # DIR "TABLES"
  check "
    const allowed = new Set(['config.json', 'in', 'in/tables', 'in/files', 'in/state.json', 'out',
      'out/tables', 'out/files', 'out/state.json', 'out/usage.json',
      ...B.split(' ').filter(Boolean).flatMap((t) => ['out/tables/' + t + '.csv', 'out/tables/' + t + '.csv.manifest'])]);
    const stray = [];
    const walk = (rel) => {
      for (const e of fs.readdirSync(path.join(A, rel), { withFileTypes: true })) {
        const r = rel ? rel + '/' + e.name : e.name;
        const sliceOfTable = /^out\/tables\/[^/]+\.csv\/[^/.][^/]*$/.test(r) && allowed.has(path.dirname(r));
        if (!allowed.has(r) && !sliceOfTable) stray.push(r);
        if (e.isDirectory() && allowed.has(r)) walk(r);
      }
    };
    walk('');
    if (stray.length) fail('unexpected entries: ' + stray.join(', '));
    ok('no temporary or stray files under ' + path.basename(A));" "$1" "$2"
}

# ---------------------------------------------------------------- scenarios
scenario_keboola() {
  local dir rc=0
  dir=$(make_data keboola "$(config_json "$SRC_TABLES")")
  run_image keboola "$dir" || rc=$?
  expect_rc keboola 0 "$rc"
  check_platform_output "$dir" "$SRC_TABLES"
  check "const s = readJson(A); if (!s || typeof s !== 'object' || Array.isArray(s)) fail('state is not an object');
    ok('out/state.json: ' + JSON.stringify(s).slice(0, 120));" "$dir/out/state.json"
  check_no_stray_files "$dir" "$SRC_TABLES"
  check_owner "$dir" "$RUN_UID" "$RUN_GID"
  check_runner_logs keboola
  check_no_secrets keboola "$dir"
  cp "$dir/out/state.json" "$TMP/keboola-state.json"
}

# The runner's GELF logging (component.json's logging type gelf): the runner sets KBC_LOGGER_ADDR
# and KBC_LOGGER_PORT; the image has no node_modules, so gelf-pro comes from dist/gelf-pro.cjs.
scenario_gelf() {
  local dir rc=0 port="" listener i
  : >"$TMP/gelf.frames"
  node -e '
    const net = require("node:net"), fs = require("node:fs");
    const [portFile, framesFile] = process.argv.slice(1);
    const server = net.createServer((socket) => socket.on("data", (d) => fs.appendFileSync(framesFile, d)));
    server.listen(0, "127.0.0.1", () => fs.writeFileSync(portFile, String(server.address().port)));
    setTimeout(() => process.exit(0), 120000);' "$TMP/gelf.port" "$TMP/gelf.frames" &
  listener=$!
  for i in $(seq 1 50); do
    [ -s "$TMP/gelf.port" ] && port=$(cat "$TMP/gelf.port") && break
    sleep 0.1
  done
  [ -n "$port" ] || fail "the GELF listener did not start"
  dir=$(make_data gelf "$(config_json "$SRC_TABLES")")
  run_image gelf "$dir" --env KBC_LOGGER_ADDR=127.0.0.1 --env KBC_LOGGER_PORT="$port" || rc=$?
  sleep 1
  kill "$listener" 2>/dev/null || true
  expect_rc gelf 0 "$rc"
  check_platform_output "$dir" "$SRC_TABLES"
  check "
    const frames = fs.readFileSync(A, 'utf8').split('\\0').filter(Boolean).map((f) => JSON.parse(f));
    const copying = frames.find((f) => /^Copying \\d+ table/.test(f.short_message));
    if (!copying) fail('no GELF frame says Copying: ' + frames.map((f) => f.short_message).slice(0, 5).join(' | '));
    if (frames.some((f) => f.version !== '1.1')) fail('a frame is not GELF 1.1');
    ok(frames.length + ' GELF frames, among them: ' + copying.short_message);" "$TMP/gelf.frames"
  check_no_secrets gelf "$dir"
}

scenario_standalone() {
  local dir rc=0 t
  local destination="{\"destination\":{\"url\":\"$EMU/\",\"#token\":\"$DST_TOKEN\",\"bucket\":\"$DST_BUCKET\"}}"
  dir=$(make_data standalone "$(config_json "$SRC_TABLES" "$destination")")
  run_image standalone "$dir" --plain || rc=$?
  expect_rc standalone 0 "$rc"
  for t in $SRC_TABLES; do
    ctl_table_rows "$SRC_PROJECT" "$SRC_BUCKET.$t" >"$TMP/standalone-src-$t.json"
    ctl_table_rows "$DST_PROJECT" "$DST_BUCKET.$t" >"$TMP/standalone-dst-$t.json" ||
      fail "destination table $DST_BUCKET.$t is missing"
    check "
      const norm = (rows) => sortedRows(rows.map((r) => Object.keys(r).sort().map((k) => [k, r[k]])));
      const a = norm(readJson(A)), b = norm(readJson(B));
      if (JSON.stringify(a) !== JSON.stringify(b)) fail(C + ': destination (' + b.length + ' rows) differs from the source (' + a.length + ' rows)');
      ok(C + ': destination equals the source (' + a.length + ' rows)');" \
      "$TMP/standalone-src-$t.json" "$TMP/standalone-dst-$t.json" "$DST_BUCKET.$t"
  done
  [ -f "$dir/out/state.json" ] || fail "out/state.json missing"
  check_no_stray_files "$dir" ""
  check_owner "$dir" "$RUN_UID" "$RUN_GID"
  check_no_secrets standalone "$dir"
}

scenario_rerun() {
  local dir rc=0 state others
  state=$([ -f "$TMP/keboola-state.json" ] && cat "$TMP/keboola-state.json" || echo '{}')
  dir=$(make_data rerun "$(config_json "$SRC_TABLES")" "$state")
  run_image rerun "$dir" -- --table orders || rc=$?
  expect_rc rerun 0 "$rc"
  check_platform_output "$dir" orders
  others=$(for t in $SRC_TABLES; do [ "$t" = orders ] || printf '%s ' "$t"; done)
  check_no_stray_files "$dir" orders
  ok "only orders was written (absent: ${others% })"
  check "
    const before = readJson(A), after = readJson(B);
    const tablesOf = (s) => s.tables ?? {};
    const others = Object.keys(tablesOf(before)).filter((id) => !id.endsWith('.orders'));
    if (others.length === 0 && C.trim()) fail('the previous state has no entries for ' + C);
    for (const id of others) if (JSON.stringify(tablesOf(after)[id]) !== JSON.stringify(tablesOf(before)[id])) fail('state of ' + id + ' changed');
    ok('state entries kept: ' + others.join(', '));" "$dir/in/state.json" "$dir/out/state.json" "$others"
  check_owner "$dir" "$RUN_UID" "$RUN_GID"
}

scenario_action() {
  local dir rc=0
  # Any uid: the data folder is world-readable and actions write nothing.
  dir=$(make_data action "$(config_json "$SRC_TABLES" '' '{"action":"list"}')")
  chmod -R a+rX "$dir"
  chmod 1777 "$TMP/action.tmp"
  run_image action "$dir" --user 4242:4242 --plain || rc=$?
  expect_rc action 0 "$rc"
  local check_list="
    const text = fs.readFileSync(A, 'utf8');
    let doc;
    try { doc = JSON.parse(text); } catch (e) { fail('stdout is not exactly one JSON document: ' + text.slice(0, 200)); }
    const names = (doc.tables ?? []).map((t) => t.name);
    for (const t of B.split(' ')) if (!names.includes(t)) fail('list lacks ' + t + ': ' + text.slice(0, 200));
    ok('stdout is one JSON document listing ' + names.join(', '));"
  check "$check_list" "$OUT/action.stdout" "$SRC_TABLES"
  dir=$(make_data action-cli "$(config_json "$SRC_TABLES")")
  chmod -R a+rX "$dir"
  chmod 1777 "$TMP/action-cli.tmp"
  rc=0
  run_image action-cli "$dir" --user 4242:4242 -- action list || rc=$?
  expect_rc action-cli 0 "$rc"
  check "$check_list" "$OUT/action-cli.stdout" "$SRC_TABLES"
  [ -z "$(ls -A "$dir/out/tables")" ] && [ ! -e "$dir/out/state.json" ] || fail "an action wrote to out/"
  ok "actions wrote nothing to out/"
}

scenario_badconfig() {
  local dir rc=0
  dir=$(make_data badconfig '{"parameters":{"url":"'"$EMU/"'","tables":[{"name":"orders","incremental":"yes"}]}}')
  run_image badconfig "$dir" || rc=$?
  expect_rc badconfig 1 "$rc"
  check "
    const err = fs.readFileSync(A, 'utf8');
    if (!/parameters\.#token/.test(err)) fail('stderr does not name parameters.#token: ' + err.slice(0, 300));
    if (!/parameters\.tables(\.0|\[0\])\.incremental/.test(err)) fail('stderr does not name parameters.tables.0.incremental: ' + err.slice(0, 300));
    if (/\n\s+at /.test(err)) fail('stderr has a stack trace');
    ok('stderr: ' + err.trim().split('\n').slice(-2).join(' | ').slice(0, 200));" "$OUT/badconfig.stderr"
  [ -z "$(ls -A "$dir/out/tables")" ] || fail "a bad config wrote tables"
  # A token that may write is refused before any data moves (docs/architecture.md, Token rules).
  local config
  config=$(config_json "$SRC_TABLES" | node -e '
    const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
    c.parameters["#token"] = process.argv[1];
    console.log(JSON.stringify(c));' "$DST_TOKEN")
  dir=$(make_data badtoken "$config")
  rc=0
  run_image badtoken "$dir" || rc=$?
  expect_rc badtoken 1 "$rc"
  check "
    const err = fs.readFileSync(A, 'utf8');
    if (!/read-only/.test(err)) fail('stderr does not say the token must be read-only: ' + err.slice(0, 300));
    if (/\n\s+at /.test(err)) fail('stderr has a stack trace');
    ok('stderr: ' + err.trim().split('\n').slice(-1)[0].slice(0, 200));" "$OUT/badtoken.stderr"
  [ -z "$(ls -A "$dir/out/tables")" ] && [ ! -e "$dir/out/state.json" ] || fail "a refused token wrote outputs"
  check_no_secrets badtoken "$dir"
}

scenario_timeout() {
  local dir rc=0 kill_after_s=${KILL_AFTER_S:-8}
  dir=$(make_data timeout "$(config_json "$SRC_TABLES")")
  # Every slice download hangs for 30 s: the run is certainly in the middle when killed.
  ctl_add_fault '{"kind":"latency","ms":30000,"method":"GET","path":"/\\.gz$/","count":1000}'
  log "timeout: a run killed after ${kill_after_s}s"
  CONTAINERS+=("$NAME_PREFIX-timeout")
  # (a subshell, so that bash's "Killed" job report stays out of the output)
  (timeout --signal=KILL "$kill_after_s" "$ENGINE" run --rm --name "$NAME_PREFIX-timeout" --network host \
    --user "$RUN_UID:$RUN_GID" --read-only -v "$dir:/data" -v "$TMP/timeout.tmp:/tmp" \
    -e KBC_DATADIR=/data/ -e KBC_RUNID=1234567.9 -e AWS_ENDPOINT_URL_S3="$EMU" -e STORAGE_EMULATOR_HOST="$EMU" \
    "$IMAGE" >"$OUT/timeout-killed.stdout" 2>"$OUT/timeout-killed.stderr"; exit $?) 2>/dev/null || rc=$?
  # Killing the client leaves the container running; kill it too (SIGKILL, as the runner does).
  "$ENGINE" kill "$NAME_PREFIX-timeout" >/dev/null 2>&1 || true
  "$ENGINE" rm -f "$NAME_PREFIX-timeout" >/dev/null 2>&1 || true
  expect_rc timeout-killed 137 "$rc"
  [ ! -e "$dir/out/state.json" ] || fail "the killed run wrote out/state.json: it was not in the middle"
  local injected
  injected=$(ctl GET /faults | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).injectedCount)')
  [ "$injected" -ge 1 ] || fail "no slice download had started within ${kill_after_s}s (try KILL_AFTER_S=20)"
  ok "$injected slice download(s) were hanging when the run was killed"
  ok "killed in the middle: no out/state.json; left behind: $(cd "$dir" && find out -mindepth 1 | tr '\n' ' ')"
  ctl_clear_faults
  rc=0
  run_image timeout-rerun "$dir" || rc=$?
  expect_rc timeout-rerun 0 "$rc"
  check_platform_output "$dir" "$SRC_TABLES"
  check_no_stray_files "$dir" "$SRC_TABLES"
  [ -f "$dir/out/state.json" ] || fail "out/state.json missing after the rerun"
  [ -z "$(find "$TMP/timeout.tmp" -mindepth 1 -newer "$dir/config.json" -print -quit 2>/dev/null)" ] ||
    echo "  note: the runs left files in /tmp (the runner discards /tmp after each job)"
  check_owner "$dir" "$RUN_UID" "$RUN_GID"
}

# The image's configuration and content: non-root, entrypoint, environment, labels; only dist/,
# package.json and component.json under /app (the bundle needs no node_modules).
scenario_facts() {
  "$ENGINE" image inspect "$IMAGE" --format '{{json .Config}}' >"$OUT/config.json"
  check "
    const c = readJson(A);
    const expect = (what, got, want) => { if (JSON.stringify(got) !== JSON.stringify(want)) fail(what + ' is ' + JSON.stringify(got) + ', expected ' + JSON.stringify(want)); };
    expect('User', c.User, '1000:1000');
    expect('Entrypoint', c.Entrypoint, ['node', '--max-semi-space-size=1', '--no-concurrent-array-buffer-sweeping', '--optimize-for-size', '/app/dist/main.js']);
    expect('Cmd', c.Cmd ?? [], []);
    for (const e of ['NODE_ENV=production', 'HOME=/tmp', 'MALLOC_ARENA_MAX=2']) if (!c.Env.includes(e)) fail('Env lacks ' + e);
    const labels = c.Labels ?? {};
    expect('version label', labels['org.opencontainers.image.version'], B);
    if (!labels['org.opencontainers.image.source']) fail('no org.opencontainers.image.source label');
    ok('user 1000:1000, entrypoint node --max-semi-space-size=1 --no-concurrent-array-buffer-sweeping --optimize-for-size /app/dist/main.js, NODE_ENV=production, HOME=/tmp, MALLOC_ARENA_MAX=2, labels version ' + B + ' and source');
  " "$OUT/config.json" "$(node -p 'require("./package.json").version')"
  local listing
  listing=$("$ENGINE" run --rm --entrypoint sh "$IMAGE" -c \
    'ls -A /app; ls -A /app/dist; echo "uid=$(id -u)"')
  [ "$(printf '%s\n' "$listing" | head -3 | sort | tr '\n' ' ')" = "component.json dist package.json " ] ||
    fail "/app holds more than dist, package.json and component.json: $listing"
  [ "$(printf '%s\n' "$listing" | sed -n '4,5p' | sort | tr '\n' ' ')" = "gelf-pro.cjs main.js " ] ||
    fail "/app/dist holds more than main.js and gelf-pro.cjs: $listing"
  [ "$(printf '%s\n' "$listing" | sed -n '6,$p')" = "uid=1000" ] || fail "not uid 1000: $listing"
  ok "/app holds only component.json dist package.json, dist only main.js and gelf-pro.cjs; runs as uid 1000"
  # The emulator is a workspace package the job never imports: no file of it, of its engine
  # (DuckDB) or of its CSV parser, nor the demo, may reach the image.
  local stray
  stray=$("$ENGINE" run --rm --entrypoint sh "$IMAGE" -c \
    'find /app \( -iname "*emulator*" -o -iname "*duckdb*" -o -name csv-parse -o -name "demo*" -o -name "seed*" \) -print | head -5')
  [ -z "$stray" ] || fail "emulator files in the image: $stray"
  ok "no emulator, DuckDB, csv-parse, demo or seed file under /app"
}

# Sets SIZE_NOTE and ADDED_BYTES from the engine's image sizes.
measure_size() {
  local base_bytes image_bytes
  base_bytes=$(image_size_bytes node:24-slim)
  image_bytes=$(image_size_bytes "$IMAGE")
  ADDED_BYTES=$((image_bytes - base_bytes))
  SIZE_NOTE="image $((image_bytes / 1000000)) MB, base node:24-slim $((base_bytes / 1000000)) MB, the project adds $(mb "$ADDED_BYTES") MB (limit 40 MB)"
}
mb() { printf '%d.%d' $(($1 / 1000000)) $((($1 % 1000000) / 100000)); }

scenario_size() {
  "$ENGINE" history "$IMAGE" >"$OUT/history.txt"
  head -12 "$OUT/history.txt"
  [ "$ADDED_BYTES" -le "$MAX_ADDED_BYTES" ] || fail "$SIZE_NOTE"
  ok "$SIZE_NOTE"
}

# ---------------------------------------------------------------- main
pick_engine
if [ "$(id -u)" = 0 ]; then
  RUN_UID=1000 RUN_GID=1000 # like the runner's --user; the data folder is chowned to it
else
  RUN_UID=$(id -u) RUN_GID=$(id -g) # the runner's own rule: --user $(id -u):$(id -g)
fi
OUT="$TMP/logs"
mkdir -p "$OUT"
if [ -z "${KBC_TEST_IMAGE:-}" ]; then build_image; fi
if [ -n "$(printf '%s\n' $SCENARIOS | grep -v -x -e size -e facts)" ]; then
  ensure_host_build
  read_seed
  start_emulator
fi

measure_size
declare -A RESULT
for s in $SCENARIOS; do
  [[ " $ALL_SCENARIOS " == *" $s "* ]] || die "unknown scenario $s (known: $ALL_SCENARIOS)"
  log "scenario $s"
  scenario_started_s=$SECONDS
  set +e
  (
    set -e
    "scenario_$s"
  )
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then RESULT[$s]=pass; else RESULT[$s]=FAIL; fi
  RESULT[$s]="${RESULT[$s]} ($((SECONDS - scenario_started_s))s)"
done

failed=0
echo
echo "== image test ($ENGINE, $IMAGE)"
for s in $SCENARIOS; do
  printf '  %-11s %s\n' "$s" "${RESULT[$s]}"
  [[ "${RESULT[$s]}" == pass* ]] || failed=$((failed + 1))
done
echo "  size: $SIZE_NOTE"
echo "  time: $((SECONDS - STARTED_S))s in all${BUILD_S:+, of which the image build ${BUILD_S}s}"
if [ "$failed" != 0 ]; then
  if [ "${KEEP:-}" = 1 ]; then hint="logs in $OUT"; else hint="KEEP=1 keeps the logs"; fi
  echo "[test-image] $failed scenario(s) failed ($hint)" >&2
  exit 1
fi
