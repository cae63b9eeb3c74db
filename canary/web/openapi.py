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
    status: int = 200  # the answer when it worked (201 created, 202 started)
    also: tuple[int, ...] = ()  # other answers of the route itself (e.g. 422, 502)


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
    public = endpoint.role == "public"
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "description": "No token needed." if public else
        f"Needs a token with role '{endpoint.role}' or above (viewer < analyst < admin).",
        "parameters": params,
        "responses": _responses(endpoint, bool(params)),
        "x-canary-role": endpoint.role,
    }
    if public:
        operation["security"] = []
    if endpoint.body:
        operation["requestBody"] = {"required": True, "content": {endpoint.media: {"schema": {
            "type": "object", "properties": {k: _field(v) for k, v in endpoint.body.items()}}}}}
    return operation


# What each status means when a route answers it (the route's own answers are in Endpoint.status/also).
_MEANING = {200: "OK", 201: "Created", 202: "Started in the background",
            422: "Nothing could be read from the file", 502: "A target did not confirm (the answer says which)"}


def _responses(endpoint: Endpoint, has_input: bool) -> dict[str, Any]:
    """The statuses the route really answers: its own, bad input only where it reads some, the token's
    refusals unless public (403 only above the lowest role), 404 only where the path names an object."""
    responses: dict[str, Any] = {}
    for status in (endpoint.status, *endpoint.also):
        responses[str(status)] = {"description": _MEANING.get(status, "See the summary"),
                                  "content": {"application/json": {}}}
    if has_input or endpoint.body or endpoint.method in ("POST", "PUT"):
        responses["400"] = {"description": "Bad input", "content": {"application/json": {"schema": _ERROR}}}
    if endpoint.role != "public":
        responses["401"] = {"description": "No valid token", "content": {"application/json": {"schema": _ERROR}}}
        if endpoint.role != "viewer":
            responses["403"] = {"description": "The token's role is too low",
                                "content": {"application/json": {"schema": _ERROR}}}
    if _PATH_PARAM.search(endpoint.rule):
        responses["404"] = {"description": "Unknown object", "content": {"application/json": {"schema": _ERROR}}}
    if endpoint.media == "multipart/form-data":
        responses["413"] = {"description": "The upload is larger than web.upload_max_mb",
                            "content": {"application/json": {"schema": _ERROR}}}
    return dict(sorted(responses.items()))


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
