# kbc-table-sync image: a Keboola Common Interface component that also runs standalone.
#
#   docker build --build-arg VERSION="$(node -p 'require("./package.json").version')" -t kbc-table-sync .
#   docker run --rm -v "$PWD/data:/data" kbc-table-sync [run|action NAME] [--table NAME ...]
#
# Stages: `build` bundles the TypeScript and its dependencies into dist/ with the dev
# dependencies (scripts/build-job.mjs): dist/main.js, and dist/gelf-pro.cjs, loaded only when GELF
# logging is configured. The runtime image ships dist/, package.json and component.json: no
# node_modules. The Storage API emulator is an npm workspace (emulator/) that the job never
# imports: it is not in the build context, and `--workspaces=false` keeps npm from installing it
# or its dependencies (DuckDB) even if it were. It runs as uid 1000 but works under any uid (Keboola's runner passes --user):
# it writes nowhere but /data (the default data folder) and /tmp (HOME), and never runs npm.
# Only Dockerfile features that buildah 1.28 supports (no COPY --link, no heredocs).

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The build (esbuild-wasm) needs no native binaries: --omit=optional skips DuckDB's 70 MB engine.
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --workspaces=false --omit=optional --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY scripts/build-job.mjs ./scripts/
COPY src ./src
RUN npm run build:job

FROM node:24-slim
ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="kbc-table-sync" \
      org.opencontainers.image.description="Copies tables between Keboola Connection projects through the Storage API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/keboola/kbc-table-sync" \
      org.opencontainers.image.licenses="MIT"
# MALLOC_ARENA_MAX=2: glibc keeps two malloc arenas instead of up to 8 per core, so memory freed
# by one thread is reused by the others; 2 to 6 MB less at the peak (docs/performance.md, Memory).
ENV NODE_ENV=production \
    HOME=/tmp \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json component.json ./
COPY --from=build /app/dist ./dist
RUN install -d -m 0777 /data
USER 1000:1000
# Exec form: node is PID 1, and the kernel drops a signal to PID 1 that has no handler. The job's
# first module installs SIGTERM/SIGINT handlers (src/early-signals.ts), so only a stop in the few
# tens of milliseconds while Node itself starts is lost; `docker run --init` closes that gap too
# (docs/faults.md, Interrupted runs).
ENTRYPOINT ["node", "--max-semi-space-size=1", "--no-concurrent-array-buffer-sweeping", "--optimize-for-size", "/app/dist/main.js"]
CMD []
