FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY api ./api
COPY domain ./domain
COPY store ./store
COPY projections ./projections
COPY reporting ./reporting
COPY delivery ./delivery
COPY entente_verify ./entente_verify
COPY migrations ./migrations
RUN pip install --no-cache-dir -c constraints.txt -e .
EXPOSE 8000
# API processes on the port (docs/OPERATIONS.md "Several API processes"): about one per core
ENV ENTENTE_WORKERS=1
CMD ["entente", "serve", "--host", "0.0.0.0", "--port", "8000"]
