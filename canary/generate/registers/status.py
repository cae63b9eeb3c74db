"""What the registers side file holds, for `canary registers list/status`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from canary.generate.registers.store import open_registers, registers_path


def loaded(registry_path: Path) -> list[dict[str, Any]]:
    conn = open_registers(registers_path(registry_path))
    if conn is None:
        return []
    try:
        rows: list[dict[str, Any]] = [
            {"register": "ban", "department": department, "source": source, "imported_at": imported_at,
             "rows": points}
            for department, source, imported_at, points in conn.execute(
                "SELECT department, source, imported_at, points FROM ban_imports ORDER BY department")]
        rpps = conn.execute("SELECT departments, source, imported_at, kept FROM rpps_imports").fetchone()
        if rpps:
            rows.append({"register": "rpps", "department": rpps[0], "source": rpps[1], "imported_at": rpps[2],
                         "rows": rpps[3]})
        return rows
    finally:
        conn.close()


def summary(registry_path: Path) -> dict[str, Any]:
    path = registers_path(registry_path)
    info: dict[str, Any] = {"path": str(path), "exists": path.exists(), "ban_departments": [],
                            "address_points": 0, "rpps": None, "warnings": []}
    conn = open_registers(path)
    if conn is None:
        return info
    try:
        info["ban_departments"] = [r[0] for r in conn.execute("SELECT department FROM ban_imports ORDER BY 1")]
        info["address_points"] = conn.execute("SELECT COALESCE(SUM(points), 0) FROM ban_imports").fetchone()[0]
        rpps = conn.execute("SELECT source, imported_at, departments FROM rpps_imports").fetchone()
        if rpps:
            counts = dict(conn.execute("SELECT department, COUNT(DISTINCT rpps) FROM rpps_physicians GROUP BY 1"))
            departments = [d for d in rpps[2].split(",") if d]
            info["rpps"] = {"source": rpps[0], "imported_at": rpps[1], "departments": departments,
                            "physicians": conn.execute("SELECT COUNT(DISTINCT rpps) FROM rpps_physicians")
                            .fetchone()[0],
                            "by_department": {d: counts.get(d, 0) for d in departments}}
            missing = sorted(set(info["ban_departments"]) - set(departments))
            if missing:
                info["warnings"].append(f"BAN department {', '.join(missing)} loaded after the RPPS extract: "
                                        "import the extract again to cover it")
        elif info["ban_departments"]:
            info["warnings"].append("no RPPS extract loaded: canaries' GPs are not verifiable "
                                    "('canary registers import rpps FILE')")
    finally:
        conn.close()
    return info
