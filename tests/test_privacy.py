"""Privacy: uploads and results do not stay on the server, and nothing private reaches the log.

What is kept, and for how long (measured here, with the app's own settings):

* Gradio keeps every upload and a copy of every returned file in its cache (GRADIO_TEMP_DIR),
  under the upload's original file name, until its ``delete_cache`` sweep removes them: the app
  sets ``DELETE_CACHE = (300, 900)``, so a file goes 15 to 20 minutes after it was written, and
  all of them when the server stops. (Gradio 6.31 also leaves one *empty* ``tmpXXXXXXXX`` file
  per upload there, which no sweep removes; empty, so nothing private.)
* The app writes each request's mask, overlay and report into its own scratch folder
  (``webapp.scratch.Scratch``); folders older than ``max_age_s`` (120 s) are removed when the next
  request arrives, and the whole scratch folder at exit. On an idle server nothing sweeps them.

The test checks that every file a request leaves is one of those two kinds and that the sweeps
really remove them (the time is simulated: Gradio's sweep is run as its schedule runs it once the
age has passed, and scratch folders are aged with ``os.utime``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests import bad_inputs

NAME_IN_FILE_NAME = "Qwertz_Privacyprobe"  # a patient-like name used as the upload's file name
SECRETS = (bad_inputs.PATIENT_NAME, "Qwertz", "Privacyprobe", bad_inputs.PATIENT_ID)


def files_under(*roots: Path) -> set[Path]:
    return {p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def private_app(tmp_path, monkeypatch):
    """The app with its temporary folders redirected into tmp_path, and a client."""
    from gradio_client import Client

    import webapp.settings as app  # the app's settings (DELETE_CACHE ...)
    from tests.app_fixtures import running_app, test_models
    from webapp import scratch as scratch_space

    gradio_dir, temp_dir = tmp_path / "gradio", tmp_path / "tmp"
    gradio_dir.mkdir()
    temp_dir.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(gradio_dir))  # Gradio's upload and result cache
    monkeypatch.setattr(tempfile, "tempdir", str(temp_dir))  # everything else made with tempfile
    monkeypatch.setattr(scratch_space, "_scratch", None)  # a fresh scratch folder, inside temp_dir
    models = test_models()
    with running_app(models.segmenters) as (demo, url):
        client = Client(url, verbose=False, download_files=str(tmp_path / "client"),
                        analytics_enabled=False)
        try:
            yield {"app": app, "demo": demo, "client": client, "gradio_dir": gradio_dir,
                   "temp_dir": temp_dir, "inputs": tmp_path / "inputs"}
        finally:
            client.close()


def test_nothing_private_stays_on_disk_or_reaches_the_log(private_app, caplog, capfd):
    from gradio.route_utils import delete_files_created_by_app
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from webapp.scratch import scratch as scratch_space

    app, demo, client = private_app["app"], private_app["demo"], private_app["client"]
    gradio_dir, temp_dir, inputs = (private_app[k] for k in ("gradio_dir", "temp_dir", "inputs"))
    for name in ("app", "webapp", "unet", "gradio", "gradio_client", "httpx", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    good = [
        bad_inputs.good_png(inputs, f"{NAME_IN_FILE_NAME}.png"),
        bad_inputs.dicom_with_patient(inputs, f"{NAME_IN_FILE_NAME}.dcm"),
    ]
    bad = [bad_inputs.truncated_png(inputs), bad_inputs.dicom_unknown_transfer_syntax(inputs),
           bad_inputs.zero_byte(inputs)]
    baseline = files_under(gradio_dir, temp_dir)  # before any request
    capfd.readouterr()

    reports = []
    for path in good:
        mask, overlay, report = client.predict(handle_file(str(path)), "breast", 0.5,
                                               api_name="/segment")
        reports.append(report)
        for returned in (mask, overlay):
            assert not any(s in Path(returned).name for s in SECRETS)
    for path in bad:
        with pytest.raises(AppError):
            client.predict(handle_file(str(path)), "breast", 0.5, api_name="/segment")

    # ---- the log: no tag values, no file names, no image bytes
    out, err = capfd.readouterr()
    logged = "\n".join([caplog.text, out, err])
    for secret in SECRETS:
        assert secret not in logged, f"{secret!r} reached the log"
    image_bytes = [b.read_bytes()[:24] for b in good + bad[:1]]
    for marker in ("IHDR", "IDAT", "\\x89PNG", "DICM", "\\x00\\x00\\x00",
                   *(base64.b64encode(head).decode()[:16] for head in image_bytes)):
        assert marker not in logged, f"image bytes ({marker!r}) reached the log"
    for report in reports:
        text = json.dumps(report)
        assert not any(s in text for s in SECRETS)

    # ---- what the requests left on disk
    scratch = scratch_space()
    assert scratch.root.is_relative_to(temp_dir)
    left = files_under(gradio_dir, temp_dir) - baseline
    in_cache = {p for p in left if p.is_relative_to(gradio_dir)}
    in_scratch = {p for p in left if p.is_relative_to(scratch.root)}
    # TensorFlow writes the source of functions it traces (first model call) to tempfile:
    # program code, no data.
    autograph = {p for p in left if p.name.startswith("__autograph_generated_file")
                 and p.suffix == ".py"}
    elsewhere = left - in_cache - in_scratch - autograph
    print(f"\nafter {len(good)} good and {len(bad)} bad requests: {len(in_cache)} files in "
          f"Gradio's cache (uploads and copies of results), {len(in_scratch)} in the app's "
          f"scratch folder, {len(elsewhere)} elsewhere")
    assert not elsewhere, f"files outside Gradio's cache and the app's scratch: {elsewhere}"
    uploads_in_cache = [p for p in in_cache if NAME_IN_FILE_NAME in p.name]
    print(f"uploads kept by Gradio under their own file name: {len(uploads_in_cache)}")
    # The app's own files never carry the upload's name, nor the patient's data.
    for path in in_scratch:
        assert not any(s in path.name for s in SECRETS)
        assert not any(s.encode() in path.read_bytes() for s in SECRETS), path.name

    # ---- Gradio's cache: every file is tracked and goes with the delete_cache sweep
    frequency, age = demo.delete_cache
    assert (frequency, age) == tuple(app.DELETE_CACHE)
    print(f"Gradio deletes cached files {age} s after they were written, sweeping every "
          f"{frequency} s: at most {(frequency + age) / 60:.0f} min")
    assert frequency + age <= 20 * 60
    delete_files_created_by_app(demo, 0)  # the scheduled sweep, once `age` has passed
    still_cached = files_under(gradio_dir) - baseline
    # Gradio 6.31 leaves one empty `tmpXXXXXXXX` file per upload in the cache folder, which no
    # sweep deletes (an upload-parser leftover). Empty, so nothing private; anything else must go.
    empty_leftovers = {p for p in still_cached
                       if p.parent == gradio_dir and p.name.startswith("tmp")
                       and p.stat().st_size == 0}
    print(f"empty upload-parser leftovers in Gradio's cache after its sweep: "
          f"{len(empty_leftovers)}")
    still_cached -= empty_leftovers
    assert not still_cached, f"not tracked by delete_cache: {sorted(map(str, still_cached))}"

    # ---- the app's scratch: request folders older than max_age_s go with the next request
    past = time.time() - 2 * scratch.max_age_s
    for entry in scratch.root.iterdir():
        os.utime(entry, (past, past))
    client.predict(handle_file(str(good[0])), "thyroid", 0.5, api_name="/segment")
    remaining = files_under(scratch.root)
    assert not (remaining & in_scratch), "old request folders were not swept"
    assert len({p.parent for p in remaining}) <= 1  # only the newest request's folder
    scratch.close()  # what happens at exit
    assert not scratch.root.exists()
