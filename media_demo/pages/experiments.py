"""`/experiments`: the editors' dashboard of A/B experiments, with plots, a verdict, and SRM up front."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.articles import Corpus
from media_demo.components.layout import page_frame, page_header
from media_demo.state.experiments import MAX_VARIANTS, ExperimentsState, VariantRow

# Control in ink, the challengers in the paper's accent and two quieter inks.
COLOURS = ("#1b1a17", "#a3172c", "#2f6f8f", "#8a6d1d")
CHART_HEIGHT = 280


def _forbidden() -> rx.Component:
    return rx.el.section(
        rx.el.p("403", class_name="error-code"),
        rx.el.h1("For the newsroom's editors", class_name="headline"),
        rx.cond(
            ExperimentsState.signed_in,
            rx.el.p(
                "Your account is not an editor. Whoever runs the newsroom can make it one with "
                "`make editor EMAIL=<your email>`.",
                class_name="standfirst",
            ),
            rx.el.p(
                "Sign in with an editor's account to see the experiments.",
                rx.link(" Sign in →", href=routes.ACCOUNT, class_name="button-link"),
                class_name="standfirst",
            ),
        ),
        class_name="not-found",
        custom_attrs={"data-testid": "experiments-forbidden"},
    )


def _cell(value: rx.Var, testid: str) -> rx.Component:
    return rx.el.td(value, custom_attrs={"data-testid": testid})


def _variant_row(row: VariantRow) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.name, rx.el.span(" · ", row.strategy, class_name="muted"), scope="row"),
        _cell(row.share, "variant-share"),
        _cell(row.readers, "variant-readers"),
        _cell(row.impressions, "variant-impressions"),
        _cell(row.clicks, "variant-clicks"),
        _cell(row.ctr, "variant-ctr"),
        _cell(row.lift_sequential, "variant-lift-sequential"),
        _cell(row.lift, "variant-lift"),
        _cell(row.lift_cuped, "variant-lift-cuped"),
        _cell(row.chance, "variant-chance"),
        _cell(row.recirculation, "variant-recirculation"),
        _cell(row.returned, "variant-returned"),
        custom_attrs={"data-testid": "variant-row", "data-variant": row.name},
    )


def _variants_table() -> rx.Component:
    headings = (
        "Variant",
        "Share",
        "Readers",
        "Impressions",
        "Clicks",
        "CTR (95 %)",
        "Lift, sequential",
        "Lift, fixed",
        "Lift, CUPED",
        "Chance to beat",
        "Reads per visit after a click",
        "Back within 7 days",
    )
    return rx.el.div(
        rx.el.table(
            rx.el.thead(rx.el.tr(*[rx.el.th(h, scope="col") for h in headings])),
            rx.el.tbody(rx.foreach(ExperimentsState.variants, _variant_row)),
            class_name="insp-table exp-table",
        ),
        class_name="exp-table-wrap",
    )


def _series(kind: str) -> list[rx.Component]:
    """A band (the interval) and a line (the estimate) per variant; `kind` picks the lift chart's variants."""
    parts: list[rx.Component] = []
    first = 1 if kind == "lift" else 0  # the control has no lift against itself
    for i in range(first, MAX_VARIANTS):
        name = ExperimentsState.variant_names[i].to(str)
        band = rx.recharts.area(
            data_key=f"v{i}_band",
            stroke="none",
            fill=COLOURS[i],
            fill_opacity=0.15,
            legend_type="none",
            is_animation_active=False,
            name=name + " 95 %",
        )
        line = rx.recharts.line(
            data_key=f"v{i}", stroke=COLOURS[i], stroke_width=2, dot={"r": 2}, is_animation_active=False, name=name
        )
        # Only the experiment's own variants: a line for a variant it does not have would show in the legend.
        present = ExperimentsState.variant_names.length() > i
        parts += [rx.cond(present, band), rx.cond(present, line)]
    return parts


def _chart(title: str, caption: str, data: rx.Var, kind: str, testid: str, empty: str) -> rx.Component:
    """A plot of `data`, or `empty` (why there is nothing to draw yet) instead of bare axes."""
    extra = [rx.recharts.reference_line(y=0, stroke="#7a756b", stroke_dasharray="4 4")] if kind == "lift" else []
    return rx.el.figure(
        rx.el.figcaption(rx.el.strong(title), " ", caption, class_name="exp-caption"),
        rx.cond(
            data.length() == 0,
            rx.el.p(empty, class_name="exp-chart-empty", custom_attrs={"data-testid": f"{testid}-empty"}),
            _plot(data, kind, extra),
        ),
        class_name="exp-chart",
        custom_attrs={"data-testid": testid},
    )


def _plot(data: rx.Var, kind: str, extra: list[rx.Component]) -> rx.Component:
    return rx.recharts.composed_chart(
        *_series(kind),
        *extra,
        rx.recharts.x_axis(data_key="day"),
        # A lift's interval is wide while samples are small: its ticks (e.g. "-5000 %") need the room.
        rx.recharts.y_axis(unit=" %", width=84 if kind == "lift" else 60),
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke="#d9d4c7"),
        rx.recharts.tooltip(),
        rx.recharts.legend(),
        data=data,
        width="100%",
        height=CHART_HEIGHT,
    )


def _report() -> rx.Component:
    return rx.el.div(
        rx.el.div(
            rx.foreach(
                ExperimentsState.names,
                lambda name: rx.el.button(
                    name,
                    on_click=ExperimentsState.select(name),
                    class_name=rx.cond(name == ExperimentsState.selected, "exp-tab exp-tab-on", "exp-tab"),
                ),
            ),
            class_name="exp-tabs",
        ),
        rx.el.p(ExperimentsState.hypothesis, class_name="exp-hypothesis"),
        rx.el.p(
            rx.el.span(ExperimentsState.status, class_name="exp-status", custom_attrs={"data-testid": "exp-status"}),
            " · since ",
            ExperimentsState.started,
            " · ",
            rx.el.span(ExperimentsState.readers, custom_attrs={"data-testid": "exp-readers"}),
            " readers exposed",
            rx.cond(ExperimentsState.excluded > 0, rx.el.span(" (", ExperimentsState.excluded, " saw two variants)")),
            " · a verdict from ",
            ExperimentsState.minimum_sample,
            " per variant",
            rx.cond(ExperimentsState.live, rx.el.span(" · live, updated ", ExperimentsState.updated_at)),
            class_name="exp-meta",
        ),
        rx.el.p(
            rx.el.strong("Sample ratio: "),
            ExperimentsState.srm,
            class_name=rx.cond(ExperimentsState.srm_flagged, "exp-srm exp-srm-bad", "exp-srm"),
            custom_attrs={"data-testid": "exp-srm"},
            role=rx.cond(ExperimentsState.srm_flagged, "alert", "status"),
        ),
        rx.el.p(
            ExperimentsState.verdict,
            class_name=rx.cond(ExperimentsState.enough_data, "exp-verdict", "exp-verdict exp-verdict-wait"),
            custom_attrs={"data-testid": "exp-verdict"},
        ),
        _variants_table(),
        rx.el.div(
            _chart(
                "Click-through rate of the panel",
                "per variant, cumulative by day of first exposure, with its 95 % interval.",
                ExperimentsState.ctr_chart,
                "ctr",
                "exp-ctr-chart",
                "Nothing to draw yet: no reader has seen a panel of this experiment.",
            ),
            _chart(
                "Lift against the control",
                "always-valid 95 % interval: safe to look at every day.",
                ExperimentsState.lift_chart,
                "lift",
                "exp-lift-chart",
                "No lift to draw yet: too few readers and clicks in each variant to estimate one.",
            ),
            class_name="exp-charts",
        ),
        rx.el.p(
            "CTR is clicks over panel impressions per reader (delta method). Lifts are relative to the control. "
            "Chance to beat is the Bayesian probability of a positive lift. CUPED adjusts for each reader's reads "
            "before their first exposure. Readers who saw two variants are left out. The same numbers: ",
            rx.el.code("GET /api/experiments/<name>"),
            " with the API token.",
            class_name="exp-notes",
        ),
        custom_attrs={"data-testid": "experiments-report"},
    )


def experiments_page(corpus: Corpus) -> rx.Component:
    return page_frame(
        corpus.categories,
        rx.el.div(
            page_header(
                "The newsroom",
                "Experiments",
                "Which recommendation strategy serves readers better, measured on real clicks.",
            ),
            rx.cond(
                ExperimentsState.checked,
                rx.cond(
                    ExperimentsState.allowed,
                    rx.cond(
                        ExperimentsState.names.length() > 0,
                        _report(),
                        rx.el.p("No experiments are defined: add one to data/experiments/.", class_name="muted"),
                    ),
                    _forbidden(),
                ),
                rx.el.p("Checking your access…", class_name="muted"),
            ),
            class_name="experiments",
        ),
    )
