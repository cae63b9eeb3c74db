"""A raw ICAP client as a proxy (Squid) speaks to the egress service: well-formed or broken requests,
whole answers read back."""

from __future__ import annotations


def icap_request(method: str, service: str, body: bytes | None, *, http_head: bytes | None = None,
                 extra: str = "", preview: int | None = None, allow_204: bool = True) -> tuple[bytes, bytes]:
    """(ICAP head, encapsulated + body) of a well-formed request; ``body`` None: no body."""
    if http_head is None:
        http_head = (b"POST http://exfil.example.net/drop HTTP/1.1\r\nHost: exfil.example.net\r\n"
                     b"Content-Type: text/csv\r\n\r\n")
    section = "res" if method == "RESPMOD" else "req"
    encapsulated = f"{section}-hdr=0, {section + '-body' if body is not None else 'null-body'}={len(http_head)}"
    lines = [f"{method} icap://127.0.0.1/{service} ICAP/1.0", "Host: 127.0.0.1", f"Encapsulated: {encapsulated}",
             "X-Client-IP: 10.9.8.7"]
    if allow_204:
        lines.append("Allow: 204")
    if preview is not None:
        lines.append(f"Preview: {preview}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), http_head


def chunked(data: bytes, size: int = 65536, ieof: bool = False) -> bytes:
    out = b"".join(b"%x\r\n" % len(data[i:i + size]) + data[i:i + size] + b"\r\n" for i in range(0, len(data), size))
    return out + (b"0; ieof\r\n\r\n" if ieof else b"0\r\n\r\n")


class RawIcap:
    """One connection to the service; reads whole ICAP answers (head, encapsulated headers, chunked body)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(1 << 20)
        self.buffer += data
        return bool(data)

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise EOFError(self.buffer[:200])
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def read_answer(self) -> tuple[int, dict[str, str], bytes, bytes]:
        """(status, ICAP headers, encapsulated headers, de-chunked body)."""
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        encapsulated = headers.get("encapsulated", "null-body=0")
        parts = dict(p.strip().split("=") for p in encapsulated.split(","))
        http = b""
        body = b""
        offset = int(parts.get("req-body") or parts.get("res-body") or parts.get("null-body") or 0)
        while len(self.buffer) < offset:
            if not self._fill():
                raise EOFError("encapsulated headers cut")
        http, self.buffer = self.buffer[:offset], self.buffer[offset:]
        if "req-body" in parts or "res-body" in parts:
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._until(b"\r\n")
                    break
                while len(self.buffer) < size + 2:
                    if not self._fill():
                        raise EOFError("chunk cut")
                body += self.buffer[:size]
                self.buffer = self.buffer[size + 2:]
        return status, headers, http, body

    def closed(self) -> bool:
        try:
            return not self._fill()
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()
