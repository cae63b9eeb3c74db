"""The consumer mail provider of tests.support.peers.mail_provider (run as a script): an SMTP server
(aiosmtpd) delivering into one IMAP mailbox (Twisted's server, tests/support/peers/imap_server.py), some
addresses dropped, some forwarded to another SMTP server."""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import ssl
import threading

from tests.support.peers.imap_server import REACTOR, ReadOnlyMailbox, StoredMessage, listen


def main() -> None:
    from aiosmtpd.smtp import SMTP

    parser = argparse.ArgumentParser()
    parser.add_argument("login")
    parser.add_argument("password")
    parser.add_argument("--drop", action="append", default=[])
    parser.add_argument("--forward", action="append", default=[])
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="offer STARTTLS with this certificate")
    args = parser.parse_args()
    dropped = {a.lower() for a in args.drop}
    forwards = {}
    for spec in args.forward:
        address, _, target = spec.partition("=")
        to, _, where = target.rpartition("@")  # TO@HOST:PORT, TO itself an address
        host, _, port = where.partition(":")
        forwards[address.lower()] = (to, host, int(port))
    messages: list[StoredMessage] = []  # read by the IMAP server, appended to by the SMTP thread

    class Deliver:
        async def handle_DATA(self, server, session, envelope) -> str:
            raw = envelope.original_content or envelope.content
            for rcpt in envelope.rcpt_tos:
                address = rcpt.lower()
                if address in dropped:
                    continue
                if address in forwards:
                    to, host, port = forwards[address]
                    with smtplib.SMTP(host, port, timeout=30) as client:
                        client.sendmail("forward@provider.example", [to], raw)
                    continue
                messages.append(StoredMessage(raw, uid=10 + len(messages)))
            return "250 2.0.0 Ok: queued"

    loop = asyncio.new_event_loop()
    tls = None
    if args.tls:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*args.tls)
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(Deliver(), tls_context=tls), "127.0.0.1", 0))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    imap_port = listen(args.login, args.password, ReadOnlyMailbox(messages))
    print(server.sockets[0].getsockname()[1], imap_port, flush=True)
    REACTOR.run()


if __name__ == "__main__":
    main()
