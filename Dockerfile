# syntax=docker/dockerfile:1
# One image for the watcher, the workflows endpoint, the registration Job and the checkpoint
# retriever pod: the entry point is the podmortem CLI (podmortem watcher|workflows|register|retrieve).
#
# The TypeScript sources run as they are, through Node 24's type stripping (the code uses only
# erasable syntax, and every test, benchmark and `npm start` runs it this way): no build step whose
# output could differ from what was tested, and stack traces point at the real source lines.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Production dependencies only, and no install scripts: none of them needs one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root cli ./cli
COPY --chown=root:root src ./src
COPY --chown=root:root watcher ./watcher
COPY --chown=root:root workflows ./workflows
# Files owned by root and read-only to the process; the pods add readOnlyRootFilesystem and an
# emptyDir at /tmp. The retriever pod alone runs as root (the kubelet writes checkpoints 0600).
USER 1000:1000
EXPOSE 8080 9080
ENTRYPOINT ["node", "/app/bin/podmortem.js"]
CMD ["--help"]
