"""A real, throwaway PostgreSQL server for tests: Debian's binaries, a temporary directory, a loopback port.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the ``postgres``
user (or ``nobody``) created by Debian's package. Password authentication is on for TCP, so a test
can try bad credentials against it. SSL is on, with a self-signed certificate made by ``openssl`` for
127.0.0.1 (``server.ssl_root`` is that certificate: a client's ``sslrootcert``); clients choose with
``sslmode`` (libpq's default, ``prefer``, uses it). The server is a direct child started with
PR_SET_PDEATHSIG: if the test process is killed without cleaning up, the server shuts itself down.

    with PostgresServer() as pg:
        uri = pg.create_database("t1")      # postgresql://autosearch:...@127.0.0.1:<port>/t1
        pg.uri("t1", sslmode="verify-full")  # ...?sslmode=verify-full&sslrootcert=<pg.ssl_root>
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER, PASSWORD = "autosearch", "autosearch-test"


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<v>/bin), or PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("postgres")
    return Path(which).resolve().parent if which else None


def require_postgres() -> Path:
    """The bin directory of an installed PostgreSQL for a test; skips without it (or psycopg), or fails where
    the components are required (tests/required_services.py)."""
    from required_services import unavailable

    try:
        from autosearch.tracking.sqlpostgres import import_psycopg

        import_psycopg()  # deep-bound, as autosearch loads it (TensorFlow may be loaded already)
    except ImportError:
        unavailable("psycopg is not installed", "pip install 'psycopg[binary]' (make install does)")
    found = find_bin_dir()
    if found is None:
        unavailable("PostgreSQL is not installed", "apt-get install postgresql, or 'make install' as root")
    return found


def _die_with_parent() -> None:
    """In the server child, after the uid switch: a fast shutdown (SIGINT) when the parent dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """Start ``postgres`` on 127.0.0.1 in a temporary directory; stop it and remove the directory on exit."""

    def __init__(self, bin_dir: Path | None = None, start_timeout: float = 30.0):
        self.bin_dir = bin_dir or find_bin_dir()
        if self.bin_dir is None:
            raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql, or make install as root)")
        self.start_timeout = start_timeout
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._user: dict = {}
        self._n = 0
        self._databases: set[str] = set()
        self._admin: dict = {}
        self.ssl_root: Path | None = None  # the server's self-signed certificate, once started

    # -- life cycle --------------------------------------------------------
    def __enter__(self) -> "PostgresServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_as(self) -> dict:
        if os.geteuid() != 0:
            return {}
        for name in ("postgres", "nobody"):
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                continue
            return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        raise PermissionError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")

    def start(self) -> None:
        self._user = self._run_as()
        self.dir = Path(tempfile.mkdtemp(prefix="autosearch-pg-"))
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        cert, key = self._certificate()
        if self._user:
            for p in (self.dir, pwfile, cert, key):
                os.chown(p, self._user["user"], self._user["group"])
        subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.dir / "data"), "-U", USER, f"--pwfile={pwfile}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
             "--no-instructions"],
            check=True, capture_output=True, cwd=self.dir, env=_env(), **self._user)
        last_error = ""
        for _ in range(3):  # another process may take the free port before the server binds it
            self.port = _free_port()
            self.proc = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.dir / "data"), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=60", "-c", "shared_buffers=32MB",
                 "-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.dir / "server.log", "ab"),
                cwd=self.dir, env=_env(), preexec_fn=_die_with_parent, process_group=0, **self._user)
            if self._wait_ready():
                return
            last_error = (self.dir / "server.log").read_text(errors="replace")[-2000:]
            self._kill()
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")

    def _certificate(self) -> tuple[Path, Path]:
        """A self-signed certificate for 127.0.0.1 and its owner-only key (PostgreSQL refuses a readable key)."""
        cert, key = self.dir / "server.crt", self.dir / "server.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        key.chmod(0o600)
        self.ssl_root = self.dir / "root.crt"  # a copy the test process reads (the server owns the original)
        shutil.copyfile(cert, self.ssl_root)
        return cert, key

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    try:
                        self.psql("SELECT 1")
                        return True
                    except Exception:  # noqa: BLE001 - not accepting connections yet
                        self._admin.clear()
            time.sleep(0.05)
        return False

    def _kill(self) -> None:
        # fast shutdown (roll back, disconnect clients), then immediate, then SIGKILL
        for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            if self.proc is None or self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        self.proc = None

    def stop(self) -> None:
        for conn in self._admin.values():
            conn.close()
        self._admin.clear()
        self._kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- helpers -----------------------------------------------------------
    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one statement as the superuser (through psycopg when installed, else psql); returns its output."""
        try:
            from autosearch.tracking.sqlpostgres import import_psycopg

            psycopg = import_psycopg()
        except ImportError:
            psycopg = None
        if psycopg is not None and self.port:
            if database not in self._admin:
                self._admin[database] = psycopg.connect(self.uri(database), autocommit=True)
            cur = self._admin[database].execute(sql)
            return "\n".join("|".join(map(str, row)) for row in cur.fetchall()) if cur.description else ""
        psql = self.bin_dir / "psql"
        res = subprocess.run([str(psql), "-h", str(self.dir), "-p", str(self.port), "-U", USER, "-d", database,
                              "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             check=True, capture_output=True, text=True, env=_env(), **self._user)
        return res.stdout.strip()

    def uri(self, database: str, *, password: str | None = PASSWORD, user: str = USER,
            sslmode: str | None = None, sslrootcert: Path | None = None) -> str:
        """The URI of ``database``; with ``sslmode``, its ``sslrootcert`` too (the server's own by default)."""
        auth = f"{user}:{password}" if password is not None else user
        uri = f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"
        if sslmode:
            uri += f"?sslmode={sslmode}&sslrootcert={sslrootcert or self.ssl_root}"
        return uri

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (about 0.4 s); returns its URI (with the password)."""
        if name is None:
            self._n += 1
            name = f"t{self._n}_{os.getpid()}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def create_schema(self, database: str = "scratch") -> str:
        """A new empty schema in ``database`` (created once), as a URI whose search_path is that schema:
        an empty namespace in a millisecond, where a new database takes 0.4 s."""
        if database not in self._databases:
            self.psql(f'CREATE DATABASE "{database}"')
            self._databases.add(database)
        self._n += 1
        schema = f"s{self._n}"
        self.psql(f'CREATE SCHEMA "{schema}"', database)
        return f"{self.uri(database)}?options=-csearch_path%3D{schema}"
