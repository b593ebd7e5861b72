# One image per service from the same file (the Kubernetes manifests in
# deploy/k8s and the compose production profile use them):
#   docker build --build-arg SERVICE=orders -t accord/orders .
# SERVICE is a folder under services/ (catalog, orders, inventory, payments,
# shipping, notifications, orchestrator, console) or under simulators/
# (payment-provider, carrier, smtp-sink: the compose production profile runs
# them beside the services). The services run their
# TypeScript directly on Node 24 (type stripping), as scripts/services.sh
# does: no compile step, so the image holds the sources.

FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The console serves its built web app (services/console/web/dist).
RUN npm run console:build
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ARG SERVICE
ENV NODE_ENV=production \
    ACCORD_SERVICE=${SERVICE}
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/gen ./gen
COPY --from=build /app/lib ./lib
COPY --from=build /app/services ./services
COPY --from=build /app/simulators ./simulators
# The catalog's demo products (CATALOG_SEED_FILE in the development overlay).
COPY --from=build /app/infra/demo ./infra/demo
# The entry point: services/<SERVICE> or simulators/<SERVICE>, written down at build time.
RUN for dir in services simulators; do \
      if [ -n "$ACCORD_SERVICE" ] && [ -f "$dir/$ACCORD_SERVICE/src/main.ts" ]; then \
        echo "$dir/$ACCORD_SERVICE/src/main.ts" >/app/entry-point; fi; \
    done; \
    test -s /app/entry-point || { echo "--build-arg SERVICE=<a folder under services/ or simulators/> is required" >&2; exit 1; }
# The image's node user (uid 1000), as the manifests' runAsUser says.
USER 1000:1000
# exec: node is PID 1 and gets SIGTERM itself, so the service host's
# graceful shutdown runs (intake first, then drain, commit, close).
CMD ["/bin/sh", "-c", "exec node \"$(cat /app/entry-point)\""]
