# syntax=docker/dockerfile:1
# crmio's application image, installed from the wheel: the worker, the API and the one-shot migration all run
# from it (docker-compose.yml and the Helm chart pick the command). Kafka, PostgreSQL and MinIO come from their
# official images.
#   docker build -t crmio:0.1.0 .

# --- 1. crmio_native (native/): the compiled data plane, a wheel built by maturin with rustup's Rust -----------
FROM python:3.11-slim AS native
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && curl --proto '=https' --tlsv1.2 -sSf -o /tmp/rustup-init \
       https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init \
    && chmod +x /tmp/rustup-init && /tmp/rustup-init -y -q --profile minimal && rm /tmp/rustup-init
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
COPY native ./
RUN pip wheel --no-deps --no-cache-dir --wheel-dir /wheels .

# --- 2. the wheel, built from pyproject.toml as `pip wheel .` builds it anywhere ------------------------------
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml LICENSE ./
COPY services ./services
COPY streams ./streams
COPY schemas ./schemas
COPY stack ./stack
RUN pip wheel --no-deps --no-cache-dir --wheel-dir /wheels .

# --- 3. the runtime: the two wheels and their dependencies, no source tree --------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Fonts PDF exports embed: DejaVu Sans, and WenQuanYi Micro Hei for Chinese, Japanese and Korean text.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# pip's cache stays in BuildKit's cache between builds, not in the image: a code change reinstalls the
# dependencies from it without downloading them again.
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    --mount=type=bind,from=native,source=/wheels,target=/native \
    --mount=type=cache,target=/root/.cache/pip \
    pip install /native/crmio_native-*.whl /wheels/crmio-*.whl \
    && crmio --version

# Never run as root (uid/gid 10001, as the Helm chart's securityContext says); uploads and exports live on a
# volume shared by the API and the workers, state (Faust's data dir) beside it.
RUN groupadd --system --gid 10001 crmio \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --create-home crmio \
    && mkdir -p /data/storage /data/state \
    && chown -R crmio:crmio /data
USER 10001:10001
WORKDIR /data
ENV CRMIO_STORAGE_DIR=/data/storage \
    CRMIO_STATE_DIR=/data/state
VOLUME ["/data/storage"]

ENTRYPOINT ["crmio"]
CMD ["worker"]
