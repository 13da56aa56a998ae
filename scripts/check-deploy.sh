#!/usr/bin/env bash
# `manage.py check --deploy` with production-like variables: DEBUG off, strong secrets, https eCard.
set -euo pipefail
unset DJANGO_ALLOW_ASYNC_UNSAFE  # a test-only switch that check --deploy rightly refuses
cd "$(dirname "$0")/.."
DEBUG=0 \
SECRET_KEY="ci-$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')" \
ALLOWED_HOSTS="giftcards.example.com" \
ECARD_CLIENT_ID="ci-client" ECARD_CLIENT_SECRET="ci-secret" \
CARD_DATA_KEYS="$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
CARD_HASH_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')" \
.venv/bin/python manage.py check --deploy --fail-level WARNING
