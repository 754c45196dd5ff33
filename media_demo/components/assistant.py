"""The "Ask the Current" panel: a launcher on every page and a side panel (a sheet on phones)."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.state.assistant import STARTERS, SUMMARISE, AssistantState, ChatMessage, ChatSource

PANEL_ID = "assistant-panel"
# Whether the tab shows a story (it may then be summarised), worked out in the browser from the address it
# already holds: as a computed var of the state it was recomputed on the server at every page event.
ON_ARTICLE = rx.State.router.url.path.startswith(routes.ARTICLE_PREFIX)
# Escape closes the panel wherever the focus is (installed once per page; the button does the closing).
ESCAPE_CLOSES_SCRIPT = (
    "window.__dcAssistantEscape || (window.__dcAssistantEscape = true, document.addEventListener('keydown', e => {"
    " if (e.key === 'Escape') document.querySelector('[data-testid=assistant-close]')?.click(); }))"
)

# The conversation follows the reader: the question they just asked is held at the top of the messages while
# its answer arrives below it (installed once per opening of the panel; the browser does it, no round trip).
FOLLOW_QUESTIONS_SCRIPT = (
    "(() => { const list = document.querySelector('[data-testid=assistant-messages]');"
    " if (!list || list.__dcFollow) return; list.__dcFollow = true; let asked = null;"
    " new MutationObserver(changes => { for (const change of changes) for (const node of change.addedNodes)"
    " if (node.nodeType === 1 && node.parentNode === list && node.dataset.role === 'reader') asked = node;"
    " if (asked && asked.isConnected) asked.scrollIntoView({block: 'start'}); })"
    ".observe(list, {childList: true, subtree: true, characterData: true}); })()"
)


def _source(source: ChatSource) -> rx.Component:
    return rx.el.li(
        rx.link(
            source.title,
            href=source.href,
            class_name="assistant-source",
            custom_attrs={"data-testid": "assistant-source", "data-slug": source.slug},
        )
    )


def _message(message: ChatMessage) -> rx.Component:
    return rx.el.li(
        rx.el.p(
            rx.cond(
                message.writing & (message.text == ""),
                rx.el.span("Reading the archive…", class_name="muted"),
                message.text,
            ),
            class_name="assistant-text",
        ),
        rx.cond(message.note != "", rx.el.p(message.note, class_name="assistant-note")),
        rx.cond(
            message.sources.length() > 0,
            rx.el.div(
                rx.el.p("Sources", class_name="assistant-sources-label"),
                rx.el.ol(rx.foreach(message.sources, _source), class_name="assistant-sources"),
            ),
        ),
        rx.cond(
            message.offer != "",
            rx.el.div(
                rx.el.button(
                    "Catch me up",
                    type="button",
                    on_click=AssistantState.accept_offer(message.id),
                    class_name="offer-cta",
                    custom_attrs={"data-testid": "assistant-offer-accept"},
                ),
                rx.el.button(
                    "No thanks",
                    type="button",
                    on_click=AssistantState.dismiss_offer(message.id),
                    class_name="offer-secondary",
                    custom_attrs={"data-testid": "assistant-offer-dismiss"},
                ),
                class_name="offer-actions",
            ),
        ),
        class_name=rx.cond(message.role == "reader", "assistant-msg from-reader", "assistant-msg from-assistant"),
        custom_attrs={
            "data-testid": "assistant-message",
            "data-role": message.role,
            "data-writing": message.writing.to_string(),
        },
        aria_busy=message.writing.to_string(),
    )


def _starter(question: str) -> rx.Component:
    return rx.el.button(
        question,
        type="button",
        on_click=AssistantState.ask(question),
        disabled=AssistantState.busy,
        class_name="assistant-starter",
        custom_attrs={"data-testid": "assistant-starter"},
    )


def _history_toggle() -> rx.Component:
    return rx.el.div(
        rx.el.label(
            rx.checkbox(
                checked=AssistantState.use_history,
                on_change=AssistantState.set_use_history,
                color_scheme="ruby",
                custom_attrs={"data-testid": "assistant-history-toggle"},
            ),
            rx.el.span("Use my reading history"),
            class_name="assistant-toggle",
        ),
        rx.cond(
            AssistantState.history_note != "",
            rx.el.p(
                AssistantState.history_note,
                " ",
                rx.link("Your data", href=routes.INSPECTOR, class_name="assistant-data-link"),
                class_name="assistant-history-note",
                custom_attrs={"data-testid": "assistant-history-note"},
            ),
        ),
        class_name="assistant-history",
    )


def assistant_panel() -> rx.Component:
    """The launcher and, when open, the panel (the conversation survives closing it)."""
    launcher = rx.el.button(
        rx.el.span("?", class_name="assistant-launcher-mark", aria_hidden="true"),
        rx.el.span("Ask the Current"),
        type="button",
        on_click=AssistantState.open_panel,
        id="assistant-launcher",
        class_name="assistant-launcher",
        aria_controls=PANEL_ID,
        aria_expanded=AssistantState.is_open.to_string(),
        custom_attrs={"data-testid": "assistant-open"},
    )
    panel = rx.el.section(
        rx.el.header(
            rx.el.div(
                rx.el.p("Ask the Current", class_name="assistant-title", id="assistant-title"),
                rx.el.p("Answers from our own reporting, with the stories they come from.", class_name="assistant-sub"),
            ),
            rx.el.button(
                "×",
                type="button",
                on_click=AssistantState.close_panel,
                class_name="assistant-close",
                aria_label="Close the assistant",
                custom_attrs={"data-testid": "assistant-close"},
            ),
            class_name="assistant-head",
        ),
        _history_toggle(),
        rx.el.ol(
            rx.foreach(AssistantState.messages, _message),
            class_name="assistant-messages",
            aria_live="polite",
            custom_attrs={"data-testid": "assistant-messages"},
        ),
        rx.cond(
            AssistantState.messages.length() == 0,
            rx.el.div(
                rx.cond(ON_ARTICLE, _starter(SUMMARISE)),
                *[_starter(q) for q in STARTERS],
                class_name="assistant-starters",
            ),
            rx.el.div(
                rx.el.button(
                    "New conversation",
                    type="button",
                    on_click=AssistantState.clear,
                    disabled=AssistantState.busy,
                    class_name="assistant-starter",
                    custom_attrs={"data-testid": "assistant-clear"},
                ),
                class_name="assistant-starters",
            ),
        ),
        rx.el.form(
            rx.el.label("Your question", html_for="assistant-input", class_name="visually-hidden"),
            rx.el.input(
                id="assistant-input",
                name="question",  # (the handler reads the draft; a named control keeps Reflex 0.11's forms happy)
                value=AssistantState.draft,
                on_change=AssistantState.set_draft,
                placeholder="Ask about the news…",
                max_length=500,
                auto_complete="off",
                class_name="assistant-input",
                custom_attrs={"data-testid": "assistant-input"},
            ),
            rx.el.button(
                "Ask",
                type="submit",
                disabled=AssistantState.busy | (AssistantState.draft.strip() == ""),
                class_name="assistant-send",
                custom_attrs={"data-testid": "assistant-send"},
            ),
            on_submit=AssistantState.submit,
            reset_on_submit=False,
            class_name="assistant-form",
        ),
        id=PANEL_ID,
        role="dialog",
        aria_labelledby="assistant-title",
        class_name="assistant-panel",
        on_mount=[rx.call_script(ESCAPE_CLOSES_SCRIPT), rx.call_script(FOLLOW_QUESTIONS_SCRIPT)],
        custom_attrs={"data-testid": "assistant-panel"},
    )
    return rx.fragment(rx.cond(AssistantState.is_open, panel, launcher))
