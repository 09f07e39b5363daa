"""Per-page learner state and where it is saved."""

from __future__ import annotations

from typing import Any, Protocol

from omsorgslyft.answers import KINDS


class Store(Protocol):
    """Where a learner's page state is saved. Each call must be durable when it returns."""

    def load(self) -> dict[str, dict[str, Any]]: ...

    def save(self, kind: str, key: str, value: Any) -> None: ...


class MemoryStore:
    """Keeps state for the life of the kernel (preview, tests)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}

    def load(self) -> dict[str, dict[str, Any]]:
        return {kind: dict(values) for kind, values in self.data.items()}

    def save(self, kind: str, key: str, value: Any) -> None:
        self.data.setdefault(kind, {})[key] = value


class Session:
    """The state of one learner's page for one module version."""

    def __init__(self, store: Store, info: dict[str, Any] | None = None) -> None:
        self.store = store
        self.info = info or {}
        loaded = store.load()
        self.state: dict[str, dict[str, Any]] = {kind: dict(loaded.get(kind, {})) for kind in KINDS}
        self.preview = True
        self.base_url = ""
        self.result: dict[str, Any] | None = None
        #: the attempt of the knowledge check the learn service gave this page (None in
        #: preview): ``{"number", "variant", "questions", "seed"}``
        self.attempt: dict[str, Any] | None = None
        self.on_saved: list[Any] = []

    def rebind(self, store: Store) -> None:
        """Save to ``store`` from now on and take the state it holds (a preheated page,
        once it knows its learner). Listeners and page settings stay."""
        loaded = store.load()
        self.store = store
        self.state = {kind: dict(loaded.get(kind, {})) for kind in KINDS}

    def get(self, kind: str, key: str, default: Any = None) -> Any:
        return self.state[kind].get(key, default)

    def set(self, kind: str, key: str, value: Any) -> None:
        """Keep ``value`` and save it; listeners hear ``None`` on success or the error."""
        self.state[kind][key] = value
        error: Exception | None = None
        try:
            self.store.save(kind, key, value)
        except Exception as exc:  # the page must keep working; the learner is told
            error = exc
        for listener in self.on_saved:
            listener(error)

    @property
    def answers(self) -> dict[str, Any]:
        """Graded answers given so far, by question id."""
        return dict(self.state["svar"])

    def unanswered(self, questions: list[str] | None = None) -> list[str]:
        """The questions of ``questions`` (default: this attempt's) not answered yet."""
        if questions is None:
            questions = (self.attempt or {}).get("questions") or self.info.get("questions", [])
        answers = self.state["svar"]
        return [q for q in questions if answers.get(q) in (None, [], {})]
