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
and the route's Env (dcgid creates the container with it) and
DCGI_PRELOAD=1, not yet the request's: a module may use the Env to get
ready (open the database connection it names), and must not look for the
request's variables.  What the imports write (an import that fails, a
warning) is held back and goes to stderr once the request has come, so
that it reaches the request's log line and not the response.

Wrong input is exit 125 with a line on stderr, as in dcgi-init; stdin
closed before a request is exit 0, nothing run.  Standard library only.
"""
import os
import sys

ENVBLOCK_MAX = 1 << 20          # as envblock.h


held = None     # fds 1 and 2 while held back (hold_output)


def die(why):
    if held is not None:
        release_output(held)
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


def hold_output():
    """Send fds 1 and 2 to a memory file while the modules are imported: a
    waiting container must not write (dcgid would take it for broken and
    make another), and what an import prints is no part of the response.
    Returns what release_output() needs."""
    mem = os.memfd_create("dcgi-preload", os.MFD_CLOEXEC)
    saved = (os.dup(1), os.dup(2))
    os.dup2(mem, 1)
    os.dup2(mem, 2)
    return mem, saved


def release_output(held):
    """The real fds 1 and 2 back; what the imports wrote goes to stderr,
    now part of the request's log."""
    mem, saved = held
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])
    os.lseek(mem, 0, os.SEEK_SET)
    while True:
        got = memoryview(os.read(mem, 65536))
        if not got:
            break
        while got:
            got = got[os.write(2, got):]
    os.close(mem)


def main():
    global held
    args = sys.argv[1:]
    modules = []
    while args and args[0] == "--import" and len(args) > 1:
        modules += [m for m in args[1].split(",") if m]
        args = args[2:]
    if not args or args[0] != "--" or len(args) < 2:
        die("usage: preload.py [--import MODULE,...] -- SCRIPT ARG...")
    args = args[1:]
    # The script's directory where python3 SCRIPT has it (first, unless the
    # interpreter is told not to): its own modules can be preloaded too.
    if (not getattr(sys.flags, "safe_path", False) and sys.path and
            sys.path[0] == os.path.dirname(os.path.abspath(__file__))):
        sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
    held = hold_output()
    os.environ["DCGI_PRELOAD"] = "1"
    for m in modules:
        try:
            __import__(m)
        except BaseException as e:      # the script says so when it needs it
            sys.stderr.write("dcgi-preload: import %s: %s\n" % (m, e))
    del os.environ["DCGI_PRELOAD"]
    head = readn(4, first=True)
    if head is None:
        os._exit(0)                     # closed unused: the container goes
    release_output(held)
    held = None
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
