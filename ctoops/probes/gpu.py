"""NVIDIA GPUs through NVML (R1): utilisation, memory, temperature, power, errors.

`pynvml` (the nvidia-ml-py package) is imported inside `read_gpus`, so a host
without GPUs never pays for it, and tests substitute a small fake module at the
import boundary (sys.modules, or a folder first on PYTHONPATH). No library, no
driver or no device is a normal "GPU: none" reading, never an error.

Fields a device does not support (NVML_ERROR_NOT_SUPPORTED, e.g. ECC on consumer
cards) read as None. XID errors are not exposed by NVML as a counter, only as
live events to a process that registered before they happened, so a once-a-minute
reader cannot see them; the hardware-error signals it can read are ECC counts,
retired/remapped memory and the "HW slowdown" clock-event reasons.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# nvmlClocksEventReason* bits worth telling an operator about (idle and
# application-clock settings are normal and left out).
CLOCK_EVENT_REASONS = {0x4: "sw_power_cap", 0x8: "hw_slowdown", 0x20: "sw_thermal_slowdown",
                       0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown"}
HARDWARE_REASONS = ("hw_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown")
_QUIET_ERRORS = ("NOT_SUPPORTED", "NO_PERMISSION", "FUNCTION_NOT_FOUND")


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    name: str
    used_memory_bytes: int | None  # None: the driver does not say (e.g. MIG, WSL)


@dataclass(frozen=True)
class GpuDevice:
    index: int
    name: str
    uuid: str
    utilization_percent: float | None
    memory_utilization_percent: float | None  # memory-controller busy time
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    temperature_c: float | None
    power_w: float | None
    power_limit_w: float | None
    ecc_uncorrected_volatile: int | None  # since the driver loaded
    ecc_corrected_volatile: int | None
    ecc_uncorrected_aggregate: int | None  # lifetime
    retired_pages_pending: bool | None  # a retirement waits for a reboot/reset
    remapped_rows_pending: bool | None
    remapped_rows_failure: bool | None  # row remapping failed: the GPU needs service
    clock_event_reasons: tuple[str, ...]
    processes: tuple[GpuProcess, ...]
    errors: tuple[str, ...]  # NVML calls that failed for another reason than "unsupported"


@dataclass(frozen=True)
class GpuSample:
    available: bool
    reason: str  # why there is no reading ("" when available)
    driver_version: str
    devices: tuple[GpuDevice, ...]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _proc_name(procfs: Path, pid: int) -> str:
    try:
        return (procfs / str(pid) / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


class _Reader:
    """Calls NVML for one device, turning per-field failures into None plus a note."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.errors: list[str] = []
        self.quiet = {getattr(nvml, f"NVML_ERROR_{name}", None) for name in _QUIET_ERRORS}

    def get(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except self.nvml.NVMLError as exc:
            if getattr(exc, "value", None) not in self.quiet:
                self.errors.append(f"{what}: {exc}")
            return None


def _device(nvml: Any, index: int, procfs: Path) -> GpuDevice:
    r = _Reader(nvml)
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    util = r.get("utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
    mem = r.get("memory", nvml.nvmlDeviceGetMemoryInfo, handle)
    power_mw = r.get("power", nvml.nvmlDeviceGetPowerUsage, handle)
    limit_mw = r.get("power limit", nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    unc, cor = nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
    ecc_fn = nvml.nvmlDeviceGetTotalEccErrors
    pending = None
    if hasattr(nvml, "nvmlDeviceGetRetiredPagesPendingStatus"):
        status = r.get("retired pages", nvml.nvmlDeviceGetRetiredPagesPendingStatus, handle)
        pending = None if status is None else bool(status)
    remap = (r.get("remapped rows", nvml.nvmlDeviceGetRemappedRows, handle)
             if hasattr(nvml, "nvmlDeviceGetRemappedRows") else None)
    reasons_fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
    bits = r.get("clock events", reasons_fn, handle) if reasons_fn else None
    procs: dict[int, GpuProcess] = {}
    for what, fn_name in (("compute processes", "nvmlDeviceGetComputeRunningProcesses"),
                          ("graphics processes", "nvmlDeviceGetGraphicsRunningProcesses")):
        fn = getattr(nvml, fn_name, None)
        for p in (r.get(what, fn, handle) if fn else None) or []:
            used = getattr(p, "usedGpuMemory", None)
            procs.setdefault(int(p.pid), GpuProcess(int(p.pid), _proc_name(procfs, int(p.pid)),
                                                    int(used) if used is not None else None))
    temp = r.get("temperature", nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
    return GpuDevice(
        index=index, name=_text(r.get("name", nvml.nvmlDeviceGetName, handle) or "?"),
        uuid=_text(r.get("uuid", nvml.nvmlDeviceGetUUID, handle) or ""),
        utilization_percent=None if util is None else float(util.gpu),
        memory_utilization_percent=None if util is None else float(util.memory),
        memory_used_bytes=None if mem is None else int(mem.used),
        memory_total_bytes=None if mem is None else int(mem.total),
        temperature_c=None if temp is None else float(temp),
        power_w=None if power_mw is None else round(power_mw / 1000.0, 1),
        power_limit_w=None if limit_mw is None else round(limit_mw / 1000.0, 1),
        ecc_uncorrected_volatile=r.get("ecc", ecc_fn, handle, unc, nvml.NVML_VOLATILE_ECC),
        ecc_corrected_volatile=r.get("ecc", ecc_fn, handle, cor, nvml.NVML_VOLATILE_ECC),
        ecc_uncorrected_aggregate=r.get("ecc", ecc_fn, handle, unc, nvml.NVML_AGGREGATE_ECC),
        retired_pages_pending=pending,
        remapped_rows_pending=None if remap is None else bool(remap[2]),
        remapped_rows_failure=None if remap is None else bool(remap[3]),
        clock_event_reasons=tuple(name for bit, name in CLOCK_EVENT_REASONS.items()
                                  if bits is not None and int(bits) & bit),
        processes=tuple(procs.values()), errors=tuple(r.errors))


def driver_present(procfs: Path = Path("/proc"), devfs: Path = Path("/dev")) -> bool:
    """Is an NVIDIA driver loaded? /proc/driver/nvidia on a host, /dev/nvidiactl in a
    container given GPUs, /dev/dxg under WSL2. Checked first so a GPU-less host
    (most of them) never pays for loading pynvml and ctypes every minute."""
    return any(p.exists() for p in (procfs / "driver" / "nvidia", devfs / "nvidiactl",
                                    devfs / "dxg"))


def read_gpus(nvml: Any | None = None, procfs: Path = Path("/proc"),
              devfs: Path = Path("/dev")) -> GpuSample:
    """Every NVIDIA GPU NVML can see. `nvml` is the pynvml module (tests pass a fake);
    without one, pynvml is imported when a driver is present."""
    if nvml is None:
        if not driver_present(procfs, devfs):
            return GpuSample(False, f"no NVIDIA driver loaded (no {procfs}/driver/nvidia, "
                                    f"{devfs}/nvidiactl or {devfs}/dxg)", "", ())
        try:
            import pynvml as nvml
        except ImportError as exc:
            return GpuSample(False, f"nvidia-ml-py is not installed ({exc})", "", ())
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return GpuSample(False, f"no NVIDIA driver or library: {exc}", "", ())
    except OSError as exc:  # a broken libnvidia-ml.so on the loader path
        return GpuSample(False, f"NVML could not be loaded: {exc}", "", ())
    try:
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
        except nvml.NVMLError:
            driver = ""
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            return GpuSample(False, "the NVIDIA driver sees no GPU", driver, ())
        devices = []
        for i in range(count):
            try:
                devices.append(_device(nvml, i, procfs))
            except nvml.NVMLError as exc:  # the handle itself failed: GPU lost, ...
                devices.append(GpuDevice(i, "?", "", None, None, None, None, None, None, None,
                                         None, None, None, None, None, None, (), (),
                                         (f"device: {exc}",)))
        return GpuSample(True, "", driver, tuple(devices))
    except nvml.NVMLError as exc:
        return GpuSample(False, f"NVML failed: {exc}", "", ())
    finally:
        # A failing shutdown leaves nothing to release; the reading above stands.
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()
