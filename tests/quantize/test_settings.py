"""Quantize settings are checked before any work: each refused in one line naming what is wrong."""

from __future__ import annotations

import pytest

from poseforge.errors import PoseforgeError
from poseforge.quantize.settings import QuantizeSettings, check_choices


def test_an_ignored_scope_pattern_that_is_not_a_regular_expression_is_refused() -> None:
    """It reached NNCF, whose re.error said "quantize: error: missing ), unterminated subpattern at position 0"."""
    with pytest.raises(PoseforgeError, match=r"ignored scope 'pattern:\(': not a regular expression \(missing \)"):
        check_choices(QuantizeSettings(ignored_scope=("pattern:(",)))
    check_choices(QuantizeSettings(ignored_scope=("pattern:.*heatmaps.*", "name:conv1", "type:Concat")))
