# syntax=docker/dockerfile:1
#
# durable-db-operator: one image for both process roles.
#   docker build -t durable-db-operator .
#   docker run durable-db-operator worker | watcher | crds | --help
#
# Base image: Debian bookworm "slim" with Node 20, the newest Node this project supports
# (@kubernetes/client-node 1.x; see DESIGN.md). Debian, not Alpine: the Temporal SDK's native module
# (@temporalio/core-bridge) ships prebuilt binaries for glibc Linux only. Pinned by tag, not by
# digest: node:20-bookworm-slim moves with Node 20 patch and Debian security releases, which a
# digest would freeze; pin a digest (node:20-bookworm-slim@sha256:...) where builds must be
# bit-for-bit reproducible and something else (e.g. Renovate) keeps it fresh.

# --- deps: every dependency, dev ones included (tsc, the workflow bundler's loaders) ---------------
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: the lock file is made where the registry serves only that platform's
# builds of packages such as @swc/core-*, so it cannot list the other platforms' optional packages
# and `npm ci` rejects it as out of sync (the same reason .ci/run uses `npm install`). With the
# lock present, `npm install` installs exactly the locked versions.
RUN --mount=type=cache,target=/root/.npm \
    npm install --no-audit --no-fund

# --- build: compile to dist/, pre-build the workflow bundle, drop dev dependencies ------------------
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY cmd ./cmd
COPY common ./common
COPY contracts ./contracts
COPY crds ./crds
COPY workflows ./workflows
COPY activities ./activities
COPY engines ./engines
COPY watcher ./watcher
COPY plugin ./plugin
# tsc -p tsconfig.build.json → dist/ (outDir dist, rootDir .: cmd/cli.ts → dist/cmd/cli.js).
RUN npm run build
# The bundle the worker loads through WORKFLOW_BUNDLE_PATH: no webpack run at every start.
RUN node dist/cmd/cli.js bundle --out dist/workflow-bundle.js
# Runtime dependencies only; of the Temporal native module keep just this platform's binary
# (the package ships one per OS and CPU, about 30 MB each).
RUN npm prune --omit=dev --no-audit --no-fund \
 && keep="$(node -p "require('./node_modules/@temporalio/core-bridge/common.js').getPrebuiltTargetName()")" \
 && find node_modules/@temporalio/core-bridge/releases -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} + \
 && test -f "node_modules/@temporalio/core-bridge/releases/$keep/index.node"

# --- runtime: compiled code, production node_modules, the CRDs; nothing else -----------------------
FROM node:20-bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="durable-db-operator" \
      org.opencontainers.image.description="Kubernetes operator for PostgreSQL and MySQL whose control logic runs as durable Temporal workflows" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/node:20-bookworm-slim"
ENV NODE_ENV=production \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
WORKDIR /app
# Owned by root and not writable by the process: the code cannot be changed at run time, and the
# process writes nothing outside /tmp, so it runs with a read-only root filesystem (mount an
# emptyDir or tmpfs at /tmp).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/crds/generated ./crds/generated
# Numeric, so that Kubernetes' runAsNonRoot can verify it without an /etc/passwd entry.
USER 10001:10001
# HTTP_PORT (default 8080): the health and metrics endpoints.
EXPOSE 8080
# Node flags: cmd/node-flags.ts says why.
ENTRYPOINT ["node", "--max-semi-space-size=2", "dist/cmd/cli.js"]
CMD ["worker"]
