"""Side inputs on screen (issue 16): with --prior or --condition the panel says what the
model takes besides the image, so a person knows what the picks and probabilities rest on."""

from __future__ import annotations

from app_fixtures import annotating, make_pool, screen_text, sync, wait_displayed


@sync
async def test_the_panel_names_the_prior_and_nothing_without_one(tmp_path):
    features, _ = make_pool(tmp_path, n_files=4, n_boxes=4)
    async with annotating(features, prior="score") as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        await pilot.pause(0.3)
        screen = "\n".join(screen_text(app))
        assert "inputs: image + score (prior)" in screen, screen
    async with annotating(features) as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        await pilot.pause(0.3)
        screen = "\n".join(screen_text(app))
        assert "inputs:" not in screen and "model " in screen, screen
