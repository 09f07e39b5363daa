"""The API that issues certificates, for the learn service.

``POST api/learners/<username>/certificates/<module>`` with a hub token that holds
``custom:omsorgslyft:own-records`` (the learn service's; it asks only for the person who
is logged in to it). 200 with the certificate while the register counts the pass as valid
(the same one for the same pass), else 404 with a Swedish ``error``.
"""

from __future__ import annotations

from jupyterhub.utils import url_path_join
from tornado import web

from omsorgslyft.records import certificates
from omsorgslyft.records.handlers import OWN_SCOPE, Base

NOT_IN_ROSTER = (
    "Du finns inte i kommunens personallista, så kompetensregistret kan inte utfärda "
    "något intyg till dig. Kontakta din chef eller HR om det är fel."
)
NOT_VALID = (
    "Kompetensregistret har inget giltigt godkännande för dig i den här utbildningen, "
    "så det finns inget intyg att ladda ned."
)


class CertificateApiHandler(Base):
    hub_scopes = frozenset({OWN_SCOPE})
    needs = ""  # the hub scope is the whole rule

    def check_xsrf_cookie(self) -> None:
        """A hub token in the header needs no form token: a browser cannot send that
        header to another site without asking it first (CORS), and this service never
        allows it. Cookie-authenticated posts are checked as usual."""
        if self.request.headers.get("Authorization", "").lower().startswith(("token ", "bearer ")):
            return
        super().check_xsrf_cookie()

    @web.authenticated
    def post(self, username: str, module: str) -> None:
        records = self.records
        got = certificates.issue(records.config, records.store, username, module, records.today())
        if got is None:
            known = records.store.employee_by_username(username) is not None
            self.write_json({"error": NOT_VALID if known else NOT_IN_ROSTER}, status=404)
            return
        path = url_path_join(self.settings["prefix"], "intyg", got.code)
        self.write_json(
            {
                "code": got.code,
                "url": records.public_url.rstrip("/") + path,
                "name": got.name,
                "module": got.module,
                "module_title": got.module_title,
                "version": got.version,
                "passed_on": got.passed_on.isoformat(),
                "valid_until": got.valid_until.isoformat(),
                "score": got.score,
                "max_score": got.max_score,
            }
        )
