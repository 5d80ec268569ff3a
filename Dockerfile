FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY api ./api
COPY domain ./domain
COPY store ./store
COPY projections ./projections
COPY reporting ./reporting
COPY migrations ./migrations
RUN pip install --no-cache-dir -c constraints.txt -e .
EXPOSE 8000
CMD ["entente", "serve", "--host", "0.0.0.0", "--port", "8000"]
