"""The OpenAPI 3.1 document of ``/api/v1``, built from the routes themselves so it cannot drift."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from canary import __version__


@dataclass(frozen=True)
class Endpoint:
    """One operation, as the OpenAPI document describes it."""

    rule: str
    method: str
    role: str
    summary: str
    query: tuple[str, ...] = ()
    body: dict[str, str] = field(default_factory=dict)  # body field -> JSON type ("binary": a file part)
    media: str = "application/json"


_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


_ERROR = {"$ref": "#/components/schemas/Error"}


def _path(rule: str) -> str:
    return _PATH_PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "integer" if converter == "int" else "string"}}
        for converter, name in _PATH_PARAM.findall(endpoint.rule)]
    params += [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
               for name in endpoint.query]
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "description": f"Needs a token with role '{endpoint.role}' or above (viewer < analyst < admin).",
        "parameters": params,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {}}},
            "400": {"description": "Bad input", "content": {"application/json": {"schema": _ERROR}}},
            "401": {"description": "No valid token"},
            "403": {"description": "The token's role is too low"},
            "404": {"description": "Unknown object"},
        },
        "x-canary-role": endpoint.role,
    }
    if endpoint.body:
        operation["requestBody"] = {"required": True, "content": {endpoint.media: {"schema": {
            "type": "object", "properties": {k: _field(v) for k, v in endpoint.body.items()}}}}}
    if endpoint.media == "multipart/form-data":
        operation["responses"]["413"] = {"description": "The upload is larger than web.upload_max_mb"}
    return operation


def _field(kind: str) -> dict[str, str]:
    # "binary" is a file part of a multipart body (OpenAPI 3.1: a string with contentEncoding).
    return {"type": "string", "contentMediaType": "application/octet-stream"} if kind == "binary" else {"type": kind}


def openapi_document(endpoints: list[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault("/api/v1" + _path(endpoint.rule), {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "canary", "version": __version__,
                 "description": "Honeytoken patient records: the console's REST API. JSON keys are those of the "
                                "CLI's --json output."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A token from 'canary token add' (cnry_...)"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}}}},
        },
        "paths": paths,
    }
