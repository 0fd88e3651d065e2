"""The GPU probe through a fake `pynvml` at the import boundary (sys.modules)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from ctoops.policy.resources_view import gpu_view
from ctoops.probes.gpu import read_gpus


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A /proc where the NVIDIA driver is loaded (so the probe goes on to NVML)."""
    (tmp_path / "proc" / "driver" / "nvidia").mkdir(parents=True)
    (tmp_path / "proc" / "driver" / "nvidia" / "version").write_text("NVRM version: 550.54.15\n")
    return tmp_path / "proc"


def test_r1_gpu_per_device_readings(fake_nvml: ModuleType, tmp_path: Path, proc: Path) -> None:
    (proc / "4321").mkdir()
    (proc / "4321" / "comm").write_text("python3\n")
    fake_nvml.CONFIG = {"driver": "550.54.15", "shutdown_log": str(tmp_path / "shutdown.log"),
                        "devices": [{"name": "NVIDIA H200", "uuid": "GPU-aaa", "util": [87, 40],
                                     "memory": [30 << 30, 140 << 30], "temp": 61,
                                     "power_mw": 512345, "limit_mw": 700000,
                                     "procs": [[4321, 29 << 30]]}]}
    g = read_gpus(procfs=proc)
    assert g.available and g.driver_version == "550.54.15" and len(g.devices) == 1
    d = g.devices[0]
    assert (d.name, d.uuid, d.utilization_percent, d.memory_utilization_percent) == (
        "NVIDIA H200", "GPU-aaa", 87.0, 40.0)
    assert (d.memory_used_bytes, d.memory_total_bytes, d.temperature_c) == (30 << 30, 140 << 30, 61)
    assert (d.power_w, d.power_limit_w) == (512.3, 700.0)
    assert (d.ecc_uncorrected_volatile, d.remapped_rows_failure, d.retired_pages_pending) == (
        0, False, False)
    assert [(p.pid, p.name, p.used_memory_bytes) for p in d.processes] == [
        (4321, "python3", 29 << 30)]
    assert d.errors == ()
    assert (tmp_path / "shutdown.log").read_text() == "shutdown\n"


def test_r1_gpu_unsupported_fields_read_as_none_without_noise(fake_nvml: ModuleType,
                                                              proc: Path) -> None:
    fake_nvml.CONFIG = {"devices": [{"ecc": "unsupported", "remap": "unsupported",
                                     "power_mw": "unsupported", "temp": "unsupported"}]}
    d = read_gpus(procfs=proc).devices[0]
    assert (d.ecc_uncorrected_volatile, d.remapped_rows_pending, d.power_w, d.temperature_c) == (
        None, None, None, None)
    assert d.errors == ()


def test_r1_gpu_none_when_nvml_finds_no_library(fake_nvml: ModuleType, proc: Path) -> None:
    fake_nvml.CONFIG = {"init_error": fake_nvml.NVML_ERROR_LIBRARY_NOT_FOUND}
    g = read_gpus(procfs=proc)
    assert not g.available and "NVML Shared Library Not Found" in g.reason and g.devices == ()
    data, findings, perf = gpu_view(g)
    assert data["available"] is False and perf == {}
    assert [(f.risk, f.message.split(";")[0]) for f in findings] == [("none", "GPU: none")]


def test_r1_gpu_none_when_the_driver_sees_no_device(fake_nvml: ModuleType, tmp_path: Path,
                                                    proc: Path) -> None:
    fake_nvml.CONFIG = {"devices": [], "shutdown_log": str(tmp_path / "s.log")}
    g = read_gpus(procfs=proc)
    assert not g.available and "no GPU" in g.reason
    assert (tmp_path / "s.log").read_text() == "shutdown\n"  # initialised, so shut down


def test_r1_gpu_none_when_nvidia_ml_py_is_not_installed(monkeypatch: pytest.MonkeyPatch,
                                                        proc: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    g = read_gpus(procfs=proc)
    assert not g.available and "nvidia-ml-py is not installed" in g.reason


def test_r1_gpu_hardware_errors_are_a_medium_finding(fake_nvml: ModuleType, proc: Path) -> None:
    fake_nvml.CONFIG = {"devices": [{"ecc": {"unc_vol": 2, "unc_agg": 9}, "remap": [0, 1, 1, 0],
                                     "reasons": 0x8 | 0x1}]}
    g = read_gpus(procfs=proc)
    d = g.devices[0]
    assert d.ecc_uncorrected_volatile == 2 and d.ecc_uncorrected_aggregate == 9
    assert d.remapped_rows_pending is True and d.clock_event_reasons == ("hw_slowdown",)
    _, findings, perf = gpu_view(g)
    assert findings[0].risk == "medium"
    assert "2 uncorrected ECC errors" in findings[0].message and "hw slowdown" in findings[0].message
    assert perf["gpu0_util"] == "35%;;;0;100"


def test_r1_a_lost_gpu_is_a_high_finding_and_others_still_read(fake_nvml: ModuleType,
                                                               proc: Path) -> None:
    fake_nvml.CONFIG = {"devices": [{"handle_lost": True}, {"name": "ok"}]}
    g = read_gpus(procfs=proc)
    assert g.available and len(g.devices) == 2 and g.devices[1].name == "ok"
    _, findings, _ = gpu_view(g)
    assert [f.risk for f in findings] == ["high", "none"]
    assert "GPU is lost" in findings[0].message


def test_r1_gpu_none_without_a_driver_never_loads_nvml(fake_nvml: ModuleType, tmp_path: Path
                                                      ) -> None:
    fake_nvml.CONFIG = {"shutdown_log": str(tmp_path / "s.log")}
    g = read_gpus(procfs=tmp_path / "proc", devfs=tmp_path / "dev")
    assert not g.available and g.reason.startswith("no NVIDIA driver loaded")
    assert not (tmp_path / "s.log").exists()  # NVML was never initialised


def test_pynvml_is_imported_only_inside_the_gpu_probe() -> None:
    import subprocess

    code = ("import sys; import ctoops.commands.check_resources, ctoops.probes.gpu; "
            "print('pynvml' in sys.modules, 'psutil' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["False", "False"]
