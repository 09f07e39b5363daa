"""Reminders by e-mail: to employees before a training is due, while it is overdue and
before a pass runs out; to managers, a weekly digest for their units.

``plan`` (pure: who is due what on a day), ``messages`` (the Swedish e-mails, text and
HTML), ``log`` (the once-only claims and the log in the records database), ``smtp`` (the
operator's relay), ``run`` (claim, send, release), ``schedule`` (when the service sends),
``service`` (the records service's loop and HR page), ``config`` (the options the
service and the command share), ``commands`` (``omsorgslyft reminders``). Operators and HR:
docs/paminnelser.md.
"""
