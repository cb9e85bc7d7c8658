"""The shared demo-workspace fixture is a private, loaded copy."""

from tests.conftest import demo_truth


def test_demo_workspace_is_loaded_with_profiles_and_private(demo_ws):
    with demo_ws.cursor() as cur:
        users = cur.execute("SELECT count(*) FROM profiles").fetchall()[0][0]
        cur.execute("DELETE FROM profiles")
    truth = demo_truth()
    assert users >= len(truth) == 3000
    assert set(truth.segment) >= {"loyal_high_value", "lapsed"}


def test_demo_workspace_copy_was_not_changed_by_the_previous_test(demo_ws):
    with demo_ws.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM profiles").fetchall()[0][0] > 3000
