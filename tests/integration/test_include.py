#!/usr/bin/env python3
"""include = [ "sites/*.conf" ]: servers and upstreams from the files a
glob names, merged after the main file's in the order of their names;
errors at the included file's FILE:LINE; sites added and removed by a
reload; herd -T shows the merged lists."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

QUICK = 10 * herdtest.SLOW

MAIN = herdtest.top(2) + """include = [ "sites/*.conf" ];
upstreams = ( { name = "main_up"; servers = ( { address = "127.0.0.1:$port_closed"; } ); } );
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = ( { path = "/"; return = { body = "main\\n"; }; },
               { path = "/to-b-up"; proxy = { upstream = "b_up"; connect_timeout = "2s"; }; } );
  }
);
"""

# Without the route that needs b.conf's upstream.
MAIN_PLAIN = MAIN.replace(
    """,
               { path = "/to-b-up"; proxy = { upstream = "b_up"; connect_timeout = "2s"; }; } );""",
    " );")
assert MAIN_PLAIN != MAIN

# Two files sharing an address: a.conf sorts first, so its server is the
# default one of the address; b.conf's is reached by its name. b.conf also
# defines an upstream the main file's route uses.
SITE_A = """servers = (
  { listen = [ "127.0.0.1:$port_shared" ];
    server_names = [ "a.test" ];
    routes = ( { path = "/"; return = { body = "site a\\n"; }; } );
  }
);
"""
SITE_B = """upstreams = ( { name = "b_up"; servers = ( { address = "127.0.0.1:$port_closed"; } ); } );
servers = (
  { listen = [ "127.0.0.1:$port_shared" ];
    server_names = [ "b.test" ];
    routes = ( { path = "/"; return = { body = "site b\\n"; }; } );
  }
);
"""
SITE_C = """servers = (
  { listen = [ "127.0.0.1:$port_c" ];
    routes = ( { path = "/"; return = { body = "site c\\n"; }; } );
  }
);
"""


def body(port, host="x"):
    status, _, data = herdtest.get(port, "/", headers={"Host": host, "Connection": "close"})
    return status, data


class IncludeBase(HerdTestCase):

    def make(self, sites, start=True, main=MAIN):
        h = self.herd(None, start=False)
        os.mkdir(os.path.join(h.dir, "sites"))
        for name, text in sites.items():
            self.site(h, name, text)
        h.rewrite_config(main)
        h.wait_ports = [h.port()]       # port_closed never listens
        if start:
            h.start()
        return h

    def site(self, h, name, text):
        return h.write_file(os.path.join("sites", name), h.render(text))

    def check(self, h):
        return h.run("-t", "-c", h.conf, timeout=QUICK)


class IncludeServeTest(IncludeBase):

    def test_sites_served_in_name_order(self):
        h = self.make({"b.conf": SITE_B, "a.conf": SITE_A})
        shared = h.port("shared")
        herdtest.wait_for(lambda: herdtest.can_connect(shared), QUICK, what="the included site")
        self.assertEqual(body(h.port()), (200, b"main\n"))
        self.assertEqual(body(shared, "b.test"), (200, b"site b\n"))
        self.assertEqual(body(shared, "a.test"), (200, b"site a\n"))
        # An unknown name goes to the address's first server: a.conf's.
        self.assertEqual(body(shared, "other.test"), (200, b"site a\n"))

    def test_upstream_from_an_included_file(self):
        h = self.make({"b.conf": SITE_B, "a.conf": SITE_A})
        # b_up's only server is a closed port: 502 shows the route found it.
        status, _, _ = herdtest.get(h.port(), "/to-b-up", headers={"Connection": "close"})
        self.assertEqual(status, 502)
        os.unlink(os.path.join(h.dir, "sites", "b.conf"))
        rc, _, err = self.check(h)
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:" % h.conf, err)
        self.assertIn("b_up", err)

    def test_print_shows_merged_lists_and_reads_back(self):
        h = self.make({"b.conf": SITE_B, "a.conf": SITE_A}, start=False)
        rc, out, err = h.run("-T", "-c", h.conf, timeout=QUICK)
        self.assertEqual(rc, 0, err)
        self.assertLess(out.index('"a.test"'), out.index('"b.test"'))
        self.assertIn('name = "b_up"', out)
        self.assertIn('# include = [ "sites/*.conf" ];', out)
        printed = h.write_file("printed.conf", out)
        rc, out2, err = h.run("-T", "-c", printed, timeout=QUICK)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out2.split("\n")[1:],
                         [x for x in out.split("\n")[1:] if not x.startswith("# include")])

    def test_empty_glob_is_fine(self):
        h = self.make({}, main=MAIN_PLAIN)
        self.assertEqual(body(h.port()), (200, b"main\n"))

    def test_sites_added_and_removed_by_reload(self):
        h = self.make({"a.conf": SITE_A, "b.conf": SITE_B})
        port_c = h.port("c")
        self.assertFalse(herdtest.can_connect(port_c))
        self.site(h, "c.conf", SITE_C)
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, out + err)
        herdtest.wait_for(lambda: herdtest.can_connect(port_c), QUICK, what="site c after reload")
        self.assertEqual(body(port_c), (200, b"site c\n"))
        # A broken site refuses the reload: the old generation serves on.
        self.site(h, "d.conf", "servers = ( { listen = [ \"127.0.0.1:1\" ] ")
        rc, out, err = h.reload_via_cli()
        self.assertNotEqual(rc, 0)
        self.assertIn(os.path.join(h.dir, "sites", "d.conf") + ":1: syntax error", out + err)
        self.assertEqual(body(port_c), (200, b"site c\n"))
        os.unlink(os.path.join(h.dir, "sites", "d.conf"))
        os.unlink(os.path.join(h.dir, "sites", "c.conf"))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, out + err)
        herdtest.wait_for(lambda: not herdtest.can_connect(port_c), QUICK,
                          what="site c gone after reload")
        self.assertEqual(body(h.port()), (200, b"main\n"))


class IncludeErrorTest(IncludeBase):

    def assert_refused(self, h, where, text):
        rc, _, err = self.check(h)
        self.assertEqual(rc, 1, err)
        self.assertIn("%s: %s" % (where, text), err)

    def test_other_keys_refused_at_their_line(self):
        h = self.make({"a.conf": SITE_A + "workers = 4;\n"}, start=False)
        self.assert_refused(h, os.path.join(h.dir, "sites", "a.conf") + ":7",
                            "'workers' cannot be set in an included file")

    def test_error_inside_included_server(self):
        h = self.make({"a.conf": SITE_A.replace('path = "/";', 'path = "x";')}, start=False)
        self.assert_refused(h, os.path.join(h.dir, "sites", "a.conf") + ":4",
                            "route path 'x' must start with '/'")

    def test_conflict_names_the_other_file(self):
        h = self.make({"a.conf": SITE_A, "b.conf": SITE_A}, start=False, main=MAIN_PLAIN)
        self.assert_refused(h, os.path.join(h.dir, "sites", "b.conf") + ":2",
                            "server name 'a.test' on 127.0.0.1:%d is already used by the "
                            "server at %s:2" % (h.port("shared"),
                                                os.path.join(h.dir, "sites", "a.conf")))

    def test_duplicate_upstream_across_files(self):
        h = self.make({"b.conf": SITE_B.replace("b_up", "main_up")}, start=False)
        self.assert_refused(h, os.path.join(h.dir, "sites", "b.conf") + ":1",
                            "duplicate upstream 'main_up' (first at %s:6)" % h.conf)

    def test_directory_and_missing_file(self):
        h = self.make({"a.conf": SITE_A}, start=False)
        os.mkdir(os.path.join(h.dir, "sites", "z.conf"))
        self.assert_refused(h, h.conf + ":5", "include %s: Is a directory"
                            % os.path.join(h.dir, "sites", "z.conf"))
        os.rmdir(os.path.join(h.dir, "sites", "z.conf"))
        h.rewrite_config(MAIN.replace("sites/*.conf", "sites/none.conf"))
        self.assert_refused(h, h.conf + ":5", 'include "%s": No such file or directory'
                            % os.path.join(h.dir, "sites", "none.conf"))

    def test_same_file_twice(self):
        h = self.make({"a.conf": SITE_A}, start=False)
        h.rewrite_config(MAIN.replace('"sites/*.conf"', '"sites/*.conf", "sites/a.conf"'))
        self.assert_refused(h, h.conf + ":5", "include %s: the file is included twice"
                            % os.path.join(h.dir, "sites", "a.conf"))


if __name__ == "__main__":
    herdtest.main()
