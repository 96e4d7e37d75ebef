"""The few words the PDF itself says, per language (the cover message has
full templates). Unknown languages fall back to English."""

LABELS = {
    "en": {
        "From": "From", "To": "To", "Cc": "Cc", "Date": "Date", "Subject": "Subject",
        "attachments": "Attachments",
        "attachments_hint": (
            "The attachments are inside this PDF: open your PDF reader's attachments panel (paper clip)."
        ),
        "reply": "Reply securely",
    },
    "nl": {
        "From": "Van", "To": "Aan", "Cc": "Cc", "Date": "Datum", "Subject": "Onderwerp",
        "attachments": "Bijlagen",
        "attachments_hint": "De bijlagen zitten in deze pdf: open het bijlagenpaneel (paperclip) van uw pdf-lezer.",
        "reply": "Veilig beantwoorden",
    },
    "de": {
        "From": "Von", "To": "An", "Cc": "Cc", "Date": "Datum", "Subject": "Betreff",
        "attachments": "Anhänge",
        "attachments_hint": (
            "Die Anhänge stecken in diesem PDF: öffnen Sie die Anhangsleiste (Büroklammer) Ihres PDF-Readers."
        ),
        "reply": "Sicher antworten",
    },
}  # fmt: skip


def labels_for(language: str) -> dict[str, str]:
    return LABELS.get((language or "en").split("-")[0].lower(), LABELS["en"])
