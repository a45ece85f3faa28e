# One image for every cxm process; the command picks the service and its role:
#   docker run IMAGE cxm_ingest api | consume | publish | schedule | all     (the entrypoint is `python -m`)
#   docker run --entrypoint cxm IMAGE migrate                                  (and the other operator commands)
# Non-root (uid 10001), no compiler or build tool in the final stage, every dependency pinned by constraints.txt,
# and it runs with a read-only root filesystem as long as /tmp is writable.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/cxm
COPY constraints.txt ./
COPY libs ./libs
COPY services ./services
# Every third-party dependency has a wheel at its pinned version (x86_64 and aarch64), so nothing compiles here;
# only the cxm packages themselves are built (pure Python, with insight's model files as package data).
RUN /opt/cxm/bin/pip install -c constraints.txt \
        ./libs/common ./libs/cli ./services/ingest ./services/insight ./services/journey ./services/actions \
        ./services/gateway
COPY deploy/docker/wait_for_migrations.py /opt/cxm/wait_for_migrations.py

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="cxm" \
      org.opencontainers.image.description="Self-hostable customer experience management: every cxm service process" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cxm
COPY --from=build /opt/cxm /opt/cxm
# HOME points at /tmp so that nothing tries to write under a read-only root; bytecode was compiled at install.
ENV PATH=/opt/cxm/bin:$PATH \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CXM_HOST=0.0.0.0 \
    CXM_PORT=8000
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('CXM_PORT', '8000')}/healthz\", timeout=2)"]
ENTRYPOINT ["python", "-m"]
CMD ["cxm_gateway", "all"]
