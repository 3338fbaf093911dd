"""What every command's refusal looks like, checked alike in every test of the CLI."""


def refused(result, *words):
    """Exit code 2, one `cfsnn: error:` line on stderr naming every word, nothing on stdout."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("cfsnn: error: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""
    return lines[0]
