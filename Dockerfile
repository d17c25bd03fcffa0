# One image with every d7y binary: d7y-daemon, d7y-scheduler, d7y-manager and kubectl-d7y.
# Build: docker build -t ghcr.io/d7y/d7y:0.1.0 .
# It runs as the unprivileged user node (1000); only the chart's init containers that write into the
# node's containerd config and cache directory run as root.

# Node 22 is the active LTS line; the code also runs on Node >= 20.18.
FROM node:22-bookworm-slim AS build
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY . .
RUN npm ci \
 && npm run build \
 && npm prune --omit=dev \
 && node scripts/assemble-image.mjs /opt/d7y

FROM node:22-bookworm-slim
LABEL org.opencontainers.image.title="d7y" \
      org.opencontainers.image.description="Peer-to-peer distribution of container images for Kubernetes" \
      org.opencontainers.image.source="https://github.com/d7y/d7y"
ENV NODE_ENV=production
COPY --from=build /opt/d7y /opt/d7y
RUN ln -s /opt/d7y/daemon/bin/d7y-daemon.js /usr/local/bin/d7y-daemon \
 && ln -s /opt/d7y/scheduler/bin/d7y-scheduler.js /usr/local/bin/d7y-scheduler \
 && ln -s /opt/d7y/manager/bin/d7y-manager.js /usr/local/bin/d7y-manager \
 && ln -s /opt/d7y/kubectl-plugin/bin/kubectl-d7y.js /usr/local/bin/kubectl-d7y \
 && mkdir -p /var/lib/d7y/daemon /var/lib/d7y/manager \
 && chown -R 1000:1000 /var/lib/d7y
# Mirror, API, metrics, upload (daemon); RPC, metrics (scheduler); REST, RPC (manager).
EXPOSE 4000 4001 4002 4005 8002 8000 8080 65003
USER 1000:1000
WORKDIR /var/lib/d7y
ENTRYPOINT []
CMD ["d7y-daemon", "--help"]
