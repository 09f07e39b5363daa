"""Sending through the SMTP relay the operator configures.

One connection per run. STARTTLS verifies the relay's certificate and name (the system's
trust store, ``ssl.create_default_context``); a username logs in with the password from
the environment (``OMSORGSLYFT_SMTP_PASSWORD``) or a file readable by the service only,
never from the command line.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from types import TracebackType

from omsorgslyft.reminders.messages import sender_address

PASSWORD_ENV = "OMSORGSLYFT_SMTP_PASSWORD"


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    timeout: float = 30.0

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)

    def check(self) -> SmtpSettings:
        if not self.host:
            raise ValueError("no SMTP relay: give smtp_host")
        sender_address(self.sender)  # raises if it is no address
        if not 0 < self.port < 65536:
            raise ValueError(f"smtp_port {self.port} is no port")
        if self.username and not self.password:
            raise ValueError(
                f"smtp_username is set but there is no password: set {PASSWORD_ENV} in the "
                "service's environment, or give smtp_password_file"
            )
        return self


def password_from(environ: Mapping[str, str], password_file: str = "") -> str:
    """The relay's password: ``OMSORGSLYFT_SMTP_PASSWORD``, else the first line of
    ``password_file`` (which only the service's user should be able to read)."""
    if environ.get(PASSWORD_ENV):
        return environ[PASSWORD_ENV]
    if password_file:
        return Path(password_file).read_text(encoding="utf-8").splitlines()[0].strip()
    return ""


class SmtpMailer:
    """``with SmtpMailer(settings) as mailer: mailer.send(message)``.

    Connects when the first message is sent (a run with nothing to send never connects);
    a dropped connection is opened again once for the next message."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the relay; raises if it is not accepted for every recipient."""
        sender = sender_address(self.settings.sender)[1]
        recipients = [address for _, address in getaddresses(message.get_all("To", []))]
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                refused = self._smtp.send_message(message, sender, recipients)
            except smtplib.SMTPServerDisconnected:
                self._smtp = None
                if attempt == 2:
                    raise
                continue
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
            return

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None
