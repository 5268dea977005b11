"""dcgi-preload: a Python function's interpreter, started before its request.

With `Preload python MODULE...` in a route, dcgi-init (httpd/init/dcgi-init.c)
starts this at once, as its child, in every container of the route:

    python3 /.dcgi/preload.py --import MODULE,... -- SCRIPT ARG...

It imports the modules while the container waits (a prestarted one: before
the request exists), then reads the request's environment from stdin as
dcgi-init would (httpd/envblock.h: 4 bytes of length, big-endian, then
NAME=value strings each ended by a NUL), sets it over the environment the
engine gave, and runs SCRIPT as `python3 SCRIPT ARG...` would (as
__main__, sys.argv and sys.path[0] as then), with the body still unread on
stdin.  What the interpreter's start and the imports cost is off the
request's time.  When they are imported the environment is the image's
and the route's Env (dcgid creates the container with it), not yet the
request's: a module may use the Env to get ready (open the database
connection it names), and must not look for the request's variables.

Wrong input is exit 125 with a line on stderr, as in dcgi-init; stdin
closed before a request is exit 0, nothing run.  Standard library only.
"""
import os
import sys

ENVBLOCK_MAX = 1 << 20          # as envblock.h


def die(why):
    sys.stderr.write("dcgi-preload: %s\n" % why)
    sys.stderr.flush()
    os._exit(125)


def readn(n, first=False):
    """Exactly n bytes of fd 0, unbuffered (the body stays for the script);
    None on EOF before the first byte of a request."""
    out = b""
    while len(out) < n:
        got = os.read(0, n - len(out))
        if not got:
            if first and not out:
                return None
            die("the request ended early")
        out += got
    return out


def main():
    args = sys.argv[1:]
    modules = []
    while args and args[0] == "--import" and len(args) > 1:
        modules += [m for m in args[1].split(",") if m]
        args = args[2:]
    if not args or args[0] != "--" or len(args) < 2:
        die("usage: preload.py [--import MODULE,...] -- SCRIPT ARG...")
    args = args[1:]
    # The script's directory first, as python3 SCRIPT has it: its own
    # modules can be preloaded too.
    sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
    for m in modules:
        try:
            __import__(m)
        except Exception as e:          # the script says so when it needs it
            sys.stderr.write("dcgi-preload: import %s: %s\n" % (m, e))
    head = readn(4, first=True)
    if head is None:
        os._exit(0)                     # closed unused: the container goes
    n = int.from_bytes(head, "big")
    if n > ENVBLOCK_MAX:
        die("environment too large")
    block = readn(n) if n else b""
    if block and not block.endswith(b"\0"):
        die("an entry without its NUL")
    for entry in block.split(b"\0")[:-1] if block else []:
        name, eq, value = entry.partition(b"=")
        if not eq or not name:
            die("an entry without a name or '='")
        os.environb[name] = value
    script = args[0]
    sys.argv = args
    import runpy
    runpy.run_path(script, run_name="__main__")


main()
