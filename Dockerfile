# One image for every cxm process; the command picks the service and its role, e.g.
#   python -m cxm_ingest api | consume | publish | schedule | all      (or `cxm migrate`)
FROM python:3.11-slim AS build
WORKDIR /src
COPY constraints.txt ./
COPY libs ./libs
COPY services ./services
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt \
        ./libs/common ./libs/cli ./services/ingest ./services/insight ./services/journey ./services/actions \
        ./services/gateway

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app cxm
WORKDIR /app
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/constraints.txt \
        cxm-common cxm-cli cxm-ingest cxm-insight cxm-journey cxm-actions cxm-gateway \
    && rm -rf /wheels /tmp/constraints.txt
USER 10001
ENV PYTHONUNBUFFERED=1 CXM_HOST=0.0.0.0 CXM_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('CXM_PORT', '8000')}/healthz\", timeout=2)"]
ENTRYPOINT ["python", "-m"]
CMD ["cxm_gateway", "all"]
