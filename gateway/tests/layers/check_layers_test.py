#!/usr/bin/env python3
"""Tests of check_layers.py on small made-up source trees."""

import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_layers

LAYERS = (("common",), ("transport", "stats"), ("proxy",), ("main",))


def write_tree(root, files):
    for name, text in files.items():
        path = pathlib.Path(root, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


class CheckLayersTest(unittest.TestCase):
    def check(self, files):
        with tempfile.TemporaryDirectory() as root:
            write_tree(root, files)
            return check_layers.check(root, LAYERS)

    def test_includes_down_the_layers_pass(self):
        self.assertEqual(
            self.check(
                {
                    "common/log.h": "",
                    "transport/socket.h": (
                        '#include "common/log.h"\n#include "absl/strings/str_cat.h"\n'
                    ),
                    "stats/stats.h": '#include "transport/socket.h"\n',
                    "proxy/call.cc": '#include "proxy/call.h"\n#include "transport/socket.h"\n',
                    "proxy/call.h": '#include "polymesh/gateway/v1/config.pb.h"\n',
                    "main.cc": '#include "proxy/call.h"\n',
                }
            ),
            [],
        )

    def test_an_include_back_up_fails(self):
        problems = self.check(
            {
                "transport/socket.cc": '#include "proxy/call.h"\n',
                "proxy/call.h": "",
            }
        )
        self.assertEqual(len(problems), 1)
        self.assertIn("transport -> proxy runs back up", problems[0])
        self.assertIn("transport/socket.cc: proxy/call.h", problems[0])

    def test_a_circle_beside_fails(self):
        problems = self.check(
            {
                "transport/socket.h": '#include "stats/stats.h"\n',
                "stats/stats.cc": '#include "transport/socket.h"\n',
            }
        )
        self.assertEqual(problems, ["folders in a circle: stats -> transport -> stats"])

    def test_an_upward_include_and_a_circle_both_fail(self):
        problems = self.check(
            {
                "common/log.cc": '#include "proxy/call.h"\n',
                "proxy/call.cc": '#include "common/log.h"\n',
            }
        )
        self.assertTrue(any("common -> proxy runs back up" in p for p in problems), problems)
        self.assertTrue(
            any(p.startswith("folders in a circle: common -> proxy") for p in problems), problems
        )

    def test_a_folder_in_no_layer_fails(self):
        problems = self.check({"helpers/x.h": "", "proxy/call.cc": '#include "helpers/x.h"\n'})
        self.assertEqual(problems, ["helpers/: in no layer (declare it in LAYERS)"])

    def test_top_level_files_are_main(self):
        problems = self.check({"main.cc": "", "proxy/call.cc": '#include "main.h"\n'})
        self.assertEqual(problems, [])  # "main.h" names no folder

    def test_the_client_includes_only_what_it_links(self):
        with tempfile.TemporaryDirectory() as root:
            write_tree(
                root,
                {
                    "src/transport/socket.h": "",
                    "src/proxy/call.h": "",
                    "cli/load.cc": '#include "transport/socket.h"\n#include "load.h"\n',
                    "cli/call.cc": '#include "proxy/call.h"\n',
                },
            )
            problems = check_layers.check_client(
                pathlib.Path(root, "cli"), pathlib.Path(root, "src"), ("transport",)
            )
        self.assertEqual(problems, ["call.cc: proxy/call.h: the client links only transport"])

    def test_the_gateway_keeps_its_order(self):
        src = pathlib.Path(__file__).resolve().parents[2] / "src"
        self.assertEqual(check_layers.check(src), [])

    def test_the_command_line_client_includes_only_what_it_links(self):
        root = pathlib.Path(__file__).resolve().parents[3]
        self.assertEqual(
            check_layers.check_client(root / "clients/cpp/src", root / "gateway/src"), []
        )


if __name__ == "__main__":
    unittest.main()
