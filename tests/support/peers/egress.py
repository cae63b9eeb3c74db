"""Real peers on loopback for the egress tests: an HTTP upload target and Squid with an ICAP service."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from tests.support.ports import accepts, free_port, wait_for_port
from tests.support.wait import wait_for

SQUID = shutil.which("squid") or ("/usr/sbin/squid" if os.path.exists("/usr/sbin/squid") else None)
FAKE_AUTH = "/usr/lib/squid/basic_fake_auth"  # accepts any user: the proxy then names the user to ICAP


class UploadTarget:
    """An HTTP server that keeps every body it receives, by path."""

    def __init__(self) -> None:
        self.received: dict[str, bytes] = {}
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def _store(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                target.received[self.path] = self.rfile.read(length)
                body = b"stored\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PUT = _store  # the names http.server dispatches to

            def do_GET(self) -> None:
                body = b"hello\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> UploadTarget:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Squid:
    """Squid in the foreground with a throwaway configuration: one named http_port per ICAP service.

    ``services`` maps a port name to an ICAP URI (None: a port without ICAP, the bench's reference);
    a request through port ``name`` is adapted by that service only. With ``auth``, basic proxy
    authentication is on (any password), so the user reaches the ICAP service.
    """

    def __init__(self, services: dict[str, str | None], auth: bool = True) -> None:
        # Squid drops to its own user for logs and pid: a directory it can reach (pytest's are 0700).
        self.workdir = workdir = Path(tempfile.mkdtemp(prefix="canary-squid-"))
        os.chmod(workdir, 0o777)
        self.ports = {name: free_port() for name in services}
        lines = [f"pid_filename {workdir}/squid.pid", f"cache_log {workdir}/cache.log",
                 f"access_log stdio:{workdir}/access.log", f"coredump_dir {workdir}", "cache deny all",
                 "cache_mem 8 MB", "shutdown_lifetime 0 seconds", "max_filedescriptors 4096",
                 "dns_nameservers 127.0.0.1", "client_request_buffer_max_size 64 MB", "forwarded_for on",
                 "via off", "request_body_max_size 0"]
        for name, port in self.ports.items():
            lines.append(f"http_port 127.0.0.1:{port} name={name}")
            lines.append(f"acl port_{name} myportname {name}")
        if auth:
            lines += [f"auth_param basic program {FAKE_AUTH}", "auth_param basic children 2",
                      "auth_param basic realm canary-test", "acl authed proxy_auth REQUIRED",
                      "http_access deny !authed"]
        lines += ["http_access allow localhost", "http_access deny all"]
        if any(services.values()):
            lines += ["icap_enable on", "icap_send_client_ip on", "icap_send_client_username on",
                      "icap_client_username_header X-Authenticated-User", "icap_client_username_encode on",
                      "icap_preview_enable on", "icap_preview_size 4096", "icap_persistent_connections on"]
            for name, uri in services.items():
                if uri is None:
                    continue  # a port without adaptation
                lines.append(f"icap_service svc_{name} reqmod_precache {uri} bypass=off")
                lines.append(f"adaptation_access svc_{name} allow port_{name}")
                lines.append(f"adaptation_access svc_{name} deny all")
        self.config = workdir / "squid.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    def proxy(self, name: str = "plain", user: str | None = "alice") -> str:
        credentials = f"{user}:secret@" if user else ""
        return f"http://{credentials}127.0.0.1:{self.ports[name]}"

    def __enter__(self) -> Squid:
        assert SQUID is not None
        self.process = subprocess.Popen([SQUID, "-N", "-f", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        try:
            for port in self.ports.values():
                wait_for_port(port, self.process)
        except RuntimeError as exc:
            self.__exit__()
            log = (self.workdir / "cache.log").read_text(errors="replace")[-2000:] \
                if (self.workdir / "cache.log").exists() else ""
            raise RuntimeError(f"squid did not start: {exc}\n{log}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix") else None)


class MailSink:
    """An SMTP server (aiosmtpd) that keeps every mail the gateway relays to it."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[str, list[str], bytes]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
                sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def find(self, marker: bytes) -> tuple[str, list[str], bytes] | None:
        """The first mail relayed so far that holds ``marker``."""
        return next((message for message in self.messages if marker in message[2]), None)

    def wait_for(self, marker: bytes, timeout: float = 20.0) -> tuple[str, list[str], bytes]:
        """The first relayed mail holding ``marker``; AssertionError if none comes within ``timeout``."""
        found = wait_for(lambda: self.find(marker), timeout=timeout, interval=0.05,
                         message=f"no mail holding {marker!r} reached the sink")
        assert found is not None  # wait_for returns only a true value
        return found


class Postfix:
    """Postfix with a throwaway configuration: one SMTP port on loopback per milter (``milters`` maps a
    name to the milter's port), every mail relayed to ``relay_port``; queue, logs and locks in a
    temporary directory."""

    def __init__(self, milters: dict[str, int], relay_port: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="canary-postfix-"))
        os.chmod(self.dir, 0o755)
        self.conf = self.dir / "etc"
        for sub in ("etc", "queue", "data"):
            (self.dir / sub).mkdir()
        shutil.chown(self.dir / "data", "postfix")
        self.ports = {name: free_port() for name in milters}
        main = f"""
compatibility_level = 3.6
queue_directory = {self.dir}/queue
data_directory = {self.dir}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = gateway.canary-test.invalid
mydomain = canary-test.invalid
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{relay_port}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
milter_default_action = tempfail
alias_maps =
alias_database =
maillog_file_prefixes = {self.dir}
maillog_file = {self.dir}/maillog
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_banner = $myhostname ESMTP
"""
        (self.conf / "main.cf").write_text(main)
        master = Path("/etc/postfix/master.cf").read_text()
        lines = [line for line in master.splitlines() if line.split()[:2] != ["smtp", "inet"]]
        lines += [f"127.0.0.1:{self.ports[name]} inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:{port}"
                  for name, port in milters.items()]
        (self.conf / "master.cf").write_text("\n".join(lines) + "\n")
        subprocess.run(["postconf", "-c", str(self.conf), "-F", "*/*/chroot = n"], check=True)

    def held(self) -> list[Path]:
        """Mails in the hold queue (where a quarantined mail waits for the operator)."""
        return [p for p in (self.dir / "queue" / "hold").rglob("*") if p.is_file()]

    def log(self) -> str:
        path = self.dir / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> Postfix:
        assert POSTFIX is not None
        run = subprocess.run([POSTFIX, "-c", str(self.conf), "start"], capture_output=True, text=True, timeout=60)
        try:
            if run.returncode != 0:
                raise RuntimeError(f"postfix did not start: {run.stderr}\n{self.log()[-2000:]}")
            for port in self.ports.values():
                wait_for_port(port)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run([POSTFIX or "postfix", "-c", str(self.conf), "abort"], capture_output=True, timeout=60)
        # Its daemons leave on their own: wait until none listens before the queue is removed under them.
        wait_for(lambda: not any(accepts(port) for port in self.ports.values()), timeout=30, interval=0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
