"""What every tab shares: its components by name, the values of the Segment tab's controls,
the sessions' cached results, and how unexpected errors are logged.

Handlers take and return values by component name (``{"summary": "...", "table": df}``), never
by position: :meth:`Ui.wire` turns Gradio's ``{component: value}`` inputs into names and the
handler's named outputs back into components, so adding a control moves no index.
"""

from __future__ import annotations

import logging
import traceback
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from webapp.result import Result

log = logging.getLogger("app")


class Ui:
    """The app's components, each under one name (``ui.summary``, ``ui["summary"]``)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_components", {})

    def __setattr__(self, name: str, component) -> None:
        if name in self._components:
            raise ValueError(f"component name {name!r} used twice")
        self._components[name] = component
        object.__setattr__(self, name, component)

    def __getitem__(self, name: str):
        return self._components[name]

    def __contains__(self, name: str) -> bool:
        return name in self._components

    def names(self) -> list[str]:
        return list(self._components)

    def wire(self, event, fn: Callable[..., dict[str, Any]], inputs: Iterable[str],
             outputs: Iterable[str], *, with_progress: bool = False, with_select: bool = False,
             **options):
        """``event(handler)`` (returned, for ``.then``) where ``fn(values, context)`` receives
        the inputs' values by name and returns the outputs to change by name (names it leaves
        out stay as they are).
        ``with_select``: a select event's index arrives as ``values["selected"]``."""
        inputs, outputs = list(inputs), list(outputs)
        by_component = {id(self[name]): name for name in inputs}

        def call(data: dict, context: Context, **extra) -> dict:
            values = {by_component[id(c)]: v for c, v in data.items() if id(c) in by_component}
            named = fn({**values, **extra}, context)
            unknown = set(named) - set(outputs)
            if unknown:
                raise KeyError(f"outputs not wired: {sorted(unknown)}")
            return {self[name]: value for name, value in named.items()}

        if with_select:
            def handler(data: dict, evt: gr.SelectData, request: gr.Request):
                return call(data, Context(request), selected=evt.index)
        elif with_progress:
            def handler(data: dict, request: gr.Request, progress=gr.Progress()):
                return call(data, Context(request, progress))
        else:
            def handler(data: dict, request: gr.Request):
                return call(data, Context(request))

        return event(handler, inputs={self[name] for name in inputs},
                     outputs=[self[name] for name in outputs], **options)


@dataclass
class Context:
    """The request a handler answers (its session) and its progress bar."""

    request: gr.Request | None = None
    progress: Any = None

    @property
    def session(self) -> str | None:
        return getattr(self.request, "session_hash", None) if self.request is not None else None


@dataclass
class Controls:
    """The Segment tab's settings as the user left them."""

    file: str | None = None
    organ: str = "breast"
    threshold: float | None = None
    mode: str = "filled"
    opacity: float = 0.4
    scale: float | None = None
    frame: float | None = None

    @classmethod
    def of(cls, values: dict[str, Any]) -> Controls:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in names})


CONTROL_NAMES = list(Controls.__dataclass_fields__)


# Session -> its cached result, so that closing the tab frees the image at once (Gradio itself
# keeps a closed session's state for an hour). Weak: an expired state is not kept alive here.
_SESSIONS: weakref.WeakValueDictionary[str, Result] = weakref.WeakValueDictionary()


def live(result: Result | None) -> Result | None:
    return None if result is None or result.released else result


def track_session(result: Result | None, context: Context | None) -> None:
    session = context.session if context is not None else None
    if result is not None and session:
        _SESSIONS[session] = result


def forget_session(request: gr.Request) -> None:
    """The browser tab was closed: drop its decoded image and maps now."""
    result = _SESSIONS.pop(getattr(request, "session_hash", None) or "", None)
    if result is not None:
        result.release()


def log_failure(context: str, exc: BaseException) -> None:
    """Log an unexpected error: its type and code location only. The message is left out on
    purpose, since it may quote a file name (which can hold a patient's name) or data."""
    stack = "".join(traceback.format_tb(exc.__traceback__)[-6:])
    log.error("%s: %s\n%s", context, type(exc).__name__, stack)


def error_box(message: str) -> str:
    return f"⚠️ **This could not be segmented.** {message}"
