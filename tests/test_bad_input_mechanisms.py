"""Bad input closed at its mechanism (issue 23): one rule per mechanism, one representative case each.

- a non-finite number in any numeric parameter (site, study sections, models' parameter classes);
- a JSON input whose top level is not an object;
- one set of size bounds for site files, study files, network attachments and sizing;
- sweep values validated like the study file's own fields before anything runs, and a sweep in
  which every scenario ends in an error does not exit 0.

Each case runs the command line in-process and asserts the exit code, that the message names the
field and the value, that no traceback is printed and that nothing is written.
"""

from __future__ import annotations

import pytest
from test_bad_input import assert_refused, run_cli

# -- a JSON input whose top level is not an object ------------------------------------------------


@pytest.mark.parametrize("content, kind", [("[1, 2]", "an array"), ('"net"', "a string"), ("3", "a number"),
                                           ("{}", "dict, not a net")])
def test_network_json_that_is_not_a_net_object(tmp_path, capsys, content, kind):
    net = tmp_path / "net.json"
    net.write_text(content)
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", net, "--poi", "0", "--campus-mw", "10", "--json", out / "check.json")
    assert_refused(code, text, out, "network:", kind, "pandapower net", repr(str(net)))


def test_network_json_named_by_a_site_file_is_checked_alike(tmp_path, capsys):
    (tmp_path / "net.json").write_text("[]")
    site = tmp_path / "site.toml"
    site.write_text('name = "s"\npoi = 0\n[network]\npath = "net.json"\n'
                    '[campus]\n[[campus.halls]]\nname = "h"\nbus = "0"\np_mw = 10.0\n')
    out = tmp_path / "out"
    code, text = run_cli(capsys, "check", site, "--json", out / "check.json")
    assert_refused(code, text, out, "an array", "pandapower net", "net.json")
