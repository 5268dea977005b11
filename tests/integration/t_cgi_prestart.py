#!/usr/bin/env python3
"""t_cgi.py again, with `Prestart 2` in every <Route> (DCGI_TEST_PRESTART):
each request takes a prestarted container through dcgi-init, and every
check of the container routes must hold as it does on the cold path."""

import os
import runpy

os.environ["DCGI_TEST_PRESTART"] = "2"
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "t_cgi.py"),
               run_name="__main__")
