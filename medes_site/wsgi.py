"""The WSGI entry point (gunicorn ``medes_site.wsgi``)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from medes_site.env import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")
load_settings_or_exit()
application = get_wsgi_application()
