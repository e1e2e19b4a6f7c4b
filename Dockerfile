# gyoza server image. Build: docker build -t gyoza .   Run: see compose.yaml.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/* \
  && npm install -g pnpm@10
WORKDIR /src
COPY . .
RUN pnpm install --frozen-lockfile && pnpm build \
  && pnpm deploy --filter @gyoza/cli --prod --legacy /app

FROM node:20-bookworm-slim
ENV NODE_ENV=production GYOZA_HOST=0.0.0.0 GYOZA_PORT=5555 GYOZA_DATABASE_URL=sqlite:/data/gyoza.db
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 5555
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:5555/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["server", "start"]
