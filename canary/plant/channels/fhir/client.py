"""A FHIR REST client for planting: bearer token, TLS on by default, retries on 5xx/429."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from canary.errors import CanaryError

FHIR_JSON = "application/fhir+json"
_MAX_RETRY_AFTER = 60.0


class FhirError(CanaryError):
    """A request failed. ``delivered_maybe``: the server may have applied it; ``fatal``: stop the run."""

    def __init__(self, message: str, *, delivered_maybe: bool, fatal: bool) -> None:
        super().__init__(message)
        self.delivered_maybe = delivered_maybe
        self.fatal = fatal


def outcome_text(response: requests.Response) -> str:
    """The OperationOutcome's diagnostics and details, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip()
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = []
        for issue in body.get("issue") or []:
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
            texts.append(f"{issue.get('severity', 'error')}: {text or issue.get('code', '')}")
        return "; ".join(texts)
    return str(body)[:300]


class FhirClient:
    def __init__(self, base: str, *, token: str | None, verify: bool = True, timeout: float = 30.0,
                 retries: int = 4, backoff: float = 1.0, sleep: Callable[[float], None] = time.sleep,
                 user_agent: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.timeout, self.retries, self.backoff, self.sleep = timeout, retries, backoff, sleep
        # Passed with each request: a session-level verify=False loses to REQUESTS_CA_BUNDLE in the environment.
        self.verify = verify
        self.session = requests.Session()
        self.session.headers.update({"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})
        if user_agent:  # the site's engine, not python-requests/x.y
            self.session.headers["User-Agent"] = user_agent
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction Bundle to the base; return the transaction-response Bundle."""
        response = self._request("POST", self.base, json=bundle)
        try:
            body = response.json()
        except ValueError as exc:
            raise FhirError(f"{self.base}: the answer to the transaction is not JSON", delivered_maybe=True,
                            fatal=True) from exc
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise FhirError(f"{self.base}: the answer to the transaction is not a Bundle", delivered_maybe=True,
                            fatal=True)
        return body

    def delete(self, reference: str) -> None:
        """DELETE Type/id; a resource already gone counts as deleted."""
        self._request("DELETE", f"{self.base}/{reference}", gone_ok=True)

    def read(self, reference: str) -> dict[str, Any] | None:
        """GET Type/id; None when the server says it is gone (404/410)."""
        response = self._request("GET", f"{self.base}/{reference}", gone_ok=True)
        if response.status_code in (404, 410):
            return None
        try:
            body = response.json()
        except ValueError as exc:
            raise FhirError(f"{self.base}: the answer to GET {reference} is not JSON", delivered_maybe=False,
                            fatal=False) from exc
        return body if isinstance(body, dict) else None

    def deactivate(self, reference: str) -> None:
        """Read the resource and PUT it back with ``active = false`` (a resource already gone is left so)."""
        resource = self.read(reference)
        if resource is None:
            return
        self._request("PUT", f"{self.base}/{reference}", json=resource | {"active": False})

    def _request(self, method: str, url: str, *, gone_ok: bool = False, **kwargs: Any) -> requests.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.request(method, url, timeout=self.timeout, verify=self.verify, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise FhirError(f"{self.base}: TLS verification failed ({exc.__class__.__name__}); fix the "
                                "certificate chain or, for a test server only, use --insecure",
                                delivered_maybe=False, fatal=True) from exc
            except requests.exceptions.ConnectionError as exc:
                if not _never_connected(exc):
                    # The connection broke after the request left: the server may have applied it.
                    raise FhirError(f"{self.base}: connection lost before the answer ({_reason(exc)}) / connexion "
                                    "perdue", delivered_maybe=True, fatal=True) from exc
                # Refused or unreachable: the request never reached the server, retrying is safe.
                if attempt <= self.retries:
                    self.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise FhirError(f"cannot reach {self.base}: {_reason(exc)} / serveur injoignable",
                                delivered_maybe=False, fatal=True) from exc
            except requests.exceptions.Timeout as exc:
                raise FhirError(f"{self.base}: no answer within {self.timeout:g}s / pas de réponse",
                                delivered_maybe=True, fatal=True) from exc
            status = response.status_code
            if status < 300 or (gone_ok and status in (404, 410)):
                return response
            if (status >= 500 or status == 429) and attempt <= self.retries:
                self.sleep(self._delay(response, attempt))
                continue
            text = outcome_text(response)
            if status in (401, 403):
                raise FhirError(f"{self.base}: authentication refused ({status}); check the token named by "
                                f"--token-env / authentification refusée: {text}", delivered_maybe=False, fatal=True)
            if status >= 500 or status == 429:
                raise FhirError(f"{self.base}: server error {status} after {attempt} attempts: {text}",
                                delivered_maybe=status >= 500, fatal=True)
            raise FhirError(f"{self.base}: request refused ({status}): {text}", delivered_maybe=False, fatal=False)

    def _delay(self, response: requests.Response, attempt: int) -> float:
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.strip().isdigit():
            return min(float(retry_after), _MAX_RETRY_AFTER)
        return float(self.backoff * 2 ** (attempt - 1))


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if hint in text:
            return hint
    return exc.__class__.__name__


def response_locations(response: dict[str, Any]) -> list[str]:
    """``Type/id`` of each entry of a transaction-response, in request order."""
    out = []
    for entry in response.get("entry") or []:
        location = ((entry.get("response") or {}).get("location") or "").split("/_history")[0]
        parts = [p for p in location.split("/") if p]
        out.append("/".join(parts[-2:]) if len(parts) >= 2 else "")
    return out
