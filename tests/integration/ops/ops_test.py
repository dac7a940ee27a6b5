#!/usr/bin/env python3
"""Operator commands against the real binary: `gpucloud server init`, /healthz and /readyz of a
running `gpucloud server`, and `gpucloud db backup` / `db restore` of a live SQLite database.

server init: passwords only from a file or the environment (no option takes one), idempotent
("nothing to change" on a second run), an existing password changes only with
--reset-passwords, client files at mode 0600, no password in any output. Backup: taken while the
server runs, mode 0600, restored into a new file and over the old one; a server on the restored
database has exactly the backed-up state, and a data folder the server makes is mode 0700. With GPUCLOUD_MARIADB_URL_FILE, init also runs on
MariaDB, and backup refuses it naming mariabackup without showing the password.
Usage: ops_test.py /path/to/gpucloud
"""
import atexit
import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

GPUCLOUD = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="gpucloud-ops-")
PROCS = []
SECRETS = ["Adm1n-first\"pw\\x", "Adm1n-second-pw", "agent-pw-123"]


@atexit.register
def _cleanup():
    for p, _ in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()


def fail(msg):
    print("FAIL:", msg)
    for p, log in PROCS:
        if p.poll() is None:
            p.kill()
        print("---- server output ----")
        print(open(log).read()[-3000:])
    sys.exit(1)


def run(args, env_extra=None, expect=0):
    env = os.environ.copy()
    env.pop("GPUCLOUD_ADMIN_PASSWORD", None)
    env.pop("GPUCLOUD_SERVICE_PASSWORD", None)
    env.update(env_extra or {})
    r = subprocess.run([GPUCLOUD, *args], capture_output=True, text=True, env=env, timeout=120)
    out = r.stdout + r.stderr
    for s in SECRETS:
        if s in out:
            fail(f"`gpucloud {' '.join(args[:2])}` printed a password")
    if expect is not None and r.returncode != expect:
        fail(f"gpucloud {' '.join(args)}: exit {r.returncode}, expected {expect}:\n{out}")
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def login(base, user, password, project):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    status, headers, _ = http(base, "POST", "/identity/v3/auth/tokens", body=body)
    return headers["X-Subject-Token"] if status == 201 else None


def start_server(db_url, data_dir=TMP):
    port = free_port()
    log = os.path.join(TMP, f"server-{port}.log")
    p = subprocess.Popen([GPUCLOUD, "server", "--database", db_url, "--port", str(port),
                          "--data-dir", data_dir, "--web-root", "none"],
                         stdout=open(log, "w"), stderr=subprocess.STDOUT)
    PROCS.append((p, log))
    deadline = time.time() + 20
    while "listening on" not in open(log).read():
        if time.time() > deadline or p.poll() is not None:
            fail("server did not start")
        time.sleep(0.1)
    return p, f"http://127.0.0.1:{port}"


def stop_server(p):
    p.terminate()
    p.wait(timeout=20)


# ---- server init ----
db_file = os.path.join(TMP, "gpucloud.sqlite")
db = "sqlite:///" + db_file
pw_file = os.path.join(TMP, "agent-password")
with open(pw_file, "w") as f:
    f.write(SECRETS[2] + "\n")
os.chmod(pw_file, 0o600)

out = run(["server", "init", "--database", db], expect=1)
if "GPUCLOUD_ADMIN_PASSWORD" not in out:
    fail("init without a password should say where one comes from:\n" + out)
r = subprocess.run([GPUCLOUD, "server", "init", "--database", db, "--admin-password", "x"],
                   capture_output=True, text=True, timeout=60)
if r.returncode == 0 or "--admin-password" not in r.stdout + r.stderr:
    fail("there must be no --admin-password option:\n" + r.stdout + r.stderr)

client_dir = os.path.join(TMP, "client")
os.mkdir(client_dir)
admin_env = {"GPUCLOUD_ADMIN_PASSWORD": SECRETS[0]}
out = run(["server", "init", "--database", db, "--service-password-file", pw_file,
           "--write-client-files", client_dir, "--auth-url", "http://127.0.0.1:1/identity/v3"],
          admin_env)
for want in ["user admin: created", "user gpucloud-agent: created",
             "role service of gpucloud-agent on service: granted", "init: done"]:
    if want not in out:
        fail(f"init output lacks '{want}':\n{out}")
for name in ("openrc", "clouds.yaml"):
    path = os.path.join(client_dir, name)
    if stat.S_IMODE(os.stat(path).st_mode) != 0o600:
        fail(f"{name} is not mode 0600")
# The password, quotes and backslash included, comes back out of clouds.yaml as it went in.
yaml_text = open(os.path.join(client_dir, "clouds.yaml")).read()
line = [l for l in yaml_text.splitlines() if "password:" in l][0]
if json.loads(line.split("password:", 1)[1].strip()) != SECRETS[0]:
    fail("clouds.yaml does not hold the password as given")

out = run(["server", "init", "--database", db, "--service-password-file", pw_file], admin_env)
if "nothing to change" not in out or "password matches" not in out:
    fail("a second init should change nothing:\n" + out)
out = run(["server", "init", "--database", db],
          {"GPUCLOUD_ADMIN_PASSWORD": SECRETS[1]})
if "left unchanged" not in out or "nothing to change" not in out:
    fail("another password without --reset-passwords must change nothing:\n" + out)
run(["server", "init", "--database", db, "--write-client-files", client_dir],
    {"GPUCLOUD_ADMIN_PASSWORD": SECRETS[1]}, expect=1)

# ---- the server: health endpoints, logins ----
server, base = start_server(db)
status, _, body = http(base, "GET", "/healthz")
if status != 200 or json.loads(body)["status"] != "ok":
    fail(f"/healthz: {status} {body}")
status, _, body = http(base, "GET", "/readyz")
ready = json.loads(body)
if status != 200 or ready["checks"]["database"] != "ok" or ready["checks"]["schema"] != "ok":
    fail(f"/readyz: {status} {body}")
if TMP in body or "sqlite" in body:
    fail("/readyz shows where the database is: " + body)
# A schema newer than this binary (a replica left behind by a rolling upgrade): 503, "ahead";
# ready again once it is not.
con = sqlite3.connect(db_file)
con.execute("INSERT INTO schema_version (version, description, applied_at) "
            "VALUES (999, 'from a newer gpucloud', '2026-12-03T00:00:00Z')")
con.commit()
status, _, body = http(base, "GET", "/readyz")
if status != 503 or json.loads(body)["checks"] != {"database": "ok", "schema": "ahead",
                                                   "conductor": "ok"}:
    fail(f"/readyz with a newer schema: {status} {body}")
con.execute("DELETE FROM schema_version WHERE version = 999")
con.commit()
con.close()
if http(base, "GET", "/readyz")[0] != 200:
    fail("/readyz stays 503 once the schema is current again")
if not login(base, "admin", SECRETS[0], "admin"):
    fail("admin cannot log in with the first password")
agent = login(base, "gpucloud-agent", SECRETS[2], "service")
if not agent:
    fail("the agents' service user cannot log in")
if http(base, "GET", "/compute/v2.1/servers", agent)[0] != 403:
    fail("the service user may list servers")

run(["server", "init", "--database", db, "--reset-passwords"],
    {"GPUCLOUD_ADMIN_PASSWORD": SECRETS[1]})
if login(base, "admin", SECRETS[0], "admin") or not login(base, "admin", SECRETS[1], "admin"):
    fail("--reset-passwords did not replace the admin password")
admin = login(base, "admin", SECRETS[1], "admin")

# ---- backup of the live database, then a change that the backup must not have ----
backup = os.path.join(TMP, "backup.sqlite")
out = run(["db", "backup", "--database", db, "--to", backup])
if stat.S_IMODE(os.stat(backup).st_mode) != 0o600:
    fail("the backup is not mode 0600")
if os.path.exists(backup + "-wal") or os.path.exists(backup + ".partial"):
    fail("the backup is not one self-contained file")
status, _, _ = http(base, "POST", "/identity/v3/projects", admin,
                    {"project": {"name": "after-backup", "domain_id": "default"}})
if status != 201:
    fail(f"creating a project: {status}")
stop_server(server)

restored = "sqlite:///" + os.path.join(TMP, "restored.sqlite")
run(["db", "restore", "--from", backup, "--database", restored])
run(["db", "restore", "--from", backup, "--database", db])
for url in (restored, db):
    # The restored database's server makes its data folder: the owner's alone (0700).
    data_dir = os.path.join(TMP, "new-data-dir") if url == restored else TMP
    server, base = start_server(url, data_dir)
    if url == restored and stat.S_IMODE(os.stat(data_dir).st_mode) != 0o700:
        fail(f"the server made its data folder mode {oct(stat.S_IMODE(os.stat(data_dir).st_mode))}, "
             "not 0700")
    admin = login(base, "admin", SECRETS[1], "admin")
    if not admin:
        fail(f"no admin login on the restored {url}")
    _, _, body = http(base, "GET", "/identity/v3/projects", admin)
    names = {p["name"] for p in json.loads(body)["projects"]}
    if "after-backup" in names or "service" not in names:
        fail(f"restored projects are {sorted(names)}")
    stop_server(server)
not_a_backup = os.path.join(TMP, "not-a-backup")
with open(not_a_backup, "w") as f:
    f.write("hello")
run(["db", "restore", "--from", not_a_backup, "--database", restored], expect=1)

# ---- MariaDB: init there too; backup names mariabackup ----
url_file = os.environ.get("GPUCLOUD_MARIADB_URL_FILE")
if url_file and os.path.exists(url_file):
    base_url = open(url_file).read().strip()
    u = urllib.parse.urlparse(base_url)
    name = f"gpucloud_ops_{os.getpid()}"
    client = ["mariadb", "--no-defaults", "-h", u.hostname, "-P", str(u.port), "-u", u.username]
    env = dict(os.environ, MYSQL_PWD=urllib.parse.unquote(u.password))
    subprocess.run(client + ["-e", f"CREATE DATABASE {name}"], env=env, check=True)
    try:
        my = base_url.rstrip("/") + "/" + name
        out = run(["server", "init", "--database", my, "--no-service-user"], admin_env)
        if "user admin: created" not in out or "schema: created" not in out:
            fail("init on MariaDB:\n" + out)
        out = run(["server", "init", "--database", my, "--no-service-user"], admin_env)
        if "nothing to change" not in out:
            fail("second init on MariaDB:\n" + out)
        out = run(["db", "backup", "--database", my, "--to", os.path.join(TMP, "x")], expect=1)
        if "mariabackup" not in out or u.password in out:
            fail("db backup of MariaDB:\n" + out)
    finally:
        subprocess.run(client + ["-e", f"DROP DATABASE {name}"], env=env)

shutil.rmtree(TMP)
print("ops test passed")
