"""The HR page ``paminnelser``: the last and next sending, the log (latest first: who,
what, when) and a preview of what the next run would send. HR only: the unfiltered HR
scope (a manager's filtered scope is not enough)."""

from __future__ import annotations

from tornado import web

from omsorgslyft.records.handlers import HR_SCOPE, Base
from omsorgslyft.reminders.config import ReminderConfig
from omsorgslyft.reminders.messages import KIND_NAMES, subject, summary, text_body
from omsorgslyft.reminders.plan import Digest
from omsorgslyft.reminders.service import ReminderService

PREVIEW = 100


class RemindersHandler(Base):
    needs = "hr"  # the base handler's own check, where it has one
    tool = "reminders"  # the header's current tool

    def is_hr(self) -> bool:
        """Exactly the unfiltered HR scope (``custom:omsorgslyft:hr``)."""
        user = self.current_user
        return isinstance(user, dict) and HR_SCOPE in user.get("scopes", [])

    @property
    def reminders(self) -> ReminderService:
        service = self.settings.get("reminders")
        if service is None:  # an app made without reminders: switched off
            service = ReminderService(ReminderConfig(), self.records)
            self.settings["reminders"] = service
        assert isinstance(service, ReminderService)
        return service

    @web.authenticated
    def get(self) -> None:
        if not self.is_hr():
            raise web.HTTPError(403)
        service = self.reminders
        status = service.status()
        titles = {m.id: m.title for m in self.records.config.modules.values()}
        url = service.config.public_url
        preview = [
            {
                "number": p.recipient.number,
                "name": p.recipient.name,
                "address": p.recipient.email,
                "digest": isinstance(p, Digest),
                "subject": subject(p),
                "what": summary(p),
                "text": text_body(p, status.preview_day, url),
            }
            for p in status.preview[:PREVIEW]
        ]
        self.render_page(
            "reminders.html",
            "Påminnelser",
            status=status,
            config=service.config,
            preview=preview,
            preview_total=len(status.preview),
            kind_names=KIND_NAMES,
            titles=titles,
        )
