# The FulFil image: one image for web (gunicorn), workers and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Static files are collected at build time and served by whitenoise from the image.
RUN DEBUG=false SECRET_KEY=collectstatic-only-never-used-to-sign-anything ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput -v0 \
 && useradd --create-home --uid 1000 fulfil \
 && mkdir -p /app/var/media && chown -R fulfil /app/var

USER fulfil
EXPOSE 8000
CMD ["gunicorn", "fulfil.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
