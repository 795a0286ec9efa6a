# One image for every role (gateway, worker, web, migrate, serve): the command picks the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# A fixed, unprivileged uid so volume ownership is predictable across rebuilds and hosts.
RUN groupadd --system --gid 10001 ccr \
 && useradd --system --uid 10001 --gid ccr --home-dir /srv/ccr --no-create-home \
        --shell /usr/sbin/nologin ccr

# WeasyPrint (letters to the customer as PDF) needs Pango and its fonts; the slim image has
# neither. Debian's packages, nothing else.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

# Only what the build needs is copied (not .git or a local .venv). Wheels exist for every
# dependency on this platform, so no compiler is installed and pip is the only network use.
COPY pyproject.toml README.md /tmp/src/
COPY routing /tmp/src/routing
COPY gateway /tmp/src/gateway
COPY admin_ui /tmp/src/admin_ui
RUN pip install /tmp/src && rm -rf /tmp/src

WORKDIR /srv/ccr
# config/ccr.toml, config/call_formats/ and config/letters/ are looked up relative to the
# working directory.
COPY config ./config

# Created here, owned by ccr, so that a fresh named volume mounted on them inherits that
# ownership (Docker copies the image's directory into an empty named volume).
RUN mkdir -p var calls-drop && chown ccr:ccr var calls-drop

USER ccr

# Inside a container the loopback defaults (127.0.0.1) would be unreachable from outside.
# Mail for domains not in CCR_ACCEPTED_DOMAINS is still refused, so this is not an open relay.
ENV CCR_SMTP_LISTEN=0.0.0.0:2525 \
    CCR_WEB_LISTEN=0.0.0.0:8025

# Spool, Maildir and the embedded SQLite database: must outlive the container, because a
# 250 reply promises the message is on disk.
VOLUME ["/srv/ccr/var"]

EXPOSE 2525 8025

# No ENTRYPOINT, so compose can say `command: ["ccr", "gateway"]` plainly.
CMD ["ccr", "serve"]
