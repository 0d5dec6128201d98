# syntax=docker/dockerfile:1
# vpnwatch container image: `docker build -t vpnwatch .` (see docs/deploy.md).
# Runs as an unprivileged user (uid 10001) on a read-only root filesystem; state lives in
# /var/lib/vpnwatch, config in /etc/vpnwatch (mounted by the Helm chart).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Install into a venv at the same path as on a host install, then copy it over: the final
# image carries no build context, no pip cache and byte-compiled sources (the root
# filesystem is read-only at run time).
RUN python -m venv /opt/vpnwatch \
    && /opt/vpnwatch/bin/pip install . \
    && /opt/vpnwatch/bin/python -m compileall -q /opt/vpnwatch/lib

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 vpnwatch \
    && useradd --system --uid 10001 --gid vpnwatch --no-create-home \
       --home-dir /var/lib/vpnwatch --shell /usr/sbin/nologin vpnwatch \
    && install -d -o vpnwatch -g vpnwatch -m 0700 /var/lib/vpnwatch \
    && install -d -m 0755 /etc/vpnwatch /etc/vpnwatch/ssh
COPY --from=build /opt/vpnwatch /opt/vpnwatch
ENV PATH=/opt/vpnwatch/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /var/lib/vpnwatch
EXPOSE 9810
# /healthz answers 200 while the observation loop is alive (needs metrics.listen 0.0.0.0:9810).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9810/healthz', timeout=4)"]
ENTRYPOINT ["vpnwatch", "run"]
CMD ["--config", "/etc/vpnwatch/config.yaml"]
