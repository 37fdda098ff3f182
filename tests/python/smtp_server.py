"""An SMTP server for the email exporter's test: STARTTLS required, AUTH required
(user `sentinel`, password `secret`). Each message is decoded and appended to OUT as one
JSON line: subject, plain and HTML bodies, whether TLS and AUTH were used.

Usage: smtp_server.py PORT CERT KEY OUT
"""

import email
import email.policy
import json
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PORT, CERT, KEY, OUT = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
USERS = []


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"sentinel", b"secret"):
        USERS.append(auth_data.login.decode())
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "subject": message["Subject"],
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "group_key": message["X-Sentinel-Group-Key"],
            "text": plain.get_content() if plain else None,
            "html": html.get_content() if html else None,
            "tls": session.ssl is not None,
            "auth_user": USERS[-1] if session.authenticated and USERS else None,
        }
        with open(OUT, "a") as out:
            out.write(json.dumps(record) + "\n")
        return "250 OK"


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(CERT, KEY)
controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=PORT,
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_required=True,
)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
