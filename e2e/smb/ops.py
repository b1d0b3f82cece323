# SMB opens for exactly one access right each, through Samba's own client library
# (python3-samba): e2e/smb_test.go's smbOps. Usage: ops.py HOST SHARE USER PASSWORD, then one
# "<op> <file>" per line on stdin, op one of read, write, exec, delete, writedac. Prints "ok",
# "denied" or "error <status> <message>" per line.
import sys

from samba import NTSTATUSError, credentials
from samba.samba3 import libsmb_samba_internal as libsmb
from samba.samba3 import param as s3param

ACCESS = {"read": 0x1, "write": 0x2, "exec": 0x20, "delete": 0x10000, "writedac": 0x40000}
SYNCHRONIZE, SHARE_ALL, FILE_OPEN, ACCESS_DENIED = 0x100000, 0x7, 1, 0xC0000022

host, share, user, password = sys.argv[1:5]
lp = s3param.get_context()
lp.load_default()
creds = credentials.Credentials()
creds.guess(lp)
creds.set_username(user)
creds.set_password(password)
try:
    conn = libsmb.Conn(host, share, lp, creds)
except NTSTATUSError as e:
    if e.args[0] != ACCESS_DENIED:
        raise
    conn = None  # the share refuses the connection: every open is denied
for line in sys.stdin:
    if not line.strip():
        continue
    if conn is None:
        print("denied")
        continue
    op, name = line.split(None, 1)
    name = name.strip()
    try:
        f = conn.create(name, DesiredAccess=ACCESS[op] | SYNCHRONIZE, ShareAccess=SHARE_ALL, CreateDisposition=FILE_OPEN)
        if op == "read":
            conn.read(f, 0, 16)
        elif op == "write":
            conn.write(f, b"x", 0)
        conn.close(f)
        print("ok")
    except NTSTATUSError as e:
        print("denied" if e.args[0] == ACCESS_DENIED else "error %#x %s" % (e.args[0], e.args[1]))
    sys.stdout.flush()
