import logging

import pytest

from voice_sidecar.redaction import MASK, RedactingFilter, Redactor

SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"calling with {SECRET} now", f"calling with {MASK} now"),
        ("Authorization: Bearer abc.def.ghi", f"Authorization: Bearer {MASK}"),
        ('{"api_key": "whatever-123"}', f'{{"api_key": "{MASK}"}}'),
        ("url?api-key=zzz&x=1", f"url?api-key={MASK}&x=1"),
        ("password=hunter22", f"password={MASK}"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    assert redactor.redact(text) == expected


def test_short_values_are_not_treated_as_secrets() -> None:
    redactor = Redactor()
    redactor.add("abc")
    redactor.add(None)
    assert redactor.redact("abc abc") == "abc abc"


def test_log_records_args_and_tracebacks_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    logger = logging.getLogger("voice_sidecar.test_redaction")
    caplog.handler.addFilter(RedactingFilter(redactor))
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("key is %s", SECRET)
        try:
            raise RuntimeError(f"failed with {SECRET}")
        except RuntimeError:
            logger.exception("boom")
    assert SECRET not in caplog.text
    assert MASK in caplog.text
    assert "RuntimeError" in caplog.text
