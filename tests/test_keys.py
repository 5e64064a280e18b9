"""One key table (tui/app/keys.py) drives the bindings, the help screen, `annotate --help`
and the README; Ctrl-C quits like Q. Before it the three lists disagreed (`--help` left
out E) and Ctrl-C only said "Press ctrl+q to quit"."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from app_fixtures import annotating, current_labels, make_pool, screen_text, wait_displayed
from tui.app.keys import KEYS, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_key_table_is_the_one_table():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, ("README.md's key table differs from tui/app/keys.py; "
                                        "paste tui.app.keys.markdown_table() into it:\n"
                                        + markdown_table())


def test_annotate_help_lists_every_key():
    out = subprocess.run([sys.executable, "-m", "tui", "--help"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())      # argparse wraps the epilog
    for key in KEYS:
        assert f"{key.shown.replace(' ', '/')} {key.short}" in text, (key, text)


def test_every_key_is_bound_to_its_action_and_named_in_the_footer(tmp_path):
    """At 100 columns: the footer once ran out of room after M and hid E, ? and Q."""
    features, _ = make_pool(tmp_path / "pool")

    async def run():
        async with annotating(features, size=(100, 30)) as (sampler, app, pilot):
            await wait_displayed(app, pilot)
            bound = {b.binding.key: b.binding.action for b in app.active_bindings.values()}
            footer = screen_text(app)[-1]
            for key in KEYS:
                for name in key.keys.split(","):
                    assert bound.get(name) == key.action, (name, bound.get(name))
                if key.footer:
                    assert key.footer in footer, (key.footer, footer)
    asyncio.run(run())


def test_ctrl_c_quits_like_q_and_records_nothing(tmp_path):
    features, _ = make_pool(tmp_path / "pool")
    labels = tmp_path / "labels.sqlite"

    async def run():
        async with annotating(features, labels=str(labels)) as (sampler, app, pilot):
            await wait_displayed(app, pilot)
            await pilot.press("ctrl+c")
            await pilot.pause(0.3)
            return app.is_running, app.return_code
    running, code = asyncio.run(run())
    assert not running and not code
    assert current_labels(labels) == {}
