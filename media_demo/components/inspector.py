"""The pieces of the inspector page: segment, attribute groups, interventions and the event feed."""

from __future__ import annotations

import reflex as rx

from media_demo.state.inspector import AttributeView, EventView, GroupView, InspectorState, InterventionView

TIME_FORMAT = "D MMM, HH:mm:ss"


def _local_time(iso: rx.Var[str]) -> rx.Component:
    """An ISO timestamp in the reader's own time zone."""
    return rx.moment(iso, format=TIME_FORMAT, class_name="insp-time")


def live_badge() -> rx.Component:
    return rx.cond(
        InspectorState.live,
        rx.el.span(
            rx.el.span(class_name="live-dot"),
            "Live",
            class_name="insp-live",
            custom_attrs={"data-testid": "inspector-live"},
        ),
        rx.el.span("Paused: reload to resume", class_name="insp-live insp-paused"),
    )


def identity() -> rx.Component:
    return rx.el.dl(
        rx.el.div(
            rx.el.dt("Reader id"),
            rx.el.dd(InspectorState.domain_userid, custom_attrs={"data-testid": "inspector-reader"}),
        ),
        rx.el.div(
            rx.el.dt("Visit"),
            rx.el.dd(rx.cond(InspectorState.visit != "", InspectorState.visit, "—")),
        ),
        rx.el.div(
            rx.el.dt("Session"),
            rx.el.dd(rx.cond(InspectorState.session_id != "", InspectorState.session_id, "—")),
        ),
        rx.el.div(
            rx.el.dt("Updated"),
            rx.el.dd(_local_time(InspectorState.updated_at), " ", live_badge()),
        ),
        class_name="insp-ids",
    )


def segment_panel() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Your segment", class_name="insp-heading"),
        rx.el.p(
            InspectorState.segment_label,
            rx.cond(
                InspectorState.segment_topic != "",
                rx.el.span(" · ", InspectorState.segment_topic, class_name="insp-segment-topic"),
            ),
            class_name="insp-segment",
            custom_attrs={"data-testid": "inspector-segment"},
        ),
        rx.el.p(
            rx.el.span("Why: ", class_name="insp-why-label"),
            InspectorState.segment_why,
            class_name="insp-why",
            custom_attrs={"data-testid": "inspector-segment-why"},
        ),
        class_name="insp-panel insp-segment-panel",
    )


def _attribute(row: AttributeView) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.name, scope="row"),
        rx.el.td(
            row.value,
            class_name=rx.cond(row.value == "—", "insp-empty", ""),
            custom_attrs={"data-testid": "attribute-value"},
        ),
        custom_attrs={"data-testid": "attribute", "data-name": row.name},
    )


def _group(group: GroupView) -> rx.Component:
    return rx.el.section(
        rx.el.h3(
            rx.el.span(group.name, class_name="insp-group-name"),
            rx.el.span("v", group.version, class_name="insp-version"),
            class_name="insp-group-title",
        ),
        rx.el.p(
            "by ",
            group.key,
            rx.cond(group.description != "", rx.fragment(" · ", group.description)),
            class_name="insp-group-meta",
        ),
        rx.cond(
            group.computed_at != "",
            rx.el.p(
                "Batch · computed ",
                _local_time(group.computed_at),
                class_name="insp-group-meta insp-freshness",
                custom_attrs={"data-testid": "group-freshness"},
            ),
            rx.cond(
                group.kind == "batch",
                rx.el.p(
                    "Batch · not computed for you yet",
                    class_name="insp-group-meta insp-freshness",
                    custom_attrs={"data-testid": "group-freshness"},
                ),
                rx.el.p("Streaming · live", class_name="insp-group-meta insp-freshness"),
            ),
        ),
        rx.el.table(rx.el.tbody(rx.foreach(group.attributes, _attribute)), class_name="insp-table insp-attributes"),
        class_name="insp-group",
        custom_attrs={
            "data-testid": "attribute-group",
            "data-group": group.name,
            "data-version": group.version,
            "data-kind": group.kind,
        },
    )


def attributes_panel() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Your attributes", class_name="insp-heading"),
        rx.el.div(rx.foreach(InspectorState.groups, _group), class_name="insp-groups"),
        class_name="insp-panel",
    )


def _intervention(item: InterventionView) -> rx.Component:
    return rx.el.tr(
        rx.el.td(_local_time(item.time)),
        rx.el.td(item.name, class_name="insp-name"),
        rx.el.td(item.attributes, class_name="insp-details"),
        custom_attrs={"data-testid": "intervention-row", "data-name": item.name},
    )


def interventions_panel() -> rx.Component:
    return rx.el.section(
        rx.el.h2("What the site did for you", class_name="insp-heading"),
        rx.cond(
            InspectorState.interventions.length() > 0,
            rx.el.table(
                rx.el.thead(rx.el.tr(rx.el.th("Time"), rx.el.th("Intervention"), rx.el.th("Because"))),
                rx.el.tbody(rx.foreach(InspectorState.interventions, _intervention)),
                class_name="insp-table insp-feed",
            ),
            rx.el.p("No interventions yet: offers appear here when your reading triggers one.", class_name="muted"),
        ),
        class_name="insp-panel",
        custom_attrs={"data-testid": "inspector-interventions"},
    )


def _event(item: EventView) -> rx.Component:
    return rx.el.tr(
        rx.el.td(_local_time(item.time)),
        rx.el.td(item.name, class_name="insp-name"),
        rx.el.td(item.page, class_name="insp-page"),
        rx.el.td(item.details, class_name="insp-details"),
        class_name=rx.cond(item.status == "bad", "insp-bad", ""),
        custom_attrs={
            "data-testid": "event-row",
            "data-status": item.status,
            "data-event-id": item.event_id,
            "data-name": item.name,
        },
    )


def events_panel() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Your last 50 events", class_name="insp-heading"),
        rx.cond(
            InspectorState.events.length() > 0,
            rx.el.table(
                rx.el.thead(
                    rx.el.tr(rx.el.th("Time"), rx.el.th("Event"), rx.el.th("Page"), rx.el.th("Details or reason"))
                ),
                rx.el.tbody(rx.foreach(InspectorState.events, _event)),
                class_name="insp-table insp-feed insp-events",
            ),
            rx.el.p("No events yet.", class_name="muted"),
        ),
        class_name="insp-panel",
        custom_attrs={"data-testid": "inspector-events"},
    )
