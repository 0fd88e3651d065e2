"""How `check resources` samples read: to a person (findings) and in JSON (units in
the key names). Descriptive only: the PSI and GPU readings and the summary line.
The judgements that change state (levels, P1, P1b) are in policy/resources.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctoops.report import Finding

if TYPE_CHECKING:  # types only: importing the probes' modules would pull in psutil
    from ctoops.probes.gpu import GpuSample
    from ctoops.probes.pressure import Pressure


def size(n: float | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def pct(v: float | None) -> str:
    return "?" if v is None else f"{v:.1f}%"


def pressure_view(p: Pressure) -> tuple[dict[str, Any], Finding]:
    data: dict[str, Any] = {"available": p.available, "error": p.error or None}
    parts = []
    for name in ("cpu", "memory", "io"):
        res = getattr(p, name)
        data[name] = None if res is None else {
            kind: None if line is None else {
                "avg10_percent": line.avg10_percent, "avg60_percent": line.avg60_percent,
                "avg300_percent": line.avg300_percent, "total_us": line.total_us}
            for kind, line in (("some", res.some), ("full", res.full))}
        if res is not None and res.some is not None:
            parts.append(f"{name} {res.some.avg60_percent:.1f}%")
    text = ("PSI stalled (some, avg60): " + ", ".join(parts)) if parts else \
        "PSI not available on this kernel" + (f" ({p.error})" if p.error else "")
    return data, Finding("host", "psi", "none", text, {})


def gpu_view(gpu: GpuSample | None) -> tuple[dict[str, Any], list[Finding], dict[str, str]]:
    if gpu is None:
        return {"available": False, "reason": "not read (disabled, or a gateway-only run)",
                "devices": []}, [Finding("gpu", "gpu", "none", "GPU: not read", {})], {}
    if not gpu.available:
        return ({"available": False, "reason": gpu.reason, "devices": []},
                [Finding("gpu", "gpu", "none", f"GPU: none; {gpu.reason}", {})], {})
    findings, perf, devices = [], {}, []
    for d in gpu.devices:
        mem_pct = (round(100.0 * d.memory_used_bytes / d.memory_total_bytes, 1)
                   if d.memory_used_bytes is not None and d.memory_total_bytes else None)
        problems = []
        if d.ecc_uncorrected_volatile:
            problems.append(f"{d.ecc_uncorrected_volatile} uncorrected ECC errors")
        if d.retired_pages_pending:
            problems.append("a page retirement waits for a reset")
        if d.remapped_rows_failure:
            problems.append("row remapping FAILED")
        elif d.remapped_rows_pending:
            problems.append("a row remap waits for a reset")
        problems += [r.replace("_", " ") for r in d.clock_event_reasons if r.startswith("hw_")]
        lost = any("lost" in e.lower() or e.startswith("device:") for e in d.errors)
        risk = "high" if lost or d.remapped_rows_failure else "medium" if problems else \
            "low" if d.errors else "none"
        text = (f"GPU{d.index} {d.name}: util {pct(d.utilization_percent)}, memory "
                f"{size(d.memory_used_bytes)} of {size(d.memory_total_bytes)}, "
                f"{'?' if d.temperature_c is None else f'{d.temperature_c:.0f}'} C, "
                f"{'?' if d.power_w is None else f'{d.power_w:.0f}'} W, "
                f"{len(d.processes)} processes")
        if problems:
            text += "; " + "; ".join(problems)
        if d.errors:
            text += "; NVML errors: " + "; ".join(d.errors)
        findings.append(Finding("gpu", f"gpu{d.index}", risk, text, {"uuid": d.uuid}))
        if d.utilization_percent is not None:
            perf[f"gpu{d.index}_util"] = f"{d.utilization_percent:.0f}%;;;0;100"
        if mem_pct is not None:
            perf[f"gpu{d.index}_mem"] = f"{mem_pct:.1f}%;;;0;100"
        devices.append({
            "index": d.index, "name": d.name, "uuid": d.uuid,
            "utilization_percent": d.utilization_percent,
            "memory_utilization_percent": d.memory_utilization_percent,
            "memory_used_bytes": d.memory_used_bytes, "memory_total_bytes": d.memory_total_bytes,
            "memory_percent": mem_pct, "temperature_c": d.temperature_c, "power_w": d.power_w,
            "power_limit_w": d.power_limit_w,
            "ecc_uncorrected_volatile": d.ecc_uncorrected_volatile,
            "ecc_corrected_volatile": d.ecc_corrected_volatile,
            "ecc_uncorrected_aggregate": d.ecc_uncorrected_aggregate,
            "retired_pages_pending": d.retired_pages_pending,
            "remapped_rows_pending": d.remapped_rows_pending,
            "remapped_rows_failure": d.remapped_rows_failure,
            "clock_event_reasons": list(d.clock_event_reasons),
            "processes": [{"pid": p.pid, "name": p.name, "used_memory_bytes": p.used_memory_bytes}
                          for p in d.processes],
            "errors": list(d.errors)})
    return ({"available": True, "reason": None, "driver_version": gpu.driver_version,
             "devices": devices}, findings, perf)


def summary(data: dict[str, Any], restart_asked: bool) -> str:
    """The Nagios status line's text: the main numbers and what P1/P1b did."""
    parts = []
    host = data.get("host")
    if host:
        parts += [f"cpu {pct(host['cpu_percent'])}", f"mem {pct(host['memory_percent'])}",
                  f"swap {pct(host['swap_percent']) if host['swap_percent'] is not None else '-'}",
                  f"disk {pct(host['disk_percent'])}"]
    gw = data["gateway"]
    if gw["ratio"] is not None:
        parts.append(f"gateway {size(gw['usage_bytes'])} = {gw['ratio'] * 100:.1f}% of high")
    elif gw["usage_bytes"] is not None:
        parts.append(f"gateway {size(gw['usage_bytes'])} (no watermark)")
    else:
        parts.append("gateway not found")
    gpu = data.get("gpu")
    if gpu is not None:
        parts.append(f"gpu {len(gpu['devices'])}" if gpu["available"] else "gpu none")
    p1 = data.get("resource_pressure") or {}
    if p1.get("active"):
        parts.append(f"P1 resource_pressure {str(p1.get('level')).upper()}")
    elif p1.get("transition") == "clear":
        parts.append("P1 resource_pressure cleared")
    if restart_asked:
        parts.append("P1b safe restart asked")
    return ", ".join(parts)
