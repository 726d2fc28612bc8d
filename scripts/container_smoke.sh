#!/usr/bin/env bash
# Builds the three images (captioner, generator, gateway) with podman and
# smoke-runs them as Kubernetes would (read-only root, no capabilities, the
# image's non-root user): each starts and says SERVING on grpc.health.v1, and
# through the gateway container a caption, a generation and a metered call
# (the key's usage and the gateway's /metrics) succeed (python -m stack.smoke);
# then the gateway drains on SIGTERM and exits 0.
#
#   scripts/container_smoke.sh          # as root (or with passwordless sudo)
#   SOURCE_REF=HEAD scripts/container_smoke.sh   # the committed tree, not the working one
#
# Ends with "container smoke: OK" and exit 0; whatever happens, the containers it
# started are removed (unless KEEP=1). From scratch (packages, base, three builds)
# it takes about eight minutes on 2 cores; again, with the base and layers cached,
# a minute or two.
#
# What works on machines without a reachable registry or systemd, found by trying:
# podman with the runc runtime (crun fails here) and explicit ulimits, set in a
# containers.conf of this run (CONTAINERS_CONF; nothing under /etc is changed);
# a local Debian bookworm base built with mmdebstrap and `podman import`, passed
# to the Dockerfiles as BASE; pip in the build trusts the host's CA bundle, which
# is mounted into the build (never copied into a layer) and named by PIP_CERT on
# the pip step only.
#
# Environment (all optional):
#   BASE=IMAGE          use this base instead of the local mmdebstrap one
#   TAG=smoke           tag of the images (imaging/captioner:$TAG, ...)
#   SKIP_INSTALL=1      do not apt-get install podman runc catatonit mmdebstrap
#   SKIP_BUILD=1        run images already built with this TAG
#   NO_CACHE=1          rebuild every layer of the images (the base is still reused)
#   SOURCE_REF=REF      build from this commit (git archive) instead of the working tree,
#                       and run stack.smoke from it too: a tree others are editing
#                       cannot break the build halfway
#   KEEP=1              leave the containers running afterwards
#   PORT_BASE=25050     gateway gRPC port; captioner +1, generator +2; metrics ports +50..+52
#   PYTHON=.venv/bin/python   the interpreter of stack.smoke (`make setup` makes it)
#   WHEELS_DIR=DIR      local wheels for the build (default: pip's configured find-links,
#                       where these machines keep the CPU torch wheel)
#   TORCH_INDEX_URL=URL PyTorch index for the build (default: none when WHEELS_DIR has a
#                       torch wheel, else the CPU index)
#   DEBIAN_MIRROR=URL   mirror for mmdebstrap (default http://deb.debian.org/debian)
#   STORAGE_DRIVER=vfs  podman storage driver, where overlay cannot nest
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
TAG=${TAG:-smoke}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
PORT_BASE=${PORT_BASE:-25050}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
HOST_CA=/etc/ssl/certs/ca-certificates.crt
LOCAL_BASE=localhost/imaging-base:bookworm
CONTAINERS=(imaging-smoke-captioner imaging-smoke-generator imaging-smoke-gateway)

GATEWAY_PORT=$PORT_BASE
CAPTIONER_PORT=$((PORT_BASE + 1))
GENERATOR_PORT=$((PORT_BASE + 2))
GATEWAY_METRICS_PORT=$((PORT_BASE + 50))
CAPTIONER_METRICS_PORT=$((PORT_BASE + 51))
GENERATOR_METRICS_PORT=$((PORT_BASE + 52))

PODMAN=(podman)
if [ -n "${STORAGE_DRIVER:-}" ]; then
    PODMAN+=(--storage-driver "$STORAGE_DRIVER")
fi
if [ "$(id -u)" != 0 ]; then
    PODMAN=(sudo --preserve-env=CONTAINERS_CONF "${PODMAN[@]}")
fi

log() { printf '\n== [%4ds] %s\n' "$SECONDS" "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

WORK=$(mktemp -d)
SMOKE_PID=
cleanup() {
    status=$?
    trap - EXIT INT TERM
    if [ -n "$SMOKE_PID" ]; then
        kill "$SMOKE_PID" 2>/dev/null || true
    fi
    if [ "$status" != 0 ] && command -v podman >/dev/null; then
        for name in "${CONTAINERS[@]}"; do
            if "${PODMAN[@]}" container exists "$name" 2>/dev/null; then
                log "logs of $name (last 40 lines)"
                "${PODMAN[@]}" logs --tail 40 "$name" 2>&1 || true
            fi
        done
    fi
    if [ "${KEEP:-0}" != 1 ] && command -v podman >/dev/null; then
        "${PODMAN[@]}" rm --force --time 2 --ignore "${CONTAINERS[@]}" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    if [ "$status" = 0 ]; then
        log "done in ${SECONDS}s"
    else
        log "FAILED (exit $status) after ${SECONDS}s"
    fi
    exit "$status"
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap too (bash skips it on an untrapped signal).
trap 'exit 130' INT
trap 'exit 143' TERM

# -- 1. tools ---------------------------------------------------------------------------
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    missing=()
    for tool in podman runc catatonit mmdebstrap; do
        if ! command -v "$tool" >/dev/null && ! [ -x "/usr/libexec/podman/$tool" ] && ! [ -x "/usr/bin/$tool" ]; then
            missing+=("$tool")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            podman runc catatonit mmdebstrap
    fi
fi
if [ ! -x "$PYTHON" ]; then
    echo "no $PYTHON: run make setup first (stack.smoke runs on the host)" >&2
    exit 1
fi

# -- 2. podman configuration of this run ------------------------------------------------------
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
# No systemd here: plain cgroups and an events file.
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"
"${PODMAN[@]}" info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}'

# -- 3. the base image ----------------------------------------------------------------------
if [ -z "${BASE:-}" ]; then
    BASE=$LOCAL_BASE
    if ! "${PODMAN[@]}" image exists "$BASE"; then
        log "building $BASE with mmdebstrap (Debian bookworm, python3 3.11)"
        as_root mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$WORK/base.tar" "$DEBIAN_MIRROR"
        "${PODMAN[@]}" import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["/bin/bash"]' "$WORK/base.tar" "$BASE"
        as_root rm -f "$WORK/base.tar"
    fi
fi

# -- 4. the images ----------------------------------------------------------------------------
CONTEXT=$REPO
if [ -n "${SOURCE_REF:-}" ]; then
    CONTEXT=$WORK/src
    log "building from $SOURCE_REF ($(git -C "$REPO" rev-parse --short "$SOURCE_REF^{commit}"))"
    mkdir "$CONTEXT"
    git -C "$REPO" archive --format=tar "$SOURCE_REF" | tar -x -C "$CONTEXT"
fi
WHEELS_DIR=${WHEELS_DIR:-$("$PYTHON" -m pip config get global.find-links 2>/dev/null || true)}
BUILD_ARGS=(--build-arg "BASE=$BASE")
BUILD_MOUNTS=()
if [ -f "$HOST_CA" ]; then
    # Visible to the build's RUN steps, never part of a layer.
    BUILD_MOUNTS+=(--volume "$HOST_CA:/run/host-ca.crt:ro")
    BUILD_ARGS+=(--build-arg HOST_CA_BUNDLE=/run/host-ca.crt)
fi
TORCH_ARGS=()
if [ -n "$WHEELS_DIR" ] && [ -d "$WHEELS_DIR" ]; then
    BUILD_MOUNTS+=(--volume "$WHEELS_DIR:/run/wheels:ro")
    TORCH_ARGS+=(--build-arg TORCH_FIND_LINKS=/run/wheels)
    if compgen -G "$WHEELS_DIR/torch-*.whl" >/dev/null; then
        TORCH_INDEX_URL=${TORCH_INDEX_URL-}
    fi
fi
TORCH_ARGS+=(--build-arg "TORCH_INDEX_URL=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}")

build() {
    local directory=$1 image="imaging/${1%_svc}:$TAG"
    shift
    log "building $image"
    local previous
    previous=$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    # One build at a time: each is CPU heavy (pip, compileall, committing layers).
    "${PODMAN[@]}" build --network host --pull=missing --file "$CONTEXT/$directory/Dockerfile" \
        --tag "$image" "${BUILD_ARGS[@]}" "${BUILD_MOUNTS[@]}" "$@" "$CONTEXT"
    # A rebuild leaves the image it replaced untagged (1.5 GB for a model server): remove
    # it. The build stages' layers stay as the cache of the next build (`podman image
    # prune` reclaims them).
    if [ -n "$previous" ] && [ "$previous" != "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$image")" ]; then
        "${PODMAN[@]}" image rm "$previous" >/dev/null 2>&1 || true
    fi
}
if [ "${NO_CACHE:-0}" = 1 ]; then
    BUILD_ARGS+=(--no-cache)
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    build captioner_svc "${TORCH_ARGS[@]}"
    build generator_svc "${TORCH_ARGS[@]}"
    build gateway
fi
"${PODMAN[@]}" image ls --filter reference='imaging/*'

for image in captioner generator gateway; do
    # The image's user, and no compiler or installer of its own in the final stage.
    user=$("${PODMAN[@]}" run --rm --network none --entrypoint id "imaging/$image:$TAG" -u)
    if [ "$user" != 10001 ]; then
        echo "imaging/$image runs as uid $user, not 10001" >&2
        exit 1
    fi
    if "${PODMAN[@]}" run --rm --network none --entrypoint sh "imaging/$image:$TAG" -c \
        'command -v gcc || command -v cc || test -e /opt/venv/bin/pip'; then
        echo "imaging/$image has a compiler, or pip in its environment" >&2
        exit 1
    fi
done

# -- 5. run them as the manifests do ----------------------------------------------------------
"${PODMAN[@]}" rm --force --time 2 --ignore "${CONTAINERS[@]}" >/dev/null
ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
# Host networking: no CNI or netavark needed; the servers bind loopback on free ports.
# The writable directories are tmpfs owned by the image's user (`U`), as an emptyDir with
# fsGroup would be: runc keeps the mode of the image's directory on a tmpfs but not its
# owner, so `mode=1777` leaves them root-owned 0755 (PermissionError on the gateway's pepper).
RUN=("${PODMAN[@]}" run --detach --network host --read-only --cap-drop ALL
    --security-opt no-new-privileges)
log "starting the containers"
"${RUN[@]}" --name imaging-smoke-captioner --tmpfs /cache:rw,U \
    -e CAPTIONER_HOST=127.0.0.1 -e CAPTIONER_PORT="$CAPTIONER_PORT" \
    -e CAPTIONER_METRICS_HOST=127.0.0.1 -e CAPTIONER_METRICS_PORT="$CAPTIONER_METRICS_PORT" \
    "imaging/captioner:$TAG"
"${RUN[@]}" --name imaging-smoke-generator --tmpfs /cache:rw,U \
    -e GENERATOR_HOST=127.0.0.1 -e GENERATOR_PORT="$GENERATOR_PORT" \
    -e GENERATOR_METRICS_HOST=127.0.0.1 -e GENERATOR_METRICS_PORT="$GENERATOR_METRICS_PORT" \
    -e GENERATOR_CPU_THREADS=1 \
    "imaging/generator:$TAG"
"${RUN[@]}" --name imaging-smoke-gateway --tmpfs /var/lib/gateway:rw,U \
    -e GATEWAY_HOST=127.0.0.1 -e GATEWAY_PORT="$GATEWAY_PORT" \
    -e GATEWAY_METRICS_HOST=127.0.0.1 -e GATEWAY_METRICS_PORT="$GATEWAY_METRICS_PORT" \
    -e GATEWAY_CAPTIONER_ADDRESS="dns:///127.0.0.1:$CAPTIONER_PORT" \
    -e GATEWAY_GENERATOR_ADDRESS="dns:///127.0.0.1:$GENERATOR_PORT" \
    -e GATEWAY_ADMIN_TOKEN="$ADMIN_TOKEN" -e GATEWAY_DRAIN_DELAY_S=1 \
    "imaging/gateway:$TAG"

# -- 6. health, a caption, a generation and a metered call ------------------------------------
log "smoke calls"
# stack.smoke runs on the host (from the built tree), in the background, so that a
# container that exits (an import error, a permission) fails the run at once instead of
# after the health timeout.
(cd "$CONTEXT" && GATEWAY_ADMIN_TOKEN=$ADMIN_TOKEN exec "$PYTHON" -m stack.smoke \
    --gateway "127.0.0.1:$GATEWAY_PORT" \
    --captioner "127.0.0.1:$CAPTIONER_PORT" \
    --generator "127.0.0.1:$GENERATOR_PORT" \
    --gateway-metrics "http://127.0.0.1:$GATEWAY_METRICS_PORT/metrics" \
    --timeout 300) &
SMOKE_PID=$!
while kill -0 "$SMOKE_PID" 2>/dev/null; do
    for name in "${CONTAINERS[@]}"; do
        state=$("${PODMAN[@]}" inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$name" 2>/dev/null || echo "missing")
        if [ "${state%% *}" != running ]; then
            echo "container $name is not running: $state" >&2
            exit 1
        fi
    done
    sleep 2
done
smoke_status=0
wait "$SMOKE_PID" || smoke_status=$?
SMOKE_PID=
if [ "$smoke_status" != 0 ]; then
    echo "stack.smoke failed (exit $smoke_status)" >&2
    exit 1
fi

# -- 7. SIGTERM drains and exits 0 ------------------------------------------------------------
log "stopping the gateway with SIGTERM"
"${PODMAN[@]}" stop --time 60 imaging-smoke-gateway >/dev/null
code=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' imaging-smoke-gateway)
if [ "$code" != 0 ]; then
    echo "the gateway exited with $code after SIGTERM, not 0" >&2
    exit 1
fi
log "container smoke: OK (images imaging/{captioner,generator,gateway}:$TAG)"
