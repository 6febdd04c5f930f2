import dataclasses

import pytest

from unet.inference.registry import get_organ
from unet.inference.weights import WeightsNotFoundError, resolve_weights


def organ_with_weights(tmp_path, monkeypatch):
    monkeypatch.setattr("unet.inference.registry.WEIGHTS_DIR", tmp_path)
    (tmp_path / "breast.keras").write_bytes(b"bundled")
    return get_organ("breast")


def test_bundled_by_default(tmp_path, monkeypatch):
    organ = organ_with_weights(tmp_path, monkeypatch)
    monkeypatch.delenv(organ.hub_repo_env, raising=False)
    src = resolve_weights(organ)
    assert src.path == tmp_path / "breast.keras" and src.description.startswith("bundled")


def test_offline_flag_falls_back_without_network(tmp_path, monkeypatch):
    organ = organ_with_weights(tmp_path, monkeypatch)
    monkeypatch.setenv(organ.hub_repo_env, "someone/unet-breast")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_download(**kwargs):  # must not even be tried
        raise AssertionError("download attempted while offline")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", no_download)
    src = resolve_weights(organ)
    assert src.path == tmp_path / "breast.keras"
    assert "HF_HUB_OFFLINE" in src.description


def test_hub_download_used_with_pinned_revision(tmp_path, monkeypatch):
    organ = organ_with_weights(tmp_path, monkeypatch)
    monkeypatch.setenv(organ.hub_repo_env, "someone/unet-breast")
    monkeypatch.setenv("UNET_HUB_REVISION", "abc123")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    snapshot = tmp_path / "hub-cache" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    published = {"breast.keras": b"hub", "breast.json": b'{"version": "from-the-hub"}'}
    seen = []

    def fake_download(repo_id, filename, revision):
        seen.append((repo_id, filename, revision))
        if filename not in published:  # the repo has no flatbuffer
            raise FileNotFoundError(filename)
        (snapshot / filename).write_bytes(published[filename])
        return str(snapshot / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    src = resolve_weights(organ)
    assert src.path == snapshot / "breast.keras"
    assert seen[0] == ("someone/unet-breast", "breast.keras", "abc123")
    assert {name for _, name, _ in seen} == {"breast.keras", "breast.json", "breast.tflite",
                                              "breast.tflite.json"}
    assert {revision for _, _, revision in seen} == {"abc123"}  # all from the pinned revision
    assert "abc123" in src.description
    from unet.inference.settings import read_card

    assert read_card(src.path) == {"version": "from-the-hub"}  # the card came along


def test_unreachable_hub_falls_back_to_bundled(tmp_path, monkeypatch):
    organ = organ_with_weights(tmp_path, monkeypatch)
    monkeypatch.setenv(organ.hub_repo_env, "someone/unet-breast")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    closed = "http://127.0.0.1:9"  # nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", closed)
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    # huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE when it is first imported (by Gradio
    # or an earlier test, before this one): they are set in it too, so that the request really
    # goes to the closed port, whichever test imported it first
    import types

    import huggingface_hub.constants as hub_constants
    import huggingface_hub.utils._http as hub_http

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "ENDPOINT", closed)
    monkeypatch.setattr(hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        closed + "/{repo_id}/resolve/{revision}/{filename}")
    # it retries a refused connection 5 times, waiting 1+2+4+8+8 s between tries: the tries
    # still go to the closed port, the waits are skipped (23 s of sleep otherwise)
    waits = []
    monkeypatch.setattr(hub_http, "time", types.SimpleNamespace(sleep=waits.append))
    src = resolve_weights(organ)
    assert src.path == tmp_path / "breast.keras" and "failed" in src.description
    assert waits, "no retry: the download did not try the closed port"


def test_missing_everything_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("unet.inference.registry.WEIGHTS_DIR", tmp_path)
    organ = dataclasses.replace(get_organ("thyroid"))
    monkeypatch.delenv(organ.hub_repo_env, raising=False)
    with pytest.raises(WeightsNotFoundError, match="python -m training --organ thyroid"):
        resolve_weights(organ)
