# crmio's application image: the worker, the API and the one-shot migration all run from it
# (docker-compose.yml picks the command). Kafka and PostgreSQL come from their official images.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Fonts PDF exports embed: DejaVu Sans, and WenQuanYi Micro Hei for Chinese, Japanese and Korean text.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them.
COPY pyproject.toml ./
RUN mkdir -p services streams schemas \
    && touch services/__init__.py streams/__init__.py schemas/__init__.py \
    && pip install . \
    && pip uninstall -y crmio \
    && rm -rf services streams schemas build ./*.egg-info

COPY services ./services
COPY streams ./streams
COPY schemas ./schemas
RUN pip install --no-deps . && rm -rf build ./*.egg-info

# Never run as root; uploads and exports live on a volume shared by the API and the workers.
RUN useradd --system --uid 10001 --home-dir /data --create-home crmio \
    && mkdir -p /data/storage /data/state \
    && chown -R crmio:crmio /data
USER crmio
ENV CRMIO_STORAGE_DIR=/data/storage \
    CRMIO_STATE_DIR=/data/state
VOLUME ["/data/storage"]

ENTRYPOINT ["crmio"]
CMD ["worker"]
