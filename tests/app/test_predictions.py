"""The Predictions page: fit lifetime value on the demo shop and read the validation."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.conftest import no_exceptions
from tests.app.test_plain_words import INTERNAL, shown_texts


def test_fit_shows_parameters_validation_segments_and_export(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/predictions.py").run()
    no_exceptions(at)
    assert at.title[0].value == "Predictions"
    assert any("No lifetime-value fit yet" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Fit lifetime value").click().run()
    no_exceptions(at)
    markdown = " ".join(m.value for m in at.markdown)
    assert "orders about every" in markdown and "stop buying for good" in markdown
    verdicts = [*at.success, *at.warning]
    assert any("naive baseline" in v.value for v in verdicts)
    assert at.table and "Naive baseline" in at.table[0].value.columns
    assert len(at.get("plotly_chart")) == 3  # validation plot, P(alive) and CLV by segment
    assert at.get("download_button")
    assert not [n for t in shown_texts(at) for n in INTERNAL.findall(t)]  # labels, not column names
    at.run()  # a plain rerun shows the stored fit without fitting again, and it is current
    no_exceptions(at)
    assert not any("out of date" in w.value for w in at.warning)
    assert any("naive baseline" in v.value for v in [*at.success, *at.warning])
