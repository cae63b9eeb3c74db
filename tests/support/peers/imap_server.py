"""A real IMAP4rev1 server (Twisted's) on 127.0.0.1 for the polling tests, run as a subprocess.

Usage: python imap_server.py USER PASSWORD MESSAGE.eml...  Prints the port it listens on, then serves
the messages in INBOX (read-only) until killed.
"""

from __future__ import annotations

import io
import sys
from email import message_from_bytes
from pathlib import Path
from typing import Any

from twisted.cred import checkers, portal
from twisted.internet import protocol, reactor
from twisted.mail import imap4
from zope.interface import implementer  # type: ignore[import-untyped]


@implementer(imap4.IMessage)
class StoredMessage:
    def __init__(self, raw: bytes, uid: int):
        self.raw = raw
        self.uid = uid
        self.parsed = message_from_bytes(raw)
        self.head, _, self.body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")

    def getUID(self) -> int:
        return self.uid

    def getFlags(self) -> list:
        return []

    def getInternalDate(self) -> str:
        return "Tue, 03 Nov 2026 10:00:00 +0000"

    def getHeaders(self, negate: bool, *names: bytes) -> dict:
        wanted = {n.decode().lower() for n in names}
        out = {}
        for key, value in self.parsed.items():
            if not names or ((key.lower() in wanted) != negate):
                out[key.lower()] = value
        return out

    def getBodyFile(self):
        return io.BytesIO(self.body.replace(b"\n", b"\r\n"))

    def getSize(self) -> int:
        return len(self.raw)

    def isMultipart(self) -> bool:
        return False

    def getSubPart(self, part: int):
        raise IndexError(part)


@implementer(imap4.IMailbox, imap4.IMailboxInfo)
class ReadOnlyMailbox:
    def __init__(self, messages: list[StoredMessage]):
        self.messages = messages
        self.listeners: list = []

    def getFlags(self):
        return ["\\Seen"]

    def getHierarchicalDelimiter(self):
        return "/"

    def getUIDValidity(self) -> int:
        return 7

    def getUIDNext(self) -> int:
        return max((m.uid for m in self.messages), default=0) + 1

    def getUID(self, message: int) -> int:
        return self.messages[message - 1].uid

    def getMessageCount(self) -> int:
        return len(self.messages)

    def getRecentCount(self) -> int:
        return 0

    def getUnseenCount(self) -> int:
        return len(self.messages)

    def isWriteable(self) -> int:
        return 0

    def destroy(self) -> None:
        pass

    def requestStatus(self, names):
        return {"MESSAGES": len(self.messages), "UIDNEXT": self.getUIDNext(), "UIDVALIDITY": 7}

    def addListener(self, listener) -> None:
        self.listeners.append(listener)

    def removeListener(self, listener) -> None:
        self.listeners.remove(listener)

    def addMessage(self, message, flags=(), date=None):
        raise imap4.ReadOnlyMailbox()

    def expunge(self):
        return []

    def store(self, messages, flags, mode, uid):
        raise imap4.ReadOnlyMailbox()

    def fetch(self, messages, uid):
        if uid:
            messages.last = self.getUIDNext() - 1
        else:
            messages.last = len(self.messages)
        return [(seq, message) for seq, message in enumerate(self.messages, start=1)
                if (message.uid if uid else seq) in messages]


@implementer(portal.IRealm)
class Realm:
    def __init__(self, account):
        self.account = account

    def requestAvatar(self, avatar_id, mind, *interfaces):
        return imap4.IAccount, self.account, lambda: None


class ServerFactory(protocol.Factory):
    def __init__(self, the_portal):
        self.portal = the_portal

    def buildProtocol(self, addr):
        server = imap4.IMAP4Server()
        server.portal = self.portal
        server.factory = self
        return server


# Twisted types its reactor as a module and its interfaces through zope (a mypy plugin we do not run):
# the reactor is used through Any.
REACTOR: Any = reactor


def listen(user: str, password: str, mailbox: ReadOnlyMailbox) -> int:
    """Serve ``mailbox`` as the INBOX of ``user`` on a loopback port (once the reactor runs); the port."""
    account = imap4.MemoryAccount(user)
    account.addMailbox("INBOX", mailbox)
    checker: Any = checkers.InMemoryUsernamePasswordDatabaseDontUse(**{user: password.encode()})
    realm: Any = Realm(account)
    return int(REACTOR.listenTCP(0, ServerFactory(portal.Portal(realm, [checker])), interface="127.0.0.1")
               .getHost().port)


def main() -> None:
    user, password, *files = sys.argv[1:]
    messages = [StoredMessage(Path(path).read_bytes(), uid) for uid, path in enumerate(files, start=10)]
    print(listen(user, password, ReadOnlyMailbox(messages)), flush=True)
    REACTOR.run()


if __name__ == "__main__":
    main()
