#!/usr/bin/python3
"""A TLS server on 127.0.0.1 for test_tls_engine.c (Python's ssl module).

Prints "PORT n", then one line per event of each connection:
  SNI <name or ->            the server name the client sent
  HANDSHAKE <version> resumed=<0|1> client=<CN or ->
  HSFAIL <error>             the handshake failed on this side
  RECV <n>                   n bytes of plaintext received (echoed in "echo")
  CLOSED notify|eof          the client sent close_notify / just closed
  ERROR <error>              a record failure after the handshake

--mode:
  echo    echo every byte back until the client closes (default)
  hangup  close the TCP connection as soon as the ClientHello arrives
  drop    echo the first read, then close TCP without close_notify
  notify  echo the first read, then send close_notify
"""
import argparse
import os
import socket
import ssl
import sys
import threading

out_lock = threading.Lock()


def say(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def cn_of(cert):
    for rdn in (cert or {}).get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return "-"


def serve(ctx, conn, mode):
    conn.settimeout(10)
    if mode == "hangup":
        try:
            conn.recv(1)
        finally:
            conn.close()
        return
    try:
        s = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        say("HSFAIL %s" % (getattr(e, "reason", None) or e))
        conn.close()
        return
    say("HANDSHAKE %s resumed=%d client=%s"
        % (s.version(), 1 if s.session_reused else 0, cn_of(s.getpeercert())))
    try:
        while True:
            data = s.recv(1 << 16)
            if not data:
                say("CLOSED notify")
                try:
                    s.unwrap()
                except (ssl.SSLError, OSError):
                    pass
                break
            say("RECV %d" % len(data))
            s.sendall(data)
            if mode == "drop":
                s.close()  # no SSL_shutdown: the peer sees EOF, no close_notify
                return
            if mode == "notify":
                try:
                    s.unwrap()
                except (ssl.SSLError, OSError):
                    pass
                break
    except ssl.SSLEOFError:
        say("CLOSED eof")
    except ssl.SSLError as e:
        say("ERROR %s" % (e.reason or e))
    except OSError as e:
        say("ERROR %s" % e)
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca", help="require a client certificate issued by this CA")
    ap.add_argument("--version", choices=["1.2", "1.3"])
    ap.add_argument("--mode", default="echo", choices=["echo", "hangup", "drop", "notify"])
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif a.version == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if a.client_ca:
        ctx.load_verify_locations(a.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED

    def on_sni(sslobj, name, c):
        say("SNI %s" % (name or "-"))

    ctx.sni_callback = on_sni

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    say("PORT %d" % ls.getsockname()[1])
    # Ends when the test closes our stdin.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    while True:
        try:
            conn, _ = ls.accept()
        except OSError:
            break
        threading.Thread(target=serve, args=(ctx, conn, a.mode), daemon=True).start()


if __name__ == "__main__":
    main()
