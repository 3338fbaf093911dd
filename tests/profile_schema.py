"""The JSON schema of `cfsnn profile-spikes --json`, as docs/profiling.md publishes it: its one copy."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def documented_schema() -> dict:
    """The first ```json block after "## JSON schema" in docs/profiling.md."""
    text = (ROOT / "docs" / "profiling.md").read_text()
    section = text.split("\n## JSON schema\n", 1)[1]
    return json.loads(re.search(r"```json\n(.*?)```", section, flags=re.S).group(1))
