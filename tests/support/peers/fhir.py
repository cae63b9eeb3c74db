"""A FHIR R4 endpoint on 127.0.0.1 (Flask, fhir.resources R4B validation) for planting tests."""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from flask import Flask, request
from pydantic import ValidationError
from werkzeug.serving import make_server


def outcome(status: int, text: str, code: str = "invalid") -> tuple[dict[str, Any], int]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}, status


@dataclass
class FhirServer:
    """A small FHIR endpoint: validates transaction Bundles with fhir.resources (R4B), stores resources,
    answers transaction-response Bundles; honours ifNoneExist on identifier; can fail on demand."""

    token: str | None = None
    store: dict[str, dict[str, Any]] = field(default_factory=dict)
    bundles: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before behaving
    reject_with: str | None = None  # answer 400 with this OperationOutcome text
    deletes: list[str] = field(default_factory=list)
    # Answer 204 to DELETE and 200 to PUT but keep the resource unchanged: an engine that acknowledges and drops.
    ignore_writes: bool = False
    user_agents: list[str] = field(default_factory=list)  # the User-Agent of every request
    # A server that allocates IPPs: a Patient created without an identifier in this system gets one.
    allocate_ipp_system: str | None = None
    port: int = 0
    scheme: str = "http"
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/fhir"

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for key, r in self.store.items() if key.startswith(kind + "/")]

    def app(self) -> Flask:
        app = Flask("fhir-test-server")

        @app.before_request
        def auth():
            self.user_agents.append(request.headers.get("User-Agent", ""))
            if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
                return outcome(401, "missing or wrong bearer token", "login")
            if self.fail_next:
                status = self.fail_next.pop(0)
                body, _ = outcome(status, f"temporary failure {status}", "transient")
                return body, status, {"Retry-After": "0"} if status == 429 else {}
            return None

        @app.post("/fhir")
        def transaction():
            body = request.get_json(force=True)
            try:
                Bundle.model_validate(body)
                for entry in body.get("entry", []):
                    get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
            except (ValidationError, KeyError, ValueError) as exc:
                return outcome(400, f"invalid bundle: {exc}")
            if body.get("type") != "transaction":
                return outcome(400, "expected a transaction Bundle")
            if self.reject_with:
                return outcome(422, self.reject_with, "business-rule")
            self.bundles.append(body)
            return self._apply(body), 200

        @app.get("/fhir/<kind>/<rid>")
        def read(kind: str, rid: str):
            resource = self.store.get(f"{kind}/{rid}")
            return (resource, 200) if resource else outcome(404, "not found", "not-found")

        @app.delete("/fhir/<kind>/<rid>")
        def delete(kind: str, rid: str):
            self.deletes.append(f"{kind}/{rid}")
            if not self.ignore_writes:
                self.store.pop(f"{kind}/{rid}", None)
            return "", 204

        @app.put("/fhir/<kind>/<rid>")
        def update(kind: str, rid: str):
            body = request.get_json(force=True)
            try:
                get_fhir_model_class(kind).model_validate(body)
            except (ValidationError, KeyError, ValueError) as exc:
                return outcome(400, f"invalid {kind}: {exc}")
            if f"{kind}/{rid}" not in self.store:
                return outcome(404, "not found", "not-found")
            if not self.ignore_writes:
                self.store[f"{kind}/{rid}"] = {**body, "id": rid}
            return self.store[f"{kind}/{rid}"], 200

        return app

    def _apply(self, bundle: dict[str, Any]) -> dict[str, Any]:
        assigned: dict[str, str] = {}
        answers = []
        for entry in bundle["entry"]:
            resource, req = entry["resource"], entry["request"]
            existing = self._find(resource["resourceType"], req.get("ifNoneExist"))
            if existing:
                assigned[entry["fullUrl"]] = existing
                answers.append({"response": {"status": "200 OK", "location": f"{existing}/_history/1"}})
                continue
            key = f"{resource['resourceType']}/{next(self._ids)}"
            assigned[entry["fullUrl"]] = key
            answers.append({"response": {"status": "201 Created", "location": f"{key}/_history/1"}})
            self.store[key] = {**resource, "id": key.split("/")[1]}
            system = self.allocate_ipp_system
            if (system and resource["resourceType"] == "Patient"
                    and not any(i.get("system") == system for i in resource.get("identifier", []))):
                self.store[key].setdefault("identifier", []).append(
                    {"system": system, "value": f"77{key.split('/')[1].zfill(6)}",
                     "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]}})
        for key in assigned.values():
            _resolve(self.store.get(key), assigned)
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}

    def _find(self, kind: str, query: str | None) -> str | None:
        if not query or not query.startswith("identifier="):
            return None
        system, _, value = query[len("identifier="):].partition("|")
        for key, resource in self.store.items():
            if key.startswith(kind + "/") and any(i.get("system") == system and i.get("value") == value
                                                  for i in resource.get("identifier", [])):
                return key
        return None


def _resolve(value: Any, assigned: dict[str, str]) -> None:
    """Rewrite urn:uuid references to the ids the server gave."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference" and inner in assigned:
                value[key] = assigned[inner]
            else:
                _resolve(inner, assigned)
    elif isinstance(value, list):
        for inner in value:
            _resolve(inner, assigned)


class RunningServer:
    def __init__(self, fhir: FhirServer, port: int = 0, ssl_context: Any = None) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
        self.server = make_server("127.0.0.1", port, fhir.app(), threaded=True, ssl_context=ssl_context)
        fhir.scheme = "https" if ssl_context else "http"
        fhir.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
