import pytest

from voice_sidecar.plugins.device import choose_whisper_device


@pytest.mark.parametrize(
    ("requested", "compute_type", "cuda_devices", "device", "chosen_type", "reason"),
    [
        ("auto", "auto", 0, "cpu", "int8", "no CUDA device"),
        ("auto", "auto", 1, "cuda", "float16", "1 CUDA device"),
        ("auto", "int8_float16", 2, "cuda", "int8_float16", "2 CUDA device"),
        ("cpu", "auto", 1, "cpu", "int8", "requested"),
        ("cpu", "float32", 0, "cpu", "float32", "requested"),
        ("cuda", "auto", 0, "cpu", "int8", "no CUDA device is visible"),
        ("cuda", "auto", 1, "cuda", "float16", "CUDA device"),
    ],
)
def test_device_choice(
    requested: str, compute_type: str, cuda_devices: int, device: str, chosen_type: str, reason: str
) -> None:
    choice = choose_whisper_device(
        requested=requested, compute_type=compute_type, cuda_device_count=cuda_devices
    )
    assert (choice.device, choice.compute_type) == (device, chosen_type)
    assert reason in choice.reason
