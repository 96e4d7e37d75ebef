"""The websocket of live pages: /ws/live/inbox/ and /ws/live/quarantine/.
Only a fully logged-in session (second factor proven where needed, session
token current) may listen; external recipients to their own inbox only."""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from gateway.models import MailUser
from portal import live, sessions
from portal.auth import is_external, needs_second_factor


def fully_logged_in(scope):
    """As portal.auth.fully_logged_in, from a websocket's scope (no OTP
    middleware runs there: the session names the verified device)."""
    user, session = scope.get("user"), scope.get("session")
    if user is None or not user.is_authenticated or not user.is_active or session is None:
        return None
    if not constant_time_compare(session.get(sessions.SESSION_KEY, ""), sessions._token(user)):
        return None  # logged out everywhere
    if needs_second_factor(user):
        device = Device.from_persistent_id(session.get(DEVICE_ID_SESSION_KEY) or "")
        if device is None or device.user_id != user.pk:
            return None
    return user


def group_for(scope, kind):
    user = fully_logged_in(scope)
    if user is None:
        return None
    if kind == "inbox":
        mail_user, _ = MailUser.objects.get_or_create(email=(user.email or user.username).lower())
        return live.inbox_group(mail_user.pk)
    if kind == "quarantine" and not is_external(user):
        return live.QUARANTINE
    return None


class LiveConsumer(AsyncWebsocketConsumer):
    group = None

    async def connect(self):
        kind = self.scope["url_route"]["kwargs"]["kind"]
        self.group = await database_sync_to_async(group_for)(self.scope, kind)
        if self.group is None:
            await self.close()  # before accept: the handshake is refused
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        pass  # the page only listens

    async def changed(self, event):
        await self.send(text_data=json.dumps({"changed": event.get("kind", "")}))
