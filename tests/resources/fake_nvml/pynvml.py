"""A small stand-in for nvidia-ml-py's `pynvml`, used at the import boundary.

Only the names ctoops's GPU probe calls. What it reports comes from a JSON file
named by CTOOPS_FAKE_NVML (so a CLI child can be configured), or from the module
attribute CONFIG (in-process tests). Every nvmlShutdown() appends a line to the
file named by the config's "shutdown_log", so tests can check it is always called.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

NVML_TEMPERATURE_GPU = 0
NVML_VOLATILE_ECC = 0
NVML_AGGREGATE_ECC = 1
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
_NAMES = {3: "Not Supported", 4: "Insufficient Permissions", 9: "Driver Not Loaded",
          12: "NVML Shared Library Not Found", 13: "Function Not Found", 15: "GPU is lost"}

CONFIG: dict[str, Any] | None = None
DEFAULT = {"driver": "550.54.15", "devices": [{"name": "NVIDIA Fake 80GB"}]}


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _NAMES.get(self.value, f"NVML error {self.value}")


def _config() -> dict[str, Any]:
    if CONFIG is not None:
        return CONFIG
    path = os.environ.get("CTOOPS_FAKE_NVML")
    if path:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return DEFAULT


def _dev(handle: int) -> dict[str, Any]:
    dev = _config()["devices"][handle]
    if dev.get("lost"):
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    return dev


def _field(handle: int, key: str, default: Any) -> Any:
    value = _dev(handle).get(key, default)
    if value == "unsupported":
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    if value == "lost":
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    return value


def nvmlInit() -> None:
    code = _config().get("init_error")
    if code is not None:
        raise NVMLError(int(code))


def nvmlShutdown() -> None:
    log = _config().get("shutdown_log")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("shutdown\n")


def nvmlSystemGetDriverVersion() -> str:
    return str(_config().get("driver", ""))


def nvmlDeviceGetCount() -> int:
    return len(_config().get("devices", []))


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    if _config()["devices"][index].get("handle_lost"):
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    return index


def nvmlDeviceGetName(handle: int) -> bytes:
    return str(_field(handle, "name", "NVIDIA Fake")).encode()


def nvmlDeviceGetUUID(handle: int) -> str:
    return str(_field(handle, "uuid", f"GPU-fake-{handle}"))


def nvmlDeviceGetUtilizationRates(handle: int) -> SimpleNamespace:
    gpu, mem = _field(handle, "util", [35, 12])
    return SimpleNamespace(gpu=gpu, memory=mem)


def nvmlDeviceGetMemoryInfo(handle: int, version: Any = None) -> SimpleNamespace:
    used, total = _field(handle, "memory", [10 << 30, 80 << 30])
    return SimpleNamespace(used=used, total=total, free=total - used)


def nvmlDeviceGetTemperature(handle: int, sensor: int) -> int:
    return int(_field(handle, "temp", 45))


def nvmlDeviceGetPowerUsage(handle: int) -> int:
    return int(_field(handle, "power_mw", 120500))


def nvmlDeviceGetEnforcedPowerLimit(handle: int) -> int:
    return int(_field(handle, "limit_mw", 700000))


def nvmlDeviceGetTotalEccErrors(handle: int, error_type: int, counter_type: int) -> int:
    ecc = _field(handle, "ecc", {})
    key = ("unc" if error_type == NVML_MEMORY_ERROR_TYPE_UNCORRECTED else "cor") + (
        "_vol" if counter_type == NVML_VOLATILE_ECC else "_agg")
    return int(ecc.get(key, 0))


def nvmlDeviceGetRetiredPagesPendingStatus(handle: int) -> int:
    return int(_field(handle, "retired_pending", 0))


def nvmlDeviceGetRemappedRows(handle: int) -> tuple[int, int, int, int]:
    c, u, p, f = _field(handle, "remap", [0, 0, 0, 0])
    return c, u, p, f


def nvmlDeviceGetCurrentClocksEventReasons(handle: int) -> int:
    return int(_field(handle, "reasons", 0))


def nvmlDeviceGetComputeRunningProcesses(handle: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(pid=pid, usedGpuMemory=used)
            for pid, used in _field(handle, "procs", [])]


def nvmlDeviceGetGraphicsRunningProcesses(handle: int) -> list[SimpleNamespace]:
    return []
