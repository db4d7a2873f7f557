# The pipeline image: what Kubeflow Pipelines v2 / Vertex AI runs every component in (`mlops compile --image`),
# and a Beam SDK container for Dataflow, Flink or Spark workers (`--sdk_container_image`, `--environment_config`).
# Installs the exact lock with uv, as `make install` does:
#   docker build -t tfx-text-mlops:latest .
FROM python:3.11-slim

# Keras 2 (tf-keras) in every process, whatever is imported first; the model code is written for it.
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /pipeline

# The lock first, alone: the 300+ wheels are a layer of their own that code changes do not invalidate.
COPY requirements.lock requirements-nodeps.txt ./
RUN python -m pip install "uv==0.5.29" \
 && uv pip install --system --no-cache -r requirements.lock \
 && uv pip install --system --no-cache --no-deps -r requirements-nodeps.txt

COPY setup.py README.md ./
COPY tfx_pipeline/ tfx_pipeline/
COPY trainer/ trainer/
COPY serving/ serving/
COPY runners/ runners/
COPY configs/ configs/
COPY schema/ schema/
# --no-deps: every dependency is already installed, at the locked version.
RUN uv pip install --system --no-cache --no-deps . \
 && python -c "import tfx_pipeline.pipeline, trainer.run, trainer.preprocessing"

# Kubeflow V2 sets its own command (TFX's container entrypoint); this default is for running the CLI.
ENTRYPOINT ["mlops"]
CMD ["--help"]
