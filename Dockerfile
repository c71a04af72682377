# tuwen: the CLI and (with `tuwen serve`) the query service.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    HF_HOME=/models/hf TUWEN_DATA_DIR=/data
WORKDIR /app
# torch pinned; pass PyTorch's CPU wheel index as TORCH_INDEX for a small CPU-only image.
ARG TORCH_INDEX=""
RUN pip install "torch==2.13.0" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY service service
COPY prompts prompts
# the openvino extra runs the image tower in OpenVINO int8 (TUWEN_INT8_RUNTIME)
RUN pip install -e ".[openvino]"
ENTRYPOINT ["tuwen"]
CMD ["--help"]
