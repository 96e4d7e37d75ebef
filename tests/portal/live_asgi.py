"""The project's ASGI application for a test server (uvicorn), with static
files served from the apps' folders as runserver does, so no collectstatic
is needed."""

from channels.routing import ProtocolTypeRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from lockpost.asgi import application as lockpost_application
from lockpost.asgi import django_application

application = ProtocolTypeRouter(
    {"http": ASGIStaticFilesHandler(django_application), "websocket": lockpost_application}
)
