"""Validated detectors: what they accept, what they refuse, how they mask."""

import pytest

from dlp.engine import scan_text
from dlp.findings import TextUnit
from dlp.rules import Rule


def found(detector, text, **rule):
    verdict = scan_text([Rule("r", "detector", detector=detector, **rule)], [TextUnit("body text/plain", text)])
    return [e.masked for hit in verdict.hits for e in hit.evidence]


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("4111111111111111", "4111 **** **** 1111"),  # Visa
        ("4222222222222", "4222 **** * 2222"),  # Visa, 13 digits
        ("5555555555554444", "5555 **** **** 4444"),  # Mastercard
        ("2223003122003222", "2223 **** **** 3222"),  # Mastercard 2-series
        ("378282246310005", "3782 **** *** 0005"),  # American Express
        ("6011111111111117", "6011 **** **** 1117"),  # Discover
        ("3530111333300000", "3530 **** **** 0000"),  # JCB
        ("30569309025904", "3056 **** ** 5904"),  # Diners Club
        ("6200000000000005", "6200 **** **** 0005"),  # UnionPay
        ("6759649826438453", "6759 **** **** 8453"),  # Maestro
    ],
)
def test_card_brands_are_found_and_masked(number, masked):
    assert found("credit_card", f"Please charge {number} today.") == [masked]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1111 exp 12/27",
        "card 4111-1111-1111-1111.",
        "card 4111.1111.1111.1111",
        "card: 4111111111111111 123",  # CVV right after the number
        "Amex 3782 822463 10005 please",
        "ref 12 4111 1111 1111 1111",
        "card \uff14\uff11\uff11\uff11 1111 1111 1111",  # fullwidth digits
        "card 4111\u200b1111\u200b1111\u200b1111",  # zero-width spaces between groups
    ],
)
def test_cards_with_separators_count(text):
    assert len(found("credit_card", text)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "Number 4111111111111112 fails the Luhn check",
        "Order 1234567890123456 shipped",
        "Order number 2024-0501-7788-1234",
        "Timestamp 20240501123456 and epoch 1714567890123",
        "ISBN 978-3-16-148410-0 and 9783161484100",
        "Call +31 20 123 4567 or +1 (555) 123-4567 or 0049 30 12345678",
        "Tracking 1Z999AA10123456784",
        "Version 4.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1",  # single digits are not card groups
        "Card numbers in a longer run: 41111111111111110000",
    ],
)
def test_numbers_that_are_not_cards(text):
    assert found("credit_card", text) == []


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("IBAN NL91 ABNA 0417 1643 00 is mine", "NL91 **** **** **** 00"),
        ("NL91ABNA0417164300", "NL91 **** **** **** 00"),
        ("Konto DE89 3704 0044 0532 0130 00.", "DE89 **** **** **** **** 00"),
        ("GB29 NWBK 6016 1331 9268 19", "GB29 **** **** **** **** 19"),
        ("pay to fr14 2004 1010 0505 0001 3m02 606", "FR14 **** **** **** **** **** *06"),
    ],
)
def test_valid_ibans(text, masked):
    assert found("iban", text) == [masked]


@pytest.mark.parametrize(
    "text",
    [
        "NL91 ABNA 0417 1643 01",  # mod-97 fails
        "DE89 3704 0044 0532 0130",  # too short for Germany
        "XX91 ABNA 0417 1643 00",  # no such country
        "Product code AB12 CDEF 3456 7890",
    ],
)
def test_invalid_ibans(text):
    assert found("iban", text) == []


@pytest.mark.parametrize(
    ("detector", "valid", "invalid"),
    [
        ("nl_bsn", "BSN 111222333", "BSN 111222334"),
        ("nl_bsn", "BSN 1234.56.782", "BSN 1234.56.783"),
        ("us_ssn", "SSN 536-90-4399", "SSN 000-12-3456"),
        ("us_ssn", "SSN 536 90 4399", "SSN 666-90-4399"),
        ("de_idnr", "IdNr 36 574 261 809", "IdNr 36 574 261 808"),
        ("uk_nino", "NI AB 12 34 56 C", "NI AB 12 34 56 E"),
        ("uk_nino", "NI ab123456c", "NI QQ123456C"),
    ],
)
def test_national_ids(detector, valid, invalid):
    assert len(found(detector, valid)) == 1
    assert found(detector, invalid) == []


def test_masks_never_show_the_full_value():
    masked = found("nl_bsn", "BSN 111222333") + found("us_ssn", "536-90-4399") + found("uk_nino", "AB123456C")
    assert masked == ["******333", "*****4399", "AB ** ** ** C"]


def test_inlined_bsn_check_agrees_with_python_stdnum():
    import random

    from stdnum.nl import bsn

    from dlp.detectors import bsn_valid

    rng = random.Random(5)
    numbers = [f"{rng.randrange(10**9):09d}" for _ in range(20000)] + ["111222333", "123456782", "000000000"]
    assert [bsn_valid(n) for n in numbers] == [bsn.is_valid(n) for n in numbers]
    assert sum(bsn_valid(n) for n in numbers) > 1000
